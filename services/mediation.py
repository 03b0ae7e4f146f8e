"""Mediation (人民调解) and referral to judge workstations (诉调对接).

Two declared machines (``CASE``, ``REFERRAL``) run by ``services.workflow``, every step
recorded as a ``MediationEvent``:

* case: open → in_mediation → settled | failed; failed → escalated (next level, a new
  mediator, who starts it again) or referred (to a workstation);
* referral: pending → accepted | returned (with a reason: the case is failed again, an
  effect); accepted → closed with an outcome (引导和解, 司法确认: the case is settled;
  立案: the case is closed, it goes to court).

Who may take a step is the policy's business: ``update`` (start, settle, fail: the
assigned mediator), ``escalate`` (escalate, refer: secretaries and street officials) on
``MediationCase``, and ``update`` on ``Referral`` (the workstation's judges).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypedDict

from tortoise.queryset import QuerySet

from models.mediation import (
    CaseCategory,
    CaseStatus,
    Court,
    LegalConsultation,
    MediationCase,
    MediationEvent,
    MediationLevel,
    MediationSession,
    Mediator,
    OutreachEvent,
    Referral,
    ReferralOutcome,
    ReferralStatus,
    Workstation,
    WorkstationUnit,
)
from models.org import OrgUnit
from policies import scopes
from policies.relations import Facts
from services import org, reads, workflow
from services.authz import RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text as _text
from services.workflow import DESCRIPTION_LENGTH, NOTE_LENGTH, Effect, Input, Ref, StepCall, creation, step

CATEGORY_LABELS: dict[CaseCategory, str] = {
    CaseCategory.PROPERTY: "物业纠纷",
    CaseCategory.DAILY_LIFE: "生活纠纷",
    CaseCategory.RENOVATION: "装修纠纷",
    CaseCategory.LAND_FOREST: "土地山林纠纷",
    CaseCategory.CONSTRUCTION: "施工影响纠纷",
    CaseCategory.OTHER: "其他纠纷",
}
NEXT_LEVEL = {MediationLevel.GROUP: MediationLevel.COMMUNITY, MediationLevel.COMMUNITY: MediationLevel.STREET}
PARTY_KEYS = ("name", "role", "phone", "id_number")
# How a referral's outcome ends the case: settled by the court's guidance or confirmation,
# or closed because it was filed in court (立案).
SETTLING_OUTCOMES = (ReferralOutcome.GUIDED_SETTLEMENT, ReferralOutcome.JUDICIAL_CONFIRMATION)
OUTCOME_LABELS = {
    ReferralOutcome.GUIDED_SETTLEMENT: "引导和解",
    ReferralOutcome.JUDICIAL_CONFIRMATION: "司法确认",
    ReferralOutcome.FILED: "立案",
}
C, R = CaseStatus, ReferralStatus

# -------------------------------------------------------------------------------- reads

# Relations beyond the foreign keys: the applicant (the owner), the workstation a row is
# tied to (a link column), and sessions by date.
WORKSTATION = reads.One("Workstation", "workstation_id")
reads.relations(
    "MediationCase",
    applicant=reads.One("Person", "owner_id"),
    workstation=WORKSTATION,
    sessions=reads.Many("MediationSession", "case_id", "held_on"),
)
reads.relations(
    "Workstation",
    communities=reads.Through("OrgUnit", "WorkstationUnit", "workstation_id", "unit_id", "unit_id"),
)
for _resource in ("Referral", "OutreachEvent", "LegalConsultation"):
    reads.relations(_resource, workstation=WORKSTATION)


def _updated_since(
    query: QuerySet[MediationCase], since: datetime, auth: RequestAuth
) -> QuerySet[MediationCase]:
    if since.tzinfo is None:
        raise BadUserInput("`updatedSince` needs a time zone offset.", argument="updatedSince")
    return query.filter(updated_at__gte=since)


CASES = reads.listing("MediationCase", "status", "category", updated_since=_updated_since)
MEDIATORS = reads.listing("Mediator", "level")
WORKSTATIONS = reads.listing("Workstation")
OUTREACH = reads.listing("OutreachEvent", "workstation_id")
CONSULTATIONS = reads.listing("LegalConsultation", "workstation_id")


async def court_of(workstation: Workstation) -> Court | None:
    """The founding court: public facts (name, tribunal) of a workstation one may see."""
    return await Court.filter(id=workstation.court_id).first()


# ------------------------------------------------------------------------------ set-up


async def create_court(name: str, tribunal: str) -> Court:
    """Set-up (no caller): a court whose tribunal stations judges in communities."""
    return await Court.create(name=name, tribunal=tribunal)


async def create_workstation(
    name: str, court: Court, street: OrgUnit, served: list[OrgUnit], officers: int, founded_on: date
) -> Workstation:
    """Set-up (no caller): a workstation of ``court`` in ``street`` serving communities."""
    station = await Workstation.create(
        name=name, court=court, scope_path=street.path, officers=officers, founded_on=founded_on
    )
    for unit in served:
        await WorkstationUnit.create(workstation=station, unit=unit)
    return station


async def create_mediator(
    person: Any, unit: OrgUnit, level: MediationLevel, certification: Any, room: str
) -> Mediator:
    """Set-up (no caller): a certified mediator working in ``unit`` at ``level``."""
    return await Mediator.create(
        person=person,
        unit=unit,
        scope_path=unit.path,
        owner_id=person.id,
        level=level,
        certification=certification,
        room=room,
    )


# ------------------------------------------------------------------------------ helpers


def _parties(parties: list[dict[str, Any]]) -> list[dict[str, str]]:
    if not parties:
        raise BadUserInput("A dispute has at least one party.", argument="parties")
    cleaned = []
    for party in parties:
        row = {key: _text(party.get(key), f"parties.{key}", 64, required=False) for key in PARTY_KEYS}
        if not row["name"]:
            raise BadUserInput("Every party needs a name.", argument="parties")
        cleaned.append(row)
    return cleaned


class CaseLinks(TypedDict):
    """The columns a case's children copy, so the same people see them."""

    assignee_id: int | None
    workstation_id: int | None
    court_id: int | None


def case_links(case: MediationCase) -> CaseLinks:
    """The columns a case's children copy, so the same people see them."""
    return {"assignee_id": case.assignee_id, "workstation_id": case.workstation_id, "court_id": case.court_id}


async def _sync_case_links(call: StepCall) -> None:
    """Children follow the case's mediator and referral, so the same people see them; a
    referral keeps the workstation it was sent to."""
    case = call.row
    await MediationSession.filter(case_id=case.id).update(**case_links(case))
    await MediationEvent.filter(case_id=case.id).update(**case_links(case))
    await Referral.filter(case_id=case.id).update(assignee_id=case.assignee_id)


async def check_served(workstation: Workstation, path: str, argument: str) -> None:
    """The workstation serves the community or village that contains ``path``."""
    # flat=True gives the values themselves; Tortoise's stub says tuples
    served: list[str] = await WorkstationUnit.filter(  # type: ignore[assignment]
        workstation_id=workstation.id
    ).values_list("unit__path", flat=True)
    if not any(scopes.is_under(path, unit_path) for unit_path in served):
        raise BadUserInput("That workstation does not serve this community.", argument=argument)


# -------------------------------------------------------------------------------- cases


async def _locate_case(call: StepCall) -> Facts:
    unit, owner_id = await org.unit_and_person(
        call.auth, call.arg("unit_id"), call.arg("applicant_id"), "applicantId"
    )
    mediator = await call.auth.get_visible("Mediator", call.arg("mediator_id"), "mediatorId")
    call.context.update(unit=unit, owner_id=owner_id, mediator=mediator)
    return Facts(unit.path, owner_id)


async def _prepare_new_case(call: StepCall) -> None:
    unit, mediator = call.context["unit"], call.context["mediator"]
    title = _text(call.arg("title"), "title", 200)
    if not scopes.is_under(unit.path, mediator.scope_path):
        raise BadUserInput("The mediator does not work where the dispute is.", argument="mediatorId")
    call.changes.update(
        unit_id=unit.id,
        scope_path=unit.path,
        owner_id=call.context["owner_id"],
        assignee_id=mediator.owner_id,
        mediator_id=mediator.id,
        title=title,
        description=_text(call.arg("description"), "description", DESCRIPTION_LENGTH, required=False),
        category=CaseCategory(call.arg("category")),
        level=mediator.level,
        parties=_parties(call.arg("parties") or []),
        created_at=call.now,
    )
    call.event_action = "opened"


def _with_note(required: bool = False, outcome: bool = False) -> workflow.Hook:
    async def prepare(call: StepCall) -> None:
        call.take_note(required=required)
        if outcome:
            call.changes["outcome"] = call.note

    return prepare


async def _prepare_escalate(call: StepCall) -> None:
    case = call.row
    call.take_note()
    if call.arg("mediator_id") is None:
        raise BadUserInput("Escalation needs the mediator of the next level.", argument="mediatorId")
    mediator = await call.auth.get_visible("Mediator", call.arg("mediator_id"), "mediatorId")
    if mediator.level != NEXT_LEVEL[case.level] or not scopes.is_under(case.scope_path, mediator.scope_path):
        raise BadUserInput(
            f"Choose a {NEXT_LEVEL[case.level]}-level mediator who covers the dispute's area.",
            argument="mediatorId",
        )
    call.changes.update(mediator_id=mediator.id, assignee_id=mediator.owner_id, level=mediator.level)


async def _prepare_refer(call: StepCall) -> None:
    call.take_note()
    if call.arg("workstation_id") is None:
        raise BadUserInput("A referral needs a workstation.", argument="workstationId")
    workstation = await call.auth.get_visible("Workstation", call.arg("workstation_id"), "workstationId")
    await check_served(workstation, call.row.scope_path, "workstationId")
    call.changes.update(workstation_id=workstation.id, court_id=workstation.court_id)


async def _create_referral(call: StepCall) -> None:
    """The referral to the workstation, with its own first event, then the case's children
    follow the case's links."""
    case = call.row
    referral = StepCall(call.auth, REFERRAL, REFERRAL.get("create"), None, {}, call.now, R.PENDING.value)
    referral.event_action = "referred"
    referral.note = call.note
    referral.changes.update(
        case_id=case.id,
        scope_path=case.scope_path,
        owner_id=case.owner_id,
        created_at=call.now,
        **case_links(case),
    )
    await workflow.insert(referral)
    await _sync_case_links(call)


async def _court_outcome(call: StepCall) -> None:
    """The case's outcome is now the court's (the mediation's failure stays in its history)."""
    call.changes["outcome"] = call.note


def _case_guard(case: MediationCase, step: workflow.Step) -> str | None:
    if step.action == "escalate" and case.level not in NEXT_LEVEL:
        return "The case is already at the street level; refer it to a workstation instead."
    return None


CASE_ID = Input("case_id", Ref, "The case.", required=True)
CASE_INPUTS = (
    CASE_ID,
    Input(
        "note", str, "Why; required to SETTLE (the terms) and to FAIL.", default="", max_length=NOTE_LENGTH
    ),
    Input("mediator_id", Ref, "ESCALATE: the mediator of the next level."),
    Input("workstation_id", Ref, "REFER: the workstation serving the dispute's community."),
)


CASE = workflow.Machine(
    "MediationCase", "case", MediationEvent,
    guard=_case_guard,
    steps=(
        creation(
            "open", C.OPEN, "Record a dispute where it arose and assign it to a mediator of that area.",
            locate=_locate_case, prepare=_prepare_new_case,
        ),
        step(
            "start", {C.OPEN, C.ESCALATED}, C.IN_MEDIATION, "update", "Start mediating (the assigned mediator).",
            inputs=CASE_INPUTS, prepare=_with_note(),
        ),
        step(
            "settle", {C.IN_MEDIATION}, C.SETTLED, "update", "Settled by mediation: the note holds the terms.",
            inputs=CASE_INPUTS, prepare=_with_note(required=True, outcome=True),
        ),
        step(
            "fail", {C.IN_MEDIATION}, C.FAILED, "update", "Mediation failed: the note says why.",
            inputs=CASE_INPUTS, prepare=_with_note(required=True, outcome=True),
        ),
        step(
            "escalate", {C.FAILED}, C.ESCALATED, "escalate",
            "To the next level's mediator (grid → community → street), who starts it again.",
            inputs=CASE_INPUTS, prepare=_prepare_escalate, after=_sync_case_links,
        ),
        step(
            "refer", {C.FAILED}, C.REFERRED, "escalate",
            "To a judge workstation serving the dispute's community (诉调对接): a pending referral.",
            inputs=CASE_INPUTS, prepare=_prepare_refer, after=_create_referral,
        ),
        step(
            "settled_in_court", {C.REFERRED}, C.SETTLED, None,
            "The referral ended in a settlement the court guided or confirmed.", prepare=_court_outcome,
        ),
        step(
            "filed_in_court", {C.REFERRED}, C.CLOSED, None,
            "The referral ended with the dispute filed in court (立案).", prepare=_court_outcome,
        ),
        step("returned", {C.REFERRED}, C.FAILED, None, "The workstation returned the referral: back to the street's hands."),
    ),
)  # fmt: skip


async def open_case(auth: RequestAuth, **input: Any) -> MediationCase:
    return await workflow.create(auth, CASE, "open", input)


# ---------------------------------------------------------------------------- referrals


async def _prepare_return(call: StepCall) -> None:
    call.take_note(required=True)
    call.changes["return_reason"] = call.note
    if call.arg("outcome") is not None:
        raise BadUserInput("An outcome is recorded with RECORD_OUTCOME.", argument="outcome")


async def _prepare_outcome(call: StepCall) -> None:
    call.take_note()
    if call.arg("outcome") is None:
        raise BadUserInput("Say how the referral ended.", argument="outcome")
    call.changes.update(outcome=ReferralOutcome(call.arg("outcome")), outcome_note=call.note)


async def _prepare_accept(call: StepCall) -> None:
    call.take_note()
    if call.arg("outcome") is not None:
        raise BadUserInput("An outcome is recorded with RECORD_OUTCOME.", argument="outcome")


async def _case_of(call: StepCall) -> list[int]:
    return [call.row.case_id]


def _outcome_text(call: StepCall) -> str:
    label = OUTCOME_LABELS[ReferralOutcome(call.row.outcome)]
    return f"{label}: {call.note}" if call.note else label


def _court_ending(call: StepCall) -> str:
    return "settled_in_court" if call.row.outcome in SETTLING_OUTCOMES else "filed_in_court"


async def _touch_case(call: StepCall) -> None:
    """A referral's step is a change of its case (``updatedSince``)."""
    await MediationCase.filter(id=call.row.case_id).update(updated_at=call.now)


REFERRAL_INPUTS = (
    Input("referral_id", Ref, "The referral.", required=True),
    Input("note", str, "Why; required to RETURN (the reason).", default="", max_length=NOTE_LENGTH),
    Input("outcome", ReferralOutcome, "RECORD_OUTCOME: how it ended."),
)

REFERRAL = workflow.Machine(
    "Referral", "referral", MediationEvent,
    event_keys=lambda referral: {"case_id": referral.case_id, "referral_id": referral.id},
    event_prefix="referral_",
    on_change=_touch_case,
    steps=(
        step("create", (), R.PENDING, None, "A failed case referred to a workstation (made by the case's REFER)."),
        step(
            "accept", {R.PENDING}, R.ACCEPTED, "update", "The workstation takes the referral on.",
            inputs=REFERRAL_INPUTS, prepare=_prepare_accept,
        ),
        step(
            "return", {R.PENDING}, R.RETURNED, "update",
            "The workstation sends it back, with the reason: the case is failed again (the street decides).",
            inputs=REFERRAL_INPUTS, prepare=_prepare_return,
            effects=(Effect("MediationCase", "returned", targets=_case_of, note=lambda call: call.note),),
        ),
        step(
            "record_outcome", {R.ACCEPTED}, R.CLOSED, "update",
            "How it ended: guided settlement (引导和解) or judicial confirmation (司法确认) settle the case; "
            "filed in court (立案) closes it.",
            inputs=REFERRAL_INPUTS, prepare=_prepare_outcome,
            effects=(Effect("MediationCase", _court_ending, targets=_case_of, note=_outcome_text),),
        ),
    ),
)  # fmt: skip


# --------------------------------------------------------------------------- sessions


async def record_session(
    auth: RequestAuth, *, case_id: str, held_on: date, notes: str
) -> MediationSession | workflow.InvalidTransition:
    """A mediation session of a case in mediation (its mediator); the case's
    ``updatedSince`` moves with it."""
    case = await auth.get_visible("MediationCase", case_id, "caseId")
    auth.require("MediationSession", "create", Facts.of(case, "MediationCase"))
    if case.status != C.IN_MEDIATION:
        why = f"Sessions are recorded while a case is in mediation; this one is {case.status}."
        return CASE.refusal(auth, case, "record_session", why)
    notes = _text(notes, "notes", 4000, required=False)
    async with workflow.command() as done:
        session = await MediationSession.create(
            case_id=case.id,
            scope_path=case.scope_path,
            owner_id=case.owner_id,
            **case_links(case),
            held_on=held_on,
            notes=notes,
            recorded_by_id=auth.actor.person_id,
            created_at=auth.now(),
        )
        await MediationCase.filter(id=case.id).update(updated_at=auth.now())
        done(session)
    return session


# ------------------------------------------------------- the workstation's legal work


async def _served_unit(
    auth: RequestAuth, workstation_id: str, unit_id: str, resource: str
) -> tuple[Workstation, OrgUnit]:
    """A workstation the caller may see, a unit it serves (or one below it), and the
    policy's word on recording ``resource`` there."""
    workstation = await auth.get_visible("Workstation", workstation_id, "workstationId")
    unit = await auth.get_visible("OrgUnit", unit_id, "unitId")
    links = frozenset({("workstation", workstation.id), ("court", workstation.court_id)})
    auth.require(resource, "create", Facts(unit.path, None, links))
    await check_served(workstation, unit.path, "unitId")
    return workstation, unit


async def record_outreach(
    auth: RequestAuth,
    *,
    workstation_id: str,
    unit_id: str,
    title: str,
    topic: str,
    held_at: datetime,
    place: str,
    attendance: int,
) -> OutreachEvent:
    """A workstation's legal outreach session (普法), with the residents it reached."""
    workstation, unit = await _served_unit(auth, workstation_id, unit_id, "OutreachEvent")
    title = _text(title, "title", 200)
    if held_at.tzinfo is None:
        raise BadUserInput("`heldAt` needs a time zone offset.", argument="heldAt")
    if attendance < 0:
        raise BadUserInput("`attendance` cannot be negative.", argument="attendance")
    async with workflow.command() as done:
        return done(
            await OutreachEvent.create(
                workstation_id=workstation.id,
                court_id=workstation.court_id,
                unit=unit,
                scope_path=unit.path,
                title=title,
                topic=_text(topic, "topic", 64, required=False),
                held_at=held_at,
                place=_text(place, "place", 200, required=False),
                attendance=attendance,
                recorded_by_id=auth.actor.person_id,
            )
        )


async def record_consultation(
    auth: RequestAuth, *, workstation_id: str, unit_id: str, question: str, answer: str, asked_on: date
) -> LegalConsultation:
    """A resident's legal question answered at the workstation (logged without their identity)."""
    workstation, unit = await _served_unit(auth, workstation_id, unit_id, "LegalConsultation")
    question = _text(question, "question", 4000)
    answer = _text(answer, "answer", 4000, required=False)
    async with workflow.command() as done:
        return done(
            await LegalConsultation.create(
                workstation_id=workstation.id,
                court_id=workstation.court_id,
                scope_path=unit.path,
                asked_on=asked_on,
                answered_by_id=auth.actor.person_id,
                question=question,
                answer=answer,
            )
        )
