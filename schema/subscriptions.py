"""Subscriptions (over ``graphql-transport-ws`` at ``/graphql``): what changed, as it
commits, for whoever may read it.

Every field listens to this instance's event bus (``services.bus``) and decides *per
event and per subscriber*, on the same path as a read: the policy in force now
(``Context.renew``), the object re-read through the caller's visibility
(the read plan's decision on the object as it is now, as ``RequestAuth.get_visible``
makes it; the object is read once per event for all subscribers), then
the payload resolved by the ordinary types, so field rules (``Person.contact``,
``MediationCase.parties``) read null where they would in a query. A subscriber never
hears of an object it could not read at that moment; the notice itself carries no data
beyond ids and states.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry

from policies.relations import Facts
from schema.concerns import Concern, ConcernLevel
from schema.context import Context, Info
from schema.councils import AgendaTopic, Meeting
from schema.mediation import Referral
from services import bus as event_bus
from services.authz import RequestAuth, model_of
from services.concerns import CONCERN
from services.errors import Forbidden
from services.rows import by_id


@strawberry.type(description="What happened to an object: the step, the states, the time.")
class Change:
    action: str = strawberry.field(
        description="The event's action, as in the object's history (`accept`, `escalated_to_street`, "
        "`referral_accept`, `schedule`, `decide` ...); `overdue` when a concern's due time ran out."
    )
    from_status: str | None = strawberry.field(description="The state before (null for a new object).")
    to_status: str | None = strawberry.field(description="The state after.")
    at: datetime = strawberry.field(description="When it happened.")


@strawberry.type(description="A concern changed; `concern` is the concern as it is now.")
class ConcernChange(Change):
    concern: Concern = strawberry.field(description="The concern, read with the subscriber's rights.")


@strawberry.type(description="A referral was made or changed; `referral` is the referral as it is now.")
class ReferralChange(Change):
    referral: Referral = strawberry.field(description="The referral, read with the subscriber's rights.")


@strawberry.type(description="A meeting was created, scheduled, postponed, held, closed or cancelled.")
class MeetingChange(Change):
    meeting: Meeting = strawberry.field(description="The meeting, read with the subscriber's rights.")


@strawberry.type(description="A council took a decision on a topic (议事会决议).")
class DecisionTaken(Change):
    topic: AgendaTopic = strawberry.field(description="The topic decided, with its decision.")


ConcernId = Annotated[
    strawberry.ID | None, strawberry.argument(description="Only this concern (null: every one you may read).")
]
ReferralId = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Only this referral (null: every one you may read)."),
]
Level = Annotated[
    ConcernLevel | None, strawberry.argument(description="Only at this level (null: any level).")
]
CommunityId = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Only in this community or village (null: anywhere you may read)."),
]

log = logging.getLogger("bandeng.live")

Accept = Callable[[event_bus.Notice], bool]
Relevant = Callable[[RequestAuth, Any], bool]


async def _stream(
    info: Info,
    resource: str,
    accept: Accept,
    build: Callable[[event_bus.Notice, Any], Any],
    relevant: Relevant | None = None,
) -> AsyncIterator[Any]:
    """The subscriber's payloads for the notices about ``resource`` that ``accept`` keeps
    and the subscriber may read now (and, given ``relevant``, that concern them)."""
    context: Context = info.context
    context.auth  # noqa: B018 - UNAUTHENTICATED before anything is subscribed
    if context.bus is None:
        raise Forbidden("Subscriptions are served over a websocket (graphql-transport-ws) at /graphql.")
    bus = context.bus

    async def payloads() -> AsyncGenerator[Any, None]:
        # Registered when the stream starts (closed in ``finally``): a stream cancelled
        # before its first step leaves nothing behind on the bus.
        subscription = bus.subscribe({resource})
        try:
            async for notice in subscription:
                if not accept(notice):
                    continue
                # The slot is held until the payload is sent (the stream resumes here after).
                async with bus.slot():
                    context.renew()  # the policy in force now, the actor as last checked
                    auth = context.auth
                    try:
                        row = await _row(notice)
                    except Exception as exc:  # the database is away: lost to live delivery
                        log.warning("subscription: could not read %s %s: %r", notice.resource, notice.id, exc)
                        continue
                    if row is None or not readable(auth, resource, row):
                        continue
                    if relevant is not None and not relevant(auth, row):
                        continue
                    yield build(notice, row)
        finally:
            subscription.close()

    return payloads()


# The object as it is after an event, read once for all the subscribers of this instance
# (they are handed the same notice at the same moment); each subscriber then decides on it
# with its own plan, exactly as ``RequestAuth.get_visible`` does after its read.
_ROWS: OrderedDict[event_bus.Notice, asyncio.Future[Any]] = OrderedDict()
_ROWS_KEPT = 256


async def _row(notice: event_bus.Notice) -> Any:
    future = _ROWS.get(notice)
    if future is None:
        future = _ROWS[notice] = asyncio.ensure_future(by_id(model_of(notice.resource), notice.id))
        while len(_ROWS) > _ROWS_KEPT:
            _ROWS.popitem(last=False)
    return await asyncio.shield(future)


def readable(auth: RequestAuth, resource: str, row: Any) -> bool:
    """``get_visible``'s decision on a row already read: the caller's read plan allows it."""
    plan = auth.plan(resource, "read")
    return bool(plan.grants) and plan.allows(Facts.of(row, resource))


def _change(notice: event_bus.Notice) -> dict[str, Any]:
    return {
        "action": notice.action,
        "from_status": notice.from_status,
        "to_status": notice.to_status,
        "at": datetime.fromisoformat(notice.at),
    }


def _under(path: str) -> Accept:
    return lambda notice: notice.scope_path == path or notice.scope_path.startswith(path + "/")


def _acts_on(auth: RequestAuth, row: Any) -> bool:
    """The subscriber is one who acts on the concern where it now is: some step is open to them."""
    return bool(CONCERN.allowed_actions(auth, row))


async def _community(info: Info, community_id: strawberry.ID | None) -> Accept:
    if community_id is None:
        return lambda notice: True
    unit = await info.context.auth.get_visible("OrgUnit", community_id, "communityId")
    return _under(unit.path)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="A concern's changes as they commit: accepted, put on the agenda, assigned, "
        "escalated, resolved, rated, ... The concern named by `id` (NOT_FOUND unless you may read "
        "it), or every concern you may read (the resident who raised one follows its progress)."
    )
    async def concern_changed(self, info: Info, id: ConcernId = None) -> AsyncIterator[ConcernChange]:
        wanted = None
        if id is not None:
            wanted = (await info.context.auth.get_visible("Concern", id)).id
        return await _stream(
            info,
            "Concern",
            lambda notice: wanted is None or notice.id == wanted,
            lambda notice, row: ConcernChange(**_change(notice), concern=Concern.from_row(row)),
        )

    @strawberry.subscription(
        description="Concerns escalated to a level (`level`, or any), for those who act on them "
        "there: sent to a subscriber who may read the concern and has a step open on it now "
        "(`availableActions` not empty), e.g. the community's secretary, the street's officials."
    )
    async def concern_escalated(self, info: Info, level: Level = None) -> AsyncIterator[ConcernChange]:
        action = None if level is None else f"escalated_to_{level.value}"
        return await _stream(
            info,
            "Concern",
            lambda notice: (
                notice.action == action or (action is None and notice.action.startswith("escalated_to_"))
            ),
            lambda notice, row: ConcernChange(**_change(notice), concern=Concern.from_row(row)),
            relevant=_acts_on,
        )

    @strawberry.subscription(
        description="Open concerns whose due time has just run out (action `overdue`, for the "
        "street's supervision, 督办), at `level` or any, for those who act on them (as "
        "`concernEscalated`). Each instance checks every few seconds."
    )
    async def concern_overdue(self, info: Info, level: Level = None) -> AsyncIterator[ConcernChange]:
        return await _stream(
            info,
            "Concern",
            lambda notice: notice.action == "overdue",
            lambda notice, row: ConcernChange(**_change(notice), concern=Concern.from_row(row)),
            relevant=lambda auth, row: (level is None or row.level == level.value) and _acts_on(auth, row),
        )

    @strawberry.subscription(
        description="Referrals (诉调对接) made or changed: the referral named by `id`, or every one you "
        "may read (the judges of its workstation, the court's partner token)."
    )
    async def referral_changed(self, info: Info, id: ReferralId = None) -> AsyncIterator[ReferralChange]:
        wanted = None
        if id is not None:
            wanted = (await info.context.auth.get_visible("Referral", id)).id
        return await _stream(
            info,
            "Referral",
            lambda notice: wanted is None or notice.id == wanted,
            lambda notice, row: ReferralChange(**_change(notice), referral=Referral.from_row(row)),
        )

    @strawberry.subscription(
        description="Meetings created, scheduled, postponed, held, closed or cancelled, in the "
        "community `communityId` (NOT_FOUND unless you may read it) or anywhere you may read them."
    )
    async def meeting_changed(
        self, info: Info, community_id: CommunityId = None
    ) -> AsyncIterator[MeetingChange]:
        where = await _community(info, community_id)
        return await _stream(
            info,
            "Meeting",
            where,
            lambda notice, row: MeetingChange(**_change(notice), meeting=Meeting.from_row(row)),
        )

    @strawberry.subscription(
        description="Decisions taken by councils (a topic moved to `decided`), in the community "
        "`communityId` or anywhere you may read them."
    )
    async def decision_taken(
        self, info: Info, community_id: CommunityId = None
    ) -> AsyncIterator[DecisionTaken]:
        where = await _community(info, community_id)
        return await _stream(
            info,
            "AgendaTopic",
            lambda notice: notice.to_status == "decided" and notice.action == "decide" and where(notice),
            lambda notice, row: DecisionTaken(**_change(notice), topic=AgendaTopic.from_row(row)),
        )


SUBSCRIPTIONS = (LiveSubscription,)
