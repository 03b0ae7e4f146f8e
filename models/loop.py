"""The councils' closed loop (议事闭环): transition events, tasks, ratings, votes, and the
party-building alliance units (党建联盟单位) that take on tasks."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.base import ScopedModel


class AllianceUnit(ScopedModel):
    """An organisation allied with a street or community, scope_path is that unit's path."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=32, description="state_company, institute, school, hospital ...")
    unit = fields.ForeignKeyField("models.OrgUnit", related_name="alliance_units", on_delete=fields.RESTRICT)
    contact = fields.CharField(max_length=128, default="")

    class Meta:
        table = "alliance_unit"


class MeetingUnit(Model):
    """An alliance unit present at a meeting (recorded when the meeting is closed)."""

    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField("models.Meeting", related_name="present_units", on_delete=fields.CASCADE)
    alliance_unit = fields.ForeignKeyField(
        "models.AllianceUnit", related_name="meetings_attended", on_delete=fields.CASCADE
    )

    class Meta:
        table = "meeting_alliance_unit"
        unique_together = (("meeting", "alliance_unit"),)


class MeetingEvent(ScopedModel):
    """One transition of a meeting, of one of its topics or of one of its votes."""

    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField("models.Meeting", related_name="events", on_delete=fields.CASCADE)
    topic = fields.ForeignKeyField(
        "models.AgendaTopic", related_name="events", null=True, on_delete=fields.CASCADE
    )
    vote = fields.ForeignKeyField("models.Vote", related_name="events", null=True, on_delete=fields.CASCADE)
    actor = fields.ForeignKeyField(
        "models.Person", related_name="meeting_events", null=True, on_delete=fields.SET_NULL
    )
    subject = fields.CharField(max_length=16, description="meeting, topic or vote")
    action = fields.CharField(max_length=16)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    note = fields.TextField(default="")

    class Meta:
        table = "meeting_event"


class TaskOwnerKind(StrEnum):
    PERSON = "person"
    ALLIANCE_UNIT = "alliance_unit"
    VOLUNTEER = "volunteer"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class Task(ScopedModel):
    """Work that a decision (or a concern) gives to a person, an alliance unit or a volunteer."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    topic = fields.ForeignKeyField(
        "models.AgendaTopic", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    concern_id = fields.IntField(null=True, db_index=True, description="The concern this task comes from")
    owner_kind = fields.CharEnumField(TaskOwnerKind, max_length=16)
    owner_person = fields.ForeignKeyField(
        "models.Person", related_name="tasks_owned", null=True, on_delete=fields.SET_NULL
    )
    alliance_unit = fields.ForeignKeyField(
        "models.AllianceUnit", related_name="tasks", null=True, on_delete=fields.RESTRICT
    )
    volunteer_name = fields.CharField(max_length=64, default="")
    due_on = fields.DateField(db_index=True)
    status = fields.CharEnumField(TaskStatus, max_length=16, default=TaskStatus.OPEN)
    result = fields.TextField(default="")
    done_at = fields.DatetimeField(null=True)
    assigned_by = fields.ForeignKeyField(
        "models.Person", related_name="tasks_assigned", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "task"


class TaskEvent(ScopedModel):
    """One transition of a task, alliance_unit_id is copied from the task."""

    id = fields.IntField(primary_key=True)
    task = fields.ForeignKeyField("models.Task", related_name="events", on_delete=fields.CASCADE)
    alliance_unit_id = fields.IntField(null=True, db_index=True)
    owner_person_id = fields.IntField(null=True)
    actor = fields.ForeignKeyField(
        "models.Person", related_name="task_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=16)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    note = fields.TextField(default="")

    class Meta:
        table = "task_event"


class Rating(ScopedModel):
    """A resident's rating (1-5) of a meeting's outcome, owner_id is the rater."""

    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField("models.Meeting", related_name="ratings", on_delete=fields.CASCADE)
    score = fields.SmallIntField()
    comment = fields.TextField(default="")

    class Meta:
        table = "rating"
        unique_together = (("meeting", "owner_id"),)


class VoteStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class VoteChoice(StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class Vote(ScopedModel):
    """An anonymous vote on a topic with a threshold rule. Only tallies are stored."""

    id = fields.IntField(primary_key=True)
    topic = fields.ForeignKeyField("models.AgendaTopic", related_name="votes", on_delete=fields.CASCADE)
    question = fields.CharField(max_length=200)
    threshold_choice = fields.CharEnumField(VoteChoice, max_length=16)
    threshold_percent = fields.SmallIntField(description="Met when more than this share chose the choice")
    consequence = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(VoteStatus, max_length=16, default=VoteStatus.OPEN)
    for_count = fields.IntField(default=0)
    against_count = fields.IntField(default=0)
    abstain_count = fields.IntField(default=0)
    threshold_met = fields.BooleanField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "vote"


class VoteParticipation(Model):
    """Who has voted, only to refuse a second ballot. Never linked to a choice."""

    id = fields.IntField(primary_key=True)
    vote = fields.ForeignKeyField("models.Vote", related_name="participations", on_delete=fields.CASCADE)
    voter_id = fields.IntField()

    class Meta:
        table = "vote_participation"
        unique_together = (("vote", "voter_id"),)
