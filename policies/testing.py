"""Policy tests: truth tables in ``policies/tests/*.yaml``, run against a policy.

Each case says who (a role, in a scope), does what (action) to which resource
(an object with a scope path and an owner), and whether that is allowed::

    - name: a resident reads their own concern
      role: resident
      scope: /s/1/c/2/g/3
      resource: Concern
      action: read
      object: {scope: /s/1/c/2/g/3, owner: me}
      expect: allow

``owner`` is ``me`` (the actor), ``someone`` (another person) or ``none``. A role
that acts for an organisation says so with ``affiliation: alliance_unit/5``; an
object tied to organisations or people lists them in ``links``, e.g.
``{scope: /s/1/c/2, owner: none, links: [alliance_unit/5, assignee/me]}``. Every
case is decided twice — by Casbin's ``enforce()`` and by the list plan's predicate —
and both must give the expected answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from policies import vocabulary
from policies.authorizer import Actor, Assignment, Authorizer
from policies.relations import Facts

# The C loader when libyaml is there (reloads run these tests on every policy change).
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ME, SOMEONE = 1, 2
PEOPLE = {"me": ME, "someone": SOMEONE}
OWNERS: dict[str, int | None] = {**PEOPLE, "none": None}
FIELDS = {"name", "role", "scope", "resource", "action", "object", "expect"}
OPTIONAL = {"scope", "affiliation"}


def _link(text: str) -> tuple[str, int]:
    """``alliance_unit/5`` -> ("alliance_unit", 5); ``assignee/me`` -> ("assignee", ME)."""
    kind, _, value = str(text).partition("/")
    if not kind or not value:
        raise ValueError(f"{text!r} is not kind/id")
    return kind, PEOPLE[value] if value in PEOPLE else int(value)


@dataclass(frozen=True)
class PolicyCase:
    file: str
    line: int
    name: str
    role: str
    scope: str
    resource: str
    action: str
    object_scope: str
    owner: int | None
    expect: bool
    affiliation: tuple[str, int] | None = None
    links: frozenset[tuple[str, int]] = frozenset()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class PolicyTestError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def load_cases(directory: Path) -> list[PolicyCase]:
    """All cases under ``directory`` (``*.yaml``); malformed ones raise with file and line."""
    cases: list[PolicyCase] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
            root = yaml.compose(text, Loader=LOADER)  # for line numbers
            data = yaml.load(text, Loader=LOADER)  # for values (safe: no Python tags)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        if root is None:
            continue
        if not isinstance(root, yaml.SequenceNode):
            problems.append(f"{path.name}:{root.start_mark.line + 1}: expected a list of cases")
            continue
        for node, raw in zip(root.value, data, strict=True):
            line = node.start_mark.line + 1
            where = f"{path.name}:{line}"
            problem = _check_case(raw)
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            obj = raw["object"]
            cases.append(
                PolicyCase(
                    file=path.name,
                    line=line,
                    name=str(raw["name"]),
                    role=raw["role"],
                    scope=str(raw.get("scope", "")),
                    resource=raw["resource"],
                    action=raw["action"],
                    object_scope=str(obj.get("scope", "")),
                    owner=OWNERS[obj.get("owner", "none")],
                    expect=raw["expect"] == "allow",
                    affiliation=_link(raw["affiliation"]) if raw.get("affiliation") else None,
                    links=frozenset(_link(x) for x in obj.get("links", [])),
                )
            )
    if problems:
        raise PolicyTestError(problems)
    return cases


def _check_case(raw: object) -> str | None:
    if not isinstance(raw, dict):
        return "a case is a mapping with " + ", ".join(sorted(FIELDS))
    unknown = set(raw) - FIELDS - OPTIONAL
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))}"
    missing = (FIELDS - OPTIONAL) - set(raw)
    if missing:
        return f"missing {', '.join(sorted(missing))}"
    for key in ("role", "resource", "action"):
        if not isinstance(raw[key], str):  # a YAML list or mapping where a word belongs
            return f"unknown {key} {raw[key]!r}"
    if raw["role"] not in vocabulary.ROLES:
        return f"unknown role {raw['role']!r}"
    if raw["resource"] not in vocabulary.RESOURCES:
        return f"unknown resource {raw['resource']!r}"
    if raw["action"] not in vocabulary.RESOURCES[raw["resource"]]:
        return f"action {raw['action']!r} does not apply to {raw['resource']}"
    if raw["expect"] not in ("allow", "deny"):
        return "expect must be allow or deny"
    obj = raw["object"]
    if not isinstance(obj, dict) or set(obj) - {"scope", "owner", "links"}:
        return "object has only scope, owner and links"
    if obj.get("owner", "none") not in OWNERS:
        return f"owner must be one of {', '.join(OWNERS)}"
    try:
        for text in obj.get("links", []):
            _link(text)
        if raw.get("affiliation"):
            kind, _ = _link(raw["affiliation"])
            if kind not in vocabulary.AFFILIATION_KINDS:
                return f"unknown affiliation kind {kind!r}"
    except (ValueError, KeyError, TypeError) as exc:
        return f"links and affiliation are kind/id: {exc}"
    return None


def run_cases(authorizer: Authorizer, cases: list[PolicyCase]) -> list[str]:
    """Failures as ``file:line: message``; an empty list means every case passed."""
    failures = []
    for case in cases:
        actor = Actor(ME, "policy test", (Assignment(case.role, case.scope, None, case.affiliation),))
        facts = Facts(case.object_scope, case.owner, case.links)
        decided = authorizer.decide(actor, case.resource, case.action, facts)
        planned = authorizer.plan(actor, case.resource, case.action).allows(facts)
        if decided != case.expect or planned != case.expect:
            failures.append(
                f"{case.where}: {case.name!r}: expected {'allow' if case.expect else 'deny'}, "
                f"policy says {'allow' if decided else 'deny'}"
                + ("" if planned == decided else f" (list filter says {'allow' if planned else 'deny'})")
            )
    return failures
