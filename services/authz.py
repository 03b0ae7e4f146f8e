"""The one authorization path: from the Casbin policy to a decision and to SQL.

A rule in ``policies/policy.csv`` grants (role, resource, action) through a
*relation kind*. Each relation kind has two implementations side by side:

* ``holds(grant, facts)`` – a predicate on one object, called by Casbin's matcher
  (``relation(p.rel, r.scope, r.res)``) when a single object is decided;
* ``condition(grant, columns)`` – a SQL condition (Tortoise ``Q``) for lists.

``Authorizer.plan()`` asks the enforcer which relations each of the actor's roles
is granted and ORs their conditions; ``Authorizer.decide()`` runs Casbin's
``enforce()`` on one object. Both read the same rules, and a property test proves
that the list filter returns exactly the objects that ``decide()`` allows.
Resolvers never name a role.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.audit import AuditRecord
from models.concerns import Concern, ConcernEvent
from models.councils import AgendaTopic, Attendance, Council, Meeting
from models.loop import AllianceUnit, MeetingEvent, Rating, Task, TaskEvent, Vote
from models.mediation import (
    LegalConsultation,
    MediationCase,
    MediationEvent,
    MediationSession,
    Mediator,
    OutreachEvent,
    Referral,
    Workstation,
)
from models.org import OrgUnit
from models.people import Person
from policies import vocabulary
from policies.loader import LoadedPolicy
from services import scopes
from services.errors import Forbidden

# ---------------------------------------------------------------------------- actors


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
class Grant:
    """What the matcher sees as ``r.scope``: the actor, one scope they act in, and the
    organisation they act for in it (if any)."""

    actor_id: int
    path: str
    affiliation: tuple[str, int] | None = None


@dataclass(frozen=True)
class Facts:
    """What the matcher sees as ``r.res``: the columns the relations read. ``links``
    holds the (kind, id) pairs an object is tied to: ``("workstation", 3)`` for a case
    referred there, ``("assignee", 42)`` for a case whose mediator is person 42."""

    scope_path: str
    owner_id: int | None = None
    links: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def of(cls, obj: Any, resource: str | None = None) -> Facts:
        """The facts of a stored object (``resource`` names the links to read)."""
        spec = RESOURCES.get(resource) if resource else None
        links = frozenset()
        if spec is not None and spec.links:
            links = frozenset(
                (kind, value)
                for kind, column in spec.links.items()
                if (value := getattr(obj, column)) is not None
            )
        return cls(obj.scope_path, obj.owner_id, links)


# ------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class ResourceSpec:
    """Where a resource's facts live in SQL."""

    model: type[Model] | None  # None: not a table (the policy itself)
    scope_column: str = "scope_path"
    owner_column: str | None = "owner_id"
    # link kind -> column: ("workstation" -> "workstation_id"), ("assignee" -> "mediator_id")
    links: dict[str, str] = field(default_factory=dict)


# --- mediation: the links every case row (and its children) carries
CASE_LINKS = {"assignee": "assignee_id", "workstation": "workstation_id", "court": "court_id"}
WORKSTATION_LINKS = {"workstation": "workstation_id", "court": "court_id"}

RESOURCES: dict[str, ResourceSpec] = {
    "OrgUnit": ResourceSpec(OrgUnit, scope_column="path", owner_column=None),
    "Person": ResourceSpec(Person),
    "Person.contact": ResourceSpec(Person),
    "Council": ResourceSpec(Council),
    "Meeting": ResourceSpec(Meeting),
    "AgendaTopic": ResourceSpec(AgendaTopic),
    "Attendance": ResourceSpec(Attendance),
    "Concern": ResourceSpec(Concern, links={"assignee": "assignee_id"}),
    "ConcernEvent": ResourceSpec(ConcernEvent),
    "Policy": ResourceSpec(None, owner_column=None),
    "AuditRecord": ResourceSpec(AuditRecord),
    # --- councils loop / alliance
    "AllianceUnit": ResourceSpec(AllianceUnit, links={"alliance_unit": "id"}),
    "MeetingEvent": ResourceSpec(MeetingEvent),
    "Task": ResourceSpec(Task, links={"alliance_unit": "alliance_unit_id", "assignee": "owner_person_id"}),
    "TaskEvent": ResourceSpec(
        TaskEvent, links={"alliance_unit": "alliance_unit_id", "assignee": "owner_person_id"}
    ),
    "Rating": ResourceSpec(Rating),
    "Rating.author": ResourceSpec(Rating),
    "Vote": ResourceSpec(Vote),
    "Ballot": ResourceSpec(None),  # who voted is never readable: decisions on facts only
    # --- mediation
    "Workstation": ResourceSpec(Workstation, links={"workstation": "id", "court": "court_id"}),
    "Mediator": ResourceSpec(Mediator),
    "MediationCase": ResourceSpec(MediationCase, links=CASE_LINKS),
    "MediationCase.parties": ResourceSpec(MediationCase, links=CASE_LINKS),
    "MediationSession": ResourceSpec(MediationSession, links=CASE_LINKS),
    "MediationEvent": ResourceSpec(MediationEvent, links=CASE_LINKS),
    "Referral": ResourceSpec(Referral, links=CASE_LINKS),
    "OutreachEvent": ResourceSpec(OutreachEvent, links=WORKSTATION_LINKS),
    "LegalConsultation": ResourceSpec(LegalConsultation, links=WORKSTATION_LINKS),
}
assert set(RESOURCES) == set(vocabulary.RESOURCES), "vocabulary and resource specs differ"
assert set(vocabulary.FIELD_RESOURCES) <= set(RESOURCES), "field resources must be resources"

# ------------------------------------------------------------------------- relations

ALL = Q()  # a condition that matches every row


def under_condition(column: str, scope: str) -> Q:
    """``column`` is ``scope`` or below it, by whole path segments."""
    if scope == scopes.GLOBAL:
        return ALL
    return Q(**{column: scope}) | Q(**{f"{column}__startswith": scope + "/"})


def _owner_q(grant: Grant, spec: ResourceSpec) -> Q | None:
    if spec.owner_column is None:
        return None
    return Q(**{spec.owner_column: grant.actor_id})


@dataclass(frozen=True)
class Relation:
    holds: Callable[[Grant, Facts], bool]
    condition: Callable[[Grant, ResourceSpec], Q | None]  # None: matches nothing


def _own_in_scope_condition(grant: Grant, spec: ResourceSpec) -> Q | None:
    owner = _owner_q(grant, spec)
    return None if owner is None else owner & under_condition(spec.scope_column, grant.path)


def _affiliated_condition(grant: Grant, spec: ResourceSpec) -> Q | None:
    if grant.affiliation is None or grant.affiliation[0] not in spec.links:
        return None
    kind, value = grant.affiliation
    return Q(**{spec.links[kind]: value})


def _assigned_condition(grant: Grant, spec: ResourceSpec) -> Q | None:
    column = spec.links.get("assignee")
    return None if column is None else Q(**{column: grant.actor_id})


RELATIONS: dict[str, Relation] = {
    "any": Relation(lambda g, f: True, lambda g, s: ALL),
    "in_scope": Relation(
        lambda g, f: scopes.is_under(f.scope_path, g.path),
        lambda g, s: under_condition(s.scope_column, g.path),
    ),
    "in_community": Relation(
        lambda g, f: scopes.is_under(f.scope_path, scopes.community_of(g.path)),
        lambda g, s: under_condition(s.scope_column, scopes.community_of(g.path)),
    ),
    "contains_scope": Relation(
        lambda g, f: f.scope_path in scopes.ancestors(g.path),
        lambda g, s: Q(**{f"{s.scope_column}__in": scopes.ancestors(g.path)}) if g.path else None,
    ),
    "own": Relation(
        lambda g, f: f.owner_id is not None and f.owner_id == g.actor_id,
        _owner_q,
    ),
    "own_in_scope": Relation(
        lambda g, f: f.owner_id == g.actor_id and scopes.is_under(f.scope_path, g.path),
        _own_in_scope_condition,
    ),
    "affiliated": Relation(
        lambda g, f: g.affiliation is not None and g.affiliation in f.links,
        _affiliated_condition,
    ),
    "assigned": Relation(
        lambda g, f: ("assignee", g.actor_id) in f.links,
        _assigned_condition,
    ),
}
assert set(RELATIONS) == set(vocabulary.RELATIONS), "vocabulary and relations differ"


def relation_matcher(name: str, grant: Grant, facts: Facts) -> bool:
    """The ``relation`` function of the Casbin matcher."""
    return RELATIONS[name].holds(grant, facts)


# -------------------------------------------------------------------------- decisions


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
        spec = RESOURCES[self.resource]
        parts = [RELATIONS[rel].condition(grant, spec) for rel, grant in self.grants]
        parts = [q for q in parts if q is not None]
        if not parts:
            return None
        if any(not q.children and not q.filters for q in parts):
            return ALL
        return Q(*parts, join_type=Q.OR) if len(parts) > 1 else parts[0]

    def apply(self, queryset: QuerySet) -> QuerySet:
        condition = self.condition()
        if condition is None:
            return queryset.filter(id__in=[])
        return queryset.filter(condition)

    def allows(self, facts: Facts) -> bool:
        """The same plan as a predicate (used to filter rows already in memory)."""
        return any(RELATIONS[rel].holds(grant, facts) for rel, grant in self.grants)


_ENFORCE_LOCK = threading.Lock()


class Authorizer:
    """One loaded policy. Immutable: a request keeps the one it started with."""

    def __init__(self, policy: LoadedPolicy):
        self.policy = policy
        self.enforcer = policy.enforcer
        self._relations: dict[tuple[str, str, str], tuple[str, ...]] = {}

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
        _check_words(resource, action)
        grants = []
        for assignment in actor.assignments:
            grant = Grant(actor.person_id, assignment.path, assignment.affiliation)
            for rel in self.relations_for(assignment.role, resource, action):
                grants.append((rel, grant))
        return Plan(resource, action, tuple(grants))

    def decide(self, actor: Actor, resource: str, action: str, facts: Facts) -> bool:
        """Casbin's own decision for one object: any assignment that allows it."""
        _check_words(resource, action)
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


def _check_words(resource: str, action: str) -> None:
    if resource not in vocabulary.RESOURCES or action not in vocabulary.RESOURCES[resource]:
        raise ValueError(f"{resource}.{action} is not in the policy vocabulary")


@dataclass
class RequestAuth:
    """Per-request view of the authorizer: plans are computed once per request."""

    actor: Actor
    authorizer: Authorizer
    _plans: dict[tuple[str, str], Plan] = field(default_factory=dict)

    def plan(self, resource: str, action: str = "read") -> Plan:
        key = (resource, action)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.authorizer.plan(self.actor, resource, action)
        return plan

    def visible(self, resource: str, queryset: QuerySet | None = None) -> QuerySet:
        """Rows of ``resource`` the actor may read, as a query (never filtered after)."""
        if queryset is None:
            queryset = RESOURCES[resource].model.all()
        return self.plan(resource, "read").apply(queryset)

    def listing(self, resource: str) -> QuerySet:
        """Root lists and lookups: like ``visible``, but a role with no read rule at all
        for the resource gets FORBIDDEN (it says nothing about the data, only the policy).
        Nested fields use ``visible`` and simply come back empty."""
        if not self.plan(resource, "read").grants:
            raise Forbidden(f"Your roles may not read {resource}.", resource=resource, action="read")
        return self.visible(resource)

    def may_read_field(self, field_resource: str, obj: Any) -> bool:
        """Field-level rules (``Person.contact`` ...), decided in this one place: the
        plan's predicate on the object's facts, computed once per request. Callers
        answer ``null`` for a denied field (documented on the field)."""
        if field_resource not in vocabulary.FIELD_RESOURCES:
            raise ValueError(f"{field_resource} is not a field resource")
        return self.plan(field_resource, "read").allows(Facts.of(obj, field_resource))

    def can(self, resource: str, action: str, facts: Facts) -> bool:
        return self.authorizer.decide(self.actor, resource, action, facts)

    def require(self, resource: str, action: str, facts: Facts) -> None:
        if not self.can(resource, action, facts):
            raise Forbidden(f"You may not {action} this {resource} here.", resource=resource, action=action)
