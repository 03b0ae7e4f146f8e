"""The grid worker's rounds log (网格员走访/巡查日志): types, queries and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import rounds as models
from schema.concerns import Concern
from schema.events import Event
from schema.input_limits import text_field
from schema.org import OrgUnit, Person
from schema.types import Node, enum_type, listing, lookup, many, one
from schema.workflow import StepMutation, command, result_union, step_mutations
from services import rounds as service

RoundKind = enum_type(models.RoundKind, "A visit to a household (走访) or a patrol of the grid (巡查).")
RoundStatus = enum_type(models.RoundStatus, "Recorded, or followed up: a finding became a concern.")


@strawberry.type(description="One step of a round: record or follow_up.")
class GridRoundEvent(Event):
    to_status: str = strawberry.field(description="State after.")


@strawberry.type(
    description="A grid worker's round (网格员走访/巡查): a visit to a household or a patrol of the grid, "
    "with what was found (`GridRound` read)."
)
class GridRound(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the round.")
    kind: RoundKind = strawberry.field(description="Visit or patrol.")
    walked_at: datetime = strawberry.field(description="When it took place.")
    place: str = strawberry.field(description="Household or route, e.g. 3 号楼 2 单元.")
    findings: str = strawberry.field(description="What the worker found.")
    status: RoundStatus = strawberry.field(description="Recorded, or followed up by a concern.")
    created_at: datetime = strawberry.field(description="When it was recorded.")
    unit = one("unit", OrgUnit, "The grid walked.")
    walked_by = one("walked_by", Person, "The grid worker; null when the caller may not see them.")
    resident = one("resident", Person, "The resident visited, if any; null when the caller may not see them.")
    concern = one("concern", Concern, "The concern a finding became; null if none or not visible.")
    events = many("events", GridRoundEvent, "Its history, oldest first (`GridRoundEvent` read).")


@strawberry.type
class RoundsQuery:
    grid_rounds = listing(
        GridRound,
        service.ROUNDS,
        "Rounds the caller may see (`GridRound` read), newest first.",
        kind=(RoundKind, "Only visits or only patrols."),
        unit_id=(strawberry.ID, "Only this grid."),
        since=(datetime, "Walked at or after this time."),
    )
    grid_round = lookup("GridRound", GridRound, "round")


@strawberry.input(description="A round walked by the caller (a grid worker) in their grid.")
class RecordGridRoundInput:
    unit_id: strawberry.ID = strawberry.field(description="The grid (网格).")
    kind: RoundKind = strawberry.field(description="Visit or patrol.")
    walked_at: datetime = strawberry.field(description="When, with a time zone offset.")
    place: str = text_field("Household or route.", 200, default="")
    resident_id: strawberry.ID | None = strawberry.field(
        default=None, description="The resident visited, if any."
    )
    findings: str = text_field("What was found.", 4000, default="")


@strawberry.type
class RoundsMutation:
    record_grid_round = command(
        "recordGridRound", "GridRound", "create", service.record_round, RecordGridRoundInput, GridRound,
        "Record a visit or a patrol (`GridRound` create: the grid worker, in their own grid).",
    )  # fmt: skip


RoundSteps = step_mutations(
    service.ROUND,
    GridRound,
    result_union(GridRound, "GridRoundResult", "The round after the step, or why it is not possible."),
    [
        StepMutation(
            "follow_up",
            "raiseConcernFromRound",
            "RaiseConcernFromRoundInput",
            "A round's finding to become a concern (of the resident visited).",
        )
    ],
)

QUERIES = (RoundsQuery,)
MUTATIONS = (RoundsMutation, RoundSteps)
