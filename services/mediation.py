"""Mediation (人民调解) and referral to judge workstations (诉调对接).

Two state machines, every step recorded as a ``MediationEvent``:

* case: open → in_mediation → settled | failed; failed → escalated (next level, a new
  mediator, who starts it again) or referred (to a workstation);
* referral: pending → accepted | returned (with a reason; the case is failed again);
  accepted → closed with an outcome (引导和解, 司法确认, 立案).

An illegal step is not an error but a result (``InvalidTransition``) the client can
branch on; nothing is changed. Who may take a step is the policy's business:
``update`` (start, settle, fail: the assigned mediator), ``escalate`` (escalate, refer:
secretaries and street officials) on ``MediationCase`` and ``update`` on ``Referral``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from tortoise.transactions import in_transaction

from models.mediation import (
    CaseCategory,
    CaseStatus,
    Court,
    LegalConsultation,
    MediationCase,
    MediationEvent,
    MediationLevel,
    MediationSession,
    OutreachEvent,
    Referral,
    ReferralOutcome,
    ReferralStatus,
    Workstation,
    WorkstationUnit,
)
from services import scopes
from services.authz import Facts, RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text as _text
from services.org import get_visible

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


class CaseAction(StrEnum):
    START = "start"
    SETTLE = "settle"
    FAIL = "fail"
    ESCALATE = "escalate"
    REFER = "refer"


class ReferralAction(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"
    RECORD_OUTCOME = "record_outcome"


# action -> (states it leaves from, state it leads to, policy action on MediationCase)
CASE_TRANSITIONS: dict[CaseAction, tuple[frozenset[CaseStatus], CaseStatus, str]] = {
    CaseAction.START: (frozenset({CaseStatus.OPEN, CaseStatus.ESCALATED}), CaseStatus.IN_MEDIATION, "update"),
    CaseAction.SETTLE: (frozenset({CaseStatus.IN_MEDIATION}), CaseStatus.SETTLED, "update"),
    CaseAction.FAIL: (frozenset({CaseStatus.IN_MEDIATION}), CaseStatus.FAILED, "update"),
    CaseAction.ESCALATE: (frozenset({CaseStatus.FAILED}), CaseStatus.ESCALATED, "escalate"),
    CaseAction.REFER: (frozenset({CaseStatus.FAILED}), CaseStatus.REFERRED, "escalate"),
}
REFERRAL_TRANSITIONS: dict[ReferralAction, tuple[frozenset[ReferralStatus], ReferralStatus]] = {
    ReferralAction.ACCEPT: (frozenset({ReferralStatus.PENDING}), ReferralStatus.ACCEPTED),
    ReferralAction.RETURN: (frozenset({ReferralStatus.PENDING}), ReferralStatus.RETURNED),
    ReferralAction.RECORD_OUTCOME: (frozenset({ReferralStatus.ACCEPTED}), ReferralStatus.CLOSED),
}


@dataclass(frozen=True)
class InvalidTransition:
    """A step the object's current state does not allow; nothing was changed."""

    message: str
    current_status: str
    allowed_actions: tuple[str, ...]


# -------------------------------------------------------------------------------- reads


def visible_cases(
    auth: RequestAuth,
    *,
    status: CaseStatus | None = None,
    category: CaseCategory | None = None,
    updated_since: datetime | None = None,
):
    query = auth.listing("MediationCase")
    if status is not None:
        query = query.filter(status=status)
    if category is not None:
        query = query.filter(category=category)
    if updated_since is not None:
        if updated_since.tzinfo is None:
            raise BadUserInput("`updatedSince` needs a time zone offset.", argument="updatedSince")
        query = query.filter(updated_at__gte=updated_since)
    return query


def visible_mediators(auth: RequestAuth, *, level: MediationLevel | None = None):
    query = auth.listing("Mediator")
    return query if level is None else query.filter(level=level)


def visible_workstations(auth: RequestAuth):
    return auth.listing("Workstation")


async def court_of(workstation: Workstation) -> Court | None:
    """The founding court: public facts (name, tribunal) of a workstation one may see."""
    return await Court.filter(id=workstation.court_id).first()


async def served_units(auth: RequestAuth, workstation_id: int) -> list:
    """The communities a workstation serves, as far as the caller may see org units."""
    return list(
        await auth.visible("OrgUnit").filter(workstations__workstation_id=workstation_id).order_by("id")
    )


def may_read_parties(auth: RequestAuth, case: MediationCase) -> bool:
    return auth.may_read_field("MediationCase.parties", case)


# ------------------------------------------------------------------------------ helpers


def _parties(parties: list[dict]) -> list[dict]:
    if not parties:
        raise BadUserInput("A dispute has at least one party.", argument="parties")
    cleaned = []
    for party in parties:
        row = {key: (party.get(key) or "").strip()[:64] for key in PARTY_KEYS}
        if not row["name"]:
            raise BadUserInput("Every party needs a name.", argument="parties")
        cleaned.append(row)
    return cleaned


def case_links(case: MediationCase) -> dict:
    """The columns a case's children copy, so the same people see them."""
    return {"assignee_id": case.assignee_id, "workstation_id": case.workstation_id, "court_id": case.court_id}


async def record_event(
    case: MediationCase,
    actor_id: int | None,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    note: str = "",
    referral: Referral | None = None,
) -> MediationEvent:
    """One step of a case (or of its referral) in its history; the demo seed uses it too."""
    return await MediationEvent.create(
        case_id=case.id,
        referral=referral,
        scope_path=case.scope_path,
        owner_id=case.owner_id,
        **case_links(case),
        actor_id=actor_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


async def sync_case_links(case: MediationCase) -> None:
    """Children follow the case's mediator and referral, so the same people see them; a
    referral keeps the workstation it was sent to."""
    await MediationSession.filter(case_id=case.id).update(**case_links(case))
    await MediationEvent.filter(case_id=case.id).update(**case_links(case))
    await Referral.filter(case_id=case.id).update(assignee_id=case.assignee_id)


def allowed_case_actions(auth: RequestAuth, case: MediationCase) -> tuple[str, ...]:
    facts = Facts.of(case, "MediationCase")
    return tuple(
        action.value
        for action, (sources, _, needs) in CASE_TRANSITIONS.items()
        if case.status in sources and auth.can("MediationCase", needs, facts)
    )


def allowed_referral_actions(auth: RequestAuth, referral: Referral) -> tuple[str, ...]:
    if not auth.can("Referral", "update", Facts.of(referral, "Referral")):
        return ()
    return tuple(a.value for a, (sources, _) in REFERRAL_TRANSITIONS.items() if referral.status in sources)


# ---------------------------------------------------------------------------- commands


async def open_case(
    auth: RequestAuth,
    *,
    unit_id: str,
    applicant_id: str | None,
    mediator_id: str,
    title: str,
    description: str,
    category: CaseCategory,
    parties: list[dict],
) -> MediationCase:
    """Record a dispute where it arose and assign it to a mediator of that area."""
    unit = await get_visible(auth, "OrgUnit", unit_id)
    owner_id = auth.actor.person_id
    if applicant_id is not None:
        owner_id = (await get_visible(auth, "Person", applicant_id)).id
    mediator = await get_visible(auth, "Mediator", mediator_id)
    auth.require("MediationCase", "create", Facts(unit.path, owner_id))
    title = _text(title, "title", 200)
    if not scopes.is_under(unit.path, mediator.scope_path):
        raise BadUserInput("The mediator does not work where the dispute is.", argument="mediatorId")
    cleaned = _parties(parties)
    async with in_transaction():
        case = await MediationCase.create(
            unit=unit,
            scope_path=unit.path,
            owner_id=owner_id,
            assignee_id=mediator.owner_id,
            mediator=mediator,
            title=title,
            description=(description or "").strip(),
            category=category,
            level=mediator.level,
            status=CaseStatus.OPEN,
            parties=cleaned,
        )
        await record_event(case, auth.actor.person_id, "opened", None, CaseStatus.OPEN)
    return case


async def record_session(
    auth: RequestAuth, *, case_id: str, held_on: date, notes: str
) -> MediationSession | InvalidTransition:
    case = await get_visible(auth, "MediationCase", case_id)
    auth.require("MediationSession", "create", Facts.of(case, "MediationCase"))
    if case.status != CaseStatus.IN_MEDIATION:
        return InvalidTransition(
            f"Sessions are recorded while a case is in mediation; this one is {case.status}.",
            case.status,
            allowed_case_actions(auth, case),
        )
    notes = _text(notes, "notes", 4000, required=False)
    async with in_transaction():
        session = await MediationSession.create(
            case_id=case.id,
            scope_path=case.scope_path,
            owner_id=case.owner_id,
            **case_links(case),
            held_on=held_on,
            notes=notes,
            recorded_by_id=auth.actor.person_id,
        )
        await case.save(update_fields=["updated_at"])
    return session


async def transition_case(
    auth: RequestAuth,
    *,
    case_id: str,
    action: CaseAction,
    note: str,
    mediator_id: str | None = None,
    workstation_id: str | None = None,
) -> MediationCase | InvalidTransition:
    case = await get_visible(auth, "MediationCase", case_id)
    sources, target, needs = CASE_TRANSITIONS[action]
    auth.require("MediationCase", needs, Facts.of(case, "MediationCase"))
    if case.status not in sources:
        return InvalidTransition(
            f"A case that is {case.status} cannot {action}.", case.status, allowed_case_actions(auth, case)
        )
    if action == CaseAction.ESCALATE and case.level not in NEXT_LEVEL:
        return InvalidTransition(
            "The case is already at the street level; refer it to a workstation instead.",
            case.status,
            tuple(a for a in allowed_case_actions(auth, case) if a != CaseAction.ESCALATE),
        )
    note = _text(note, "note", 2000, required=action in (CaseAction.SETTLE, CaseAction.FAIL))
    changed = ["status", "updated_at"]
    referral = None
    new_mediator = workstation = None
    if action == CaseAction.ESCALATE:
        if mediator_id is None:
            raise BadUserInput("Escalation needs the mediator of the next level.", argument="mediatorId")
        new_mediator = await get_visible(auth, "Mediator", mediator_id)
        if new_mediator.level != NEXT_LEVEL[case.level] or not scopes.is_under(
            case.scope_path, new_mediator.scope_path
        ):
            raise BadUserInput(
                f"Choose a {NEXT_LEVEL[case.level]}-level mediator who covers the dispute's area.",
                argument="mediatorId",
            )
    if action == CaseAction.REFER:
        if workstation_id is None:
            raise BadUserInput("A referral needs a workstation.", argument="workstationId")
        workstation = await get_visible(auth, "Workstation", workstation_id)
        await check_served(workstation, case.scope_path, "workstationId")
    async with in_transaction():
        from_status = case.status
        case.status = target
        if action in (CaseAction.SETTLE, CaseAction.FAIL):
            case.outcome = note
            changed.append("outcome")
        if new_mediator is not None:
            case.mediator_id, case.assignee_id = new_mediator.id, new_mediator.owner_id
            case.level = new_mediator.level
            changed += ["mediator_id", "assignee_id", "level"]
        if workstation is not None:
            case.workstation_id, case.court_id = workstation.id, workstation.court_id
            changed += ["workstation_id", "court_id"]
        await case.save(update_fields=changed)
        if workstation is not None:
            referral = await Referral.create(
                case_id=case.id, scope_path=case.scope_path, owner_id=case.owner_id, **case_links(case)
            )
        if new_mediator is not None or workstation is not None:
            await sync_case_links(case)
        await record_event(case, auth.actor.person_id, str(action), from_status, target, note, referral)
    return case


async def decide_referral(
    auth: RequestAuth,
    *,
    referral_id: str,
    action: ReferralAction,
    note: str,
    outcome: ReferralOutcome | None = None,
) -> Referral | InvalidTransition:
    """The workstation accepts or returns a referral, and records its outcome."""
    referral = await get_visible(auth, "Referral", referral_id)
    auth.require("Referral", "update", Facts.of(referral, "Referral"))
    sources, target = REFERRAL_TRANSITIONS[action]
    if referral.status not in sources:
        return InvalidTransition(
            f"A referral that is {referral.status} cannot {action.value.replace('_', ' ')}.",
            referral.status,
            allowed_referral_actions(auth, referral),
        )
    note = _text(note, "note", 2000, required=action == ReferralAction.RETURN)
    if action == ReferralAction.RECORD_OUTCOME and outcome is None:
        raise BadUserInput("Say how the referral ended.", argument="outcome")
    case = await MediationCase.get(id=referral.case_id)
    async with in_transaction():
        from_status = referral.status
        referral.status = target
        changed = ["status", "updated_at"]
        if action == ReferralAction.RETURN:
            referral.return_reason = note
            changed.append("return_reason")
        if action == ReferralAction.RECORD_OUTCOME:
            referral.outcome, referral.outcome_note = outcome, note
            changed += ["outcome", "outcome_note"]
        await referral.save(update_fields=changed)
        await record_event(
            case, auth.actor.person_id, f"referral_{action.value}", from_status, target, note, referral
        )
        if action == ReferralAction.RETURN:
            # The case goes back to the street's hands: escalate or refer elsewhere.
            case.status = CaseStatus.FAILED
            await case.save(update_fields=["status", "updated_at"])
            await record_event(
                case, auth.actor.person_id, "returned", CaseStatus.REFERRED, CaseStatus.FAILED, note, referral
            )
        else:
            await case.save(update_fields=["updated_at"])
    return referral


# ------------------------------------------------------- the workstation's legal work


def visible_outreach(auth: RequestAuth, *, workstation_id: int | None = None):
    query = auth.listing("OutreachEvent")
    return query if workstation_id is None else query.filter(workstation_id=workstation_id)


def visible_consultations(auth: RequestAuth, *, workstation_id: int | None = None):
    query = auth.listing("LegalConsultation")
    return query if workstation_id is None else query.filter(workstation_id=workstation_id)


async def _served_unit(auth: RequestAuth, workstation_id: str, unit_id: str):
    """A workstation the caller may see and a unit it serves (or one below it)."""
    workstation = await get_visible(auth, "Workstation", workstation_id)
    unit = await get_visible(auth, "OrgUnit", unit_id)
    return workstation, unit


async def check_served(workstation: Workstation, path: str, argument: str) -> None:
    """The workstation serves the community or village that contains ``path``."""
    served = await WorkstationUnit.filter(workstation_id=workstation.id).values_list("unit__path", flat=True)
    if not any(scopes.is_under(path, unit_path) for unit_path in served):
        raise BadUserInput("That workstation does not serve this community.", argument=argument)


def _workstation_facts(workstation: Workstation, path: str) -> Facts:
    return Facts(path, None, frozenset({("workstation", workstation.id), ("court", workstation.court_id)}))


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
    workstation, unit = await _served_unit(auth, workstation_id, unit_id)
    auth.require("OutreachEvent", "create", _workstation_facts(workstation, unit.path))
    await check_served(workstation, unit.path, "unitId")
    title = _text(title, "title", 200)
    if held_at.tzinfo is None:
        raise BadUserInput("`heldAt` needs a time zone offset.", argument="heldAt")
    if attendance < 0:
        raise BadUserInput("`attendance` cannot be negative.", argument="attendance")
    return await OutreachEvent.create(
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


async def record_consultation(
    auth: RequestAuth, *, workstation_id: str, unit_id: str, question: str, answer: str, asked_on: date
) -> LegalConsultation:
    """A resident's legal question answered at the workstation (logged without their identity)."""
    workstation, unit = await _served_unit(auth, workstation_id, unit_id)
    auth.require("LegalConsultation", "create", _workstation_facts(workstation, unit.path))
    await check_served(workstation, unit.path, "unitId")
    return await LegalConsultation.create(
        workstation_id=workstation.id,
        court_id=workstation.court_id,
        scope_path=unit.path,
        question=_text(question, "question", 4000),
        answer=_text(answer, "answer", 4000, required=False),
        asked_on=asked_on,
        answered_by_id=auth.actor.person_id,
    )
