"""Residents' concerns (诉求) and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import concerns as models
from schema.audit import audited
from schema.context import Info
from schema.org import OrgUnit, Person, _int_id
from schema.pagination import Connection
from services import concerns as service
from services.org import get_visible
from services.pagination import paginate

ConcernStatus = strawberry.enum(
    models.ConcernStatus, description="Where a concern stands in collect → deliberate → implement → feedback."
)


@strawberry.type(description="A resident's concern (诉求): a request or complaint raised in a grid.")
class Concern:
    id: strawberry.ID = strawberry.field(description="Identifier of the concern.")
    title: str = strawberry.field(description="The matter in the resident's words, e.g. 楼道电动车堵塞.")
    description: str = strawberry.field(description="Details.")
    category: str = strawberry.field(description="Category, one of `concernCategories`.")
    location: str = strawberry.field(description="Where, e.g. building and unit.")
    status: ConcernStatus = strawberry.field(description="Current state.")
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
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The grid the concern was raised in.")
    async def unit(self, info: Info) -> OrgUnit | None:
        row = await info.context.loaders.by_id("OrgUnit").load(self.row.unit_id)
        return OrgUnit.from_model(row) if row else None

    @strawberry.field(description="The resident it belongs to; null when the caller may not see them.")
    async def raised_by(self, info: Info) -> Person | None:
        row = await info.context.loaders.by_id("Person").load(self.row.raised_by_id)
        return Person.from_model(row) if row else None

    @strawberry.field(description="Who recorded it (the resident, or a grid worker for them).")
    async def recorded_by(self, info: Info) -> Person | None:
        if self.row.recorded_by_id is None:
            return None
        row = await info.context.loaders.by_id("Person").load(self.row.recorded_by_id)
        return Person.from_model(row) if row else None

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
        if self.row.actor_id is None:
            return None
        row = await info.context.loaders.by_id("Person").load(self.row.actor_id)
        return Person.from_model(row) if row else None


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
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[Concern] | None:
        query = service.visible_concerns(
            info.context.auth,
            status=status,
            category=category,
            unit_id=_int_id(unit_id, "unitId"),
            search=search,
        )
        page = await paginate(
            query, first=first, after=after, max_page_size=info.context.settings.max_page_size
        )
        return Connection.build(page, Concern.from_model)

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
        )
        return Concern.from_model(row)
