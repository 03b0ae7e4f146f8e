"""Councils (议事会), their meetings, agenda topics and attendance."""

from enum import StrEnum

from tortoise import fields

from models.base import ScopedModel


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"
    # --- councils loop: the rest of the closed loop
    DRAFTED = "drafted"
    CLOSED = "closed"
    REVIEWED = "reviewed"


# --- councils loop: topic states
class TopicStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DISCUSSED = "discussed"
    DECIDED = "decided"
    DEFERRED = "deferred"


class Council(ScopedModel):
    """A "little stool" council belonging to a community or village."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128)
    description = fields.TextField(default="")
    unit = fields.ForeignKeyField("models.OrgUnit", related_name="councils", on_delete=fields.RESTRICT)

    class Meta:
        table = "council"


class Meeting(ScopedModel):
    """One sitting of a council: a time, a place, topics and attendees."""

    id = fields.IntField(primary_key=True)
    council = fields.ForeignKeyField("models.Council", related_name="meetings", on_delete=fields.CASCADE)
    title = fields.CharField(max_length=200)
    starts_at = fields.DatetimeField(db_index=True)
    place = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(MeetingStatus, max_length=16, default=MeetingStatus.SCHEDULED)
    scheduled_by = fields.ForeignKeyField(
        "models.Person", related_name="scheduled_meetings", null=True, on_delete=fields.SET_NULL
    )
    # --- councils loop: recorded when the meeting is closed
    minutes = fields.TextField(
        default="", db_default="", description="Minutes recorded when the meeting closed"
    )
    attendance_count = fields.IntField(null=True, description="Head count of people present")

    class Meta:
        table = "meeting"


class AgendaTopic(ScopedModel):
    """A topic on a meeting's agenda, raised by a resident or from a concern."""

    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField("models.Meeting", related_name="topics", on_delete=fields.CASCADE)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    concern = fields.ForeignKeyField(
        "models.Concern", related_name="topics", null=True, on_delete=fields.SET_NULL
    )
    raised_by = fields.ForeignKeyField(
        "models.Person", related_name="raised_topics", null=True, on_delete=fields.SET_NULL
    )
    # --- councils loop: deliberation and decision
    # db_default: existing rows get a value when the column is added
    status = fields.CharEnumField(
        TopicStatus, max_length=16, default=TopicStatus.PROPOSED, db_default=TopicStatus.PROPOSED.value
    )
    decision = fields.TextField(default="", db_default="", description="The decision recorded for the topic")
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "agenda_topic"


class Attendance(ScopedModel):
    """A person's attendance at a meeting, owner_id is the attendee."""

    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField("models.Meeting", related_name="attendance", on_delete=fields.CASCADE)
    person = fields.ForeignKeyField("models.Person", related_name="attendance", on_delete=fields.CASCADE)
    capacity = fields.CharField(max_length=32, default="resident")
    present = fields.BooleanField(default=True)
    recorded_by = fields.ForeignKeyField(
        "models.Person", related_name="recorded_attendance", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "attendance"
        unique_together = (("meeting", "person"),)
