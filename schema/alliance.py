"""Party-building alliance units (党建联盟单位): types, queries and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.context import Info
from schema.org import OrgUnit
from schema.pagination import Connection, connection
from schema.types import After, First, Node, lazy, lookup, many, one, optional_id
from schema.workflow import command
from services import alliance as service


@strawberry.type(
    description="A party-building alliance unit (党建联盟单位) allied with a street or community."
)
class AllianceUnit(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the alliance unit.")
    name: str = strawberry.field(description="Name, e.g. 地质调查院.")
    kind: str = strawberry.field(
        description="state_company, institute, school, hospital, power_company, other."
    )
    contact: str = strawberry.field(description="Contact desk of the organisation (public).")
    created_at: datetime = strawberry.field(description="When the alliance was recorded.")
    allied_with = one("allied_with", OrgUnit, "The street or community the unit is allied with.")
    tasks = many(
        "tasks",
        lazy("Task", "schema.councils"),
        "Assignments of this unit the caller may see (`Task` read), by due date.",
    )


@strawberry.type
class AllianceQuery:
    @strawberry.field(description="Alliance units the caller may see (`AllianceUnit` read), newest first.")
    async def alliance_units(
        self,
        info: Info,
        kind: Annotated[str | None, strawberry.argument(description="Only this kind.")] = None,
        unit_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only units allied with this street/community."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[AllianceUnit] | None:
        query = service.visible_alliance_units(
            info.context.auth, kind=kind, unit_id=optional_id(unit_id, "unitId")
        )
        return await connection(info, query, first, after, AllianceUnit.from_row)

    alliance_unit = lookup("AllianceUnit", AllianceUnit, "alliance unit")


@strawberry.input(description="An organisation's alliance with a street or community.")
class CreateAllianceUnitInput:
    unit_id: strawberry.ID = strawberry.field(description="The street or community it is allied with.")
    name: str = strawberry.field(description="Name, e.g. 地质调查院.")
    kind: str = strawberry.field(
        description="state_company, institute, school, hospital, power_company, other."
    )
    contact: str = strawberry.field(default="", description="Contact desk.")


@strawberry.input(description="Corrections to an alliance unit; fields left out stay as they are.")
class UpdateAllianceUnitInput:
    alliance_unit_id: strawberry.ID = strawberry.field(description="The alliance unit.")
    name: str | None = strawberry.field(default=None, description="New name.")
    kind: str | None = strawberry.field(default=None, description="New kind.")
    contact: str | None = strawberry.field(default=None, description="New contact desk.")


@strawberry.type
class AllianceMutation:
    create_alliance_unit = command(
        "createAllianceUnit",
        "AllianceUnit",
        "create",
        service.create_alliance_unit,
        CreateAllianceUnitInput,
        AllianceUnit,
        "Record an alliance with a street or community (`AllianceUnit` create).",
    )
    update_alliance_unit = command(
        "updateAllianceUnit", "AllianceUnit", "update", service.update_alliance_unit, UpdateAllianceUnitInput,
        AllianceUnit, "Correct an alliance unit's name, kind or contact (`AllianceUnit` update).",
    )  # fmt: skip


QUERIES = (AllianceQuery,)
MUTATIONS = (AllianceMutation,)
