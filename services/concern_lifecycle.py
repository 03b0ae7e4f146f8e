"""A concern's way to the end (收集-协商-落实-反馈, 解决一个, 销号一个).

submitted → accepted | rejected | merged; accepted → on the agenda of a council
meeting → assigned → in progress → resolved (with proof) → rated by the resident:
closed when satisfied, reopened when not. At any open step the responsible level can
escalate it grid → community → street, and the street can supervise it (督办).

Each action is a policy action on ``Concern`` (``accept``, ``assign``, ...). The
facts an action is decided on place the concern at its *responsible level*: once a
concern is escalated to the community, a grid worker's ``in_scope`` no longer
reaches it and the secretary's does. Reading keeps the grid it was raised in.

An action the current state does not allow is not an error but a typed result,
``InvalidTransition``, naming the actions that are allowed now; nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models.concerns import Concern, ConcernEvent, ConcernLevel, ConcernStatus
from models.councils import AgendaTopic, MeetingStatus
from services import scopes
from services.authz import Facts, RequestAuth
from services.concerns import OPEN, _references
from services.errors import BadUserInput
from services.org import get_visible

S = ConcernStatus

# action -> (states it may start from, state it leads to; None: the state stays)
TRANSITIONS: dict[str, tuple[frozenset[ConcernStatus], ConcernStatus | None]] = {
    "accept": (frozenset({S.SUBMITTED}), S.ACCEPTED),
    "reject": (frozenset({S.SUBMITTED}), S.REJECTED),
    "merge": (frozenset({S.SUBMITTED, S.ACCEPTED}), S.MERGED),
    "agenda": (frozenset({S.ACCEPTED, S.REOPENED}), S.ON_AGENDA),
    "assign": (frozenset({S.ACCEPTED, S.ON_AGENDA, S.ASSIGNED, S.REOPENED}), S.ASSIGNED),
    "start": (frozenset({S.ASSIGNED}), S.IN_PROGRESS),
    "escalate": (frozenset(OPEN), None),
    "resolve": (frozenset({S.ASSIGNED, S.IN_PROGRESS}), S.RESOLVED),
    "rate": (frozenset({S.RESOLVED}), None),  # closed or reopened, by the rating
    "supervise": (frozenset(OPEN), None),
}
# Meetings whose agenda can still take topics.
AGENDA_OPEN = {s for s in MeetingStatus if s.value in ("drafted", "scheduled", "postponed")}
NEXT_LEVEL = {ConcernLevel.GRID: ConcernLevel.COMMUNITY, ConcernLevel.COMMUNITY: ConcernLevel.STREET}


@dataclass(frozen=True)
class InvalidTransition:
    """The typed refusal: what was asked, where the concern stands, what is possible."""

    action: str
    status: ConcernStatus
    allowed_actions: tuple[str, ...]

    @property
    def message(self) -> str:
        allowed = ", ".join(self.allowed_actions) or "none for you"
        return f"{self.action!r} is not possible for a concern that is {self.status}; allowed now: {allowed}."


def responsible_path(concern: Concern) -> str:
    """The path of the level now responsible for the concern."""
    if concern.level == ConcernLevel.COMMUNITY:
        return scopes.community_of(concern.scope_path)
    if concern.level == ConcernLevel.STREET:
        return scopes.street_of(concern.scope_path)
    return concern.scope_path


def action_facts(concern: Concern, action: str) -> Facts:
    links = Facts.of(concern, "Concern").links
    if action == "rate":  # the resident's own judgement, wherever the matter went
        return Facts(concern.scope_path, concern.owner_id, links)
    return Facts(responsible_path(concern), concern.owner_id, links)


def available_actions(auth: RequestAuth, concern: Concern) -> tuple[str, ...]:
    """What this actor may do to this concern now (state machine and policy both)."""
    result = []
    for action, (sources, _) in TRANSITIONS.items():
        if concern.status not in sources:
            continue
        if action == "escalate" and concern.level not in NEXT_LEVEL:
            continue
        if auth.plan("Concern", action).allows(action_facts(concern, action)):
            result.append(action)
    return tuple(result)


async def _record(concern: Concern, auth: RequestAuth, kind: str, before: ConcernStatus, note: str) -> None:
    await ConcernEvent.create(
        concern=concern,
        scope_path=concern.scope_path,
        owner_id=concern.owner_id,
        actor_id=auth.actor.person_id,
        kind=kind,
        from_status=before,
        to_status=concern.status,
        note=note,
    )


async def _begin(auth: RequestAuth, concern_id: str, action: str) -> Concern | InvalidTransition:
    concern = await get_visible(auth, "Concern", concern_id)  # NOT_FOUND out of scope
    auth.require("Concern", action, action_facts(concern, action))  # FORBIDDEN by policy
    sources, _ = TRANSITIONS[action]
    if concern.status not in sources or (action == "escalate" and concern.level not in NEXT_LEVEL):
        return InvalidTransition(action, concern.status, available_actions(auth, concern))
    return concern


def _note(note: str | None, required: bool = False, argument: str = "note") -> str:
    text = (note or "").strip()
    if required and not text:
        raise BadUserInput(f"`{argument}` is required for this step.", argument=argument)
    if len(text) > 2000:
        raise BadUserInput(f"`{argument}` is longer than 2000 characters.", argument=argument)
    return text


async def _move(
    auth: RequestAuth, concern: Concern, action: str, note: str, to: ConcernStatus | None = None, **changes
) -> Concern:
    """Apply the change and its event in one transaction."""
    before = concern.status
    target = to or TRANSITIONS[action][1] or before
    async with in_transaction():
        concern.status = target
        for key, value in changes.items():
            setattr(concern, key, value)
        await concern.save()
        await _record(concern, auth, action, before, note)
    return concern


async def accept(auth: RequestAuth, concern_id: str, note: str | None) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "accept")
    if isinstance(concern, InvalidTransition):
        return concern
    return await _move(auth, concern, "accept", _note(note))


async def reject(auth: RequestAuth, concern_id: str, note: str | None) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "reject")
    if isinstance(concern, InvalidTransition):
        return concern
    return await _move(auth, concern, "reject", _note(note, required=True), closed_at=datetime.now(UTC))


async def merge(
    auth: RequestAuth, concern_id: str, duplicate_of_id: str, note: str | None
) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "merge")
    if isinstance(concern, InvalidTransition):
        return concern
    original = await get_visible(auth, "Concern", duplicate_of_id)
    if original.id == concern.id or original.status == ConcernStatus.MERGED:
        raise BadUserInput(
            "A concern is merged into another one that is not itself merged.", argument="duplicateOfId"
        )
    text = _note(note) or f"duplicate of #{original.id}"
    return await _move(auth, concern, "merge", text, duplicate_of_id=original.id, closed_at=datetime.now(UTC))


async def put_on_agenda(
    auth: RequestAuth, concern_id: str, meeting_id: str, note: str | None
) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "agenda")
    if isinstance(concern, InvalidTransition):
        return concern
    meeting = await get_visible(auth, "Meeting", meeting_id)
    if meeting.status not in AGENDA_OPEN:
        raise BadUserInput("Concerns go on the agenda of a meeting still to be held.", argument="meetingId")
    async with in_transaction():
        await AgendaTopic.create(
            meeting=meeting,
            scope_path=meeting.scope_path,
            owner_id=concern.owner_id,
            title=concern.title,
            description=concern.description,
            concern=concern,
            raised_by_id=concern.owner_id,
        )
        return await _move(auth, concern, "agenda", _note(note) or f"on the agenda of meeting #{meeting.id}")


async def assign(
    auth: RequestAuth,
    concern_id: str,
    *,
    assignee_id: str | None,
    assignee_name: str | None,
    note: str | None,
) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "assign")
    if isinstance(concern, InvalidTransition):
        return concern
    name = (assignee_name or "").strip()[:128]
    person = await get_visible(auth, "Person", assignee_id) if assignee_id is not None else None
    if person is None and not name:
        raise BadUserInput("Name an assignee: a person (`assigneeId`) or a unit or team (`assigneeName`).")
    return await _move(
        auth,
        concern,
        "assign",
        _note(note) or f"assigned to {person.name if person else name}",
        assignee_id=person.id if person else None,
        assignee_name=name or (person.name if person else ""),
    )


async def start(auth: RequestAuth, concern_id: str, note: str | None) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "start")
    if isinstance(concern, InvalidTransition):
        return concern
    return await _move(auth, concern, "start", _note(note))


async def escalate(auth: RequestAuth, concern_id: str, note: str | None) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "escalate")
    if isinstance(concern, InvalidTransition):
        return concern
    level = NEXT_LEVEL[concern.level]
    text = _note(note, required=True)
    before = concern.status
    async with in_transaction():
        concern.level = level
        await concern.save()
        await ConcernEvent.create(
            concern=concern, scope_path=concern.scope_path, owner_id=concern.owner_id,
            actor_id=auth.actor.person_id, kind=f"escalated_to_{level}", from_status=before,
            to_status=concern.status, note=text,
        )  # fmt: skip
    return concern


async def resolve(
    auth: RequestAuth, concern_id: str, resolution: str, proof: list[str] | None
) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "resolve")
    if isinstance(concern, InvalidTransition):
        return concern
    text = _note(resolution, required=True, argument="resolution")
    references = _references(proof, "proof")
    if not references:
        raise BadUserInput(
            "A concern is resolved with proof: at least one photo or document.", argument="proof"
        )
    return await _move(
        auth, concern, "resolve", text, resolution=text, proof=references, resolved_at=datetime.now(UTC)
    )


async def rate(
    auth: RequestAuth, concern_id: str, rating: int, satisfied: bool, comment: str | None
) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "rate")
    if isinstance(concern, InvalidTransition):
        return concern
    if not 1 <= rating <= 5:
        raise BadUserInput("`rating` is from 1 to 5.", argument="rating")
    text = _note(comment, argument="comment")
    if satisfied:
        return await _move(
            auth,
            concern,
            "rate",
            text,
            to=S.CLOSED,
            rating=rating,
            rating_comment=text,
            closed_at=datetime.now(UTC),
        )
    return await _move(auth, concern, "rate", text, to=S.REOPENED, rating=rating, rating_comment=text)


async def supervise(auth: RequestAuth, concern_id: str, note: str | None) -> Concern | InvalidTransition:
    concern = await _begin(auth, concern_id, "supervise")
    if isinstance(concern, InvalidTransition):
        return concern
    return await _move(
        auth,
        concern,
        "supervise",
        _note(note, required=True),
        supervision_count=concern.supervision_count + 1,
    )
