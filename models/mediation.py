"""Mediation (人民调解) and judge workstations (法官工作站): courts, workstations, mediators,
cases with their sessions and events, and referrals to a workstation (诉调对接).

Case rows and their children carry the links the policy reads: assignee_id (the person
id of the mediator in charge), workstation_id and court_id (where the case is referred),
copied onto sessions, events and referrals so that every row is decided by its own columns.
"""

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
    from models.org import OrgUnit
    from models.people import Person


class MediationLevel(StrEnum):
    GROUP = "group"  # residents' group / grid (村(居)小组)
    COMMUNITY = "community"
    STREET = "street"


class Certification(StrEnum):
    GOLD = "gold"
    STANDARD = "standard"


class CaseCategory(StrEnum):
    PROPERTY = "property"
    DAILY_LIFE = "daily_life"
    RENOVATION = "renovation"
    LAND_FOREST = "land_forest"
    CONSTRUCTION = "construction"
    OTHER = "other"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_MEDIATION = "in_mediation"
    SETTLED = "settled"
    FAILED = "failed"
    ESCALATED = "escalated"
    REFERRED = "referred"
    CLOSED = "closed"  # referred, then filed in court (立案): mediation ends without settlement


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    CLOSED = "closed"


class ReferralOutcome(StrEnum):
    GUIDED_SETTLEMENT = "guided_settlement"
    JUDICIAL_CONFIRMATION = "judicial_confirmation"
    FILED = "filed"


class Court(Row):
    """A court and the tribunal that founded workstations, e.g. 某区人民法院 行政审判庭."""

    name = fields.CharField(max_length=128)
    tribunal = fields.CharField(max_length=128, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "court"


class Workstation(ScopedModel):
    """A judge workstation stationed in a street, scope_path is that street."""

    name = fields.CharField(max_length=128)
    court: fields.ForeignKeyRelation[Court] = refers_to("models.Court", "workstations")
    court_id: int
    officers = fields.IntField(default=0, description="Court officers who founded or staff it")
    founded_on = fields.DateField(null=True)

    class Meta:
        table = "workstation"


class WorkstationUnit(Row):
    """A community or village a workstation serves."""

    workstation: fields.ForeignKeyRelation[Workstation] = part_of("models.Workstation", "served")
    workstation_id: int
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "workstations")
    unit_id: int

    class Meta:
        table = "workstation_unit"
        unique_together = (("workstation", "unit"),)


class Mediator(ScopedModel):
    """A certified mediator working at one level, owner_id is the mediator's person id."""

    person: fields.ForeignKeyRelation[Person] = part_of("models.Person", "mediator_roles")
    person_id: int
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "mediators")
    unit_id: int
    level = fields.CharEnumField(MediationLevel, max_length=16)
    certification = fields.CharEnumField(Certification, max_length=16, default=Certification.STANDARD)
    room = fields.CharField(max_length=128, default="", description="Mediation room (调解室)")

    class Meta:
        table = "mediator"


class CaseLinked(ScopedModel):
    """Columns the mediation relations read (assigned and affiliated)."""

    assignee_id = fields.IntField(null=True, db_index=True, description="Person id of the mediator in charge")
    workstation_id = fields.IntField(null=True, db_index=True, description="Workstation referred to")
    court_id = fields.IntField(null=True, db_index=True, description="Court of that workstation")

    class Meta:
        abstract = True


class MediationCase(CaseLinked, StatefulModel):
    """A dispute in mediation, scope_path is where the dispute is, owner_id the applicant."""

    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "mediation_cases")
    unit_id: int
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    category = fields.CharEnumField(CaseCategory, max_length=16, db_index=True)
    level = fields.CharEnumField(MediationLevel, max_length=16)
    status = fields.CharEnumField(CaseStatus, max_length=16, default=CaseStatus.OPEN, db_index=True)
    mediator: fields.ForeignKeyNullableRelation[Mediator] = mentions("models.Mediator", "cases")
    mediator_id: int | None
    parties: fields.JSONField[list[dict[str, str]]] = fields.JSONField(
        default=list, description="Confidential: names, phones, id numbers"
    )
    outcome = fields.TextField(default="", description="Settlement terms or why mediation failed")
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        table = "mediation_case"


class MediationSession(CaseLinked):
    """One mediation session of a case: date and notes."""

    case: fields.ForeignKeyRelation[MediationCase] = part_of("models.MediationCase", "sessions")
    case_id: int
    held_on = fields.DateField()
    notes = fields.TextField(default="")
    recorded_by = person_ref("recorded_sessions")
    recorded_by_id: int | None

    class Meta:
        table = "mediation_session"


class Referral(CaseLinked, StatefulModel):
    """A case referred to a workstation (诉调对接): pending, accepted, returned or closed."""

    case: fields.ForeignKeyRelation[MediationCase] = part_of("models.MediationCase", "referrals")
    case_id: int
    status = fields.CharEnumField(ReferralStatus, max_length=16, default=ReferralStatus.PENDING)
    return_reason = fields.TextField(default="")
    outcome = fields.CharEnumField(ReferralOutcome, max_length=32, null=True)
    outcome_note = fields.TextField(default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "referral"


class MediationEvent(EventRecord):
    """One step in a case's history (its referrals included), with the case's link columns."""

    case: fields.ForeignKeyRelation[MediationCase] = history_of("models.MediationCase")
    case_id: int
    referral: fields.ForeignKeyNullableRelation[Referral] = history_of("models.Referral", null=True)
    referral_id: int | None
    assignee_id = fields.IntField(null=True, db_index=True, description="Person id of the mediator in charge")
    workstation_id = fields.IntField(null=True, db_index=True, description="Workstation referred to")
    court_id = fields.IntField(null=True, db_index=True, description="Court of that workstation")

    class Meta:
        table = "mediation_event"


class OutreachEvent(ScopedModel):
    """Legal outreach (普法) by a workstation, e.g. 民法典进院落, scope_path is where it was held."""

    workstation_id = fields.IntField(db_index=True, description="Workstation that ran it")
    court_id = fields.IntField(null=True, db_index=True, description="Court of that workstation")
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "outreach_events")
    unit_id: int
    title = fields.CharField(max_length=200)
    topic = fields.CharField(max_length=64, default="", description="Law discussed, e.g. 民法典")
    held_at = fields.DatetimeField(db_index=True)
    place = fields.CharField(max_length=200, default="")
    attendance = fields.IntField(default=0, description="Residents reached")
    recorded_by = person_ref("recorded_outreach")
    recorded_by_id: int | None

    class Meta:
        table = "outreach_event"


class LegalConsultation(ScopedModel):
    """A resident's legal question answered at a workstation, owner_id is the resident."""

    workstation_id = fields.IntField(db_index=True, description="Workstation that answered")
    court_id = fields.IntField(null=True, db_index=True, description="Court of that workstation")
    question = fields.TextField()
    answer = fields.TextField(default="")
    asked_on = fields.DateField()
    answered_by = person_ref("answered_consultations")
    answered_by_id: int | None

    class Meta:
        table = "legal_consultation"
