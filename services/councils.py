"""Councils (议事会) and their closed loop (公开说事 → 民主议事 → 集中干事 → 事后评事):
meetings, agenda topics, attendance, decisions turned into tasks, ratings and
anonymous votes.

Meetings, topics, tasks and votes are declared machines (``MEETING``, ``TOPIC``,
``TASK``, ``VOTE``) run by ``services.workflow``: every step is decided by the policy
(``Meeting update``, ``AgendaTopic update``, ``Task update``, ``Vote update``,
``Ballot create``), applied as a conditional update and recorded as a ``MeetingEvent``
or ``TaskEvent`` in one transaction. When the last task of a decision is done, the
concern behind it is resolved (an effect, in the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from models.councils import (
    AgendaTopic,
    Attendance,
    Council,
    Meeting,
    MeetingEvent,
    MeetingStatus,
    MeetingUnit,
    Rating,
    Task,
    TaskEvent,
    TaskOwnerKind,
    TaskStatus,
    TopicStatus,
    Vote,
    VoteChoice,
    VoteParticipation,
    VoteStatus,
)
from policies import vocabulary
from policies.relations import Facts
from services import concerns as _concerns  # noqa: F401 - registers the Concern machine (task effects)
from services import reads, workflow
from services.authz import RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text, parse_id
from services.times import to_utc
from services.workflow import (
    DESCRIPTION_LENGTH,
    NOTE_LENGTH,
    Effect,
    Input,
    Ref,
    Refused,
    StepCall,
    creation,
    step,
)

# Capacities in which someone attends: the policy's roles (an alliance unit's staff attend
# for their unit), and guests.
ATTENDANCE_CAPACITIES: tuple[str, ...] = (
    *(role for role in vocabulary.ROLES if role not in ("admin", "court", "alliance_staff")),
    "alliance_unit",
    "guest",
)

M, T = MeetingStatus, TopicStatus

# Relations beyond the foreign keys: the orders lists are read in, and who rated.
reads.relations("Council", meetings=reads.Many("Meeting", "council_id", "starts_at"))
reads.relations(
    "Meeting", present_units=reads.Through("AllianceUnit", "MeetingUnit", "meeting_id", "alliance_unit_id")
)
reads.relations("AgendaTopic", tasks=reads.Many("Task", "topic_id", "due_on"))
reads.relations("Rating", author=reads.One("Person", "owner_id", guard="Rating.author"))
# A task names the concern it comes from by id (a plain column: the task outlives it).
reads.relations("Task", concern=reads.One("Concern", "concern_id"))

# -------------------------------------------------------------------------------- reads


def _overdue_tasks(query: QuerySet[Task], overdue: bool, auth: RequestAuth) -> QuerySet[Task]:
    late = {"status": TaskStatus.OPEN, "due_on__lt": auth.now().date()}
    return query.filter(**late) if overdue else query.exclude(**late)


COUNCILS = reads.listing("Council", "unit_id", search="name__icontains")
MEETINGS = reads.listing(
    "Meeting",
    "council_id",
    "status",
    starts_after=("starts_at__gte", to_utc),
    starts_before=("starts_at__lt", to_utc),
)
TASKS = reads.listing("Task", "status", "alliance_unit_id", overdue=_overdue_tasks)


def is_task_overdue(task: Task, today: date) -> bool:
    return task.status == TaskStatus.OPEN and task.due_on < today


async def has_voted(auth: RequestAuth, vote_id: int) -> bool:
    """Whether the caller voted (their own participation only, never the choice)."""
    return await VoteParticipation.filter(vote_id=vote_id, voter_id=auth.actor.person_id).exists()


def vote_results(vote: Vote) -> dict[str, Any] | None:
    """Tallies and the threshold, once the vote is closed (None while it is open)."""
    if vote.status != VoteStatus.CLOSED:
        return None
    return {
        "for_count": vote.for_count,
        "against_count": vote.against_count,
        "abstain_count": vote.abstain_count,
        "total": vote.for_count + vote.against_count + vote.abstain_count,
        "threshold_met": bool(vote.threshold_met),
    }


async def found_council(unit: Any, name: str, description: str = "") -> Council:
    """Set-up (no caller): a council of a community or village."""
    return await Council.create(name=name, description=description, unit=unit, scope_path=unit.path)


# ----------------------------------------------------------------------------- meetings


def _starts_at(value: datetime | None, argument: str = "startsAt") -> datetime:
    if value is None:
        raise BadUserInput("Postponing needs the new `startsAt`.", argument=argument)
    if value.tzinfo is None:
        raise BadUserInput("`startsAt` needs a time zone offset.", argument=argument)
    return value


async def _prepare_new_meeting(call: StepCall) -> None:
    council = call.context["council"]
    title = clean_text(call.arg("title"), "title", 200)
    starts_at = call.arg("starts_at")
    if starts_at is None or starts_at.tzinfo is None:
        raise BadUserInput("`startsAt` needs a time zone offset.", argument="startsAt")
    call.target, call.event_action = M.SCHEDULED.value, "schedule"
    if call.arg("draft"):
        call.target, call.event_action = M.DRAFTED.value, "draft"
    call.changes.update(
        council_id=council.id,
        scope_path=council.scope_path,
        title=title,
        starts_at=starts_at,
        place=clean_text(call.arg("place"), "place", 200, required=False),
        scheduled_by_id=call.auth.actor.person_id,
        created_at=call.now,
    )


async def _prepare_meeting_step(call: StepCall) -> None:
    """Every move of a meeting takes a note; a new time only to schedule or postpone;
    minutes, head count and the alliance units present only to close."""
    action = call.step.action
    call.take_note()
    starts_at = call.arg("starts_at")
    if action == "postpone" or starts_at is not None:
        if action not in ("postpone", "schedule"):
            raise BadUserInput("`startsAt` is only for schedule and postpone.", argument="startsAt")
        call.changes["starts_at"] = _starts_at(starts_at)
    closing = (call.arg("minutes"), call.arg("attendance_count"), call.arg("alliance_unit_ids"))
    if action != "close":
        if any(value not in (None, [], ()) for value in closing):
            raise BadUserInput("Minutes and attendance are recorded when closing.", argument="minutes")
        return
    minutes, head_count, unit_ids = closing
    call.changes["minutes"] = clean_text(minutes, "minutes", 20000)
    if head_count is not None:
        if head_count < 0:
            raise BadUserInput("`attendanceCount` cannot be negative.", argument="attendanceCount")
        call.changes["attendance_count"] = head_count
    units = [await call.auth.get_visible("AllianceUnit", i, "allianceUnitIds") for i in unit_ids or []]
    call.context["units"] = {unit.id: unit for unit in units}


async def _record_present_units(call: StepCall) -> None:
    for unit_id in call.context.get("units", {}):
        await MeetingUnit.get_or_create(meeting_id=call.row.id, alliance_unit_id=unit_id)


MEETING_ID = Input("meeting_id", Ref, "The meeting.", required=True)
MEETING_NOTE = Input("note", str, "Why (kept in the event).", default="", max_length=NOTE_LENGTH)
MEETING_INPUTS = (
    MEETING_ID,
    MEETING_NOTE,
    Input("starts_at", datetime, "New start time: required to postpone, optional to schedule."),
    Input("minutes", str, "Minutes; required to close.", max_length=20000),
    Input("attendance_count", int, "Head count of people present (when closing)."),
    Input("alliance_unit_ids", list[Ref], "Alliance units present (when closing)."),
)


def _meeting_step(
    action: str, sources: Iterable[MeetingStatus], target: MeetingStatus, description: str, **kw: Any
) -> workflow.Step:
    return step(
        action,
        sources,
        target,
        "update",
        description,
        inputs=MEETING_INPUTS,
        prepare=_prepare_meeting_step,
        **kw,
    )


MEETING = workflow.Machine(
    "Meeting", "meeting", MeetingEvent,
    event_keys=lambda meeting: {"meeting_id": meeting.id, "subject": "meeting"},
    steps=(
        creation(
            "schedule_new", {M.SCHEDULED, M.DRAFTED}, "Schedule a meeting of a council (or draft it).",
            locate=workflow.within("Council", "council_id", "council"), prepare=_prepare_new_meeting,
        ),
        _meeting_step("schedule", {M.DRAFTED}, M.SCHEDULED, "drafted → scheduled"),
        _meeting_step("hold", {M.SCHEDULED}, M.HELD, "scheduled → held (the sitting takes place)"),
        _meeting_step("postpone", {M.SCHEDULED}, M.SCHEDULED, "scheduled → scheduled at a new `startsAt`"),
        _meeting_step(
            "close", {M.HELD}, M.CLOSED, "held → closed, with minutes and who was present",
            after=_record_present_units,
        ),
        _meeting_step("review", {M.CLOSED}, M.REVIEWED, "closed → reviewed (事后评事 done)"),
        _meeting_step("cancel", {M.DRAFTED, M.SCHEDULED}, M.CANCELLED, "drafted or scheduled → cancelled"),
    ),
)  # fmt: skip


async def schedule_meeting(auth: RequestAuth, **input: Any) -> Meeting:
    return await workflow.create(auth, MEETING, "schedule_new", input)


# ------------------------------------------------------------------------------- topics


async def _locate_topic(call: StepCall) -> Facts:
    meeting = await call.auth.get_visible("Meeting", call.arg("meeting_id"), "meetingId")
    concern_id = call.arg("concern_id")
    concern = (
        await call.auth.get_visible("Concern", concern_id, "concernId") if concern_id is not None else None
    )
    call.context.update(meeting=meeting, concern=concern)
    return Facts(meeting.scope_path, call.auth.actor.person_id)


async def _prepare_new_topic(call: StepCall) -> None:
    meeting, concern = call.context["meeting"], call.context["concern"]
    title = clean_text(call.arg("title"), "title", 200)
    if meeting.status == M.CANCELLED:
        raise BadUserInput("The meeting was cancelled; topics cannot be added.", argument="meetingId")
    _topic_values(
        call,
        meeting,
        title=title,
        description=clean_text(call.arg("description"), "description", DESCRIPTION_LENGTH, required=False),
        concern_id=concern.id if concern else None,
        raised_by_id=call.auth.actor.person_id,
    )


def _topic_values(call: StepCall, meeting: Meeting, **values: Any) -> None:
    call.changes.update(
        meeting_id=meeting.id,
        scope_path=meeting.scope_path,
        owner_id=values["raised_by_id"],
        created_at=call.now,
    )
    call.changes.update(values)


async def propose_topic(cause: StepCall, meeting: Meeting, **values: Any) -> AgendaTopic:
    """A proposed topic on ``meeting``'s agenda, made by another step (a concern put on
    the agenda), with its own creation event, in that step's transaction."""
    call = StepCall(cause.auth, TOPIC, TOPIC.get("propose"), None, {}, cause.now, T.PROPOSED.value)
    call.event_action = "propose"
    _topic_values(call, meeting, **values)
    return await workflow.insert(call)


async def _prepare_topic_step(call: StepCall) -> None:
    action = call.step.action
    if action in ("discuss", "decide"):
        meeting = await Meeting.get(id=call.row.meeting_id)
        if meeting.status != M.HELD:
            raise Refused(
                f"Topics are {'discussed' if action == 'discuss' else 'decided'} while the meeting is held; "
                f"it is {meeting.status}.",
                excluded=("discuss", "decide"),
            )
    call.take_note()
    decision = call.arg("decision")
    if action == "decide":
        call.changes.update(decision=clean_text(decision, "decision", 4000), decided_at=call.now)
    elif decision is not None:
        raise BadUserInput("A decision is recorded with the `decide` action.", argument="decision")


TOPIC_INPUTS = (
    Input("topic_id", Ref, "The topic.", required=True),
    Input("note", str, "Why (kept in the event).", default="", max_length=NOTE_LENGTH),
    Input("decision", str, "The decision text; required to decide.", max_length=4000),
)


def _topic_step(
    action: str, sources: Iterable[TopicStatus], target: TopicStatus, description: str
) -> workflow.Step:
    return step(
        action, sources, target, "update", description, inputs=TOPIC_INPUTS, prepare=_prepare_topic_step
    )


TOPIC = workflow.Machine(
    "AgendaTopic", "topic", MeetingEvent,
    event_keys=lambda topic: {"meeting_id": topic.meeting_id, "topic_id": topic.id, "subject": "topic"},
    steps=(
        creation(
            "propose", T.PROPOSED, "Put a topic on a meeting's agenda (公开说事).",
            locate=_locate_topic, prepare=_prepare_new_topic,
        ),
        _topic_step("accept", {T.PROPOSED, T.DEFERRED}, T.ACCEPTED, "proposed or deferred → accepted"),
        _topic_step("discuss", {T.ACCEPTED}, T.DISCUSSED, "accepted → discussed (meeting held)"),
        _topic_step("decide", {T.DISCUSSED}, T.DECIDED, "discussed → decided, with the decision text"),
        _topic_step(
            "defer", {T.PROPOSED, T.ACCEPTED, T.DISCUSSED}, T.DEFERRED, "proposed, accepted or discussed → deferred"
        ),
    ),
)  # fmt: skip


async def add_topic(auth: RequestAuth, **input: Any) -> AgendaTopic:
    return await workflow.create(auth, TOPIC, "propose", input)


# -------------------------------------------------------------------------------- tasks


async def _locate_task(call: StepCall) -> Facts:
    auth = call.auth
    topic_id, concern_id = call.arg("topic_id"), call.arg("concern_id")
    if topic_id is None and concern_id is None:
        raise BadUserInput("A task comes from a decided topic or from a concern.", argument="topicId")
    topic = await auth.get_visible("AgendaTopic", topic_id, "topicId") if topic_id is not None else None
    concern = await auth.get_visible("Concern", concern_id, "concernId") if concern_id is not None else None
    owners = [
        call.arg(name)
        for name in ("owner_person_id", "alliance_unit_id", "volunteer_name", "volunteer_person_id")
        if call.arg(name)
    ]
    if len(owners) != 1:
        raise BadUserInput(
            "Give exactly one owner: a person, an alliance unit or a volunteer.", argument="ownerPersonId"
        )
    person_id = call.arg("owner_person_id") or call.arg("volunteer_person_id")
    person = await auth.get_visible("Person", person_id, "ownerPersonId") if person_id else None
    unit_id = call.arg("alliance_unit_id")
    unit = await auth.get_visible("AllianceUnit", unit_id, "allianceUnitId") if unit_id else None
    origin = topic if topic is not None else concern
    assert origin is not None  # a topic or a concern was named (checked above)
    scope_path = origin.scope_path
    call.context.update(topic=topic, concern=concern, person=person, unit=unit, scope_path=scope_path)
    links = ([("alliance_unit", unit.id)] if unit else []) + ([("assignee", person.id)] if person else [])
    return Facts(scope_path, None, frozenset(links))


async def _prepare_new_task(call: StepCall) -> None:
    topic, concern, person, unit = (call.context[k] for k in ("topic", "concern", "person", "unit"))
    if topic is not None and topic.status != T.DECIDED:
        raise Refused(
            f"Tasks come from decisions; this topic is {topic.status}.",
            status=str(topic.status),
            allowed=TOPIC.allowed_actions(call.auth, topic),
        )
    title = clean_text(call.arg("title"), "title", 200)
    kind = (
        TaskOwnerKind.ALLIANCE_UNIT
        if unit
        else TaskOwnerKind.PERSON
        if call.arg("owner_person_id")
        else TaskOwnerKind.VOLUNTEER
    )
    call.changes.update(
        title=title,
        topic_id=topic.id if topic else None,
        concern_id=concern.id if concern else (topic.concern_id if topic else None),
        scope_path=call.context["scope_path"],
        owner_kind=kind,
        owner_person_id=person.id if person else None,
        alliance_unit_id=unit.id if unit else None,
        volunteer_name=clean_text(call.arg("volunteer_name"), "volunteerName", 64, required=False),
        due_on=call.arg("due_on"),
        assigned_by_id=call.auth.actor.person_id,
        created_at=call.now,
    )


async def _prepare_complete(call: StepCall) -> None:
    result = clean_text(call.arg("result"), "result", 4000)
    call.note = result
    call.changes.update(result=result, done_at=call.now)


def _open_tasks_of(concern_id: int) -> QuerySet[Task]:
    """Open tasks for a concern (a task from a topic that came from a concern names it too)."""
    return Task.filter(concern_id=concern_id, status=TaskStatus.OPEN)


async def _concern_of_task(call: StepCall) -> list[int]:
    task = call.row
    return [task.concern_id] if task.concern_id is not None else []


async def _no_open_task_left(call: StepCall, concern: Any) -> bool:
    return not await _open_tasks_of(concern.id).exists()


TASK = workflow.Machine(
    "Task", "task", TaskEvent,
    steps=(
        creation(
            "assign", TaskStatus.OPEN,
            "Turn a decision (a decided topic) or a concern into a task with one owner (集中干事).",
            locate=_locate_task, prepare=_prepare_new_task,
        ),
        step(
            "complete", {TaskStatus.OPEN}, TaskStatus.DONE, "update",
            "Report a task done with its result (the owner, or who runs the loop). When it was the last "
            "open task for a concern, the concern is resolved, pending the resident's rating.",
            inputs=(
                Input("task_id", Ref, "The task.", required=True),
                Input("result", str, "What was done (the result note).", required=True, max_length=4000),
            ),
            prepare=_prepare_complete,
            effects=(
                Effect(
                    "Concern",
                    "resolved_by_tasks",
                    targets=_concern_of_task,
                    when=_no_open_task_left,
                    note=lambda call: f"all tasks done: {call.row.result}",
                ),
            ),
        ),
    ),
)  # fmt: skip


async def assign_task(auth: RequestAuth, **input: Any) -> Task | workflow.InvalidTransition:
    return await workflow.create(auth, TASK, "assign", input)


# -------------------------------------------------------------------------------- votes

COUNTERS = {
    VoteChoice.FOR: "for_count",
    VoteChoice.AGAINST: "against_count",
    VoteChoice.ABSTAIN: "abstain_count",
}


def threshold_met(vote: Vote) -> bool:
    total = vote.for_count + vote.against_count + vote.abstain_count
    chosen = getattr(vote, COUNTERS[VoteChoice(vote.threshold_choice)])
    return total > 0 and chosen * 100 > vote.threshold_percent * total


async def _prepare_new_vote(call: StepCall) -> None:
    topic = call.context["topic"]
    question = clean_text(call.arg("question"), "question", 200)
    percent = call.arg("threshold_percent")
    if not 0 <= percent <= 100:
        raise BadUserInput("`thresholdPercent` is 0 to 100.", argument="thresholdPercent")
    call.changes.update(
        topic_id=topic.id,
        scope_path=topic.scope_path,
        question=question,
        threshold_choice=VoteChoice(call.arg("threshold_choice")),
        threshold_percent=percent,
        consequence=clean_text(call.arg("consequence"), "consequence", 200, required=False),
        created_at=call.now,
    )


async def _prepare_ballot(call: StepCall) -> None:
    if await VoteParticipation.filter(vote_id=call.row.id, voter_id=call.auth.actor.person_id).exists():
        raise BadUserInput("You have already voted in this vote.", argument="voteId")
    call.counters = (COUNTERS[VoteChoice(call.arg("choice"))],)


async def _count_voter(call: StepCall) -> None:
    """Only *that* the caller voted is kept, never the choice; a concurrent second ballot
    of the same voter fails here and its count is rolled back with it."""
    try:
        await VoteParticipation.create(vote_id=call.row.id, voter_id=call.auth.actor.person_id)
    except IntegrityError:
        raise BadUserInput("You have already voted in this vote.", argument="voteId") from None


async def _prepare_close_vote(call: StepCall) -> None:
    call.take_note()
    call.changes["closed_at"] = call.now


async def _compute_threshold(call: StepCall) -> None:
    """After the close (the row is locked, no ballot can slip in): the threshold on the
    final tallies."""
    vote = call.row
    vote.threshold_met = threshold_met(vote)
    await Vote.filter(id=vote.id).update(threshold_met=vote.threshold_met)


def _vote_facts(vote: Vote, step: workflow.Step, actor_id: int) -> Facts:
    """A ballot is the voter's own, in the vote's scope."""
    return Facts(vote.scope_path, actor_id if step.resource == "Ballot" else None)


async def _vote_event_keys(vote: Vote) -> dict[str, Any]:
    meeting_id = await AgendaTopic.filter(id=vote.topic_id).first().values_list("meeting_id", flat=True)
    return {"meeting_id": meeting_id, "topic_id": vote.topic_id, "vote_id": vote.id, "subject": "vote"}


VOTE = workflow.Machine(
    "Vote", "vote", MeetingEvent,
    event_keys=_vote_event_keys,
    facts=_vote_facts,
    steps=(
        creation(
            "open", VoteStatus.OPEN,
            "Put a topic to an anonymous vote with a threshold rule (e.g. re-elect the committee when "
            "more than 60% vote against).",
            locate=workflow.within("AgendaTopic", "topic_id", "topic"), prepare=_prepare_new_vote,
        ),
        step(
            "cast", {VoteStatus.OPEN}, None, "create",
            "Cast one anonymous ballot: the tally goes up; a second ballot is BAD_USER_INPUT.",
            resource="Ballot", inputs=(Input("vote_id", Ref, "The vote.", required=True), Input("choice", VoteChoice, "For, against or abstain.", required=True)),
            prepare=_prepare_ballot, after=_count_voter, exclusive=False, recorded=False,
        ),
        step(
            "close", {VoteStatus.OPEN}, VoteStatus.CLOSED, "update",
            "Close a vote; the results become visible and the threshold is computed.",
            inputs=(Input("vote_id", Ref, "The vote.", required=True), Input("note", str, "Why (kept in the event).", default="", max_length=NOTE_LENGTH)),
            prepare=_prepare_close_vote, after=_compute_threshold, exclusive=False,
        ),
    ),
)  # fmt: skip


async def open_vote(auth: RequestAuth, **input: Any) -> Vote:
    return await workflow.create(auth, VOTE, "open", input)


# ---------------------------------------------------------------- attendance and ratings


async def record_attendance(
    auth: RequestAuth, *, meeting_id: str, person_id: str, capacity: str, present: bool
) -> Attendance:
    meeting = await auth.get_visible("Meeting", meeting_id, "meetingId")
    attendee_id = parse_id(person_id, "personId")
    if attendee_id != auth.actor.person_id:
        # Recording someone else: they must be a person the actor can see.
        await auth.get_visible("Person", attendee_id, "personId")
    auth.require("Attendance", "create", Facts(meeting.scope_path, attendee_id))
    if capacity not in ATTENDANCE_CAPACITIES:
        raise BadUserInput(
            f"`capacity` must be one of {', '.join(ATTENDANCE_CAPACITIES)}.", argument="capacity"
        )
    values = {"capacity": capacity, "present": present, "recorded_by_id": auth.actor.person_id}
    async with workflow.command() as done:
        row, created = await Attendance.get_or_create(
            meeting_id=meeting.id,
            person_id=attendee_id,
            defaults={**values, "scope_path": meeting.scope_path, "owner_id": attendee_id},
        )
        if not created:
            await Attendance.filter(id=row.id).update(**values)
            row = await Attendance.get(id=row.id)
        done(row)
    return row


async def rate_meeting(
    auth: RequestAuth, *, meeting_id: str, score: int, comment: str = ""
) -> Rating | workflow.InvalidTransition:
    """A resident rates the outcome of a closed meeting (事后评事); rating again replaces."""
    meeting = await auth.get_visible("Meeting", meeting_id, "meetingId")
    auth.require("Rating", "create", Facts(meeting.scope_path, auth.actor.person_id))
    if meeting.status != M.CLOSED:
        why = (
            f"Outcomes are rated while the meeting is closed, before it is reviewed; it is {meeting.status}."
        )
        return MEETING.refusal(auth, meeting, "rate", why)
    if not 1 <= score <= 5:
        raise BadUserInput("`score` is 1 to 5.", argument="score")
    values = {"score": score, "comment": clean_text(comment, "comment", 2000, required=False)}
    async with workflow.command() as done:
        row, created = await Rating.get_or_create(
            meeting_id=meeting.id,
            owner_id=auth.actor.person_id,
            defaults={**values, "scope_path": meeting.scope_path},
        )
        if not created:
            await Rating.filter(id=row.id).update(**values)
            row = await Rating.get(id=row.id)
        done(row)
    return row


def parse_ids(values: list[str] | None, argument: str) -> list[int]:
    return [parse_id(v, argument) for v in values or []]
