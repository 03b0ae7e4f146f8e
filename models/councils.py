"""Councils (议事会) and their closed loop (公开说事 → 民主议事 → 集中干事 → 事后评事):
meetings, agenda topics, attendance, decisions turned into tasks, ratings and anonymous
votes, with the history of every step."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import (
    EventRecord,
    Row,
    ScopedModel,
    StatefulModel,
    history_of,
    mentions,
    part_of,
    person_ref,
    refers_to,
)

if TYPE_CHECKING:
    from models.alliance import AllianceUnit
    from models.concerns import Concern
    from models.org import OrgUnit
    from models.people import Person


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"
    DRAFTED = "drafted"
    CLOSED = "closed"
    REVIEWED = "reviewed"


class TopicStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DISCUSSED = "discussed"
    DECIDED = "decided"
    DEFERRED = "deferred"


class TaskOwnerKind(StrEnum):
    PERSON = "person"
    ALLIANCE_UNIT = "alliance_unit"
    VOLUNTEER = "volunteer"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class VoteStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class VoteChoice(StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class Council(ScopedModel):
    """A "little stool" council belonging to a community or village."""

    name = fields.CharField(max_length=128)
    description = fields.TextField(default="")
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "councils")
    unit_id: int

    class Meta:
        table = "council"


class Meeting(StatefulModel):
    """One sitting of a council: a time, a place, topics and attendees."""

    council: fields.ForeignKeyRelation[Council] = part_of("models.Council", "meetings")
    council_id: int
    title = fields.CharField(max_length=200)
    starts_at = fields.DatetimeField(db_index=True)
    place = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(MeetingStatus, max_length=16, default=MeetingStatus.SCHEDULED)
    scheduled_by = person_ref("scheduled_meetings")
    scheduled_by_id: int | None
    minutes = fields.TextField(
        default="", db_default="", description="Minutes recorded when the meeting closed"
    )
    attendance_count = fields.IntField(null=True, description="Head count of people present")

    class Meta:
        table = "meeting"


class AgendaTopic(StatefulModel):
    """A topic on a meeting's agenda, raised by a resident or from a concern."""

    meeting: fields.ForeignKeyRelation[Meeting] = part_of("models.Meeting", "topics")
    meeting_id: int
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    concern: fields.ForeignKeyNullableRelation[Concern] = mentions("models.Concern", "topics")
    concern_id: int | None
    raised_by = person_ref("raised_topics")
    raised_by_id: int | None
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

    meeting: fields.ForeignKeyRelation[Meeting] = part_of("models.Meeting", "attendance")
    meeting_id: int
    person: fields.ForeignKeyRelation[Person] = part_of("models.Person", "attendance")
    person_id: int
    capacity = fields.CharField(max_length=32, default="resident")
    present = fields.BooleanField(default=True)
    recorded_by = person_ref("recorded_attendance")
    recorded_by_id: int | None

    class Meta:
        table = "attendance"
        unique_together = (("meeting", "person"),)


class MeetingUnit(Row):
    """An alliance unit present at a meeting (recorded when the meeting is closed)."""

    meeting: fields.ForeignKeyRelation[Meeting] = part_of("models.Meeting", "present_units")
    meeting_id: int
    alliance_unit: fields.ForeignKeyRelation[AllianceUnit] = part_of(
        "models.AllianceUnit", "meetings_attended"
    )
    alliance_unit_id: int

    class Meta:
        table = "meeting_alliance_unit"
        unique_together = (("meeting", "alliance_unit"),)


class MeetingEvent(EventRecord):
    """One step of a meeting, of one of its topics or of one of its votes."""

    meeting: fields.ForeignKeyRelation[Meeting] = history_of("models.Meeting")
    meeting_id: int
    topic: fields.ForeignKeyNullableRelation[AgendaTopic] = history_of("models.AgendaTopic", null=True)
    topic_id: int | None
    vote: fields.ForeignKeyNullableRelation[Vote] = history_of("models.Vote", null=True)
    vote_id: int | None
    subject = fields.CharField(max_length=16, description="meeting, topic or vote")

    class Meta:
        table = "meeting_event"


class Task(StatefulModel):
    """Work that a decision (or a concern) gives to a person, an alliance unit or a volunteer."""

    title = fields.CharField(max_length=200)
    topic: fields.ForeignKeyNullableRelation[AgendaTopic] = mentions("models.AgendaTopic", "tasks")
    topic_id: int | None
    concern_id = fields.IntField(null=True, db_index=True, description="The concern this task comes from")
    owner_kind = fields.CharEnumField(TaskOwnerKind, max_length=16)
    owner_person = person_ref("tasks_owned")
    owner_person_id: int | None
    alliance_unit: fields.ForeignKeyNullableRelation[AllianceUnit] = refers_to(
        "models.AllianceUnit", "tasks", null=True
    )
    alliance_unit_id: int | None
    volunteer_name = fields.CharField(max_length=64, default="")
    due_on = fields.DateField(db_index=True)
    status = fields.CharEnumField(TaskStatus, max_length=16, default=TaskStatus.OPEN)
    result = fields.TextField(default="")
    done_at = fields.DatetimeField(null=True)
    assigned_by = person_ref("tasks_assigned")
    assigned_by_id: int | None

    class Meta:
        table = "task"


class TaskEvent(EventRecord):
    """One step of a task; the link columns are copied from the task."""

    task: fields.ForeignKeyRelation[Task] = history_of("models.Task")
    task_id: int
    alliance_unit_id = fields.IntField(null=True, db_index=True)
    owner_person_id = fields.IntField(null=True)

    class Meta:
        table = "task_event"


class Rating(ScopedModel):
    """A resident's rating (1-5) of a meeting's outcome, owner_id is the rater."""

    meeting: fields.ForeignKeyRelation[Meeting] = part_of("models.Meeting", "ratings")
    meeting_id: int
    score = fields.SmallIntField()
    comment = fields.TextField(default="")

    class Meta:
        table = "rating"
        unique_together = (("meeting", "owner_id"),)


class Vote(StatefulModel):
    """An anonymous vote on a topic with a threshold rule. Only tallies are stored."""

    topic: fields.ForeignKeyRelation[AgendaTopic] = part_of("models.AgendaTopic", "votes")
    topic_id: int
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


class VoteParticipation(Row):
    """Who has voted, only to refuse a second ballot. Never linked to a choice."""

    vote: fields.ForeignKeyRelation[Vote] = part_of("models.Vote", "participations")
    vote_id: int
    voter_id = fields.IntField()

    class Meta:
        table = "vote_participation"
        unique_together = (("vote", "voter_id"),)
