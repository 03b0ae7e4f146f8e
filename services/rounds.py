"""The grid worker's rounds log (网格员走访/巡查日志): "walks the grid daily, records
residents' requests and follows them up". A round is a visit to a household (走访) or a
patrol of the grid (巡查) with what was found; a finding becomes a concern in one step,
raised by the concern's own rules and linked to the round.

Declared once (``ROUND``) and run by ``services.workflow``; who may read and record
rounds is the policy's (``GridRound``): the grid worker their own, in their grid; the
community's secretary and the street read them.
"""

from __future__ import annotations

from typing import Any

from models.org import UnitKind
from models.rounds import GridRound, GridRoundEvent, RoundKind, RoundStatus
from policies.relations import Facts
from services import concerns, reads, workflow
from services.authz import RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text
from services.times import to_utc
from services.workflow import NOTE_LENGTH, Input, Ref, StepCall, creation, step

reads.relations("GridRound", walked_by=reads.One("Person", "owner_id"))  # the worker who walked


ROUNDS = reads.listing("GridRound", "kind", "unit_id", since=("walked_at__gte", to_utc))


async def _locate(call: StepCall) -> Facts:
    unit = await call.auth.get_visible("OrgUnit", call.arg("unit_id"), "unitId")
    resident_id = call.arg("resident_id")
    resident = await call.auth.get_visible("Person", resident_id, "residentId") if resident_id else None
    call.context.update(unit=unit, resident=resident)
    return Facts(unit.path, call.auth.actor.person_id)  # the worker's own round, in their grid


async def _prepare_record(call: StepCall) -> None:
    unit, resident = call.context["unit"], call.context["resident"]
    if unit.kind != UnitKind.GRID:
        raise BadUserInput("A round is walked in a grid (网格).", argument="unitId")
    walked_at = call.arg("walked_at")
    if walked_at is None or walked_at.tzinfo is None:
        raise BadUserInput("`walkedAt` needs a time zone offset.", argument="walkedAt")
    call.changes.update(
        unit_id=unit.id,
        scope_path=unit.path,
        owner_id=call.auth.actor.person_id,
        kind=RoundKind(call.arg("kind")),
        walked_at=walked_at,
        place=clean_text(call.arg("place"), "place", 200, required=False),
        resident_id=resident.id if resident else None,
        findings=clean_text(call.arg("findings"), "findings", 4000, required=False),
        created_at=call.now,
    )


async def _prepare_follow_up(call: StepCall) -> None:
    call.take_note()


async def _raise_concern(call: StepCall) -> None:
    """The finding becomes a concern of the resident visited (or the worker's own record),
    by the concern's own creation step: its policy, its validation, its first event."""
    round_ = call.row
    input: dict[str, Any] = {
        "unit_id": round_.unit_id,
        "title": call.arg("title"),
        "category": call.arg("category"),
        "description": round_.findings,
        "location": round_.place,
    }
    if round_.resident_id is not None:
        input["resident_id"] = round_.resident_id
    concern = await workflow.create_linked(call, concerns.CONCERN, "raise", input)
    await GridRound.filter(id=round_.id).update(concern_id=concern.id)
    round_.concern_id = concern.id


ROUND = workflow.Machine(
    "GridRound", "round", GridRoundEvent,
    steps=(
        creation(
            "record", RoundStatus.RECORDED,
            "Record a visit to a household (走访) or a patrol of the grid (巡查) with what was found.",
            locate=_locate, prepare=_prepare_record,
        ),
        step(
            "follow_up", {RoundStatus.RECORDED}, RoundStatus.FOLLOWED_UP, "update",
            "Turn the round's finding into a concern (raised for the resident visited), in one step.",
            inputs=(
                Input("round_id", Ref, "The round.", required=True),
                Input("title", str, "The concern's title (at least 1 character).", required=True, max_length=200),
                Input("category", str, "One of `concernCategories`.", required=True, max_length=32),
                Input("note", str, "Note for the round's history.", default="", max_length=NOTE_LENGTH),
            ),
            prepare=_prepare_follow_up, after=_raise_concern,
        ),
    ),
)  # fmt: skip


async def record_round(auth: RequestAuth, **input: Any) -> GridRound:
    return await workflow.create(auth, ROUND, "record", input)
