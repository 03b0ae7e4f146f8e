"""The resources a rule may name, with what the policy needs to know of each: the
actions that apply to it and the columns its relation kinds read.

This is the one declaration of a resource's policy facts. The loader and the checker
read it to refuse rules that name unknown words or can never match; the list filter
(``policies.relations``) reads its columns; ``services.authz`` binds each stored
resource to the model of the same name (``models``). A new resource is a line here,
its rules in ``policy.csv`` and its behaviour in ``services/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class ResourceFacts:
    """One resource: its actions, and where its facts live in SQL."""

    actions: tuple[str, ...]
    owner_column: str | None = "owner_id"  # None: the own relations never match
    scope_column: str = "scope_path"
    # link kind -> column: ("workstation" -> "workstation_id"), ("assignee" -> "assignee_id")
    links: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    stored: bool = True  # False: no table, decided on facts only (the policy itself, ballots)
    part_of: str | None = None  # a field resource: the resource whose rows it guards
    fields: tuple[str, ...] = ()  # a field resource: the GraphQL fields that read null when denied


def links(**columns: str) -> Mapping[str, str]:
    return MappingProxyType(columns)


# The steps of a concern's way to the end (services/concerns.py declares them).
CONCERN_STEPS = (
    "accept", "reject", "merge", "agenda", "assign", "start", "escalate", "resolve", "rate", "supervise",
)  # fmt: skip
# Mediation: every case row (and its children) carries the case's links.
CASE_LINKS = links(assignee="assignee_id", workstation="workstation_id", court="court_id")
WORKSTATION_LINKS = links(workstation="workstation_id", court="court_id")
TASK_LINKS = links(alliance_unit="alliance_unit_id", assignee="owner_person_id")

RESOURCES: Mapping[str, ResourceFacts] = MappingProxyType(
    {
        # --- org and people
        "OrgUnit": ResourceFacts(("read",), owner_column=None, scope_column="path"),
        "Person": ResourceFacts(("read",)),
        "Person.contact": ResourceFacts(("read",), part_of="Person", fields=("phone", "address")),
        # --- councils: meetings, topics, attendance, tasks, ratings, votes
        "Council": ResourceFacts(("read", "create")),
        "Meeting": ResourceFacts(("read", "create", "update")),
        "MeetingEvent": ResourceFacts(("read",)),
        "AgendaTopic": ResourceFacts(("read", "create", "update")),
        "Attendance": ResourceFacts(("read", "create")),
        "Task": ResourceFacts(("read", "create", "update"), links=TASK_LINKS),
        "TaskEvent": ResourceFacts(("read",), links=TASK_LINKS),
        "Rating": ResourceFacts(("read", "create")),
        "Rating.author": ResourceFacts(("read",), part_of="Rating", fields=("author",)),
        "Vote": ResourceFacts(("read", "create", "update")),
        "Ballot": ResourceFacts(("create",), stored=False),  # who voted is never readable
        # --- alliance units
        "AllianceUnit": ResourceFacts(("read", "create", "update"), links=links(alliance_unit="id")),
        # --- concerns and service orders
        "Concern": ResourceFacts(("read", "create", *CONCERN_STEPS), links=links(assignee="assignee_id")),
        "ConcernEvent": ResourceFacts(("read",)),
        # --- mediation, judge workstations, referrals
        "Workstation": ResourceFacts(("read",), links=links(workstation="id", court="court_id")),
        "Mediator": ResourceFacts(("read",)),
        "MediationCase": ResourceFacts(("read", "create", "update", "escalate"), links=CASE_LINKS),
        "MediationCase.parties": ResourceFacts(
            ("read",), links=CASE_LINKS, part_of="MediationCase", fields=("parties",)
        ),
        "MediationSession": ResourceFacts(("read", "create"), links=CASE_LINKS),
        "MediationEvent": ResourceFacts(("read",), links=CASE_LINKS),
        "Referral": ResourceFacts(("read", "update"), links=CASE_LINKS),
        "OutreachEvent": ResourceFacts(("read", "create"), links=WORKSTATION_LINKS),
        "LegalConsultation": ResourceFacts(("read", "create"), links=WORKSTATION_LINKS),
        # --- the grid worker's rounds log (网格员走访/巡查日志)
        "GridRound": ResourceFacts(("read", "create", "update")),
        "GridRoundEvent": ResourceFacts(("read",)),
        # --- administration
        "Policy": ResourceFacts(("read", "explain"), owner_column=None, stored=False),
        "AuditRecord": ResourceFacts(("read",)),
        # --- signed webhooks for partner tokens (global scope, owned by the token's person)
        "WebhookEndpoint": ResourceFacts(("read", "create", "update")),
        "WebhookDelivery": ResourceFacts(("read", "update")),  # update: replay
        "WebhookAttempt": ResourceFacts(("read",)),
    }
)

# Field-level resources: parts of a record with rules of their own. A denied field reads
# as null; the record itself stays visible under its own resource's rules.
FIELD_RESOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: facts.fields for name, facts in RESOURCES.items() if facts.part_of is not None}
)


def table_resource(resource: str) -> str:
    """The resource whose table holds ``resource``'s rows (itself, or the record a field
    resource is part of)."""
    return RESOURCES[resource].part_of or resource
