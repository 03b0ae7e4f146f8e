"""``bandeng policy check``: everything that can be known about a policy before it serves.

Casbin itself accepts nearly anything and fails later, request by request. The
checker refuses, with file and line: what the loader refuses (unknown words,
malformed lines, duplicates, role cycles, chains deeper than Casbin follows, a
truncated file), a model whose matcher the SQL filter cannot translate, rules that
can never match, rules shadowed by broader ones, and failing policy tests. It then
prints who gains and who loses what against the policy in force.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from policies import vocabulary
from policies.authorizer import Authorizer
from policies.loader import (
    MODEL_FILE,
    POLICY_FILE,
    LoadedPolicy,
    ParsedPolicy,
    PolicyError,
    Rule,
    build_enforcer,
    parse_policy,
)
from policies.relations import relation_matcher
from policies.resources import RESOURCES
from policies.testing import PolicyTestError, load_cases, run_cases

# The one matcher the SQL planner (policies/relations.py) knows how to translate.
CANONICAL_SECTIONS = {
    "request_definition": {"r": "sub, scope, obj, act, res"},
    "policy_definition": {"p": "sub, obj, act, rel"},
    "role_definition": {"g": "_, _"},
    "policy_effect": {"e": "some(where (p.eft == allow))"},
    "matchers": {
        "m": "r.obj == p.obj && r.act == p.act && g(r.sub, p.sub) && relation(p.rel, r.scope, r.res)"
    },
}
ALLOWED_FUNCTIONS = {"g", "relation"}

# Relation A is covered by relation B (every object A reaches, B reaches too).
COVERED_BY: dict[str, set[str]] = {
    "in_scope": {"any", "in_community"},
    "in_community": {"any"},
    "contains_scope": {"any"},
    "own": {"any"},
    "own_in_scope": {"any", "own", "in_scope", "in_community"},
    "affiliated": {"any"},
    "assigned": {"any"},
}

# Relations that read the owner column: they never match resources without one.
OWNER_RELATIONS = {"own", "own_in_scope"}
# Relations that read a link column: they never match resources without that link.
LINK_RELATIONS = {"affiliated": None, "assigned": "assignee"}
# Relations that make no sense from the global scope.
SCOPED_RELATIONS = {"in_community", "contains_scope"}


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    tests_run: int = 0
    version: str | None = None
    authorizer: Authorizer | None = None  # the checked policy, when ok

    @property
    def ok(self) -> bool:
        return not self.errors


def check_model(text: str) -> list[str]:
    """The model must be the shape the SQL filter translates; name the offending line."""
    problems = []
    section = None
    seen: dict[str, dict[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            section = header.group(1)
            if section not in CANONICAL_SECTIONS:
                problems.append(f"{MODEL_FILE}:{number}: unknown section [{section}]")
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), " ".join(value.split())
        if not sep or section is None:
            problems.append(f"{MODEL_FILE}:{number}: expected 'key = value' inside a section")
            continue
        seen.setdefault(section, {})[key] = value
        expected = CANONICAL_SECTIONS.get(section, {}).get(key)
        if section == "matchers":
            unknown = set(re.findall(r"([A-Za-z_]\w*)\s*\(", value)) - ALLOWED_FUNCTIONS - {"some", "where"}
            if unknown:
                problems.append(
                    f"{MODEL_FILE}:{number}: matcher function(s) {', '.join(sorted(unknown))} cannot be "
                    "translated to SQL (allowed: g, relation)"
                )
                continue
        if expected is None:
            problems.append(f"{MODEL_FILE}:{number}: unexpected key {key!r} in [{section}]")
        elif value != expected:
            problems.append(
                f"{MODEL_FILE}:{number}: [{section}] {key} must be {expected!r}: the list filter "
                "in policies/relations.py translates only that shape"
            )
    for section, keys in CANONICAL_SECTIONS.items():
        for key in keys:
            if key not in seen.get(section, {}):
                problems.append(f"{MODEL_FILE}: missing [{section}] {key}")
    return problems


def _inherited_roles(parsed: ParsedPolicy) -> dict[str, set[str]]:
    """role -> roles whose rules it inherits (itself included)."""
    parents: dict[str, set[str]] = {}
    for link in parsed.links:
        parents.setdefault(link.member, set()).add(link.parent)
    closure = {}
    for role in vocabulary.ROLES:
        seen, stack = {role}, [role]
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        closure[role] = seen
    return closure


def effective_grants(parsed: ParsedPolicy) -> dict[str, set[tuple[str, str, str]]]:
    """role -> {(resource, action, relation)} including inherited rules."""
    own: dict[str, set[tuple[str, str, str]]] = {}
    for rule in parsed.rules:
        own.setdefault(rule.role, set()).add((rule.resource, rule.action, rule.relation))
    return {
        role: set().union(*(own.get(r, set()) for r in inherited))
        for role, inherited in _inherited_roles(parsed).items()
    }


def check_rules(parsed: ParsedPolicy) -> list[str]:
    """Rules that can never match, and rules that a broader rule makes redundant."""
    problems = []
    inherited = _inherited_roles(parsed)
    by_key: dict[tuple[str, str, str], list[Rule]] = {}
    for rule in parsed.rules:
        where = f"{POLICY_FILE}:{rule.line}"
        if rule.relation in OWNER_RELATIONS and RESOURCES[rule.resource].owner_column is None:
            problems.append(f"{where}: never matches: {rule.resource} has no owner for {rule.relation!r}")
            continue
        links = RESOURCES[rule.resource].links
        if rule.relation in LINK_RELATIONS:
            needed = LINK_RELATIONS[rule.relation]
            if (needed is None and not links) or (needed is not None and needed not in links):
                problems.append(f"{where}: never matches: {rule.resource} has no link for {rule.relation!r}")
                continue
        kinds = vocabulary.SCOPE_KINDS.get(rule.role, ())
        if rule.relation in SCOPED_RELATIONS and kinds == ("global",):
            # From the global scope contains_scope reaches nothing, but in_community
            # reaches everything (community_of('') is ''): refuse both, truthfully.
            problems.append(
                f"{where}: {rule.role} holds only the global scope, which lies in no community: "
                f"{rule.relation!r} would reach every object (write 'any' if that is meant)"
                if rule.relation == "in_community"
                else f"{where}: never matches: {rule.role} holds only the global scope, "
                f"which has no {rule.relation!r}"
            )
            continue
        by_key.setdefault((rule.role, rule.resource, rule.action), []).append(rule)
    for rule in parsed.rules:
        # A rule is shadowed by a broader relation granted to the same role or a role it inherits.
        for other_role in inherited.get(rule.role, {rule.role}):
            for other in by_key.get((other_role, rule.resource, rule.action), []):
                if other is rule:
                    continue
                same_rel = other.relation == rule.relation and other_role != rule.role
                if same_rel or other.relation in COVERED_BY.get(rule.relation, set()):
                    via = "" if other_role == rule.role else f" (inherited from {other_role})"
                    problems.append(
                        f"{POLICY_FILE}:{rule.line}: shadowed by line {other.line}{via}: "
                        f"{rule.relation!r} adds nothing to {other.relation!r}"
                    )
                    break
            else:
                continue
            break
    return problems


def describe_changes(current: ParsedPolicy, proposed: ParsedPolicy) -> list[str]:
    """Who gains and who loses what, role by role (inheritance included)."""
    before, after = effective_grants(current), effective_grants(proposed)
    lines = []
    for role in vocabulary.ROLES:
        gained = sorted(after.get(role, set()) - before.get(role, set()))
        lost = sorted(before.get(role, set()) - after.get(role, set()))
        lines += [f"+ {role} gains {a} on {r} ({rel})" for r, a, rel in gained]
        lines += [f"- {role} loses {a} on {r} ({rel})" for r, a, rel in lost]
    return lines


def check_directory(directory: Path, against: Path | None = None) -> CheckReport:
    """Run every check on ``directory``; compare with ``against`` when given."""
    report = CheckReport()
    try:
        model_text = (directory / MODEL_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.errors.append(f"{directory / MODEL_FILE}: cannot read: {exc}")
        return report
    report.errors += check_model(model_text)
    try:
        parsed = parse_policy(directory)
    except PolicyError as exc:
        report.errors += exc.problems
        return report
    report.version = parsed.version
    report.errors += check_rules(parsed)
    if report.errors:
        return report
    try:
        authorizer = Authorizer(
            LoadedPolicy(build_enforcer(parsed, relation_matcher), parsed, datetime.now(UTC))
        )
        cases = load_cases(directory / "tests")
    except PolicyError as exc:
        report.errors += exc.problems
        return report
    except PolicyTestError as exc:
        report.errors += [f"tests/{p}" for p in exc.problems]
        return report
    report.tests_run = len(cases)
    report.errors += [f"tests/{f}" for f in run_cases(authorizer, cases)]
    if not report.errors:
        report.authorizer = authorizer
    if not cases:
        report.warnings.append(f"{directory / 'tests'}: no policy tests found")
    if against is not None:
        try:
            report.changes = describe_changes(parse_policy(against), parsed)
        except PolicyError as exc:
            report.warnings.append(f"cannot compare with {against}: {exc}")
    return report
