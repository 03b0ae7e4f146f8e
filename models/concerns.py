"""Residents' concerns (诉求), service orders, and their event history."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.base import EventRecord, StatefulModel, history_of, mentions, person_ref, refers_to

if TYPE_CHECKING:
    from models.org import OrgUnit
    from models.people import Person


class ConcernKind(StrEnum):
    CONCERN = "concern"  # a request or complaint (诉求)
    SERVICE_ORDER = "service_order"  # residents order, the community dispatches (群众点单)


class ConcernStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MERGED = "merged"
    ON_AGENDA = "on_agenda"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class ConcernLevel(StrEnum):
    """Who is responsible: small matters stay in the grid, big ones go to the street."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"


class Concern(StatefulModel):
    """A resident's concern or service order, raised in a grid. owner_id is the resident,
    scope_path the grid it was raised in (it stays there when the matter is escalated)."""

    kind = fields.CharEnumField(ConcernKind, max_length=16, default=ConcernKind.CONCERN, db_index=True)
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "concerns")
    unit_id: int
    raised_by: fields.ForeignKeyRelation[Person] = refers_to("models.Person", "concerns")
    raised_by_id: int
    recorded_by = person_ref("recorded_concerns")
    recorded_by_id: int | None
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    category = fields.CharField(max_length=32, db_index=True)
    location = fields.CharField(max_length=200, default="")
    photos: fields.JSONField[list[str]] = fields.JSONField(
        default=list, description="Photo references from the mini-program"
    )
    status = fields.CharEnumField(
        ConcernStatus, max_length=16, default=ConcernStatus.SUBMITTED, db_index=True
    )
    level = fields.CharEnumField(ConcernLevel, max_length=16, default=ConcernLevel.GRID)
    due_at = fields.DatetimeField(
        null=True, db_index=True, description="When the category's due time runs out"
    )
    duplicate_of: fields.ForeignKeyNullableRelation[Concern] = mentions("models.Concern", "duplicates")
    duplicate_of_id: int | None
    assignee = person_ref("assigned_concerns")
    assignee_id: int | None
    assignee_name = fields.CharField(
        max_length=128, default="", description="Alliance unit or volunteer team"
    )
    resolution = fields.TextField(default="")
    proof: fields.JSONField[list[str]] = fields.JSONField(
        default=list, description="Photo or document references proving the resolution"
    )
    rating = fields.IntField(null=True)
    rating_comment = fields.TextField(default="")
    supervision_count = fields.IntField(default=0, description="How often the street urged it (督办)")
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        table = "concern"


class ConcernEvent(EventRecord):
    """One step in a concern's history: who, when, from, to, note."""

    concern: fields.ForeignKeyRelation[Concern] = history_of("models.Concern")
    concern_id: int

    class Meta:
        table = "concern_event"


class ConcernTally(Model):
    """How many concerns were raised, resolved, closed, or are open and due, per scope,
    UTC day and category: the statistics read these instead of counting concerns.

    Kept by database triggers on ``concern`` (migration 0012), in the transaction of every
    insert, update and delete, whatever wrote it: a concern adds one to the row of its own
    scope and to the rows of every scope above it (grid, community, street, and ``""`` for
    everything), so a street's figures for a year are one street's rows per day, however
    many concerns it holds. ``seconds`` sums the time from raising to closing (``closed``).
    """

    id = fields.BigIntField(primary_key=True)
    scope_path = fields.CharField(max_length=255, description="A scope and everything below it")
    measure = fields.CharField(max_length=16, description="raised, resolved, closed or open_due")
    day = fields.DateField(description="UTC day of created_at, resolved_at, closed_at or due_at")
    category = fields.CharField(max_length=32)
    n = fields.BigIntField(default=0)
    seconds = fields.FloatField(default=0, description="closed: sum of seconds from raising to closing")

    class Meta:
        table = "concern_tally"
        unique_together = (("scope_path", "measure", "day", "category"),)
