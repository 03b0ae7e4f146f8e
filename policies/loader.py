"""Read ``policies/model.conf`` and ``policies/policy.csv`` into a checked enforcer.

Casbin itself accepts a wrong policy silently (a bad line loads, then every
``enforce()`` raises; an unknown word simply never matches). Here every line is
parsed once, checked against the vocabulary, and only then handed to Casbin, so a
broken file is refused with its file and line and never reaches a request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import casbin
from casbin import persist

from policies import vocabulary
from policies.relations import Facts, Grant

if TYPE_CHECKING:
    from casbin.model import Model as CasbinModel

# The ``relation`` function of the matcher (``policies.relations.relation_matcher``):
# Casbin calls it with the rule's relation kind and the request's ``r.scope`` and ``r.res``.
RelationMatcher = Callable[[str, Grant, Facts], bool]

# Casbin prints the whole model and policy at INFO while an enforcer is built.
logging.getLogger("casbin").setLevel(logging.WARNING)

MODEL_FILE = "model.conf"
POLICY_FILE = "policy.csv"
# The last line of policy.csv: a file cut short (a partial copy, an editor still
# writing) lacks it and is refused instead of serving with rules missing.
END_MARKER = "# end of policy"
# Casbin follows role links this deep (DefaultRoleManager's max_hierarchy_level).
MAX_ROLE_DEPTH = 10


# The fields of each line type: a rule (p) and a role link (g).
LINE_SHAPES = {"p": ("role", "resource", "action", "relation"), "g": ("member role", "parent role")}


class PolicyError(Exception):
    """A policy file cannot be used. ``problems`` lists ``file:line: message`` strings."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Rule:
    """One ``p`` line: role may do action on resource through relation."""

    role: str
    resource: str
    action: str
    relation: str
    line: int


@dataclass(frozen=True)
class RoleLink:
    """One ``g`` line: role ``member`` inherits everything granted to ``parent``."""

    member: str
    parent: str
    line: int


@dataclass(frozen=True)
class ParsedPolicy:
    model_text: str
    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]
    version: str


def _split(line: str) -> list[str]:
    return [token.strip() for token in line.split(",")]


def parse_policy(directory: Path) -> ParsedPolicy:
    """Parse and check the two files; raise ``PolicyError`` naming every bad line."""
    model_path = directory / MODEL_FILE
    policy_path = directory / POLICY_FILE
    problems: list[str] = []
    try:
        model_text = model_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"{model_path}: cannot read: {exc.strerror}"]) from None
    try:
        policy_text = policy_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"{policy_path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise PolicyError([f"{policy_path}: not UTF-8 text: {exc.reason}"]) from None

    rules: list[Rule] = []
    links: list[RoleLink] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(policy_text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{policy_path.name}:{number}"
        tokens = _split(line)
        kind = tokens[0]
        if any(not token for token in tokens):
            problems.append(f"{where}: empty field in {line!r}")
            continue
        if any(("::" in t or '"' in t or " " in t) for t in tokens[1:]):
            problems.append(f"{where}: names may not contain spaces, quotes or '::': {line!r}")
            continue
        if kind not in LINE_SHAPES:
            problems.append(f"{where}: unknown line type {kind!r} (expected 'p' or 'g')")
            continue
        fields = LINE_SHAPES[kind]
        if len(tokens) != len(fields) + 1:
            problems.append(
                f"{where}: a {'rule' if kind == 'p' else 'role link'} has {len(fields)} fields "
                f"({', '.join(fields)}), found {len(tokens) - 1}: {line!r}"
            )
            continue
        if kind == "p":
            _, role, resource, action, relation = tokens
            bad = _check_rule(role, resource, action, relation)
            if bad:
                problems.append(f"{where}: {bad}")
                continue
            key = ("p", role, resource, action, relation)
            if key in seen:
                problems.append(f"{where}: duplicate of line {seen[key]}")
                continue
            seen[key] = number
            rules.append(Rule(role, resource, action, relation, number))
        else:
            _, member, parent = tokens
            unknown = [r for r in (member, parent) if r not in vocabulary.ROLES]
            if unknown:
                problems.append(f"{where}: unknown role {unknown[0]!r}")
                continue
            links.append(RoleLink(member, parent, number))
    problems.extend(_check_links(links, policy_path.name))
    last = [line.strip() for line in policy_text.splitlines() if line.strip()]
    if not last or last[-1] != END_MARKER:
        problems.append(
            f"{policy_path.name}:{len(policy_text.splitlines())}: the file does not end with "
            f"{END_MARKER!r}: it is truncated or still being written"
        )
    if problems:
        raise PolicyError(problems)
    return ParsedPolicy(model_text, tuple(rules), tuple(links), content_version(model_text, policy_text))


def content_version(model_text: str, policy_text: str) -> str:
    """The policy version: a hash of both files, the same on every instance."""
    digest = hashlib.sha256()
    digest.update(model_text.encode())
    digest.update(b"\0")
    digest.update(policy_text.encode())
    return digest.hexdigest()[:12]


def read_version(directory: Path) -> str | None:
    """The version the files on disk would have (None when they cannot be read)."""
    try:
        return content_version(
            (directory / MODEL_FILE).read_text(encoding="utf-8"),
            (directory / POLICY_FILE).read_text(encoding="utf-8"),
        )
    except (OSError, UnicodeDecodeError):
        return None


def _check_rule(role: str, resource: str, action: str, relation: str) -> str | None:
    if role not in vocabulary.ROLES:
        return f"unknown role {role!r} (known: {', '.join(vocabulary.ROLES)})"
    if resource not in vocabulary.RESOURCES:
        return f"unknown resource {resource!r}"
    if action not in vocabulary.ACTIONS:
        return f"unknown action {action!r}"
    if action not in vocabulary.RESOURCES[resource]:
        allowed = ", ".join(vocabulary.RESOURCES[resource])
        return f"action {action!r} does not apply to {resource} (it has: {allowed})"
    if relation not in vocabulary.RELATIONS:
        return f"unknown relation {relation!r} (known: {', '.join(vocabulary.RELATIONS)})"
    return None


def _check_links(links: list[RoleLink], filename: str) -> list[str]:
    parents: dict[str, list[RoleLink]] = {}
    for link in links:
        parents.setdefault(link.member, []).append(link)
    problems = []
    for start in parents:
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        while stack:
            role, trail = stack.pop()
            for link in parents.get(role, []):
                if link.parent in trail:
                    problems.append(
                        f"{filename}:{link.line}: role cycle {' -> '.join((*trail, link.parent))}"
                    )
                    return problems
                if len(trail) >= MAX_ROLE_DEPTH:
                    problems.append(
                        f"{filename}:{link.line}: role chain {' -> '.join((*trail, link.parent))} is deeper "
                        f"than the {MAX_ROLE_DEPTH} levels Casbin follows"
                    )
                    return problems
                stack.append((link.parent, (*trail, link.parent)))
    return problems


class _ParsedAdapter(persist.Adapter):
    """Hands already-checked lines to Casbin, so Casbin never parses the file itself."""

    def __init__(self, parsed: ParsedPolicy):
        self.parsed = parsed

    def load_policy(self, model: CasbinModel) -> None:
        for rule in self.parsed.rules:
            model.add_policy("p", "p", [rule.role, rule.resource, rule.action, rule.relation])
        for link in self.parsed.links:
            model.add_policy("g", "g", [link.member, link.parent])


def build_enforcer(parsed: ParsedPolicy, relation: RelationMatcher) -> casbin.Enforcer:
    """A fresh enforcer for ``parsed`` with the ``relation`` matcher function registered."""
    try:
        model = casbin.Enforcer.new_model(text=parsed.model_text)
        enforcer = casbin.Enforcer(model, _ParsedAdapter(parsed), enable_log=False)
    except Exception as exc:  # Casbin reports model errors with assorted exception types
        raise PolicyError([f"{MODEL_FILE}: {exc}"]) from None
    enforcer.add_function("relation", relation)
    return enforcer


@dataclass(frozen=True)
class Publication:
    """Which published version a policy was built from (``bandeng policy publish``)."""

    number: int
    published_at: datetime
    published_by: str
    note: str


@dataclass(frozen=True)
class LoadedPolicy:
    """A checked policy ready to serve, with its version and load time."""

    enforcer: casbin.Enforcer
    parsed: ParsedPolicy
    loaded_at: datetime
    publication: Publication | None = None  # None: read from the policy directory

    @property
    def version(self) -> str:
        return self.parsed.version


def load_policy(directory: Path, relation: RelationMatcher) -> LoadedPolicy:
    parsed = parse_policy(directory)
    return LoadedPolicy(build_enforcer(parsed, relation), parsed, datetime.now(UTC))
