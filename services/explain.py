"""Why may (or may not) an actor do something? The answer an admin needs.

Shared by ``bandeng policy explain`` and the ``explainAccess`` admin query: for an
actor, an action and a resource (a type, or a type and an id) it gives the decision,
the rule lines that decided it, and for lists the SQL filter that will be applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies import vocabulary
from policies.authorizer import Actor, Authorizer
from policies.loader import POLICY_FILE, Rule
from policies.relations import RELATIONS, Facts, Grant
from policies.resources import RESOURCES
from services.authz import model_of
from services.errors import BadUserInput, NotFound


@dataclass(frozen=True)
class RuleMatch:
    """A rule that applies to one of the actor's assignments."""

    role: str  # the assignment's role
    scope_path: str
    rule: Rule  # the policy line (its role may be one the assignment inherits)
    matches_object: bool | None  # None when no object was named

    @property
    def where(self) -> str:
        return f"{POLICY_FILE}:{self.rule.line}"

    @property
    def text(self) -> str:
        r = self.rule
        return f"p, {r.role}, {r.resource}, {r.action}, {r.relation}"


@dataclass
class Explanation:
    actor: Actor
    resource: str
    action: str
    policy_version: str
    object_id: int | None = None
    object_scope: str | None = None
    allowed: bool = False
    rules: list[RuleMatch] = field(default_factory=list)
    list_filter: str | None = None  # the SQL WHERE for lists (reads only)

    @property
    def deciding(self) -> list[RuleMatch]:
        if self.object_id is None:
            return self.rules
        return [m for m in self.rules if m.matches_object]

    def lines(self) -> list[str]:
        """Plain-text report for the command line."""
        target = (
            f"{self.resource} {self.object_id}" if self.object_id is not None else f"{self.resource} (list)"
        )
        roles = ", ".join(f"{a.role}@{a.path or 'global'}" for a in self.actor.assignments) or "none"
        out = [
            f"actor    : {self.actor.name} (person {self.actor.person_id}); roles: {roles}",
            f"request  : {self.action} {target}" + (f" at {self.object_scope}" if self.object_scope else ""),
            f"policy   : {self.policy_version}",
            f"decision : {'ALLOW' if self.allowed else 'DENY'}",
        ]
        if self.deciding:
            out.append("decided by:" if self.allowed else "rules considered:")
            out += [
                f"  {m.where}  {m.text}   (as {m.role} in {m.scope_path or 'global'})" for m in self.deciding
            ]
        elif not self.rules:
            out.append(
                f"no rule grants {self.action} on {self.resource} to any of these roles (default deny)"
            )
        if not self.allowed and self.rules and self.object_id is not None:
            out.append("rules considered (none reaches this object):")
            out += [
                f"  {m.where}  {m.text}   (as {m.role} in {m.scope_path or 'global'})" for m in self.rules
            ]
        if self.list_filter is not None:
            out.append(f"list filter: {self.list_filter}")
        return out


def _rules_by_key(authorizer: Authorizer) -> dict[tuple[str, str, str, str], Rule]:
    return {(r.role, r.resource, r.action, r.relation): r for r in authorizer.policy.parsed.rules}


async def explain(
    authorizer: Authorizer, actor: Actor, resource: str, action: str, object_id: int | None = None
) -> Explanation:
    if resource not in vocabulary.RESOURCES:
        raise BadUserInput(f"Unknown resource {resource!r}.", argument="resource")
    if action not in vocabulary.RESOURCES[resource]:
        raise BadUserInput(f"{resource} has no action {action!r}.", argument="action")
    result = Explanation(actor, resource, action, authorizer.version, object_id)
    facts = None
    stored = RESOURCES[resource].stored
    if object_id is not None:
        row = await model_of(resource).filter(id=object_id).first() if stored else None
        if row is None:
            raise NotFound(f"No {resource} with id {object_id}.")
        facts = Facts.of(row, resource)
        result.object_scope = facts.scope_path
        result.allowed = authorizer.decide(actor, resource, action, facts)
    rules = _rules_by_key(authorizer)
    roles = authorizer.enforcer
    for assignment in actor.assignments:
        grant = Grant(actor.person_id, assignment.path, assignment.affiliation)
        inherited = [assignment.role, *roles.get_implicit_roles_for_user(assignment.role)]
        for role in inherited:
            for relation in sorted(vocabulary.RELATIONS):
                rule = rules.get((role, resource, action, relation))
                if rule is None:
                    continue
                holds = RELATIONS[relation].holds(grant, facts) if facts is not None else None
                result.rules.append(RuleMatch(assignment.role, assignment.path, rule, holds))
    if object_id is None:
        plan = authorizer.plan(actor, resource, action)
        result.allowed = bool(plan.grants)
        if action == "read" and stored:
            condition = plan.condition()
            result.list_filter = (
                "none (nothing is visible)"
                if condition is None
                else _where(model_of(resource).filter(condition).sql(params_inline=True))
            )
    return result


def _where(sql: str) -> str:
    _, found, where = sql.partition(" WHERE ")
    return where if found else "all rows"
