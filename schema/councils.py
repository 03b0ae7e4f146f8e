"""Councils (议事会) and their closed loop: meetings, agenda topics, attendance, tasks,
ratings and anonymous votes. Thin: every decision is made in ``services/councils.py``
and the policy; the transition mutations are made from the declared machines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from models import councils as models
from schema.alliance import AllianceUnit
from schema.context import Info
from schema.events import Event
from schema.input_limits import text_field
from schema.org import OrgUnit, Person
from schema.types import READ, Derived, Node, enum_type, lazy, listing, lookup, many, one, reference
from schema.workflow import StepMutation, action_enum, action_mutation, command, result_union, step_mutations
from services import councils as service

MeetingStatus = enum_type(
    models.MeetingStatus,
    "Where a meeting stands: drafted → scheduled → held → closed → reviewed, or cancelled.",
)
TopicStatus = enum_type(
    models.TopicStatus,
    "Where an agenda topic stands: proposed, accepted, discussed, decided or deferred.",
)
TaskStatus = enum_type(models.TaskStatus, "A task is open until reported done.")
TaskOwnerKind = enum_type(models.TaskOwnerKind, "Who owns a task: a person, an alliance unit or a volunteer.")
VoteStatus = enum_type(models.VoteStatus, "A vote is open, then closed.")
VoteChoice = enum_type(models.VoteChoice, "A ballot's choice: for, against or abstain.")

ConcernRef = lazy("Concern", "schema.concerns")


@strawberry.type(
    description='A "little stool" council (小板凳议事会) of a community or village, where '
    "staff sit with residents to raise, deliberate, act on and review matters."
)
class Council(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the council.")
    name: str = strawberry.field(description="Name, e.g. 红板凳议事会.")
    description: str = strawberry.field(description="What the council is for.")
    created_at: datetime = strawberry.field(description="When the council was set up.")
    unit = one("unit", OrgUnit, "The community or village the council belongs to.")
    meetings = many(
        "meetings",
        lazy("Meeting", __name__),
        "Meetings of this council the caller may see, by start time.",
        root="`meetings(councilId:)`",
    )


@strawberry.type(description="One transition of a meeting, a topic or a vote: who, when, from, to, note.")
class MeetingEvent(Event):
    subject: str = strawberry.field(description="What moved: meeting, topic or vote.")
    to_status: str = strawberry.field(description="Status after.")


@strawberry.type(description="A resident's rating (1-5) of a meeting's outcome (事后评事).")
class Rating(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the rating.")
    score: int = strawberry.field(description="1 (poor) to 5 (very satisfied).")
    comment: str = strawberry.field(description="Optional comment.")
    created_at: datetime = strawberry.field(description="When it was given.")
    author = one(
        "author",
        Person,
        "Who rated: the policy resource `Rating.author` (read); null for callers it does not grant.",
    )


@strawberry.type(description="One sitting of a council: time, place, agenda and who attended.")
class Meeting(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the meeting.")
    title: str = strawberry.field(description="What the meeting is about.")
    starts_at: datetime = strawberry.field(description="When it starts (with time zone).")
    place: str = strawberry.field(description="Where, e.g. a courtyard of 新青村.")
    status: MeetingStatus = strawberry.field(description="Scheduled, held or cancelled.")
    created_at: datetime = strawberry.field(description="When it was scheduled.")
    council = one("council", Council, "The council holding the meeting, when the caller may see it.")
    topics = many(
        "topics", lazy("AgendaTopic", __name__), "Agenda topics the caller may see, in the order raised."
    )
    attendance = many(
        "attendance",
        lazy("Attendance", __name__),
        "Attendance records the caller may see (`Attendance` read).",
    )
    minutes: str = strawberry.field(
        description="Minutes recorded when the meeting was closed (empty before)."
    )
    attendance_count: int | None = strawberry.field(
        description="Head count of people present, recorded when closing."
    )

    present_units = many(
        "present_units",
        AllianceUnit,
        "Alliance units present (recorded when closing) that the caller may see.",
    )

    events = many(
        "events",
        MeetingEvent,
        "Its history and that of its topics and votes, oldest first (`MeetingEvent` read).",
    )
    ratings = many("ratings", Rating, "Residents' ratings of the outcome the caller may see (`Rating` read).")


@strawberry.type(description="A person's attendance at a meeting, and in which capacity.")
class Attendance(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the record.")
    capacity: str = strawberry.field(description="In which capacity: resident, grid_worker, judge, ...")
    present: bool = strawberry.field(description="False when registered but absent.")
    person = one("person", Person, "Who attended; null when the caller may not see that person.")
    meeting = one("meeting", Meeting, "The meeting attended.")


@strawberry.type(description="One transition of a task: who, when, from, to, note (the result when done).")
class TaskEvent(Event):
    to_status: str = strawberry.field(description="Status after.")


def _task_overdue(row: models.Task, auth: Any) -> bool:
    return service.is_task_overdue(row, auth.now().date())


@strawberry.type(
    description="Work from a decision (集中干事) or a concern, owned by a person, an alliance unit or a volunteer."
)
class Task(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the task.")
    title: str = strawberry.field(description="What is to be done.")
    owner_kind: TaskOwnerKind = strawberry.field(description="Who owns it: person, alliance unit, volunteer.")
    volunteer_name: str = strawberry.field(
        description="The volunteer's name, for a volunteer without account."
    )
    due_on: date = strawberry.field(description="Due date.")
    status: TaskStatus = strawberry.field(description="Open or done.")
    result: str = strawberry.field(description="The result note reported when done.")
    done_at: datetime | None = strawberry.field(description="When it was reported done.")
    concern_id = reference(
        "concern",
        "The concern it comes from (read it with `concern(id:)`); null if none or if the caller may not "
        "read that concern.",
    )
    created_at: datetime = strawberry.field(description="When it was assigned.")

    @strawberry.field(
        description="Open and past its due date (督办).",
        metadata={READ: Derived(lambda row, auth: _task_overdue(row, auth), ("status", "due_on"))},
    )
    def overdue(self, info: Info) -> bool:
        return _task_overdue(self.row, info.context.auth)

    topic = one(
        "topic",
        lazy("AgendaTopic", __name__),
        "The decided topic it comes from; null if none or not visible.",
    )
    alliance_unit = one(
        "alliance_unit", AllianceUnit, "The alliance unit that owns it; null if none or not visible."
    )
    owner_person = one(
        "owner_person", Person, "The person (or volunteer) who owns it; null if none or not visible."
    )
    events = many("events", TaskEvent, "Its history, oldest first (`TaskEvent` read).")


@strawberry.type(description="The tallies of a closed vote.")
class VoteResults:
    for_count: int = strawberry.field(description="Ballots for.")
    against_count: int = strawberry.field(description="Ballots against.")
    abstain_count: int = strawberry.field(description="Abstentions.")
    total: int = strawberry.field(description="Ballots cast.")
    threshold_met: bool = strawberry.field(
        description="More than the threshold share chose the threshold choice."
    )


@strawberry.type(
    description="An anonymous vote on a topic with a threshold rule, e.g. re-elect the topic committee "
    "when more than 60% vote against. Nobody can read who chose what; tallies show once it closes."
)
class Vote(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the vote.")
    question: str = strawberry.field(description="The question put to the vote.")
    threshold_choice: VoteChoice = strawberry.field(description="The choice the threshold counts.")
    threshold_percent: int = strawberry.field(description="Met when more than this % of ballots chose it.")
    consequence: str = strawberry.field(description="What follows when the threshold is met.")
    status: VoteStatus = strawberry.field(description="Open or closed.")
    closed_at: datetime | None = strawberry.field(description="When it closed.")

    @strawberry.field(description="Tallies and whether the threshold was met; null while the vote is open.")
    def results(self) -> VoteResults | None:
        results = service.vote_results(self.row)
        return None if results is None else VoteResults(**results)

    @strawberry.field(description="Whether the caller has voted (never what they chose).")
    async def has_voted(self, info: Info) -> bool:
        return await service.has_voted(info.context.auth, self.row.id)


@strawberry.type(description="A topic on a meeting's agenda (公开说事), possibly from a concern.")
class AgendaTopic(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the topic.")
    title: str = strawberry.field(description="The matter, in residents' words.")
    description: str = strawberry.field(description="Details.")
    created_at: datetime = strawberry.field(description="When it was put on the agenda.")
    meeting = one("meeting", Meeting, "The meeting whose agenda this is.")
    concern = one("concern", ConcernRef, "The concern this topic came from; null if none or not visible.")
    raised_by = one("raised_by", Person, "Who raised it; null when the caller may not see that person.")
    status: TopicStatus = strawberry.field(description="Proposed, accepted, discussed, decided or deferred.")

    @strawberry.field(
        description="Where it came from: `concern` (公开说事) or `meeting` (raised at the sitting)."
    )
    def source(self) -> str:
        return "concern" if self.row.concern_id is not None else "meeting"

    decision: str = strawberry.field(description="The decision (民主议事), once decided; empty before.")
    decided_at: datetime | None = strawberry.field(description="When it was decided.")
    tasks = many("tasks", Task, "Tasks from this decision the caller may see (`Task` read), by due date.")
    votes = many("votes", Vote, "Votes on this topic the caller may see (`Vote` read).")
    events = many("events", MeetingEvent, "Its history, oldest first (`MeetingEvent` read).")


# ------------------------------------------------------------------------------ queries


@strawberry.type
class CouncilQuery:
    councils = listing(
        Council,
        service.COUNCILS,
        "Councils the caller may see (`Council` read), newest first.",
        unit_id=(strawberry.ID, "Only councils of this unit."),
        search=(str, "Part of the name.", 128),
    )
    council = lookup("Council", Council, "council")

    meetings = listing(
        Meeting,
        service.MEETINGS,
        "Meetings the caller may see (`Meeting` read), newest first.",
        council_id=(strawberry.ID, "Only this council's meetings."),
        status=(MeetingStatus, "Only meetings in this state."),
        starts_after=(datetime, "Starting at or after this time."),
        starts_before=(datetime, "Starting before this time."),
    )
    meeting = lookup("Meeting", Meeting, "meeting")

    tasks = listing(
        Task,
        service.TASKS,
        "Tasks the caller may see (`Task` read), newest first.",
        status=(TaskStatus, "Only tasks in this state."),
        overdue=(bool, "True: only overdue tasks, false: none of them."),
        alliance_unit_id=(strawberry.ID, "Only this alliance unit's tasks."),
    )
    task = lookup("Task", Task, "task")


# ---------------------------------------------------------------------------- mutations


@strawberry.input(description="A meeting to put on a council's calendar.")
class ScheduleMeetingInput:
    council_id: strawberry.ID = strawberry.field(description="The council that meets.")
    title: str = text_field("What the meeting is about (at least 1 character).", 200)
    starts_at: datetime = strawberry.field(description="Start time, with a time zone offset.")
    place: str = text_field("Where it is held.", 200, default="")
    draft: bool = strawberry.field(
        default=False, description="Create it as a draft (drafted), to be scheduled with transitionMeeting."
    )


@strawberry.input(description="A topic to add to a meeting's agenda.")
class AddAgendaTopicInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    title: str = text_field("The matter (at least 1 character).", 200)
    description: str = text_field("Details.", service.DESCRIPTION_LENGTH, default="")
    concern_id: strawberry.ID | None = strawberry.field(
        default=None, description="The concern it comes from, if any."
    )


@strawberry.input(description="Who attended a meeting.")
class RecordAttendanceInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    person_id: strawberry.ID = strawberry.field(description="The attendee.")
    capacity: str = text_field("In which capacity they came.", 32, default="resident")
    present: bool = strawberry.field(default=True, description="False to record an absence.")


@strawberry.input(
    description="A task from a decided topic or from a concern, with exactly one owner "
    "(ownerPersonId, allianceUnitId, volunteerPersonId or volunteerName)."
)
class AssignTaskInput:
    title: str = text_field("What is to be done (at least 1 character).", 200)
    due_on: date = strawberry.field(description="Due date.")
    topic_id: strawberry.ID | None = strawberry.field(default=None, description="The decided topic.")
    concern_id: strawberry.ID | None = strawberry.field(default=None, description="The concern.")
    owner_person_id: strawberry.ID | None = strawberry.field(
        default=None, description="A person who owns it."
    )
    alliance_unit_id: strawberry.ID | None = strawberry.field(default=None, description="An alliance unit.")
    volunteer_person_id: strawberry.ID | None = strawberry.field(
        default=None, description="A volunteer with an account."
    )
    volunteer_name: str | None = text_field("A volunteer without account.", 64, default=None)


@strawberry.input(description="A resident's rating of a closed meeting's outcome.")
class RateMeetingInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    score: int = strawberry.field(description="1 to 5.")
    comment: str = text_field("Optional comment.", 2000, default="")


@strawberry.input(description="Put a topic to an anonymous vote with a threshold rule.")
class OpenVoteInput:
    topic_id: strawberry.ID = strawberry.field(description="The topic.")
    question: str = text_field("The question (at least 1 character).", 200)
    threshold_choice: VoteChoice = strawberry.field(
        description="The choice the threshold counts, e.g. AGAINST."
    )
    threshold_percent: int = strawberry.field(description="Met when more than this % chose it, e.g. 60.")
    consequence: str = text_field("What follows, e.g. re-elect the committee.", 200, default="")


TaskResult = result_union(Task, "TaskResult", "The task, or why it could not be created or moved.")
VoteResult = result_union(Vote, "VoteResult", "The vote, or why it could not be changed.")
RatingResult = result_union(Rating, "RatingResult", "The rating, or why the meeting cannot be rated now.")


@strawberry.type
class CouncilMutation:
    schedule_meeting = command(
        "scheduleMeeting",
        "Meeting",
        "create",
        service.schedule_meeting,
        ScheduleMeetingInput,
        Meeting,
        "Schedule a meeting of a council (`Meeting` create in its scope).",
    )
    add_agenda_topic = command(
        "addAgendaTopic",
        "AgendaTopic",
        "create",
        service.add_topic,
        AddAgendaTopicInput,
        AgendaTopic,
        "Add a topic to a meeting's agenda (`AgendaTopic` create).",
    )
    record_attendance = command(
        "recordAttendance",
        "Attendance",
        "create",
        service.record_attendance,
        RecordAttendanceInput,
        Attendance,
        "Record (or correct) a person's attendance (`Attendance` create).",
    )
    assign_task = command(
        "assignTask",
        "Task",
        "create",
        service.assign_task,
        AssignTaskInput,
        TaskResult,
        "Turn a decision or a concern into a task (`Task` create).",
    )
    rate_meeting = command(
        "rateMeeting",
        "Rating",
        "create",
        service.rate_meeting,
        RateMeetingInput,
        RatingResult,
        "Rate a closed meeting's outcome (`Rating` create); again to change it.",
    )
    open_vote = command(
        "openVote", "Vote", "create", service.open_vote, OpenVoteInput, Vote,
        "Put a topic to an anonymous vote (`Vote` create).",
    )  # fmt: skip


MeetingAction = action_enum(
    service.MEETING, "MeetingAction", "Moves of a meeting (see docs/councils.md for the diagram)."
)
TopicAction = action_enum(service.TOPIC, "TopicAction", "Moves of an agenda topic.")
MeetingTransitions = action_mutation(
    service.MEETING,
    Meeting,
    result_union(Meeting, "MeetingTransitionResult", "The moved meeting, or why it could not move."),
    MeetingAction,
    name="transitionMeeting",
    input="TransitionMeetingInput",
    input_description="A move of a meeting through its loop.",
    description="Move a meeting",
)
TopicTransitions = action_mutation(
    service.TOPIC,
    AgendaTopic,
    result_union(AgendaTopic, "TopicTransitionResult", "The moved topic, or why it could not move."),
    TopicAction,
    name="transitionTopic",
    input="TransitionTopicInput",
    input_description="A move of an agenda topic.",
    description="Move a topic",
)
TaskSteps = step_mutations(
    service.TASK,
    Task,
    TaskResult,
    [StepMutation("complete", "completeTask", "CompleteTaskInput", "Report a task done.")],
)
VoteSteps = step_mutations(
    service.VOTE,
    Vote,
    VoteResult,
    [
        StepMutation("cast", "castBallot", "CastBallotInput", "One anonymous ballot."),
        StepMutation("close", "closeVote", "CloseVoteInput", "Close a vote and compute its threshold."),
    ],
)

QUERIES = (CouncilQuery,)
MUTATIONS = (CouncilMutation, MeetingTransitions, TopicTransitions, TaskSteps, VoteSteps)
