"""Party-building alliance units (党建联盟单位): types, queries and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.input_limits import text_field
from schema.org import OrgUnit
from schema.types import Node, lazy, listing, lookup, many, one
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
    allied_with = one("unit", OrgUnit, "The street or community the unit is allied with.")
    tasks = many(
        "tasks",
        lazy("Task", "schema.councils"),
        "Assignments of this unit the caller may see (`Task` read), by due date.",
        root="`tasks(allianceUnitId:)`",
    )


@strawberry.type
class AllianceQuery:
    alliance_units = listing(
        AllianceUnit,
        service.ALLIANCE_UNITS,
        "Alliance units the caller may see (`AllianceUnit` read), newest first.",
        kind=(str, "Only this kind.", 32),
        unit_id=(strawberry.ID, "Only units allied with this street/community."),
    )
    alliance_unit = lookup("AllianceUnit", AllianceUnit, "alliance unit")


@strawberry.input(description="An organisation's alliance with a street or community.")
class CreateAllianceUnitInput:
    unit_id: strawberry.ID = strawberry.field(description="The street or community it is allied with.")
    name: str = text_field("Name, e.g. 地质调查院.", 128)
    kind: str = text_field("state_company, institute, school, hospital, power_company, other.", 32)
    contact: str = text_field("Contact desk.", 128, default="")


@strawberry.input(description="Corrections to an alliance unit; fields left out stay as they are.")
class UpdateAllianceUnitInput:
    alliance_unit_id: strawberry.ID = strawberry.field(description="The alliance unit.")
    name: str | None = text_field("New name.", 128, default=None)
    kind: str | None = text_field("New kind.", 32, default=None)
    contact: str | None = text_field("New contact desk.", 128, default=None)


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
