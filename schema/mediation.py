"""Mediation (人民调解), judge workstations (法官工作站) and referrals (诉调对接)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from models import mediation as models
from schema.context import Info
from schema.events import Event
from schema.input_limits import text_field
from schema.org import OrgUnit, Person
from schema.types import (
    NESTED_PAGE_SIZE,
    FirstNested,
    Node,
    bounded,
    enum_type,
    lazy,
    listing,
    lookup,
    many,
    one,
    page_size,
)
from schema.workflow import action_enum, action_mutation, command, result_union
from services import mediation as service

MediationLevel = enum_type(
    models.MediationLevel,
    "Level of the three-level mediation system: residents' group or grid (村(居)小组/网格), "
    "community (社区), street (街道).",
)
Certification = enum_type(models.Certification, "A mediator's certification: gold (金牌调解员) or standard.")
CaseCategory = enum_type(
    models.CaseCategory,
    "Kind of dispute: property management (物业纠纷), daily life and neighbours (生活纠纷), "
    "renovation (装修纠纷), land and forest ownership (土地山林), construction impact (施工影响), other.",
)
CaseStatus = enum_type(
    models.CaseStatus,
    "Where a case stands: open → in_mediation → settled | failed; failed → escalated (next level) or "
    "referred (to a judge workstation); referred → settled (the court guided or confirmed a settlement) "
    "or closed (filed in court).",
)
ReferralStatus = enum_type(
    models.ReferralStatus,
    "Where a referral stands: pending → accepted | returned; accepted → closed (outcome recorded).",
)
ReferralOutcome = enum_type(
    models.ReferralOutcome,
    "How a referral ended: guided settlement (引导和解), judicial confirmation (司法确认) or filed in court (立案).",
)
CaseAction = action_enum(
    service.CASE,
    "CaseAction",
    "A step of a case: START, SETTLE, FAIL (`MediationCase` update); ESCALATE, REFER (`MediationCase` "
    "escalate). Who may take them is the policy's (`explainAccess`).",
)
ReferralAction = action_enum(
    service.REFERRAL,
    "ReferralAction",
    "A step of a referral (`Referral` update): ACCEPT, RETURN (with a reason), RECORD_OUTCOME.",
)


@strawberry.type(
    description="A court and tribunal that founded workstations, e.g. 城中区人民法院 行政审判庭."
)
class Court(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the court.")
    name: str = strawberry.field(description="Name of the court, e.g. 城中区人民法院.")
    tribunal: str = strawberry.field(description="The tribunal (审判庭) behind the workstation.")


@strawberry.type(
    description="A judge workstation (法官工作站): judges stationed in communities for legal outreach, "
    "legal questions and referrals from mediation (诉调对接)."
)
class Workstation(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the workstation.")
    name: str = strawberry.field(description="Name, e.g. 福禄巷北法官工作站.")
    officers: int = strawberry.field(description="Court officers who founded or staff it.")
    founded_on: date | None = strawberry.field(description="When it was founded.")

    @strawberry.field(description="The court and tribunal behind it.")
    async def court(self) -> Court | None:
        return Court.optional(await service.court_of(self.row))

    communities = many(
        "communities",
        OrgUnit,
        "Communities and villages it serves, those the caller may see (`OrgUnit` read).",
    )


@strawberry.type(description="A mediator (调解员), often a legal-savvy resident (法律明白人), at one level.")
class Mediator(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the mediator record.")
    level: MediationLevel = strawberry.field(description="The level they mediate at.")
    certification: Certification = strawberry.field(description="Gold (金牌) or standard.")
    room: str = strawberry.field(description="Their mediation room (调解室).")
    person = one("person", Person, "The person; null when the caller may not see them (`Person` read).")
    unit = one("unit", OrgUnit, "The grid, community or street they work in.")


@strawberry.type(description="A party to a dispute. Confidential: see `MediationCase.parties`.")
class Party:
    name: str = strawberry.field(description="Full name.")
    role: str = strawberry.field(description="Applicant, respondent, ...")
    phone: str = strawberry.field(description="Phone number.")
    id_number: str = strawberry.field(description="Identity card number.")


@strawberry.type(description="One mediation session: the date and the mediator's notes.")
class MediationSession(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the session.")
    held_on: date = strawberry.field(description="When it was held.")
    notes: str = strawberry.field(description="What was said and agreed.")
    created_at: datetime = strawberry.field(description="When it was recorded.")


@strawberry.type(
    description="One step in a case's history (its referrals' included): who, when, from, to, note."
)
class MediationEvent(Event):
    @strawberry.field(
        description="opened, start, settle, fail, escalate, refer, referred (the referral made), referral_accept, "
        "referral_return, referral_record_outcome, returned, settled_in_court, filed_in_court (as `action`).",
        deprecation_reason="Use `action`, the name every history uses.",
    )
    def kind(self) -> str:
        return self.row.action


@strawberry.type(description="A dispute in mediation (人民调解), scoped to where it arose.")
class MediationCase(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the case.")
    title: str = strawberry.field(description="The dispute in a line, e.g. 楼上装修噪音.")
    description: str = strawberry.field(description="Details (no personal details of the parties).")
    category: CaseCategory = strawberry.field(description="Kind of dispute.")
    level: MediationLevel = strawberry.field(description="The level mediating it now.")
    status: CaseStatus = strawberry.field(description="Current state.")
    outcome: str = strawberry.field(description="Settlement terms, or why mediation failed.")
    created_at: datetime = strawberry.field(description="When the case was opened.")
    updated_at: datetime = strawberry.field(
        description="Last change (a session, a step, a referral decision); use with `updatedSince`."
    )

    @strawberry.field(
        description=bounded(
            "Parties' personal details (names, phones, id numbers): the policy resource "
            "`MediationCase.parties` (read). Null for callers it does not grant, without an error."
        )
    )
    def parties(self, info: Info, first: FirstNested = NESTED_PAGE_SIZE) -> list[Party] | None:
        size = page_size(info, first)
        if not info.context.auth.may_read_field("MediationCase.parties", self.row):
            return None
        return [Party(**{key: party[key] for key in service.PARTY_KEYS}) for party in self.row.parties[:size]]

    unit = one("unit", OrgUnit, "Where the dispute arose.")
    applicant = one("applicant", Person, "The resident who applied; null when the caller may not see them.")
    mediator = one(
        "mediator", Mediator, "The mediator in charge; null when the caller may not see mediators."
    )
    workstation = one(
        "workstation", Workstation, "The workstation it is referred to, when the caller may see it."
    )
    sessions = many(
        "sessions",
        MediationSession,
        "Mediation sessions the caller may see (`MediationSession` read), by date.",
    )
    referrals = many(
        "referrals",
        lazy("Referral", __name__),
        "Referrals the caller may see (`Referral` read), oldest first.",
    )
    events = many(
        "events", MediationEvent, "Every step of the case and its referrals (`MediationEvent` read)."
    )

    @strawberry.field(description="Steps possible now that the caller's roles may take.")
    def allowed_actions(self, info: Info) -> list[CaseAction]:
        return [CaseAction(a) for a in service.CASE.allowed_actions(info.context.auth, self.row)]


@strawberry.type(description="A case referred to a judge workstation (诉调对接).")
class Referral(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the referral.")
    status: ReferralStatus = strawberry.field(description="Current state.")
    return_reason: str = strawberry.field(description="Why the workstation returned it, if it did.")
    outcome: ReferralOutcome | None = strawberry.field(description="How it ended, once closed.")
    outcome_note: str = strawberry.field(description="Details of the outcome.")
    created_at: datetime = strawberry.field(description="When the case was referred.")
    updated_at: datetime = strawberry.field(description="Last change.")
    workstation = one(
        "workstation", Workstation, "The workstation it was referred to, when the caller may see it."
    )
    case = one("case", MediationCase, "The case referred, when the caller may see it.")

    @strawberry.field(description="Steps possible now that the caller's roles may take.")
    def allowed_actions(self, info: Info) -> list[ReferralAction]:
        return [ReferralAction(a) for a in service.REFERRAL.allowed_actions(info.context.auth, self.row)]


@strawberry.type(
    description="Legal outreach (普法) by a workstation, e.g. a Civil Code session (民法典进院落)."
)
class OutreachEvent(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    title: str = strawberry.field(description="Title, e.g. 民法典进院落.")
    topic: str = strawberry.field(description="The law discussed, e.g. 民法典.")
    held_at: datetime = strawberry.field(description="When it was held.")
    place: str = strawberry.field(description="Where, e.g. a courtyard.")
    attendance: int = strawberry.field(description="Residents reached.")
    unit = one("unit", OrgUnit, "The community or village it was held in.")
    workstation = one("workstation", Workstation, "The workstation that ran it, when the caller may see it.")


@strawberry.type(
    description="A resident's legal question answered at a workstation, logged without the "
    "resident's identity."
)
class LegalConsultation(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the consultation.")
    question: str = strawberry.field(description="The question, e.g. about an inheritance.")
    answer: str = strawberry.field(description="The judge's answer or advice.")
    asked_on: date = strawberry.field(description="When it was asked.")
    workstation = one(
        "workstation", Workstation, "The workstation that answered, when the caller may see it."
    )


MediationCaseResult = result_union(
    MediationCase, "MediationCaseResult", "The case after the step, or why it is not possible."
)
MediationSessionResult = result_union(
    MediationSession, "MediationSessionResult", "The recorded session, or why the case takes none now."
)
ReferralResult = result_union(
    Referral, "ReferralResult", "The referral after the step, or why it is not possible."
)


@strawberry.type
class MediationQuery:
    mediation_cases = listing(
        MediationCase,
        service.CASES,
        "Mediation cases the caller may see (`MediationCase` read), newest first. A court's partner token "
        "sees exactly the cases referred to its own workstations: sync incrementally with `updatedSince` "
        "and the cursor.",
        status=(CaseStatus, "Only cases in this state."),
        category=(CaseCategory, "Only cases of this kind."),
        updated_since=(datetime, "Only cases changed at or after this time (with time zone)."),
    )
    mediation_case = lookup("MediationCase", MediationCase, "mediation case")

    mediators = listing(
        Mediator,
        service.MEDIATORS,
        "Mediators the caller may see (`Mediator` read), newest first.",
        level=(MediationLevel, "Only mediators of this level."),
    )
    outreach_events = listing(
        OutreachEvent,
        service.OUTREACH,
        "Legal outreach events the caller may see (`OutreachEvent` read), newest first.",
        workstation_id=(strawberry.ID, "Only this workstation's events."),
    )
    legal_consultations = listing(
        LegalConsultation,
        service.CONSULTATIONS,
        "Legal consultations the caller may see (`LegalConsultation` read), newest first.",
        workstation_id=(strawberry.ID, "Only this workstation's consultations."),
    )
    workstations = listing(
        Workstation,
        service.WORKSTATIONS,
        "Judge workstations the caller may see (`Workstation` read), newest first.",
    )


@strawberry.input(description="A party to a dispute (confidential).")
class PartyInput:
    name: str = text_field("Full name.", 64)
    role: str = text_field("Applicant, respondent, ...", 64, default="")
    phone: str = text_field("Phone number.", 64, default="")
    id_number: str = text_field("Identity card number.", 64, default="")


@strawberry.input(description="A dispute to open for mediation.")
class OpenMediationCaseInput:
    unit_id: strawberry.ID = strawberry.field(description="Where the dispute is (grid, community or street).")
    mediator_id: strawberry.ID = strawberry.field(description="The mediator assigned, working in that area.")
    title: str = text_field("The dispute in a line (at least 1 character).", 200)
    category: CaseCategory = strawberry.field(description="Kind of dispute.")
    parties: list[PartyInput] = strawberry.field(description="The parties (at least one).")
    description: str = text_field("Details.", service.DESCRIPTION_LENGTH, default="")
    applicant_id: strawberry.ID | None = strawberry.field(
        default=None, description="The resident who applied (default: the caller)."
    )


@strawberry.input(description="A mediation session held on a case.")
class RecordMediationSessionInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    held_on: date = strawberry.field(description="When it was held.")
    notes: str = text_field("What was said and agreed.", 4000, default="")


@strawberry.input(description="A legal outreach session (普法) run by a workstation.")
class RecordOutreachEventInput:
    workstation_id: strawberry.ID = strawberry.field(description="The workstation that ran it.")
    unit_id: strawberry.ID = strawberry.field(description="The community or village it was held in.")
    title: str = text_field("Title (at least 1 character), e.g. 民法典进院落.", 200)
    held_at: datetime = strawberry.field(description="When, with a time zone offset.")
    topic: str = text_field("The law discussed, e.g. 民法典.", 64, default="")
    place: str = text_field("Where.", 200, default="")
    attendance: int = strawberry.field(default=0, description="Residents reached.")


@strawberry.input(description="A legal question answered at a workstation.")
class RecordLegalConsultationInput:
    workstation_id: strawberry.ID = strawberry.field(description="The workstation that answered.")
    unit_id: strawberry.ID = strawberry.field(description="Where the resident lives (a served community).")
    question: str = text_field("The question.", 4000)
    asked_on: date = strawberry.field(description="When it was asked.")
    answer: str = text_field("The answer or advice.", 4000, default="")


@strawberry.type
class MediationMutation:
    record_outreach_event = command(
        "recordOutreachEvent",
        "OutreachEvent",
        "create",
        service.record_outreach,
        RecordOutreachEventInput,
        OutreachEvent,
        "Record a legal outreach event (`OutreachEvent` create: the workstation).",
    )
    record_legal_consultation = command(
        "recordLegalConsultation",
        "LegalConsultation",
        "create",
        service.record_consultation,
        RecordLegalConsultationInput,
        LegalConsultation,
        "Record a legal consultation (`LegalConsultation` create: the workstation).",
    )
    open_mediation_case = command(
        "openMediationCase",
        "MediationCase",
        "create",
        service.open_case,
        OpenMediationCaseInput,
        MediationCase,
        "Open a mediation case (`MediationCase` create where the dispute is).",
    )
    record_mediation_session = command(
        "recordMediationSession", "MediationSession", "create", service.record_session,
        RecordMediationSessionInput, MediationSessionResult,
        "Record a session of a case in mediation (`MediationSession` create: its mediator).",
    )  # fmt: skip


CaseTransitions = action_mutation(
    service.CASE,
    MediationCase,
    MediationCaseResult,
    CaseAction,
    name="transitionMediationCase",
    input="TransitionMediationCaseInput",
    input_description="A step of a case's state machine.",
    description="Take a step of a case: START, SETTLE, FAIL, ESCALATE, REFER",
)
ReferralTransitions = action_mutation(
    service.REFERRAL,
    Referral,
    ReferralResult,
    ReferralAction,
    name="decideReferral",
    input="DecideReferralInput",
    input_description="A workstation's decision on a referral.",
    description="Accept or return a referral, or record its outcome",
)

QUERIES = (MediationQuery,)
MUTATIONS = (MediationMutation, CaseTransitions, ReferralTransitions)
