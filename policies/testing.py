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

``owner`` is ``me`` (the actor), ``someone`` (another person) or ``none``. A case
may say which organisation the role acts for (``affiliation: workstation:1``) and an
object may carry links (``links: {assignee: me, workstation: 1, court: 1}``; an
``assignee`` is ``me`` or ``someone``). Every
case is decided twice — by Casbin's ``enforce()`` and by the list plan's predicate —
and both must give the expected answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from policies import vocabulary

ME, SOMEONE = 1, 2
OWNERS = {"me": ME, "someone": SOMEONE, "none": None}
FIELDS = {"name", "role", "scope", "resource", "action", "object", "expect"}
OPTIONAL = {"scope", "affiliation"}


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
            root = yaml.compose(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        if root is None:
            continue
        if not isinstance(root, yaml.SequenceNode):
            problems.append(f"{path.name}:{root.start_mark.line + 1}: expected a list of cases")
            continue
        for node in root.value:
            line = node.start_mark.line + 1
            where = f"{path.name}:{line}"
            raw = yaml.safe_load(yaml.serialize(node))
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
                    affiliation=_affiliation(raw.get("affiliation")),
                    links=_links(obj.get("links") or {}),
                )
            )
    if problems:
        raise PolicyTestError(problems)
    return cases


def _affiliation(value: object) -> tuple[str, int] | None:
    if value is None:
        return None
    kind, _, number = str(value).partition(":")
    return kind, int(number)


def _links(links: dict) -> frozenset[tuple[str, int]]:
    return frozenset(
        (kind, OWNERS[value] if kind == "assignee" else int(value))
        for kind, value in links.items()
        if not (kind == "assignee" and OWNERS.get(value) is None)
    )


def _check_links(obj: dict, raw: dict) -> str | None:
    affiliation = raw.get("affiliation")
    if affiliation is not None:
        kind, _, number = str(affiliation).partition(":")
        if kind not in vocabulary.AFFILIATION_KINDS or not number.isdigit():
            return f"affiliation is kind:id with a kind of {', '.join(vocabulary.AFFILIATION_KINDS)}"
    links = obj.get("links", {})
    if not isinstance(links, dict):
        return "links is a mapping of kind to id"
    for kind, value in links.items():
        if kind == "assignee":
            if value not in OWNERS:
                return f"assignee must be one of {', '.join(OWNERS)}"
        elif not str(value).isdigit():
            return f"link {kind} needs a numeric id"
    return None


def _check_case(raw: object) -> str | None:
    if not isinstance(raw, dict):
        return "a case is a mapping with " + ", ".join(sorted(FIELDS))
    unknown = set(raw) - FIELDS - OPTIONAL
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))}"
    missing = (FIELDS - OPTIONAL) - set(raw)
    if missing:
        return f"missing {', '.join(sorted(missing))}"
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
    return _check_links(obj, raw)


def run_cases(authorizer, cases: list[PolicyCase]) -> list[str]:
    """Failures as ``file:line: message``; an empty list means every case passed."""
    from services.authz import Actor, Assignment, Facts

    failures = []
    for case in cases:
        actor = Actor(ME, "policy test", (Assignment(case.role, case.scope, affiliation=case.affiliation),))
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
