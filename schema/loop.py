"""The councils' closed loop and the party-building alliance units: types, queries and
mutations. Thin: every decision is made in ``services/loop.py`` and the policy."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import councils as council_models
from models import loop as models
from schema.audit import audited
from schema.context import Info, load_related
from schema.councils import AgendaTopic, Meeting
from schema.org import OrgUnit, Person, _int_id
from schema.pagination import Connection, connection
from schema.transitions import InvalidTransition
from services import loop as service
from services.org import get_visible

TopicStatus = strawberry.enum(
    council_models.TopicStatus,
    description="Where an agenda topic stands: proposed, accepted, discussed, decided or deferred.",
)
TaskStatus = strawberry.enum(models.TaskStatus, description="A task is open until reported done.")
TaskOwnerKind = strawberry.enum(
    models.TaskOwnerKind, description="Who owns a task: a person, an alliance unit or a volunteer."
)
VoteStatus = strawberry.enum(models.VoteStatus, description="A vote is open, then closed.")
VoteChoice = strawberry.enum(models.VoteChoice, description="A ballot's choice: for, against or abstain.")


@strawberry.enum(description="Moves of a meeting (see docs/councils.md for the diagram).")
class MeetingAction(Enum):
    SCHEDULE = strawberry.enum_value("schedule", description="drafted → scheduled")
    HOLD = strawberry.enum_value("hold", description="scheduled → held (the sitting takes place)")
    POSTPONE = strawberry.enum_value("postpone", description="scheduled → scheduled at a new `startsAt`")
    CLOSE = strawberry.enum_value("close", description="held → closed, with minutes and who was present")
    REVIEW = strawberry.enum_value("review", description="closed → reviewed (事后评事 done)")
    CANCEL = strawberry.enum_value("cancel", description="drafted or scheduled → cancelled")


@strawberry.enum(description="Moves of an agenda topic.")
class TopicAction(Enum):
    ACCEPT = strawberry.enum_value("accept", description="proposed or deferred → accepted")
    DISCUSS = strawberry.enum_value("discuss", description="accepted → discussed (meeting held)")
    DECIDE = strawberry.enum_value("decide", description="discussed → decided, with the decision text")
    DEFER = strawberry.enum_value("defer", description="proposed, accepted or discussed → deferred")


@strawberry.type(
    description="A party-building alliance unit (党建联盟单位) allied with a street or community."
)
class AllianceUnit:
    id: strawberry.ID = strawberry.field(description="Identifier of the alliance unit.")
    name: str = strawberry.field(description="Name, e.g. 地质调查院.")
    kind: str = strawberry.field(
        description="state_company, institute, school, hospital, power_company, other."
    )
    contact: str = strawberry.field(description="Contact desk of the organisation (public).")
    created_at: datetime = strawberry.field(description="When the alliance was recorded.")
    row: strawberry.Private[models.AllianceUnit]

    @classmethod
    def from_model(cls, row: models.AllianceUnit) -> AllianceUnit:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            kind=row.kind,
            contact=row.contact,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The street or community the unit is allied with.")
    async def allied_with(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)

    @strawberry.field(description="Assignments of this unit the caller may see (`Task` read), by due date.")
    async def tasks(self, info: Info) -> list[Task]:
        rows = await info.context.loaders.children("Task", "alliance_unit_id", "due_on").load(self.row.id)
        return [Task.from_model(r) for r in rows]


@strawberry.type(description="One transition of a meeting, a topic or a vote: who, when, from, to, note.")
class MeetingEvent:
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    subject: str = strawberry.field(description="What moved: meeting, topic or vote.")
    action: str = strawberry.field(description="The move, e.g. hold, decide, close.")
    from_status: str | None = strawberry.field(description="Status before (null when created).")
    to_status: str = strawberry.field(description="Status after.")
    note: str = strawberry.field(description="Why, in the actor's words.")
    created_at: datetime = strawberry.field(description="When it happened.")
    row: strawberry.Private[models.MeetingEvent]

    @classmethod
    def from_model(cls, row: models.MeetingEvent) -> MeetingEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            subject=row.subject,
            action=row.action,
            from_status=row.from_status,
            to_status=row.to_status,
            note=row.note,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Who made the move; null when the caller may not see that person.")
    async def actor(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.actor_id, Person.from_model)


@strawberry.type(description="One transition of a task: who, when, from, to, note (the result when done).")
class TaskEvent:
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    action: str = strawberry.field(description="assign or complete.")
    from_status: str | None = strawberry.field(description="Status before (null when assigned).")
    to_status: str = strawberry.field(description="Status after.")
    note: str = strawberry.field(description="Note or result.")
    created_at: datetime = strawberry.field(description="When it happened.")
    row: strawberry.Private[models.TaskEvent]

    @classmethod
    def from_model(cls, row: models.TaskEvent) -> TaskEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            action=row.action,
            from_status=row.from_status,
            to_status=row.to_status,
            note=row.note,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Who made the move; null when the caller may not see that person.")
    async def actor(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.actor_id, Person.from_model)


@strawberry.type(
    description="Work from a decision (集中干事) or a concern, owned by a person, an alliance unit or a volunteer."
)
class Task:
    id: strawberry.ID = strawberry.field(description="Identifier of the task.")
    title: str = strawberry.field(description="What is to be done.")
    owner_kind: TaskOwnerKind = strawberry.field(description="Who owns it: person, alliance unit, volunteer.")
    volunteer_name: str = strawberry.field(
        description="The volunteer's name, for a volunteer without account."
    )
    due_on: date = strawberry.field(description="Due date.")
    status: TaskStatus = strawberry.field(description="Open or done.")
    result: str = strawberry.field(description="The result note reported when done.")
    done_at: datetime | None = strawberry.field(description="When it was reported done.")
    concern_id: strawberry.ID | None = strawberry.field(
        description="The concern it comes from, if any (a reference; read it with `concern(id:)`)."
    )
    created_at: datetime = strawberry.field(description="When it was assigned.")
    row: strawberry.Private[models.Task]

    @classmethod
    def from_model(cls, row: models.Task) -> Task:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            owner_kind=row.owner_kind,
            volunteer_name=row.volunteer_name,
            due_on=row.due_on,
            status=row.status,
            result=row.result,
            done_at=row.done_at,
            concern_id=strawberry.ID(str(row.concern_id)) if row.concern_id else None,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Open and past its due date (督办).")
    def overdue(self) -> bool:
        return service.is_overdue(self.row)

    @strawberry.field(description="The decided topic it comes from; null if none or not visible.")
    async def topic(self, info: Info) -> AgendaTopic | None:
        return await load_related(info, "AgendaTopic", self.row.topic_id, AgendaTopic.from_model)

    @strawberry.field(description="The alliance unit that owns it; null if none or not visible.")
    async def alliance_unit(self, info: Info) -> AllianceUnit | None:
        return await load_related(info, "AllianceUnit", self.row.alliance_unit_id, AllianceUnit.from_model)

    @strawberry.field(description="The person (or volunteer) who owns it; null if none or not visible.")
    async def owner_person(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.owner_person_id, Person.from_model)

    @strawberry.field(description="Its history, oldest first (`TaskEvent` read).")
    async def events(self, info: Info) -> list[TaskEvent]:
        rows = await info.context.loaders.children("TaskEvent", "task_id").load(self.row.id)
        return [TaskEvent.from_model(r) for r in rows]


@strawberry.type(description="A resident's rating (1-5) of a meeting's outcome (事后评事).")
class Rating:
    id: strawberry.ID = strawberry.field(description="Identifier of the rating.")
    score: int = strawberry.field(description="1 (poor) to 5 (very satisfied).")
    comment: str = strawberry.field(description="Optional comment.")
    created_at: datetime = strawberry.field(description="When it was given.")
    row: strawberry.Private[models.Rating]

    @classmethod
    def from_model(cls, row: models.Rating) -> Rating:
        return cls(
            id=strawberry.ID(str(row.id)),
            score=row.score,
            comment=row.comment,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(
        description="Who rated: needs `Rating.author` read (the rater and the secretary); null for others."
    )
    async def author(self, info: Info) -> Person | None:
        if not info.context.auth.may_read_field("Rating.author", self.row):
            return None
        return await load_related(info, "Person", self.row.owner_id, Person.from_model)


@strawberry.type(description="The tallies of a closed vote.")
class VoteResults:
    for_count: int = strawberry.field(description="Ballots for.")
    against_count: int = strawberry.field(description="Ballots against.")
    abstain_count: int = strawberry.field(description="Abstentions.")
    total: int = strawberry.field(description="Ballots cast.")
    threshold_met: bool = strawberry.field(
        description="More than the threshold share chose the threshold choice."
    )


@strawberry.type(
    description="An anonymous vote on a topic with a threshold rule, e.g. re-elect the topic committee "
    "when more than 60% vote against. Nobody can read who chose what; tallies show once it closes."
)
class Vote:
    id: strawberry.ID = strawberry.field(description="Identifier of the vote.")
    question: str = strawberry.field(description="The question put to the vote.")
    threshold_choice: VoteChoice = strawberry.field(description="The choice the threshold counts.")
    threshold_percent: int = strawberry.field(description="Met when more than this % of ballots chose it.")
    consequence: str = strawberry.field(description="What follows when the threshold is met.")
    status: VoteStatus = strawberry.field(description="Open or closed.")
    closed_at: datetime | None = strawberry.field(description="When it closed.")
    row: strawberry.Private[models.Vote]

    @classmethod
    def from_model(cls, row: models.Vote) -> Vote:
        return cls(
            id=strawberry.ID(str(row.id)),
            question=row.question,
            threshold_choice=row.threshold_choice,
            threshold_percent=row.threshold_percent,
            consequence=row.consequence,
            status=row.status,
            closed_at=row.closed_at,
            row=row,
        )

    @strawberry.field(description="Tallies and whether the threshold was met; null while the vote is open.")
    def results(self) -> VoteResults | None:
        r = self.row
        if r.status != models.VoteStatus.CLOSED:
            return None
        return VoteResults(
            for_count=r.for_count,
            against_count=r.against_count,
            abstain_count=r.abstain_count,
            total=r.for_count + r.against_count + r.abstain_count,
            threshold_met=bool(r.threshold_met),
        )

    @strawberry.field(description="Whether the caller has voted (never what they chose).")
    async def has_voted(self, info: Info) -> bool:
        return await service.has_voted(info.context.auth, self.row.id)


# ------------------------------------------------------------------------------ results

MeetingTransitionResult = Annotated[
    Meeting | InvalidTransition,
    strawberry.union("MeetingTransitionResult", description="The moved meeting, or why it could not move."),
]
TopicTransitionResult = Annotated[
    AgendaTopic | InvalidTransition,
    strawberry.union("TopicTransitionResult", description="The moved topic, or why it could not move."),
]
TaskResult = Annotated[
    Task | InvalidTransition,
    strawberry.union("TaskResult", description="The task, or why it could not be created or moved."),
]
RatingResult = Annotated[
    Rating | InvalidTransition,
    strawberry.union("RatingResult", description="The rating, or why the meeting cannot be rated now."),
]
VoteResult = Annotated[
    Vote | InvalidTransition,
    strawberry.union("VoteResult", description="The vote, or why it could not be changed."),
]


def _wrap(result, convert):
    if isinstance(result, service.InvalidTransition):
        return InvalidTransition.from_result(result)
    return convert(result)


# ------------------------------------------------------------------------------ queries

PageSize = Annotated[int | None, strawberry.argument(description="Page size (default 20).")]
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after.")]


@strawberry.type
class LoopQuery:
    @strawberry.field(description="Alliance units the caller may see (`AllianceUnit` read), newest first.")
    async def alliance_units(
        self,
        info: Info,
        kind: Annotated[str | None, strawberry.argument(description="Only this kind.")] = None,
        unit_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only units allied with this street/community."),
        ] = None,
        first: PageSize = None,
        after: After = None,
    ) -> Connection[AllianceUnit] | None:
        query = service.visible_alliance_units(
            info.context.auth, kind=kind, unit_id=_int_id(unit_id, "unitId")
        )
        return await connection(info, query, first, after, AllianceUnit.from_model)

    @strawberry.field(description="One alliance unit; NOT_FOUND if it does not exist or is out of scope.")
    async def alliance_unit(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the alliance unit.")],
    ) -> AllianceUnit | None:
        return AllianceUnit.from_model(await get_visible(info.context.auth, "AllianceUnit", id))

    @strawberry.field(description="Tasks the caller may see (`Task` read), newest first.")
    async def tasks(
        self,
        info: Info,
        status: Annotated[
            TaskStatus | None, strawberry.argument(description="Only tasks in this state.")
        ] = None,
        overdue: Annotated[
            bool | None, strawberry.argument(description="True: only overdue tasks, false: none of them.")
        ] = None,
        alliance_unit_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this alliance unit's tasks.")
        ] = None,
        first: PageSize = None,
        after: After = None,
    ) -> Connection[Task] | None:
        query = service.visible_tasks(
            info.context.auth,
            status=status,
            overdue=overdue,
            alliance_unit_id=_int_id(alliance_unit_id, "allianceUnitId"),
        )
        return await connection(info, query, first, after, Task.from_model)

    @strawberry.field(description="One task; NOT_FOUND if it does not exist or is out of scope.")
    async def task(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the task.")],
    ) -> Task | None:
        return Task.from_model(await get_visible(info.context.auth, "Task", id))


# ---------------------------------------------------------------------------- mutations


@strawberry.input(description="A move of a meeting through its loop.")
class TransitionMeetingInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    action: MeetingAction = strawberry.field(description="The move.")
    note: str = strawberry.field(default="", description="Why (kept in the event).")
    starts_at: datetime | None = strawberry.field(
        default=None, description="New start time: required to postpone, optional to schedule."
    )
    minutes: str | None = strawberry.field(default=None, description="Minutes; required to close.")
    attendance_count: int | None = strawberry.field(
        default=None, description="Head count of people present (when closing)."
    )
    alliance_unit_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Alliance units present (when closing)."
    )


@strawberry.input(description="A move of an agenda topic.")
class TransitionTopicInput:
    topic_id: strawberry.ID = strawberry.field(description="The topic.")
    action: TopicAction = strawberry.field(description="The move.")
    note: str = strawberry.field(default="", description="Why (kept in the event).")
    decision: str | None = strawberry.field(
        default=None, description="The decision text; required to decide."
    )


@strawberry.input(
    description="A task from a decided topic or from a concern, with exactly one owner "
    "(ownerPersonId, allianceUnitId, volunteerPersonId or volunteerName)."
)
class AssignTaskInput:
    title: str = strawberry.field(description="What is to be done (1-200 characters).")
    due_on: date = strawberry.field(description="Due date.")
    topic_id: strawberry.ID | None = strawberry.field(default=None, description="The decided topic.")
    concern_id: strawberry.ID | None = strawberry.field(default=None, description="The concern.")
    owner_person_id: strawberry.ID | None = strawberry.field(
        default=None, description="A person who owns it."
    )
    alliance_unit_id: strawberry.ID | None = strawberry.field(default=None, description="An alliance unit.")
    volunteer_person_id: strawberry.ID | None = strawberry.field(
        default=None, description="A volunteer with an account."
    )
    volunteer_name: str | None = strawberry.field(default=None, description="A volunteer without account.")


@strawberry.input(description="Report a task done.")
class CompleteTaskInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")
    result: str = strawberry.field(description="What was done (the result note).")


@strawberry.input(description="A resident's rating of a closed meeting's outcome.")
class RateMeetingInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    score: int = strawberry.field(description="1 to 5.")
    comment: str = strawberry.field(default="", description="Optional comment.")


@strawberry.input(description="Put a topic to an anonymous vote with a threshold rule.")
class OpenVoteInput:
    topic_id: strawberry.ID = strawberry.field(description="The topic.")
    question: str = strawberry.field(description="The question (1-200 characters).")
    threshold_choice: VoteChoice = strawberry.field(
        description="The choice the threshold counts, e.g. AGAINST."
    )
    threshold_percent: int = strawberry.field(description="Met when more than this % chose it, e.g. 60.")
    consequence: str = strawberry.field(default="", description="What follows, e.g. re-elect the committee.")


@strawberry.input(description="One anonymous ballot.")
class CastBallotInput:
    vote_id: strawberry.ID = strawberry.field(description="The vote.")
    choice: VoteChoice = strawberry.field(description="For, against or abstain.")


@strawberry.input(description="Close a vote and compute its threshold.")
class CloseVoteInput:
    vote_id: strawberry.ID = strawberry.field(description="The vote.")
    note: str = strawberry.field(default="", description="Why (kept in the event).")


@strawberry.input(description="An organisation's alliance with a street or community.")
class CreateAllianceUnitInput:
    unit_id: strawberry.ID = strawberry.field(description="The street or community it is allied with.")
    name: str = strawberry.field(description="Name, e.g. 地质调查院.")
    kind: str = strawberry.field(
        description="state_company, institute, school, hospital, power_company, other."
    )
    contact: str = strawberry.field(default="", description="Contact desk.")


@strawberry.input(description="Corrections to an alliance unit; fields left out stay as they are.")
class UpdateAllianceUnitInput:
    alliance_unit_id: strawberry.ID = strawberry.field(description="The alliance unit.")
    name: str | None = strawberry.field(default=None, description="New name.")
    kind: str | None = strawberry.field(default=None, description="New kind.")
    contact: str | None = strawberry.field(default=None, description="New contact desk.")


InputArg = strawberry.argument(description="What to do; see the input type.")


@strawberry.type
class LoopMutation:
    @strawberry.mutation(
        description="Move a meeting (`Meeting` update); illegal moves return InvalidTransition."
    )
    @audited("transitionMeeting", "Meeting", "update")
    async def transition_meeting(
        self, info: Info, input: Annotated[TransitionMeetingInput, InputArg]
    ) -> MeetingTransitionResult | None:
        result = await service.transition_meeting(
            info.context.auth,
            meeting_id=input.meeting_id,
            action=input.action.value,
            note=input.note,
            starts_at=input.starts_at,
            minutes=input.minutes,
            attendance_count=input.attendance_count,
            alliance_unit_ids=input.alliance_unit_ids,
        )
        return _wrap(result, Meeting.from_model)

    @strawberry.mutation(
        description="Move a topic (`AgendaTopic` update); illegal moves return InvalidTransition."
    )
    @audited("transitionTopic", "AgendaTopic", "update")
    async def transition_topic(
        self, info: Info, input: Annotated[TransitionTopicInput, InputArg]
    ) -> TopicTransitionResult | None:
        result = await service.transition_topic(
            info.context.auth,
            topic_id=input.topic_id,
            action=input.action.value,
            note=input.note,
            decision=input.decision,
        )
        return _wrap(result, AgendaTopic.from_model)

    @strawberry.mutation(description="Turn a decision or a concern into a task (`Task` create).")
    @audited("assignTask", "Task", "create")
    async def assign_task(self, info: Info, input: Annotated[AssignTaskInput, InputArg]) -> TaskResult | None:
        result = await service.assign_task(
            info.context.auth,
            title=input.title,
            due_on=input.due_on,
            topic_id=input.topic_id,
            concern_id=input.concern_id,
            owner_person_id=input.owner_person_id,
            alliance_unit_id=input.alliance_unit_id,
            volunteer_person_id=input.volunteer_person_id,
            volunteer_name=input.volunteer_name,
        )
        return _wrap(result, Task.from_model)

    @strawberry.mutation(description="Report a task done with its result (`Task` update).")
    @audited("completeTask", "Task", "update")
    async def complete_task(
        self, info: Info, input: Annotated[CompleteTaskInput, InputArg]
    ) -> TaskResult | None:
        result = await service.complete_task(info.context.auth, task_id=input.task_id, result=input.result)
        return _wrap(result, Task.from_model)

    @strawberry.mutation(description="Rate a closed meeting's outcome (`Rating` create); again to change it.")
    @audited("rateMeeting", "Rating", "create")
    async def rate_meeting(
        self, info: Info, input: Annotated[RateMeetingInput, InputArg]
    ) -> RatingResult | None:
        result = await service.rate_meeting(
            info.context.auth, meeting_id=input.meeting_id, score=input.score, comment=input.comment
        )
        return _wrap(result, Rating.from_model)

    @strawberry.mutation(description="Put a topic to an anonymous vote (`Vote` create).")
    @audited("openVote", "Vote", "create")
    async def open_vote(self, info: Info, input: Annotated[OpenVoteInput, InputArg]) -> Vote | None:
        row = await service.open_vote(
            info.context.auth,
            topic_id=input.topic_id,
            question=input.question,
            threshold_choice=models.VoteChoice(input.threshold_choice),
            threshold_percent=input.threshold_percent,
            consequence=input.consequence,
        )
        return Vote.from_model(row)

    @strawberry.mutation(
        description="Cast one anonymous ballot (`Ballot` create); a second ballot is BAD_USER_INPUT."
    )
    @audited("castBallot", "Ballot", "create")
    async def cast_ballot(self, info: Info, input: Annotated[CastBallotInput, InputArg]) -> VoteResult | None:
        result = await service.cast_ballot(
            info.context.auth, vote_id=input.vote_id, choice=models.VoteChoice(input.choice)
        )
        return _wrap(result, Vote.from_model)

    @strawberry.mutation(description="Close a vote; results become visible (`Vote` update).")
    @audited("closeVote", "Vote", "update")
    async def close_vote(self, info: Info, input: Annotated[CloseVoteInput, InputArg]) -> VoteResult | None:
        result = await service.close_vote(info.context.auth, vote_id=input.vote_id, note=input.note)
        return _wrap(result, Vote.from_model)

    @strawberry.mutation(description="Record an alliance with a street or community (`AllianceUnit` create).")
    @audited("createAllianceUnit", "AllianceUnit", "create")
    async def create_alliance_unit(
        self, info: Info, input: Annotated[CreateAllianceUnitInput, InputArg]
    ) -> AllianceUnit | None:
        row = await service.create_alliance_unit(
            info.context.auth, unit_id=input.unit_id, name=input.name, kind=input.kind, contact=input.contact
        )
        return AllianceUnit.from_model(row)

    @strawberry.mutation(
        description="Correct an alliance unit's name, kind or contact (`AllianceUnit` update)."
    )
    @audited("updateAllianceUnit", "AllianceUnit", "update")
    async def update_alliance_unit(
        self, info: Info, input: Annotated[UpdateAllianceUnitInput, InputArg]
    ) -> AllianceUnit | None:
        row = await service.update_alliance_unit(
            info.context.auth,
            alliance_unit_id=input.alliance_unit_id,
            name=input.name,
            kind=input.kind,
            contact=input.contact,
        )
        return AllianceUnit.from_model(row)
