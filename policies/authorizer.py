"""The one authorization path: from a loaded policy to a decision and to SQL.

``Authorizer.plan()`` asks the enforcer which relation kinds each of the actor's roles
is granted and ORs their conditions (``Plan``); ``Authorizer.decide()`` runs Casbin's
``enforce()`` on one object. Both read the same rules, and a property test proves that
the list filter returns exactly the objects that ``decide()`` allows. Callers never
name a role.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from policies import vocabulary
from policies.loader import LoadedPolicy
from policies.relations import ALL, RELATIONS, Facts, Grant
from policies.resources import RESOURCES

MODEL = TypeVar("MODEL", bound=Model)


@dataclass(frozen=True)
class Assignment:
    """The actor holds ``role`` in the scope ``path`` (of org unit ``unit_id``), acting
    for an organisation when ``affiliation`` is set: ``("workstation", 3)`` for a judge,
    ``("court", 1)`` for a court's partner account, ``("alliance_unit", 5)`` for staff."""

    role: str
    path: str
    unit_id: int | None = None
    affiliation: tuple[str, int] | None = None


@dataclass(frozen=True)
class Actor:
    """Who is asking: a person and their role assignments, loaded once per request."""

    person_id: int
    name: str
    assignments: tuple[Assignment, ...]
    token_id: int | None = None


@dataclass(frozen=True)
class Plan:
    """How (actor, resource, action) reaches rows: the granted (relation, scope) pairs."""

    resource: str
    action: str
    grants: tuple[tuple[str, Grant], ...]

    @property
    def denies_all(self) -> bool:
        return self.condition() is None

    def condition(self) -> Q | None:
        """The SQL condition (``None`` when nothing is visible)."""
        facts = RESOURCES[self.resource]
        parts = [q for rel, grant in self.grants if (q := RELATIONS[rel].condition(grant, facts)) is not None]
        if not parts:
            return None
        if any(not q.children and not q.filters for q in parts):
            return ALL
        return Q(*parts, join_type=Q.OR) if len(parts) > 1 else parts[0]

    def apply(self, queryset: QuerySet[MODEL]) -> QuerySet[MODEL]:
        """``queryset`` narrowed to the rows the plan reaches."""
        condition = self.condition()
        if condition is None:
            return queryset.filter(id__in=[])
        return queryset.filter(condition)

    def allows(self, facts: Facts) -> bool:
        """The same plan as a predicate (used to filter rows already in memory)."""
        return any(RELATIONS[rel].holds(grant, facts) for rel, grant in self.grants)


_ENFORCE_LOCK = threading.Lock()

# Decisions kept per Authorizer (so per policy version): at most this many, then forgotten
# all at once (a bound, not a policy: a miss only costs one more enforce()).
DECISIONS_KEPT = 4096


class Authorizer:
    """One loaded policy. Immutable: a request keeps the one it started with."""

    def __init__(self, policy: LoadedPolicy):
        self.policy = policy
        self.enforcer = policy.enforcer
        self._relations: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._decisions: dict[tuple[object, ...], bool] = {}

    @property
    def version(self) -> str:
        return self.policy.version

    def relations_for(self, role: str, resource: str, action: str) -> tuple[str, ...]:
        """Relation kinds through which ``role`` (and roles it inherits) may act."""
        key = (role, resource, action)
        cached = self._relations.get(key)
        if cached is None:
            rows = self.enforcer.get_implicit_permissions_for_user(role)
            cached = tuple(sorted({rel for _, obj, act, rel in rows if obj == resource and act == action}))
            self._relations[key] = cached
        return cached

    def plan(self, actor: Actor, resource: str, action: str) -> Plan:
        check_words(resource, action)
        grants = []
        for assignment in actor.assignments:
            grant = Grant(actor.person_id, assignment.path, assignment.affiliation)
            for rel in self.relations_for(assignment.role, resource, action):
                grants.append((rel, grant))
        return Plan(resource, action, tuple(grants))

    def decide(self, actor: Actor, resource: str, action: str, facts: Facts) -> bool:
        """Casbin's own decision for one object: any assignment that allows it.

        The authorizer is immutable (a new policy is a new ``Authorizer``), so the answer to
        the same question (the actor's person and assignments, the resource, the action,
        the facts) is kept, up to ``DECISIONS_KEPT`` answers: a resident raising concerns
        in their grid asks it on every request, and ``enforce()`` costs ~0.2-0.4 ms."""
        check_words(resource, action)
        key = (actor.person_id, actor.assignments, resource, action, facts)
        known = self._decisions.get(key)
        if known is not None:
            return known
        decided = self._enforce(actor, resource, action, facts)
        if len(self._decisions) >= DECISIONS_KEPT:
            self._decisions.clear()
        self._decisions[key] = decided
        return decided

    def _enforce(self, actor: Actor, resource: str, action: str, facts: Facts) -> bool:
        # Casbin compiles the matcher with ast.parse on every call, and CPython 3.11's
        # parser is not safe to run in two threads at once ("AST constructor recursion
        # depth mismatch"): a policy being checked in the reload thread would make a
        # request fail. The lock costs a fraction of a millisecond per decision.
        with _ENFORCE_LOCK:
            return any(
                self.enforcer.enforce(
                    a.role, Grant(actor.person_id, a.path, a.affiliation), resource, action, facts
                )
                for a in actor.assignments
            )


def check_words(resource: str, action: str) -> None:
    if resource not in vocabulary.RESOURCES or action not in vocabulary.RESOURCES[resource]:
        raise ValueError(f"{resource}.{action} is not in the policy vocabulary")
