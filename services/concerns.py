"""Residents' concerns (诉求) and service orders, to the end (收集-协商-落实-反馈,
解决一个, 销号一个).

submitted → accepted | rejected | merged; accepted → on the agenda of a council meeting
→ assigned → in progress → resolved (with proof) → rated by the resident: closed when
satisfied, reopened when not. At any open step the responsible level can escalate it
grid → community → street, and the street can supervise it (督办). When the last task
of the decision behind it is done, it is resolved, pending the resident's rating.

The steps are declared once (``CONCERN``) and run by ``services.workflow``. The facts
a step is decided on place the concern at its *responsible level*: once a concern is
escalated to the community, a grid worker's ``in_scope`` no longer reaches it and the
secretary's does. Reading keeps the grid it was raised in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models.concerns import Concern, ConcernEvent, ConcernKind, ConcernLevel, ConcernStatus
from models.councils import MeetingStatus
from models.org import UnitKind
from policies import scopes
from policies.relations import Facts
from services import org, reads, workflow
from services.authz import RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text
from services.workflow import DESCRIPTION_LENGTH, NOTE_LENGTH, Input, Ref, Step, StepCall, creation, step

S = ConcernStatus

# The categories people in the field use, with the time the responsible level has
# before a concern is overdue (and shows up for the street's supervision, 督办).
CATEGORIES: dict[str, str] = {
    "infrastructure": "Roads, walls, drainage, lamps (基础设施)",
    "property": "Property management (物业)",
    "environment": "Sanitation and greenery (环境卫生)",
    "safety": "Safety hazards, e-bikes in stairwells (安全隐患)",
    "neighbourhood": "Neighbour disputes (邻里纠纷)",
    "elderly": "Elderly care, elevators for old buildings (养老/加装电梯)",
    "home_repair": "Service order: repairs at home (上门维修)",
    "elderly_visit": "Service order: visits and help for the elderly (助老服务)",
    "errand": "Service order: errands and paperwork (代办跑腿)",
    "other": "Anything else (其他)",
}
DUE_HOURS: dict[str, int] = {
    "safety": 24,
    "infrastructure": 72,
    "property": 72,
    "environment": 48,
    "neighbourhood": 120,
    "elderly": 240,
    "home_repair": 48,
    "elderly_visit": 72,
    "errand": 48,
    "other": 120,
}
assert set(DUE_HOURS) == set(CATEGORIES)

OPEN = (S.SUBMITTED, S.ACCEPTED, S.ON_AGENDA, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED)
# Meetings whose agenda can still take topics.
AGENDA_OPEN = (MeetingStatus.DRAFTED, MeetingStatus.SCHEDULED)
NEXT_LEVEL = {ConcernLevel.GRID: ConcernLevel.COMMUNITY, ConcernLevel.COMMUNITY: ConcernLevel.STREET}


# -------------------------------------------------------------------------------- reads


def _overdue(query: QuerySet[Concern], overdue: bool, auth: RequestAuth) -> QuerySet[Concern]:
    late = Q(due_at__lt=auth.now(), status__in=list(OPEN))
    return query.filter(late if overdue else ~late)


CONCERNS = reads.listing(
    "Concern", "status", "category", "unit_id", "kind", "level", search="title__icontains", overdue=_overdue
)


def is_overdue(concern: Concern, now: datetime | None = None) -> bool:
    """Past its due time and still open: it shows up for the street's supervision."""
    return (
        concern.due_at is not None and concern.status in OPEN and concern.due_at < (now or datetime.now(UTC))
    )


async def turned_overdue(since: datetime, until: datetime) -> list[Concern]:
    """Open concerns whose due time ran out in ``(since, until]`` (the bus's ``overdue``
    notices, ``app/live.py``): one indexed statement."""
    return await Concern.filter(due_at__gt=since, due_at__lte=until, status__in=list(OPEN)).order_by("due_at")


def responsible_path(concern: Concern) -> str:
    """The path of the level now responsible for the concern."""
    if concern.level == ConcernLevel.COMMUNITY:
        return scopes.community_of(concern.scope_path)
    if concern.level == ConcernLevel.STREET:
        return scopes.street_of(concern.scope_path)
    return concern.scope_path


def _facts(concern: Concern, step: Step, actor_id: int) -> Facts:
    links = Facts.of(concern, "Concern").links
    if step.action == "rate":  # the resident's own judgement, wherever the matter went
        return Facts(concern.scope_path, concern.owner_id, links)
    return Facts(responsible_path(concern), concern.owner_id, links)


def _guard(concern: Concern, step: Step) -> str | None:
    if step.action == "escalate" and concern.level not in NEXT_LEVEL:
        return "The concern is already with the street; it cannot be escalated further."
    return None


REFERENCE_LENGTH = 500  # one photo or document reference
MAX_REFERENCES = 20
ASSIGNEE_NAME_LENGTH = 128
LOCATION_LENGTH = 200


def references(values: list[str] | None, argument: str) -> list[str]:
    """Photo/document references (ids or URLs from the upload service), checked, not fetched."""
    refs = [v.strip() for v in values or [] if v and v.strip()]
    if len(refs) > MAX_REFERENCES or any(len(v) > REFERENCE_LENGTH for v in refs):
        raise BadUserInput(
            f"`{argument}`: at most {MAX_REFERENCES} references of at most {REFERENCE_LENGTH} characters.",
            argument=argument,
        )
    return refs


# -------------------------------------------------------------------------------- steps


async def _locate_new(call: StepCall) -> Facts:
    unit, owner_id = await org.unit_and_person(
        call.auth, call.arg("unit_id"), call.arg("resident_id"), "residentId"
    )
    call.context.update(unit=unit, owner_id=owner_id)
    # The policy is asked before the input is judged: a caller who may not act here
    # learns nothing from validation messages.
    return Facts(unit.path, owner_id)


async def _prepare_new(call: StepCall) -> None:
    unit, owner_id = call.context["unit"], call.context["owner_id"]
    if unit.kind != UnitKind.GRID:
        raise BadUserInput("Concerns are raised in a grid (网格).", argument="unitId")
    title = clean_text(call.arg("title"), "title", 200)
    category = call.arg("category")
    if category not in CATEGORIES:
        raise BadUserInput(
            f"Unknown category {category!r}; use one of {', '.join(CATEGORIES)}.", argument="category"
        )
    call.changes.update(
        unit_id=unit.id,
        scope_path=unit.path,
        owner_id=owner_id,
        raised_by_id=owner_id,
        recorded_by_id=call.auth.actor.person_id,
        title=title,
        description=clean_text(call.arg("description"), "description", DESCRIPTION_LENGTH, required=False),
        category=category,
        location=clean_text(call.arg("location"), "location", LOCATION_LENGTH, required=False),
        kind=call.arg("kind", ConcernKind.CONCERN),
        photos=references(call.arg("photos"), "photos"),
        due_at=call.now + timedelta(hours=DUE_HOURS[category]),
        created_at=call.now,
    )
    call.event_action = "submitted"


def _with_note(required: bool = False, **changes: Any) -> workflow.Hook:
    """A step whose only input is its note (``required`` for reject, escalate, supervise)."""

    async def prepare(call: StepCall) -> None:
        call.take_note(required=required)
        call.changes.update({k: (call.now if v is _NOW else v) for k, v in changes.items()})

    return prepare


_NOW = object()  # "the step's time" in a ``_with_note`` change


async def _prepare_merge(call: StepCall) -> None:
    original = await call.auth.get_visible("Concern", call.arg("duplicate_of_id"), "duplicateOfId")
    if original.id == call.row.id or original.status == S.MERGED:
        raise BadUserInput(
            "A concern is merged into another one that is not itself merged.", argument="duplicateOfId"
        )
    # Not the original's id: the duplicate's resident may not read the original (its
    # `duplicateOf` is null for them), and the history must not say more.
    call.note = call.take_note() or "merged as a duplicate"
    call.changes.update(duplicate_of_id=original.id, closed_at=call.now)


async def _prepare_agenda(call: StepCall) -> None:
    meeting = await call.auth.get_visible("Meeting", call.arg("meeting_id"), "meetingId")
    if meeting.status not in AGENDA_OPEN:
        raise BadUserInput("Concerns go on the agenda of a meeting still to be held.", argument="meetingId")
    call.context["meeting"] = meeting
    call.note = call.take_note() or f"on the agenda of meeting #{meeting.id}"


async def _put_on_agenda(call: StepCall) -> None:
    """The concern becomes a proposed topic of the meeting (公开说事)."""
    from services.councils import propose_topic

    concern, meeting = call.row, call.context["meeting"]
    await propose_topic(
        call,
        meeting,
        title=concern.title,
        description=concern.description,
        concern_id=concern.id,
        raised_by_id=concern.owner_id,
    )


async def _prepare_assign(call: StepCall) -> None:
    name = clean_text(call.arg("assignee_name"), "assigneeName", ASSIGNEE_NAME_LENGTH, required=False)
    assignee_id = call.arg("assignee_id")
    person = await call.auth.get_visible("Person", assignee_id, "assigneeId") if assignee_id else None
    if person is None and not name:
        raise BadUserInput("Name an assignee: a person (`assigneeId`) or a unit or team (`assigneeName`).")
    # The history names a person only through the event's own fields, never in its text:
    # a concern's readers are not all allowed to read its assignee (a volunteer).
    call.note = call.take_note() or (f"assigned to {name}" if name else "assigned to a person")
    call.changes.update(
        assignee_id=person.id if person else None, assignee_name=name or (person.name if person else "")
    )


async def _prepare_escalate(call: StepCall) -> None:
    level = NEXT_LEVEL[call.row.level]
    call.take_note(required=True)
    call.changes["level"] = level
    call.event_action = f"escalated_to_{level}"


async def _prepare_resolve(call: StepCall) -> None:
    text = clean_text(call.arg("resolution"), "resolution", 2000)
    proof = references(call.arg("proof"), "proof")
    if not proof:
        raise BadUserInput(
            "A concern is resolved with proof: at least one photo or document.", argument="proof"
        )
    call.note = text
    call.changes.update(resolution=text, proof=proof, resolved_at=call.now)


async def _prepare_rate(call: StepCall) -> None:
    rating = call.arg("rating")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise BadUserInput("`rating` is from 1 to 5.", argument="rating")
    comment = clean_text(call.arg("comment"), "comment", 2000, required=False)
    call.note = comment
    call.changes.update(rating=rating, rating_comment=comment)
    if call.arg("satisfied"):
        call.target = S.CLOSED.value
        call.changes["closed_at"] = call.now
    else:
        call.target = S.REOPENED.value


async def _prepare_resolved_by_tasks(call: StepCall) -> None:
    call.changes.update(resolution=call.note, resolved_at=call.now)
    call.event_action = "resolve"


NOTE = Input(
    "note",
    str,
    "Note for the history (required to reject, escalate, supervise).",
    default="",
    max_length=NOTE_LENGTH,
)
CONCERN_ID = Input("concern_id", Ref, "The concern.", required=True)

CONCERN = workflow.Machine(
    "Concern", "concern", ConcernEvent,
    facts=_facts,
    guard=_guard,
    steps=(
        creation(
            "raise", S.SUBMITTED,
            "Raise a concern (or record one for a resident); records a `submitted` event.",
            locate=_locate_new, prepare=_prepare_new,
        ),
        step(
            "accept", {S.SUBMITTED}, S.ACCEPTED, "accept", "Accept a submitted concern (受理).",
            inputs=(CONCERN_ID, NOTE), prepare=_with_note(),
        ),
        step(
            "reject", {S.SUBMITTED}, S.REJECTED, "reject", "Reject a submitted concern, with a reason.",
            inputs=(CONCERN_ID, NOTE), prepare=_with_note(required=True, closed_at=_NOW),
        ),
        step(
            "merge", {S.SUBMITTED, S.ACCEPTED}, S.MERGED, "merge", "Merge a duplicate into the concern it repeats.",
            inputs=(
                Input("concern_id", Ref, "The duplicate.", required=True),
                Input("duplicate_of_id", Ref, "The concern it duplicates.", required=True),
                Input("note", str, "Note for the history.", default="", max_length=NOTE_LENGTH),
            ),
            prepare=_prepare_merge,
        ),
        step(
            "agenda", {S.ACCEPTED, S.REOPENED}, S.ON_AGENDA, "agenda",
            "Put a concern on a council meeting's agenda (公开说事); it becomes a proposed topic.",
            inputs=(CONCERN_ID, Input("meeting_id", Ref, "A meeting still to be held.", required=True), NOTE),
            prepare=_prepare_agenda, after=_put_on_agenda,
        ),
        step(
            "assign", {S.ACCEPTED, S.ON_AGENDA, S.ASSIGNED, S.REOPENED}, S.ASSIGNED, "assign",
            "Assign a concern or dispatch a service order (派单).",
            inputs=(
                CONCERN_ID,
                Input("assignee_id", Ref, "A person (e.g. a volunteer)."),
                Input("assignee_name", str, "An alliance unit or team, when not a person.", default="", max_length=ASSIGNEE_NAME_LENGTH),
                NOTE,
            ),
            prepare=_prepare_assign,
        ),
        step(
            "start", {S.ASSIGNED}, S.IN_PROGRESS, "start",
            "Start work on an assigned concern; a volunteer takes an order (接单).",
            inputs=(CONCERN_ID, NOTE), prepare=_with_note(),
        ),
        step(
            "escalate", OPEN, None, "escalate",
            "Escalate to the next level: grid → community → street (the state stays).",
            inputs=(CONCERN_ID, NOTE), prepare=_prepare_escalate,
        ),
        step(
            "resolve", {S.ASSIGNED, S.IN_PROGRESS}, S.RESOLVED, "resolve", "Mark resolved with proof.",
            inputs=(
                CONCERN_ID,
                Input("resolution", str, "What was done.", required=True, max_length=2000),
                Input("proof", list[str], "At least one photo or document reference (at most 20).", required=True, max_length=REFERENCE_LENGTH),
            ),
            prepare=_prepare_resolve,
        ),
        step(
            "rate", {S.RESOLVED}, {S.CLOSED, S.REOPENED}, "rate",
            "The resident rates the handling (评单): closed when satisfied (销号), reopened when not.",
            inputs=(
                CONCERN_ID,
                Input("rating", int, "1 (poor) to 5 (excellent).", required=True),
                Input("satisfied", bool, "True closes it (销号); false reopens it.", required=True),
                Input("comment", str, "Comment.", default="", max_length=2000),
            ),
            prepare=_prepare_rate,
        ),
        step(
            "supervise", OPEN, None, "supervise",
            "Urge an open concern on (督办); the supervision count goes up by one.",
            inputs=(CONCERN_ID, NOTE), prepare=_with_note(required=True),
            counters=("supervision_count",), exclusive=False,
        ),
        step(
            "resolved_by_tasks", {S.ACCEPTED, S.ON_AGENDA, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED}, S.RESOLVED, None,
            "The last task of the decision behind it is done: resolved, pending the resident's rating.",
            prepare=_prepare_resolved_by_tasks,
        ),
    ),
)  # fmt: skip


async def raise_concern(auth: RequestAuth, **input: Any) -> Concern:
    """A resident raises a concern, or a worker records one for a resident."""
    return await workflow.create(auth, CONCERN, "raise", input)
