"""Residents' concerns (诉求) and their history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from models import concerns as models
from schema.audit import audited
from schema.context import Info, load_related
from schema.org import OrgUnit, Person, _int_id
from schema.pagination import Connection, connection
from schema.transitions import InvalidTransition
from services import concern_lifecycle as lifecycle
from services import concerns as service
from services.org import get_visible

ConcernStatus = strawberry.enum(
    models.ConcernStatus, description="Where a concern stands in collect → deliberate → implement → feedback."
)
ConcernKind = strawberry.enum(
    models.ConcernKind,
    description="A concern (诉求) or a service order (群众点单、社区派单、志愿者接单、群众评单).",
)
ConcernLevel = strawberry.enum(
    models.ConcernLevel, description="The level responsible for a concern: grid, community or street."
)


@strawberry.type(description="A resident's concern (诉求): a request or complaint raised in a grid.")
class Concern:
    id: strawberry.ID = strawberry.field(description="Identifier of the concern.")
    title: str = strawberry.field(description="The matter in the resident's words, e.g. 楼道电动车堵塞.")
    description: str = strawberry.field(description="Details.")
    category: str = strawberry.field(description="Category, one of `concernCategories`.")
    location: str = strawberry.field(description="Where, e.g. building and unit.")
    status: ConcernStatus = strawberry.field(description="Current state.")
    kind: ConcernKind = strawberry.field(description="A concern or a service order.")
    level: ConcernLevel = strawberry.field(description="The level now responsible (escalation moves it up).")
    photos: list[str] = strawberry.field(description="Photo references sent with it.")
    due_at: datetime | None = strawberry.field(description="When the category's due time runs out.")
    assignee_name: str = strawberry.field(
        description="Who it is assigned to: a person, unit or volunteer team."
    )
    resolution: str = strawberry.field(description="How it was resolved.")
    proof: list[str] = strawberry.field(description="Photo or document references proving the resolution.")
    rating: int | None = strawberry.field(description="The resident's rating, 1-5.")
    rating_comment: str = strawberry.field(description="The resident's comment with the rating.")
    supervision_count: int = strawberry.field(description="How often the street urged it on (督办).")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    closed_at: datetime | None = strawberry.field(description="When it was closed (or rejected, or merged).")
    created_at: datetime = strawberry.field(description="When it was raised.")
    updated_at: datetime = strawberry.field(description="Last change.")
    row: strawberry.Private[models.Concern]

    @classmethod
    def from_model(cls, row: models.Concern) -> Concern:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            category=row.category,
            location=row.location,
            status=row.status,
            kind=row.kind,
            level=row.level,
            photos=list(row.photos or []),
            due_at=row.due_at,
            assignee_name=row.assignee_name,
            resolution=row.resolution,
            proof=list(row.proof or []),
            rating=row.rating,
            rating_comment=row.rating_comment,
            supervision_count=row.supervision_count,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="Past its due time and still open: shows up for the street's supervision.")
    def overdue(self) -> bool:
        return is_overdue(self.row)

    @strawberry.field(
        description="What the caller may do to it now (state and policy both): accept, reject, merge, agenda, "
        "assign, start, escalate, resolve, rate, supervise."
    )
    def available_actions(self, info: Info) -> list[str]:
        return list(lifecycle.available_actions(info.context.auth, self.row))

    @strawberry.field(description="The person it is assigned to; null when none or not visible.")
    async def assignee(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.assignee_id, Person.from_model)

    @strawberry.field(description="The concern this one was merged into; null when none or not visible.")
    async def duplicate_of(self, info: Info) -> Concern | None:
        return await load_related(info, "Concern", self.row.duplicate_of_id, Concern.from_model)

    @strawberry.field(description="The grid the concern was raised in.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)

    @strawberry.field(description="The resident it belongs to; null when the caller may not see them.")
    async def raised_by(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.raised_by_id, Person.from_model)

    @strawberry.field(description="Who recorded it (the resident, or a grid worker for them).")
    async def recorded_by(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.recorded_by_id, Person.from_model)

    @strawberry.field(description="Its history, oldest first (`ConcernEvent` read).")
    async def events(self, info: Info) -> list[ConcernEvent]:
        rows = await info.context.loaders.children("ConcernEvent", "concern_id").load(self.row.id)
        return [ConcernEvent.from_model(r) for r in rows]


@strawberry.type(description="One step in a concern's history: who, when, from, to, note.")
class ConcernEvent:
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    kind: str = strawberry.field(description="What happened, e.g. `submitted`.")
    from_status: str | None = strawberry.field(description="State before, if it changed.")
    to_status: str | None = strawberry.field(description="State after, if it changed.")
    note: str = strawberry.field(description="Note left by the actor.")
    created_at: datetime = strawberry.field(description="When it happened.")
    row: strawberry.Private[models.ConcernEvent]

    @classmethod
    def from_model(cls, row: models.ConcernEvent) -> ConcernEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            from_status=row.from_status,
            to_status=row.to_status,
            note=row.note,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Who acted; null when the caller may not see that person.")
    async def actor(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.actor_id, Person.from_model)


@strawberry.type(description="A concern category and what it covers.")
class ConcernCategory:
    code: str = strawberry.field(description="Value for `category`.")
    label: str = strawberry.field(description="What it covers, with the field's term.")


@strawberry.type
class ConcernQuery:
    @strawberry.field(description="Concerns the caller may see (`Concern` read), newest first.")
    async def concerns(
        self,
        info: Info,
        status: Annotated[
            ConcernStatus | None, strawberry.argument(description="Only concerns in this state.")
        ] = None,
        category: Annotated[str | None, strawberry.argument(description="Only this category.")] = None,
        unit_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only concerns raised in this grid.")
        ] = None,
        search: Annotated[str | None, strawberry.argument(description="Part of the title.")] = None,
        kind: Annotated[
            ConcernKind | None, strawberry.argument(description="Only concerns or only service orders.")
        ] = None,
        level: Annotated[
            ConcernLevel | None,
            strawberry.argument(description="Only those the given level is responsible for."),
        ] = None,
        overdue: Annotated[
            bool | None,
            strawberry.argument(description="Only overdue ones (true) or only the others (false)."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[Concern] | None:
        query = service.visible_concerns(
            info.context.auth,
            status=status,
            category=category,
            unit_id=_int_id(unit_id, "unitId"),
            search=search,
            kind=kind,
            level=level,
            overdue=overdue,
        )
        return await connection(info, query, first, after, Concern.from_model)

    @strawberry.field(description="One concern; NOT_FOUND if it does not exist or is out of scope.")
    async def concern(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the concern.")],
    ) -> Concern | None:
        return Concern.from_model(await get_visible(info.context.auth, "Concern", id))

    @strawberry.field(description="The categories a concern can have.")
    def concern_categories(self, info: Info) -> list[ConcernCategory] | None:
        info.context.auth  # noqa: B018 - the vocabulary is for signed-in callers only
        return [ConcernCategory(code=c, label=label) for c, label in service.CATEGORIES.items()]


@strawberry.input(description="A concern to raise (or to record for a resident).")
class RaiseConcernInput:
    unit_id: strawberry.ID = strawberry.field(description="The grid (网格) it concerns.")
    title: str = strawberry.field(description="The matter (1-200 characters).")
    category: str = strawberry.field(description="One of `concernCategories`.")
    description: str = strawberry.field(default="", description="Details.")
    location: str = strawberry.field(default="", description="Where exactly.")
    resident_id: strawberry.ID | None = strawberry.field(
        default=None, description="When a worker records it for a resident: that resident."
    )
    kind: ConcernKind = strawberry.field(
        default=models.ConcernKind.CONCERN, description="A concern, or a service order (群众点单)."
    )
    photos: list[str] = strawberry.field(default_factory=list, description="Photo references (at most 20).")


@strawberry.type
class ConcernMutation:
    @strawberry.mutation(description="Raise a concern (`Concern` create); records a `submitted` event.")
    @audited("raiseConcern", "Concern", "create")
    async def raise_concern(
        self,
        info: Info,
        input: Annotated[
            RaiseConcernInput, strawberry.argument(description="What to do; see the input type.")
        ],
    ) -> Concern | None:
        row = await service.raise_concern(
            info.context.auth,
            unit_id=input.unit_id,
            title=input.title,
            description=input.description,
            category=input.category,
            location=input.location,
            resident_id=input.resident_id,
            kind=input.kind,
            photos=input.photos,
        )
        return Concern.from_model(row)


def is_overdue(row: models.Concern) -> bool:
    return row.due_at is not None and row.status in service.OPEN and row.due_at < datetime.now(UTC)


# ------------------------------------------------------------------ the way to the end


ConcernOutcome = Annotated[
    Concern | InvalidTransition,
    strawberry.union(
        "ConcernOutcome", description="The concern after the step, or why the step was refused."
    ),
]


def _outcome(result) -> Concern | InvalidTransition:
    if isinstance(result, lifecycle.InvalidTransition):
        return InvalidTransition.from_result(result)
    return Concern.from_model(result)


@strawberry.input(description="A step on a concern with an optional note.")
class ConcernStepInput:
    concern_id: strawberry.ID = strawberry.field(description="The concern.")
    note: str = strawberry.field(
        default="", description="Note for the history (required to reject, escalate, supervise)."
    )


@strawberry.input(description="Merge a concern into the one it duplicates.")
class MergeConcernInput:
    concern_id: strawberry.ID = strawberry.field(description="The duplicate.")
    duplicate_of_id: strawberry.ID = strawberry.field(description="The concern it duplicates.")
    note: str = strawberry.field(default="", description="Note for the history.")


@strawberry.input(description="Put a concern on the agenda of a council meeting (公开说事).")
class PutConcernOnAgendaInput:
    concern_id: strawberry.ID = strawberry.field(description="The concern.")
    meeting_id: strawberry.ID = strawberry.field(description="A meeting still to be held.")
    note: str = strawberry.field(default="", description="Note for the history.")


@strawberry.input(description="Assign a concern (派单): to a person, or to a unit or volunteer team by name.")
class AssignConcernInput:
    concern_id: strawberry.ID = strawberry.field(description="The concern.")
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="A person (e.g. a volunteer)."
    )
    assignee_name: str = strawberry.field(
        default="", description="An alliance unit or team, when not a person."
    )
    note: str = strawberry.field(default="", description="Note for the history.")


@strawberry.input(description="Mark a concern resolved, with proof.")
class ResolveConcernInput:
    concern_id: strawberry.ID = strawberry.field(description="The concern.")
    resolution: str = strawberry.field(description="What was done.")
    proof: list[str] = strawberry.field(description="At least one photo or document reference.")


@strawberry.input(description="The resident's rating of how their concern was handled (评单).")
class RateConcernInput:
    concern_id: strawberry.ID = strawberry.field(description="The concern.")
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    satisfied: bool = strawberry.field(description="True closes it (销号); false reopens it.")
    comment: str = strawberry.field(default="", description="Comment.")


InputArg = strawberry.argument(description="What to do; see the input type.")


@strawberry.type
class ConcernLifecycleMutation:
    @strawberry.mutation(description="Accept a submitted concern (`Concern` accept).")
    @audited("acceptConcern", "Concern", "accept")
    async def accept_concern(
        self, info: Info, input: Annotated[ConcernStepInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(await lifecycle.accept(info.context.auth, input.concern_id, input.note))

    @strawberry.mutation(description="Reject a submitted concern with a reason (`Concern` reject).")
    @audited("rejectConcern", "Concern", "reject")
    async def reject_concern(
        self, info: Info, input: Annotated[ConcernStepInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(await lifecycle.reject(info.context.auth, input.concern_id, input.note))

    @strawberry.mutation(description="Merge a duplicate into the concern it repeats (`Concern` merge).")
    @audited("mergeConcern", "Concern", "merge")
    async def merge_concern(
        self, info: Info, input: Annotated[MergeConcernInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(
            await lifecycle.merge(info.context.auth, input.concern_id, input.duplicate_of_id, input.note)
        )

    @strawberry.mutation(
        description="Put a concern on a meeting's agenda (`Concern` agenda); adds the topic."
    )
    @audited("putConcernOnAgenda", "Concern", "agenda")
    async def put_concern_on_agenda(
        self, info: Info, input: Annotated[PutConcernOnAgendaInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(
            await lifecycle.put_on_agenda(info.context.auth, input.concern_id, input.meeting_id, input.note)
        )

    @strawberry.mutation(description="Assign a concern or dispatch a service order (`Concern` assign).")
    @audited("assignConcern", "Concern", "assign")
    async def assign_concern(
        self, info: Info, input: Annotated[AssignConcernInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(
            await lifecycle.assign(
                info.context.auth, input.concern_id, assignee_id=input.assignee_id,
                assignee_name=input.assignee_name, note=input.note,
            )
        )  # fmt: skip

    @strawberry.mutation(
        description="Start work on an assigned concern; a volunteer takes an order (`Concern` start)."
    )
    @audited("startConcernWork", "Concern", "start")
    async def start_concern_work(
        self, info: Info, input: Annotated[ConcernStepInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(await lifecycle.start(info.context.auth, input.concern_id, input.note))

    @strawberry.mutation(
        description="Escalate to the next level: grid → community → street (`Concern` escalate)."
    )
    @audited("escalateConcern", "Concern", "escalate")
    async def escalate_concern(
        self, info: Info, input: Annotated[ConcernStepInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(await lifecycle.escalate(info.context.auth, input.concern_id, input.note))

    @strawberry.mutation(description="Mark resolved with proof (`Concern` resolve).")
    @audited("resolveConcern", "Concern", "resolve")
    async def resolve_concern(
        self, info: Info, input: Annotated[ResolveConcernInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(
            await lifecycle.resolve(info.context.auth, input.concern_id, input.resolution, input.proof)
        )

    @strawberry.mutation(
        description="The resident rates the handling: closes or reopens it (`Concern` rate)."
    )
    @audited("rateConcern", "Concern", "rate")
    async def rate_concern(
        self, info: Info, input: Annotated[RateConcernInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(
            await lifecycle.rate(
                info.context.auth, input.concern_id, input.rating, input.satisfied, input.comment
            )
        )

    @strawberry.mutation(description="Urge an open concern on (督办, `Concern` supervise).")
    @audited("superviseConcern", "Concern", "supervise")
    async def supervise_concern(
        self, info: Info, input: Annotated[ConcernStepInput, InputArg]
    ) -> ConcernOutcome | None:
        return _outcome(await lifecycle.supervise(info.context.auth, input.concern_id, input.note))
