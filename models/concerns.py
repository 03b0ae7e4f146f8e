"""Residents' concerns (诉求) and their event history."""

from enum import StrEnum

from tortoise import fields

from models.base import ScopedModel


class ConcernStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Concern(ScopedModel):
    """A resident's request or complaint, scoped to their grid, owner_id is the resident."""

    id = fields.IntField(primary_key=True)
    unit = fields.ForeignKeyField("models.OrgUnit", related_name="concerns", on_delete=fields.RESTRICT)
    raised_by = fields.ForeignKeyField("models.Person", related_name="concerns", on_delete=fields.RESTRICT)
    recorded_by = fields.ForeignKeyField(
        "models.Person", related_name="recorded_concerns", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    category = fields.CharField(max_length=32, db_index=True)
    location = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(ConcernStatus, max_length=16, default=ConcernStatus.SUBMITTED)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "concern"


class ConcernEvent(ScopedModel):
    """One step in a concern's history: who, when, from, to, note."""

    id = fields.IntField(primary_key=True)
    concern = fields.ForeignKeyField("models.Concern", related_name="events", on_delete=fields.CASCADE)
    actor = fields.ForeignKeyField(
        "models.Person", related_name="concern_events", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharField(max_length=32)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    note = fields.TextField(default="")

    class Meta:
        table = "concern_event"
