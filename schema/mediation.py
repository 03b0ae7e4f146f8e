"""Mediation (人民调解), judge workstations (法官工作站) and referrals (诉调对接)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from models import mediation as models
from schema.audit import audited
from schema.context import Info, load_related
from schema.org import OrgUnit, Person, _int_id
from schema.pagination import Connection, connection
from schema.transitions import InvalidTransition
from services import mediation as service
from services.org import get_visible

MediationLevel = strawberry.enum(
    models.MediationLevel,
    description="Level of the three-level mediation system: residents' group or grid (村(居)小组/网格), "
    "community (社区), street (街道).",
)
Certification = strawberry.enum(
    models.Certification, description="A mediator's certification: gold (金牌调解员) or standard."
)
CaseCategory = strawberry.enum(
    models.CaseCategory,
    description="Kind of dispute: property management (物业纠纷), daily life and neighbours (生活纠纷), "
    "renovation (装修纠纷), land and forest ownership (土地山林), construction impact (施工影响), other.",
)
CaseStatus = strawberry.enum(
    models.CaseStatus,
    description="Where a case stands: open → in_mediation → settled | failed; failed → escalated "
    "(next level) or referred (to a judge workstation).",
)
ReferralStatus = strawberry.enum(
    models.ReferralStatus,
    description="Where a referral stands: pending → accepted | returned; accepted → closed (outcome recorded).",
)
ReferralOutcome = strawberry.enum(
    models.ReferralOutcome,
    description="How a referral ended: guided settlement (引导和解), judicial confirmation (司法确认) "
    "or filed in court (立案).",
)
CaseAction = strawberry.enum(
    service.CaseAction,
    description="A step of a case: START, SETTLE, FAIL (`MediationCase` update, the assigned mediator); "
    "ESCALATE, REFER (`MediationCase` escalate, the secretary or street official).",
)
ReferralAction = strawberry.enum(
    service.ReferralAction,
    description="A step of a referral (`Referral` update, the workstation's judges): ACCEPT, RETURN "
    "(with a reason), RECORD_OUTCOME.",
)


@strawberry.type(description="A court and tribunal that founded workstations, e.g. 某区人民法院 行政审判庭.")
class Court:
    id: strawberry.ID = strawberry.field(description="Identifier of the court.")
    name: str = strawberry.field(description="Name of the court, e.g. 某区人民法院.")
    tribunal: str = strawberry.field(description="The tribunal (审判庭) behind the workstation.")


@strawberry.type(
    description="A judge workstation (法官工作站): judges stationed in communities for legal outreach, "
    "legal questions and referrals from mediation (诉调对接)."
)
class Workstation:
    id: strawberry.ID = strawberry.field(description="Identifier of the workstation.")
    name: str = strawberry.field(description="Name, e.g. 福禄巷北法官工作站.")
    officers: int = strawberry.field(description="Court officers who founded or staff it.")
    founded_on: date | None = strawberry.field(description="When it was founded.")
    row: strawberry.Private[models.Workstation]

    @classmethod
    def from_model(cls, row: models.Workstation) -> Workstation:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            officers=row.officers,
            founded_on=row.founded_on,
            row=row,
        )

    @strawberry.field(description="The court and tribunal behind it.")
    async def court(self) -> Court | None:
        row = await service.court_of(self.row)
        return Court(id=strawberry.ID(str(row.id)), name=row.name, tribunal=row.tribunal) if row else None

    @strawberry.field(
        description="Communities and villages it serves, those the caller may see (`OrgUnit` read)."
    )
    async def communities(self, info: Info) -> list[OrgUnit]:
        return [OrgUnit.from_model(r) for r in await service.served_units(info.context.auth, self.row.id)]


@strawberry.type(description="A mediator (调解员), often a legal-savvy resident (法律明白人), at one level.")
class Mediator:
    id: strawberry.ID = strawberry.field(description="Identifier of the mediator record.")
    level: MediationLevel = strawberry.field(description="The level they mediate at.")
    certification: Certification = strawberry.field(description="Gold (金牌) or standard.")
    room: str = strawberry.field(description="Their mediation room (调解室).")
    row: strawberry.Private[models.Mediator]

    @classmethod
    def from_model(cls, row: models.Mediator) -> Mediator:
        return cls(
            id=strawberry.ID(str(row.id)),
            level=row.level,
            certification=row.certification,
            room=row.room,
            row=row,
        )

    @strawberry.field(description="The person; null when the caller may not see them (`Person` read).")
    async def person(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.person_id, Person.from_model)

    @strawberry.field(description="The grid, community or street they work in.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)


@strawberry.type(description="A party to a dispute. Confidential: see `MediationCase.parties`.")
class Party:
    name: str = strawberry.field(description="Full name.")
    role: str = strawberry.field(description="Applicant, respondent, ...")
    phone: str = strawberry.field(description="Phone number.")
    id_number: str = strawberry.field(description="Identity card number.")


@strawberry.type(description="A dispute in mediation (人民调解), scoped to where it arose.")
class MediationCase:
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
    row: strawberry.Private[models.MediationCase]

    @classmethod
    def from_model(cls, row: models.MediationCase) -> MediationCase:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            category=row.category,
            level=row.level,
            status=row.status,
            outcome=row.outcome,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Parties' personal details (names, phones, id numbers): policy resource "
        "`MediationCase.parties`, for the assigned mediator, the judges of the workstation it is "
        "referred to, the secretary and the street official. Null for everyone else, without an error."
    )
    def parties(self, info: Info) -> list[Party] | None:
        if not service.may_read_parties(info.context.auth, self.row):
            return None
        return [
            Party(name=p["name"], role=p["role"], phone=p["phone"], id_number=p["id_number"])
            for p in self.row.parties
        ]

    @strawberry.field(description="Where the dispute arose.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)

    @strawberry.field(description="The resident who applied; null when the caller may not see them.")
    async def applicant(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.owner_id, Person.from_model)

    @strawberry.field(description="The mediator in charge; null when the caller may not see mediators.")
    async def mediator(self, info: Info) -> Mediator | None:
        return await load_related(info, "Mediator", self.row.mediator_id, Mediator.from_model)

    @strawberry.field(description="The workstation it is referred to, when the caller may see it.")
    async def workstation(self, info: Info) -> Workstation | None:
        return await load_related(info, "Workstation", self.row.workstation_id, Workstation.from_model)

    @strawberry.field(description="Mediation sessions the caller may see (`MediationSession` read), by date.")
    async def sessions(self, info: Info) -> list[MediationSession]:
        rows = await info.context.loaders.children("MediationSession", "case_id", "held_on").load(self.row.id)
        return [MediationSession.from_model(r) for r in rows]

    @strawberry.field(description="Referrals the caller may see (`Referral` read), oldest first.")
    async def referrals(self, info: Info) -> list[Referral]:
        rows = await info.context.loaders.children("Referral", "case_id").load(self.row.id)
        return [Referral.from_model(r) for r in rows]

    @strawberry.field(description="Every step of the case and its referrals (`MediationEvent` read).")
    async def events(self, info: Info) -> list[MediationEvent]:
        rows = await info.context.loaders.children("MediationEvent", "case_id").load(self.row.id)
        return [MediationEvent.from_model(r) for r in rows]

    @strawberry.field(description="Steps possible now that the caller's roles may take.")
    def allowed_actions(self, info: Info) -> list[CaseAction]:
        return [service.CaseAction(a) for a in service.allowed_case_actions(info.context.auth, self.row)]


@strawberry.type(description="One mediation session: the date and the mediator's notes.")
class MediationSession:
    id: strawberry.ID = strawberry.field(description="Identifier of the session.")
    held_on: date = strawberry.field(description="When it was held.")
    notes: str = strawberry.field(description="What was said and agreed.")
    created_at: datetime = strawberry.field(description="When it was recorded.")
    row: strawberry.Private[models.MediationSession]

    @classmethod
    def from_model(cls, row: models.MediationSession) -> MediationSession:
        return cls(
            id=strawberry.ID(str(row.id)),
            held_on=row.held_on,
            notes=row.notes,
            created_at=row.created_at,
            row=row,
        )


@strawberry.type(description="A case referred to a judge workstation (诉调对接).")
class Referral:
    id: strawberry.ID = strawberry.field(description="Identifier of the referral.")
    status: ReferralStatus = strawberry.field(description="Current state.")
    return_reason: str = strawberry.field(description="Why the workstation returned it, if it did.")
    outcome: ReferralOutcome | None = strawberry.field(description="How it ended, once closed.")
    outcome_note: str = strawberry.field(description="Details of the outcome.")
    created_at: datetime = strawberry.field(description="When the case was referred.")
    updated_at: datetime = strawberry.field(description="Last change.")
    row: strawberry.Private[models.Referral]

    @classmethod
    def from_model(cls, row: models.Referral) -> Referral:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            return_reason=row.return_reason,
            outcome=row.outcome,
            outcome_note=row.outcome_note,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The workstation it was referred to, when the caller may see it.")
    async def workstation(self, info: Info) -> Workstation | None:
        return await load_related(info, "Workstation", self.row.workstation_id, Workstation.from_model)

    @strawberry.field(description="The case referred, when the caller may see it.")
    async def case(self, info: Info) -> MediationCase | None:
        return await load_related(info, "MediationCase", self.row.case_id, MediationCase.from_model)

    @strawberry.field(description="Steps possible now that the caller's roles may take.")
    def allowed_actions(self, info: Info) -> list[ReferralAction]:
        return [
            service.ReferralAction(a) for a in service.allowed_referral_actions(info.context.auth, self.row)
        ]


@strawberry.type(description="One step in a case's history: who, when, from, to, note.")
class MediationEvent:
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    kind: str = strawberry.field(
        description="opened, start, settle, fail, escalate, refer, referral_accept, referral_return, "
        "referral_record_outcome, returned."
    )
    from_status: str | None = strawberry.field(description="State before (of the case or the referral).")
    to_status: str | None = strawberry.field(description="State after.")
    note: str = strawberry.field(description="Why, in the actor's words.")
    created_at: datetime = strawberry.field(description="When.")
    row: strawberry.Private[models.MediationEvent]

    @classmethod
    def from_model(cls, row: models.MediationEvent) -> MediationEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            from_status=row.from_status,
            to_status=row.to_status,
            note=row.note,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Who took the step; null when the caller may not see them.")
    async def actor(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.actor_id, Person.from_model)


@strawberry.type(
    description="Legal outreach (普法) by a workstation, e.g. a Civil Code session (民法典进院落)."
)
class OutreachEvent:
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    title: str = strawberry.field(description="Title, e.g. 民法典进院落.")
    topic: str = strawberry.field(description="The law discussed, e.g. 民法典.")
    held_at: datetime = strawberry.field(description="When it was held.")
    place: str = strawberry.field(description="Where, e.g. a courtyard.")
    attendance: int = strawberry.field(description="Residents reached.")
    row: strawberry.Private[models.OutreachEvent]

    @classmethod
    def from_model(cls, row: models.OutreachEvent) -> OutreachEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            topic=row.topic,
            held_at=row.held_at,
            place=row.place,
            attendance=row.attendance,
            row=row,
        )

    @strawberry.field(description="The community or village it was held in.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)

    @strawberry.field(description="The workstation that ran it, when the caller may see it.")
    async def workstation(self, info: Info) -> Workstation | None:
        return await load_related(info, "Workstation", self.row.workstation_id, Workstation.from_model)


@strawberry.type(
    description="A resident's legal question answered at a workstation, logged without the "
    "resident's identity."
)
class LegalConsultation:
    id: strawberry.ID = strawberry.field(description="Identifier of the consultation.")
    question: str = strawberry.field(description="The question, e.g. about an inheritance.")
    answer: str = strawberry.field(description="The judge's answer or advice.")
    asked_on: date = strawberry.field(description="When it was asked.")
    row: strawberry.Private[models.LegalConsultation]

    @classmethod
    def from_model(cls, row: models.LegalConsultation) -> LegalConsultation:
        return cls(
            id=strawberry.ID(str(row.id)),
            question=row.question,
            answer=row.answer,
            asked_on=row.asked_on,
            row=row,
        )

    @strawberry.field(description="The workstation that answered, when the caller may see it.")
    async def workstation(self, info: Info) -> Workstation | None:
        return await load_related(info, "Workstation", self.row.workstation_id, Workstation.from_model)


MediationCaseResult = Annotated[
    MediationCase | InvalidTransition,
    strawberry.union(
        "MediationCaseResult", description="The case after the step, or why it is not possible."
    ),
]
MediationSessionResult = Annotated[
    MediationSession | InvalidTransition,
    strawberry.union(
        "MediationSessionResult", description="The recorded session, or why the case takes none now."
    ),
]
ReferralResult = Annotated[
    Referral | InvalidTransition,
    strawberry.union("ReferralResult", description="The referral after the step, or why it is not possible."),
]

Page = Annotated[int | None, strawberry.argument(description="Page size (default 20).")]
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after.")]


@strawberry.type
class MediationQuery:
    @strawberry.field(
        description="Mediation cases the caller may see (`MediationCase` read), newest first. A court's "
        "partner token sees exactly the cases referred to its own workstations: sync incrementally "
        "with `updatedSince` and the cursor."
    )
    async def mediation_cases(
        self,
        info: Info,
        status: Annotated[
            CaseStatus | None, strawberry.argument(description="Only cases in this state.")
        ] = None,
        category: Annotated[
            CaseCategory | None, strawberry.argument(description="Only cases of this kind.")
        ] = None,
        updated_since: Annotated[
            datetime | None,
            strawberry.argument(description="Only cases changed at or after this time (with time zone)."),
        ] = None,
        first: Page = None,
        after: After = None,
    ) -> Connection[MediationCase] | None:
        query = service.visible_cases(
            info.context.auth, status=status, category=category, updated_since=updated_since
        )
        return await connection(info, query, first, after, MediationCase.from_model)

    @strawberry.field(description="One mediation case; NOT_FOUND if it does not exist or is out of scope.")
    async def mediation_case(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the case.")],
    ) -> MediationCase | None:
        return MediationCase.from_model(await get_visible(info.context.auth, "MediationCase", id))

    @strawberry.field(description="Mediators the caller may see (`Mediator` read), newest first.")
    async def mediators(
        self,
        info: Info,
        level: Annotated[
            MediationLevel | None, strawberry.argument(description="Only mediators of this level.")
        ] = None,
        first: Page = None,
        after: After = None,
    ) -> Connection[Mediator] | None:
        query = service.visible_mediators(info.context.auth, level=level)
        return await connection(info, query, first, after, Mediator.from_model)

    @strawberry.field(
        description="Legal outreach events the caller may see (`OutreachEvent` read), newest first."
    )
    async def outreach_events(
        self,
        info: Info,
        workstation_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this workstation's events.")
        ] = None,
        first: Page = None,
        after: After = None,
    ) -> Connection[OutreachEvent] | None:
        query = service.visible_outreach(
            info.context.auth, workstation_id=_int_id(workstation_id, "workstationId")
        )
        return await connection(info, query, first, after, OutreachEvent.from_model)

    @strawberry.field(
        description="Legal consultations the caller may see (`LegalConsultation` read), newest first."
    )
    async def legal_consultations(
        self,
        info: Info,
        workstation_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this workstation's consultations.")
        ] = None,
        first: Page = None,
        after: After = None,
    ) -> Connection[LegalConsultation] | None:
        query = service.visible_consultations(
            info.context.auth, workstation_id=_int_id(workstation_id, "workstationId")
        )
        return await connection(info, query, first, after, LegalConsultation.from_model)

    @strawberry.field(description="Judge workstations the caller may see (`Workstation` read), newest first.")
    async def workstations(
        self, info: Info, first: Page = None, after: After = None
    ) -> Connection[Workstation] | None:
        return await connection(
            info, service.visible_workstations(info.context.auth), first, after, Workstation.from_model
        )


@strawberry.input(description="A party to a dispute (confidential).")
class PartyInput:
    name: str = strawberry.field(description="Full name.")
    role: str = strawberry.field(default="", description="Applicant, respondent, ...")
    phone: str = strawberry.field(default="", description="Phone number.")
    id_number: str = strawberry.field(default="", description="Identity card number.")


@strawberry.input(description="A dispute to open for mediation.")
class OpenMediationCaseInput:
    unit_id: strawberry.ID = strawberry.field(description="Where the dispute is (grid, community or street).")
    mediator_id: strawberry.ID = strawberry.field(description="The mediator assigned, working in that area.")
    title: str = strawberry.field(description="The dispute in a line (1-200 characters).")
    category: CaseCategory = strawberry.field(description="Kind of dispute.")
    parties: list[PartyInput] = strawberry.field(description="The parties (at least one).")
    description: str = strawberry.field(default="", description="Details.")
    applicant_id: strawberry.ID | None = strawberry.field(
        default=None, description="The resident who applied (default: the caller)."
    )


@strawberry.input(description="A mediation session held on a case.")
class RecordMediationSessionInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    held_on: date = strawberry.field(description="When it was held.")
    notes: str = strawberry.field(default="", description="What was said and agreed.")


@strawberry.input(description="A step of a case's state machine.")
class TransitionMediationCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    action: CaseAction = strawberry.field(description="The step.")
    note: str = strawberry.field(default="", description="Why; required to SETTLE (the terms) and to FAIL.")
    mediator_id: strawberry.ID | None = strawberry.field(
        default=None, description="ESCALATE: the mediator of the next level."
    )
    workstation_id: strawberry.ID | None = strawberry.field(
        default=None, description="REFER: the workstation serving the dispute's community."
    )


@strawberry.input(description="A workstation's decision on a referral.")
class DecideReferralInput:
    referral_id: strawberry.ID = strawberry.field(description="The referral.")
    action: ReferralAction = strawberry.field(description="The step.")
    note: str = strawberry.field(default="", description="Why; required to RETURN (the reason).")
    outcome: ReferralOutcome | None = strawberry.field(
        default=None, description="RECORD_OUTCOME: how it ended."
    )


@strawberry.input(description="A legal outreach session (普法) run by a workstation.")
class RecordOutreachEventInput:
    workstation_id: strawberry.ID = strawberry.field(description="The workstation that ran it.")
    unit_id: strawberry.ID = strawberry.field(description="The community or village it was held in.")
    title: str = strawberry.field(description="Title (1-200 characters), e.g. 民法典进院落.")
    held_at: datetime = strawberry.field(description="When, with a time zone offset.")
    topic: str = strawberry.field(default="", description="The law discussed, e.g. 民法典.")
    place: str = strawberry.field(default="", description="Where.")
    attendance: int = strawberry.field(default=0, description="Residents reached.")


@strawberry.input(description="A legal question answered at a workstation.")
class RecordLegalConsultationInput:
    workstation_id: strawberry.ID = strawberry.field(description="The workstation that answered.")
    unit_id: strawberry.ID = strawberry.field(description="Where the resident lives (a served community).")
    question: str = strawberry.field(description="The question.")
    asked_on: date = strawberry.field(description="When it was asked.")
    answer: str = strawberry.field(default="", description="The answer or advice.")


@strawberry.type
class MediationMutation:
    @strawberry.mutation(
        description="Record a legal outreach event (`OutreachEvent` create: the workstation)."
    )
    @audited("recordOutreachEvent", "OutreachEvent", "create")
    async def record_outreach_event(
        self,
        info: Info,
        input: Annotated[RecordOutreachEventInput, strawberry.argument(description="The event.")],
    ) -> OutreachEvent | None:
        row = await service.record_outreach(
            info.context.auth,
            workstation_id=input.workstation_id,
            unit_id=input.unit_id,
            title=input.title,
            topic=input.topic,
            held_at=input.held_at,
            place=input.place,
            attendance=input.attendance,
        )
        return OutreachEvent.from_model(row)

    @strawberry.mutation(
        description="Record a legal consultation (`LegalConsultation` create: the workstation)."
    )
    @audited("recordLegalConsultation", "LegalConsultation", "create")
    async def record_legal_consultation(
        self,
        info: Info,
        input: Annotated[RecordLegalConsultationInput, strawberry.argument(description="The consultation.")],
    ) -> LegalConsultation | None:
        row = await service.record_consultation(
            info.context.auth,
            workstation_id=input.workstation_id,
            unit_id=input.unit_id,
            question=input.question,
            answer=input.answer,
            asked_on=input.asked_on,
        )
        return LegalConsultation.from_model(row)

    @strawberry.mutation(description="Open a mediation case (`MediationCase` create where the dispute is).")
    @audited("openMediationCase", "MediationCase", "create")
    async def open_mediation_case(
        self,
        info: Info,
        input: Annotated[OpenMediationCaseInput, strawberry.argument(description="The dispute.")],
    ) -> MediationCase | None:
        row = await service.open_case(
            info.context.auth,
            unit_id=input.unit_id,
            applicant_id=input.applicant_id,
            mediator_id=input.mediator_id,
            title=input.title,
            description=input.description,
            category=input.category,
            parties=[vars(p) for p in input.parties],
        )
        return MediationCase.from_model(row)

    @strawberry.mutation(
        description="Record a session of a case in mediation (`MediationSession` create: its mediator)."
    )
    @audited("recordMediationSession", "MediationSession", "create")
    async def record_mediation_session(
        self,
        info: Info,
        input: Annotated[RecordMediationSessionInput, strawberry.argument(description="The session.")],
    ) -> MediationSessionResult | None:
        result = await service.record_session(
            info.context.auth, case_id=input.case_id, held_on=input.held_on, notes=input.notes
        )
        if isinstance(result, service.InvalidTransition):
            return InvalidTransition.from_result(result)
        return MediationSession.from_model(result)

    @strawberry.mutation(
        description="Take a step of a case: START, SETTLE, FAIL (`MediationCase` update), ESCALATE, REFER "
        "(`MediationCase` escalate). A step the state does not allow is an `InvalidTransition`."
    )
    @audited(
        "transitionMediationCase", "MediationCase", lambda input: service.CASE_TRANSITIONS[input.action][2]
    )
    async def transition_mediation_case(
        self,
        info: Info,
        input: Annotated[TransitionMediationCaseInput, strawberry.argument(description="The step.")],
    ) -> MediationCaseResult | None:
        result = await service.transition_case(
            info.context.auth,
            case_id=input.case_id,
            action=input.action,
            note=input.note,
            mediator_id=input.mediator_id,
            workstation_id=input.workstation_id,
        )
        if isinstance(result, service.InvalidTransition):
            return InvalidTransition.from_result(result)
        return MediationCase.from_model(result)

    @strawberry.mutation(
        description="Accept or return a referral, or record its outcome (`Referral` update). A step the "
        "state does not allow is an `InvalidTransition`."
    )
    @audited("decideReferral", "Referral", "update")
    async def decide_referral(
        self,
        info: Info,
        input: Annotated[DecideReferralInput, strawberry.argument(description="The decision.")],
    ) -> ReferralResult | None:
        result = await service.decide_referral(
            info.context.auth,
            referral_id=input.referral_id,
            action=input.action,
            note=input.note,
            outcome=input.outcome,
        )
        if isinstance(result, service.InvalidTransition):
            return InvalidTransition.from_result(result)
        return Referral.from_model(result)
