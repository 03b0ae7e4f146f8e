"""Residents' concerns (诉求) and service orders, their history and their way to the end.
The step mutations are made from the declared machine (``services.concerns.CONCERN``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from models import concerns as models
from schema.context import Info
from schema.events import Event
from schema.input_limits import text_field
from schema.limits import CAP
from schema.org import OrgUnit, Person
from schema.types import (
    READ,
    Attribute,
    Derived,
    Node,
    enum_type,
    lazy,
    listing,
    lookup,
    many,
    one,
    shown_with,
)
from schema.workflow import StepMutation, command, result_union, step_mutations
from services import concerns as service

ConcernStatus = enum_type(
    models.ConcernStatus, "Where a concern stands in collect → deliberate → implement → feedback."
)
ConcernKind = enum_type(
    models.ConcernKind, "A concern (诉求) or a service order (群众点单、社区派单、志愿者接单、群众评单)."
)
ConcernLevel = enum_type(
    models.ConcernLevel, "The level responsible for a concern: grid, community or street."
)


@strawberry.type(description="One step in a concern's history: who, when, from, to, note.")
class ConcernEvent(Event):
    @strawberry.field(
        description="What happened, e.g. `submitted`, `accept`, `escalated_to_street` (the same as `action`).",
        deprecation_reason="Use `action`, the name every history uses.",
        metadata={READ: Attribute("action")},
    )
    def kind(self) -> str:
        return self.row.action


def _overdue(row: models.Concern, auth: Any) -> bool:
    return service.is_overdue(row, auth.now())


def _available_actions(row: models.Concern, auth: Any) -> list[str]:
    return list(service.CONCERN.allowed_actions(auth, row))


@strawberry.type(description="A resident's concern (诉求): a request or complaint raised in a grid.")
class Concern(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the concern.")
    title: str = strawberry.field(description="The matter in the resident's words, e.g. 楼道电动车堵塞.")
    description: str = strawberry.field(description="Details.")
    category: str = strawberry.field(description="Category, one of `concernCategories`.")
    location: str = strawberry.field(description="Where, e.g. building and unit.")
    status: ConcernStatus = strawberry.field(description="Current state.")
    kind: ConcernKind = strawberry.field(description="A concern or a service order.")
    level: ConcernLevel = strawberry.field(description="The level now responsible (escalation moves it up).")
    photos: list[str] = strawberry.field(description="Photo references sent with it (at most 20).")
    due_at: datetime | None = strawberry.field(description="When the category's due time runs out.")
    resolution: str = strawberry.field(description="How it was resolved.")
    proof: list[str] = strawberry.field(
        description="Photo or document references proving the resolution (at most 20)."
    )
    rating: int | None = strawberry.field(description="The resident's rating, 1-5.")
    rating_comment: str = strawberry.field(description="The resident's comment with the rating.")
    supervision_count: int = strawberry.field(description="How often the street urged it on (督办).")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    closed_at: datetime | None = strawberry.field(description="When it was closed (or rejected, or merged).")
    created_at: datetime = strawberry.field(description="When it was raised.")
    updated_at: datetime = strawberry.field(description="Last change.")

    @strawberry.field(
        description="Past its due time and still open: shows up for the street's supervision.",
        metadata={READ: Derived(lambda row, auth: _overdue(row, auth), ("status", "due_at"))},
    )
    def overdue(self, info: Info) -> bool:
        return _overdue(self.row, info.context.auth)

    @strawberry.field(
        description="What the caller may do to it now (state and policy both): accept, reject, merge, agenda, "
        "assign, start, escalate, resolve, rate, supervise.",
        metadata={READ: Derived(lambda row, auth: _available_actions(row, auth))},
    )
    def available_actions(self, info: Info) -> list[str]:
        return _available_actions(self.row, info.context.auth)

    assignee = one("assignee", Person, "The person it is assigned to; null when none or not visible.")
    assignee_name = shown_with(
        "assignee",
        "assignee_name",
        str,
        "Who it is assigned to, by name: a unit or volunteer team, or the assigned person. "
        "When it names a person, null unless the caller may read that person (as `assignee`); "
        "empty before it is assigned.",
    )
    duplicate_of = one(
        "duplicate_of",
        lazy("Concern", __name__),
        "The concern this one was merged into; null when none or not visible.",
    )
    unit = one("unit", OrgUnit, "The grid the concern was raised in.")
    raised_by = one("raised_by", Person, "The resident it belongs to; null when the caller may not see them.")
    recorded_by = one("recorded_by", Person, "Who recorded it (the resident, or a grid worker for them).")
    events = many("events", ConcernEvent, "Its history, oldest first (`ConcernEvent` read).")


@strawberry.type(description="A concern category and what it covers.")
class ConcernCategory:
    code: str = strawberry.field(description="Value for `category`.")
    label: str = strawberry.field(description="What it covers, with the field's term.")


@strawberry.type
class ConcernQuery:
    concerns = listing(
        Concern,
        service.CONCERNS,
        "Concerns the caller may see (`Concern` read), newest first.",
        status=(ConcernStatus, "Only concerns in this state."),
        category=(str, "Only this category.", 32),
        unit_id=(strawberry.ID, "Only concerns raised in this grid."),
        search=(str, "Part of the title.", 200),
        kind=(ConcernKind, "Only concerns or only service orders."),
        level=(ConcernLevel, "Only those the given level is responsible for."),
        overdue=(bool, "Only overdue ones (true) or only the others (false)."),
    )
    concern = lookup("Concern", Concern, "concern")

    @strawberry.field(
        description=f"The categories a concern can have ({len(service.CATEGORIES)}).",
        metadata={CAP: len(service.CATEGORIES)},
    )
    def concern_categories(self, info: Info) -> list[ConcernCategory] | None:
        info.context.auth  # noqa: B018 - the vocabulary is for signed-in callers only
        return [ConcernCategory(code=c, label=label) for c, label in service.CATEGORIES.items()]


@strawberry.input(description="A concern to raise (or to record for a resident).")
class RaiseConcernInput:
    unit_id: strawberry.ID = strawberry.field(description="The grid (网格) it concerns.")
    title: str = text_field("The matter (at least 1 character).", 200)
    category: str = text_field("One of `concernCategories`.", 32)
    description: str = text_field("Details.", service.DESCRIPTION_LENGTH, default="")
    location: str = text_field("Where exactly.", service.LOCATION_LENGTH, default="")
    resident_id: strawberry.ID | None = strawberry.field(
        default=None, description="When a worker records it for a resident: that resident."
    )
    kind: ConcernKind = strawberry.field(
        default=models.ConcernKind.CONCERN, description="A concern, or a service order (群众点单)."
    )
    photos: list[str] = text_field(
        f"Photo references (at most {service.MAX_REFERENCES}).",
        service.REFERENCE_LENGTH,
        each=True,
        default_factory=list,
    )


@strawberry.type
class ConcernMutation:
    raise_concern = command(
        "raiseConcern", "Concern", "create", service.raise_concern, RaiseConcernInput, Concern,
        "Raise a concern (`Concern` create); records a `submitted` event.",
    )  # fmt: skip


STEP = "A step on a concern with an optional note."
ConcernSteps = step_mutations(
    service.CONCERN,
    Concern,
    result_union(Concern, "ConcernOutcome", "The concern after the step, or why the step was refused."),
    [
        StepMutation("accept", "acceptConcern", "ConcernStepInput", STEP),
        StepMutation("reject", "rejectConcern", "ConcernStepInput", STEP),
        StepMutation("merge", "mergeConcern", "MergeConcernInput"),
        StepMutation("agenda", "putConcernOnAgenda", "PutConcernOnAgendaInput"),
        StepMutation("assign", "assignConcern", "AssignConcernInput"),
        StepMutation("start", "startConcernWork", "ConcernStepInput", STEP),
        StepMutation("escalate", "escalateConcern", "ConcernStepInput", STEP),
        StepMutation("resolve", "resolveConcern", "ResolveConcernInput"),
        StepMutation("rate", "rateConcern", "RateConcernInput"),
        StepMutation("supervise", "superviseConcern", "ConcernStepInput", STEP),
    ],
)

QUERIES = (ConcernQuery,)
MUTATIONS = (ConcernMutation, ConcernSteps)
