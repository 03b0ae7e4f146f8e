"""The grid worker's rounds log (网格员走访/巡查日志): visits to households and patrols of
the grid, with what was found; a finding can become a concern in one step."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import EventRecord, StatefulModel, history_of, mentions, person_ref, refers_to

if TYPE_CHECKING:
    from models.concerns import Concern
    from models.org import OrgUnit


class RoundKind(StrEnum):
    VISIT = "visit"  # 走访: a household
    PATROL = "patrol"  # 巡查: the grid


class RoundStatus(StrEnum):
    RECORDED = "recorded"
    FOLLOWED_UP = "followed_up"  # a finding became a concern


class GridRound(StatefulModel):
    """One round of a grid worker in their grid: scope_path is the grid, owner_id the worker."""

    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "rounds")
    unit_id: int
    kind = fields.CharEnumField(RoundKind, max_length=16)
    walked_at = fields.DatetimeField(db_index=True, description="When the visit or patrol took place")
    place = fields.CharField(max_length=200, default="", description="Household or route, e.g. 3 号楼 2 单元")
    resident = person_ref("rounds_visited")
    resident_id: int | None
    findings = fields.TextField(default="", description="What the worker found")
    status = fields.CharEnumField(RoundStatus, max_length=16, default=RoundStatus.RECORDED)
    concern: fields.ForeignKeyNullableRelation[Concern] = mentions("models.Concern", "rounds")
    concern_id: int | None

    class Meta:
        table = "grid_round"


class GridRoundEvent(EventRecord):
    """One step of a round: recorded, followed up."""

    round: fields.ForeignKeyRelation[GridRound] = history_of("models.GridRound")
    round_id: int

    class Meta:
        table = "grid_round_event"
