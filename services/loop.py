"""The councils' closed loop (公开说事 → 民主议事 → 集中干事 → 事后评事) and the
party-building alliance units (党建联盟单位) that take on its tasks.

Every state change goes through a transition table: a legal move changes the row and
records an event (who, when, from, to, note) in one transaction; an illegal one
returns an :class:`InvalidTransition` and changes nothing. Who may move what is asked
of the policy (``Meeting update``, ``AgendaTopic update``, ``Task update``,
``Vote update``), never decided by role names here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.councils import AgendaTopic, Meeting, MeetingStatus, TopicStatus
from models.loop import (
    AllianceUnit,
    MeetingEvent,
    MeetingUnit,
    Rating,
    Task,
    TaskEvent,
    TaskOwnerKind,
    TaskStatus,
    Vote,
    VoteChoice,
    VoteParticipation,
    VoteStatus,
)
from models.org import UnitKind
from services.authz import Facts, RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text as _text
from services.ids import parse_id
from services.org import get_visible

ALLIANCE_KINDS: dict[str, str] = {
    "state_company": "State-owned company (国有企业)",
    "institute": "Research or survey institute (院所), e.g. 地质调查院",
    "school": "School (学校)",
    "hospital": "Hospital (医院)",
    "power_company": "Power supply company (供电公司)",
    "other": "Any other organisation (其他)",
}


@dataclass(frozen=True)
class InvalidTransition:
    """An illegal move: nothing was changed."""

    message: str
    current_status: str
    allowed_actions: tuple[str, ...]


# ------------------------------------------------------------------ transition tables

# status -> action -> next status
MEETING_TRANSITIONS: dict[MeetingStatus, dict[str, MeetingStatus]] = {
    MeetingStatus.DRAFTED: {"schedule": MeetingStatus.SCHEDULED, "cancel": MeetingStatus.CANCELLED},
    MeetingStatus.SCHEDULED: {
        "hold": MeetingStatus.HELD,
        "postpone": MeetingStatus.SCHEDULED,
        "cancel": MeetingStatus.CANCELLED,
    },
    MeetingStatus.HELD: {"close": MeetingStatus.CLOSED},
    MeetingStatus.CLOSED: {"review": MeetingStatus.REVIEWED},
    MeetingStatus.REVIEWED: {},
    MeetingStatus.CANCELLED: {},
}

TOPIC_TRANSITIONS: dict[TopicStatus, dict[str, TopicStatus]] = {
    TopicStatus.PROPOSED: {"accept": TopicStatus.ACCEPTED, "defer": TopicStatus.DEFERRED},
    TopicStatus.ACCEPTED: {"discuss": TopicStatus.DISCUSSED, "defer": TopicStatus.DEFERRED},
    TopicStatus.DISCUSSED: {"decide": TopicStatus.DECIDED, "defer": TopicStatus.DEFERRED},
    TopicStatus.DEFERRED: {"accept": TopicStatus.ACCEPTED},
    TopicStatus.DECIDED: {},
}
# Deliberation happens at a sitting: these topic moves need a held meeting.
TOPIC_ACTIONS_AT_SITTING = {"discuss", "decide"}

TASK_TRANSITIONS: dict[TaskStatus, dict[str, TaskStatus]] = {
    TaskStatus.OPEN: {"complete": TaskStatus.DONE},
    TaskStatus.DONE: {},
}

VOTE_TRANSITIONS: dict[VoteStatus, dict[str, VoteStatus]] = {
    VoteStatus.OPEN: {"close": VoteStatus.CLOSED},
    VoteStatus.CLOSED: {},
}


def _invalid(table: dict, status, action: str, what: str) -> InvalidTransition:
    allowed = tuple(table[status])
    return InvalidTransition(
        message=f"A {what} that is {status.value} cannot be moved by {action!r}"
        + (f"; allowed: {', '.join(allowed)}." if allowed else "; no further moves."),
        current_status=status.value,
        allowed_actions=allowed,
    )


def now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- meetings


async def transition_meeting(
    auth: RequestAuth,
    *,
    meeting_id: str,
    action: str,
    note: str = "",
    starts_at: datetime | None = None,
    minutes: str | None = None,
    attendance_count: int | None = None,
    alliance_unit_ids: list[str] | None = None,
) -> Meeting | InvalidTransition:
    """Move a meeting through its loop: schedule, hold, postpone (new time), close
    (minutes, head count, alliance units present), review, cancel."""
    meeting = await get_visible(auth, "Meeting", meeting_id)
    auth.require("Meeting", "update", Facts(meeting.scope_path))
    status = MeetingStatus(meeting.status)
    target = MEETING_TRANSITIONS[status].get(action)
    if target is None:
        return _invalid(MEETING_TRANSITIONS, status, action, "meeting")
    note = _text(note, "note", 2000, required=False)
    fields = ["status"]
    units: list[AllianceUnit] = []
    if action == "postpone":
        if starts_at is None:
            raise BadUserInput("Postponing needs the new `startsAt`.", argument="startsAt")
    if starts_at is not None:
        if action not in ("postpone", "schedule"):
            raise BadUserInput("`startsAt` is only for schedule and postpone.", argument="startsAt")
        if starts_at.tzinfo is None:
            raise BadUserInput("`startsAt` needs a time zone offset.", argument="startsAt")
        meeting.starts_at = starts_at
        fields.append("starts_at")
    if action == "close":
        meeting.minutes = _text(minutes, "minutes", 20000)
        fields.append("minutes")
        if attendance_count is not None:
            if attendance_count < 0:
                raise BadUserInput("`attendanceCount` cannot be negative.", argument="attendanceCount")
            meeting.attendance_count = attendance_count
            fields.append("attendance_count")
        for unit_id in alliance_unit_ids or []:
            units.append(await get_visible(auth, "AllianceUnit", unit_id))
    elif minutes is not None or attendance_count is not None or alliance_unit_ids:
        raise BadUserInput("Minutes and attendance are recorded when closing.", argument="minutes")
    meeting.status = target
    async with in_transaction():
        await meeting.save(update_fields=fields)
        for unit in {u.id: u for u in units}.values():
            await MeetingUnit.get_or_create(meeting_id=meeting.id, alliance_unit_id=unit.id)
        await MeetingEvent.create(
            meeting_id=meeting.id,
            scope_path=meeting.scope_path,
            actor_id=auth.actor.person_id,
            subject="meeting",
            action=action,
            from_status=status.value,
            to_status=target.value,
            note=note,
        )
    return meeting


# ------------------------------------------------------------------------------- topics


async def transition_topic(
    auth: RequestAuth, *, topic_id: str, action: str, note: str = "", decision: str | None = None
) -> AgendaTopic | InvalidTransition:
    """Deliberate a topic: accept, discuss, decide (with the decision text) or defer."""
    topic = await get_visible(auth, "AgendaTopic", topic_id)
    auth.require("AgendaTopic", "update", Facts(topic.scope_path, topic.owner_id))
    status = TopicStatus(topic.status)
    target = TOPIC_TRANSITIONS[status].get(action)
    if target is None:
        return _invalid(TOPIC_TRANSITIONS, status, action, "topic")
    meeting = await Meeting.get(id=topic.meeting_id)
    if action in TOPIC_ACTIONS_AT_SITTING and meeting.status != MeetingStatus.HELD:
        return InvalidTransition(
            message=f"Topics are {'discussed' if action == 'discuss' else 'decided'} while the meeting "
            f"is held; it is {meeting.status}.",
            current_status=status.value,
            allowed_actions=tuple(a for a in TOPIC_TRANSITIONS[status] if a not in TOPIC_ACTIONS_AT_SITTING),
        )
    note = _text(note, "note", 2000, required=False)
    fields = ["status"]
    if action == "decide":
        topic.decision = _text(decision, "decision", 4000)
        topic.decided_at = now()
        fields += ["decision", "decided_at"]
    elif decision is not None:
        raise BadUserInput("A decision is recorded with the `decide` action.", argument="decision")
    topic.status = target
    async with in_transaction():
        await topic.save(update_fields=fields)
        await MeetingEvent.create(
            meeting_id=topic.meeting_id,
            topic_id=topic.id,
            scope_path=topic.scope_path,
            actor_id=auth.actor.person_id,
            subject="topic",
            action=action,
            from_status=status.value,
            to_status=target.value,
            note=note,
        )
    return topic


# -------------------------------------------------------------------------------- tasks


async def assign_task(
    auth: RequestAuth,
    *,
    title: str,
    due_on: date,
    topic_id: str | None = None,
    concern_id: str | None = None,
    owner_person_id: str | None = None,
    alliance_unit_id: str | None = None,
    volunteer_name: str | None = None,
    volunteer_person_id: str | None = None,
) -> Task | InvalidTransition:
    """Turn a decision (a decided topic) or a concern into a task with one owner."""
    if topic_id is None and concern_id is None:
        raise BadUserInput("A task comes from a decided topic or from a concern.", argument="topicId")
    topic = await get_visible(auth, "AgendaTopic", topic_id) if topic_id is not None else None
    concern = await get_visible(auth, "Concern", concern_id) if concern_id is not None else None
    scope_path = topic.scope_path if topic is not None else concern.scope_path
    owners = [x for x in (owner_person_id, alliance_unit_id, volunteer_name, volunteer_person_id) if x]
    if len(owners) != 1:
        raise BadUserInput(
            "Give exactly one owner: a person, an alliance unit or a volunteer.", argument="ownerPersonId"
        )
    person_id = owner_person_id or volunteer_person_id
    person = await get_visible(auth, "Person", person_id) if person_id else None
    unit = await get_visible(auth, "AllianceUnit", alliance_unit_id) if alliance_unit_id else None
    facts = Facts(
        scope_path,
        None,
        frozenset(
            ([("alliance_unit", unit.id)] if unit else []) + ([("assignee", person.id)] if person else [])
        ),
    )
    auth.require("Task", "create", facts)
    if topic is not None and topic.status != TopicStatus.DECIDED:
        return InvalidTransition(
            message=f"Tasks come from decisions; this topic is {topic.status}.",
            current_status=str(topic.status),
            allowed_actions=tuple(TOPIC_TRANSITIONS[TopicStatus(topic.status)]),
        )
    title = _text(title, "title", 200)
    kind = (
        TaskOwnerKind.ALLIANCE_UNIT
        if unit
        else TaskOwnerKind.PERSON
        if owner_person_id
        else TaskOwnerKind.VOLUNTEER
    )
    async with in_transaction():
        task = await Task.create(
            title=title,
            topic_id=topic.id if topic else None,
            concern_id=concern.id if concern else None,
            scope_path=scope_path,
            owner_kind=kind,
            owner_person_id=person.id if person else None,
            alliance_unit_id=unit.id if unit else None,
            volunteer_name=_text(volunteer_name, "volunteerName", 64, required=False),
            due_on=due_on,
            assigned_by_id=auth.actor.person_id,
        )
        await _task_event(auth, task, "assign", None, TaskStatus.OPEN, "")
    return task


async def _task_event(auth, task: Task, action: str, from_status, to_status, note: str) -> None:
    await TaskEvent.create(
        task_id=task.id,
        scope_path=task.scope_path,
        alliance_unit_id=task.alliance_unit_id,
        owner_person_id=task.owner_person_id,
        actor_id=auth.actor.person_id,
        action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        note=note,
    )


async def complete_task(auth: RequestAuth, *, task_id: str, result: str) -> Task | InvalidTransition:
    """Report a task done with a result note (the owner, or who runs the loop)."""
    task = await get_visible(auth, "Task", task_id)
    auth.require("Task", "update", Facts.of(task, "Task"))
    status = TaskStatus(task.status)
    target = TASK_TRANSITIONS[status].get("complete")
    if target is None:
        return _invalid(TASK_TRANSITIONS, status, "complete", "task")
    task.result = _text(result, "result", 4000)
    task.status, task.done_at = target, now()
    async with in_transaction():
        await task.save(update_fields=["status", "result", "done_at"])
        await _task_event(auth, task, "complete", status, target, task.result)
    return task


def visible_tasks(
    auth: RequestAuth,
    *,
    status: TaskStatus | None = None,
    overdue: bool | None = None,
    alliance_unit_id: int | None = None,
    today: date | None = None,
):
    query = auth.listing("Task")
    if status is not None:
        query = query.filter(status=status)
    if alliance_unit_id is not None:
        query = query.filter(alliance_unit_id=alliance_unit_id)
    if overdue is not None:
        today = today or now().date()
        late = {"status": TaskStatus.OPEN, "due_on__lt": today}
        query = query.filter(**late) if overdue else query.exclude(**late)
    return query


def is_overdue(task: Task, today: date | None = None) -> bool:
    return task.status == TaskStatus.OPEN and task.due_on < (today or now().date())


# ------------------------------------------------------------------------------ ratings


async def rate_meeting(
    auth: RequestAuth, *, meeting_id: str, score: int, comment: str = ""
) -> Rating | InvalidTransition:
    """A resident rates the outcome of a closed meeting (事后评事); rating again replaces."""
    meeting = await get_visible(auth, "Meeting", meeting_id)
    auth.require("Rating", "create", Facts(meeting.scope_path, auth.actor.person_id))
    if meeting.status != MeetingStatus.CLOSED:
        return InvalidTransition(
            message=f"Outcomes are rated while the meeting is closed and under review; it is {meeting.status}.",
            current_status=str(meeting.status),
            allowed_actions=tuple(MEETING_TRANSITIONS[MeetingStatus(meeting.status)]),
        )
    if not 1 <= score <= 5:
        raise BadUserInput("`score` is 1 to 5.", argument="score")
    comment = _text(comment, "comment", 2000, required=False)
    row = await Rating.filter(meeting_id=meeting.id, owner_id=auth.actor.person_id).first()
    if row is None:
        return await Rating.create(
            meeting_id=meeting.id,
            scope_path=meeting.scope_path,
            owner_id=auth.actor.person_id,
            score=score,
            comment=comment,
        )
    row.score, row.comment = score, comment
    await row.save(update_fields=["score", "comment"])
    return row


# -------------------------------------------------------------------------------- votes


async def open_vote(
    auth: RequestAuth,
    *,
    topic_id: str,
    question: str,
    threshold_choice: VoteChoice,
    threshold_percent: int,
    consequence: str = "",
) -> Vote:
    """Put a topic to an anonymous vote: the threshold is met when more than
    ``threshold_percent`` of the ballots cast chose ``threshold_choice``."""
    topic = await get_visible(auth, "AgendaTopic", topic_id)
    auth.require("Vote", "create", Facts(topic.scope_path))
    question = _text(question, "question", 200)
    if not 0 <= threshold_percent <= 100:
        raise BadUserInput("`thresholdPercent` is 0 to 100.", argument="thresholdPercent")
    async with in_transaction():
        vote = await Vote.create(
            topic_id=topic.id,
            scope_path=topic.scope_path,
            question=question,
            threshold_choice=threshold_choice,
            threshold_percent=threshold_percent,
            consequence=_text(consequence, "consequence", 200, required=False),
        )
        await _vote_event(auth, vote, topic.meeting_id, "open", None, VoteStatus.OPEN)
    return vote


async def _vote_event(
    auth, vote: Vote, meeting_id: int, action: str, from_status, to_status, note: str = ""
) -> None:
    await MeetingEvent.create(
        meeting_id=meeting_id,
        topic_id=vote.topic_id,
        vote_id=vote.id,
        scope_path=vote.scope_path,
        actor_id=auth.actor.person_id,
        subject="vote",
        action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        note=note,
    )


COUNTERS = {
    VoteChoice.FOR: "for_count",
    VoteChoice.AGAINST: "against_count",
    VoteChoice.ABSTAIN: "abstain_count",
}


async def cast_ballot(auth: RequestAuth, *, vote_id: str, choice: VoteChoice) -> Vote | InvalidTransition:
    """One anonymous ballot: the tally goes up, and only *that* the caller voted is kept."""
    vote = await get_visible(auth, "Vote", vote_id)
    auth.require("Ballot", "create", Facts(vote.scope_path, auth.actor.person_id))
    if vote.status != VoteStatus.OPEN:
        return _invalid(VOTE_TRANSITIONS, VoteStatus(vote.status), "cast", "vote")
    already = BadUserInput("You have already voted in this vote.", argument="voteId")
    if await VoteParticipation.filter(vote_id=vote.id, voter_id=auth.actor.person_id).exists():
        raise already
    try:
        async with in_transaction():
            # the unique (vote, voter) row is written first: a concurrent second ballot
            # fails here and its tally is never counted
            await VoteParticipation.create(vote_id=vote.id, voter_id=auth.actor.person_id)
            column = COUNTERS[VoteChoice(choice)]
            await Vote.filter(id=vote.id).update(**{column: F(column) + 1})
    except IntegrityError:
        raise already from None
    return await Vote.get(id=vote.id)


def threshold_met(vote: Vote) -> bool:
    total = vote.for_count + vote.against_count + vote.abstain_count
    chosen = getattr(vote, COUNTERS[VoteChoice(vote.threshold_choice)])
    return total > 0 and chosen * 100 > vote.threshold_percent * total


async def close_vote(auth: RequestAuth, *, vote_id: str, note: str = "") -> Vote | InvalidTransition:
    """Close a vote: the results become visible and the threshold is computed."""
    vote = await get_visible(auth, "Vote", vote_id)
    auth.require("Vote", "update", Facts(vote.scope_path))
    status = VoteStatus(vote.status)
    target = VOTE_TRANSITIONS[status].get("close")
    if target is None:
        return _invalid(VOTE_TRANSITIONS, status, "close", "vote")
    topic = await AgendaTopic.get(id=vote.topic_id)
    async with in_transaction():
        vote = await Vote.get(id=vote.id)  # the latest tallies
        vote.status, vote.closed_at, vote.threshold_met = target, now(), threshold_met(vote)
        await vote.save(update_fields=["status", "closed_at", "threshold_met"])
        await _vote_event(
            auth, vote, topic.meeting_id, "close", status, target, _text(note, "note", 2000, required=False)
        )
    return vote


async def has_voted(auth: RequestAuth, vote_id: int) -> bool:
    """Whether the caller voted (their own participation only)."""
    return await VoteParticipation.filter(vote_id=vote_id, voter_id=auth.actor.person_id).exists()


# ------------------------------------------------------------------------ alliance units


def visible_alliance_units(auth: RequestAuth, *, kind: str | None = None, unit_id: int | None = None):
    query = auth.listing("AllianceUnit")
    if kind is not None:
        query = query.filter(kind=kind)
    if unit_id is not None:
        query = query.filter(unit_id=unit_id)
    return query


async def create_alliance_unit(
    auth: RequestAuth, *, unit_id: str, name: str, kind: str, contact: str = ""
) -> AllianceUnit:
    """Record an organisation's alliance with a street or community (街道/社区党建联盟)."""
    unit = await get_visible(auth, "OrgUnit", unit_id)
    auth.require("AllianceUnit", "create", Facts(unit.path))
    if unit.kind == UnitKind.GRID:
        raise BadUserInput("Alliances are signed with a street or a community.", argument="unitId")
    name = _text(name, "name", 128)
    if kind not in ALLIANCE_KINDS:
        raise BadUserInput(f"Unknown kind {kind!r}; use one of {', '.join(ALLIANCE_KINDS)}.", argument="kind")
    return await AllianceUnit.create(
        unit=unit,
        scope_path=unit.path,
        name=name,
        kind=kind,
        contact=_text(contact, "contact", 128, required=False),
    )


async def update_alliance_unit(
    auth: RequestAuth, *, alliance_unit_id: str, name: str | None, kind: str | None, contact: str | None
) -> AllianceUnit:
    """Correct an alliance unit's name, kind or contact desk (fields left out stay)."""
    unit = await get_visible(auth, "AllianceUnit", alliance_unit_id)
    auth.require("AllianceUnit", "update", Facts.of(unit, "AllianceUnit"))
    fields = []
    if name is not None:
        unit.name = _text(name, "name", 128)
        fields.append("name")
    if kind is not None:
        if kind not in ALLIANCE_KINDS:
            raise BadUserInput(
                f"Unknown kind {kind!r}; use one of {', '.join(ALLIANCE_KINDS)}.", argument="kind"
            )
        unit.kind = kind
        fields.append("kind")
    if contact is not None:
        unit.contact = _text(contact, "contact", 128, required=False)
        fields.append("contact")
    if fields:
        await unit.save(update_fields=fields)
    return unit


async def present_units(meeting_ids: list[int]) -> dict[int, list[int]]:
    """Alliance unit ids present at each meeting (the meetings are already visible)."""
    rows = (
        await MeetingUnit.filter(meeting_id__in=meeting_ids)
        .order_by("id")
        .values_list("meeting_id", "alliance_unit_id")
    )
    grouped: dict[int, list[int]] = {i: [] for i in meeting_ids}
    for meeting_id, unit_id in rows:
        grouped[meeting_id].append(unit_id)
    return grouped


def parse_ids(values: list[str] | None, argument: str) -> list[int]:
    return [parse_id(v, argument) for v in values or []]
