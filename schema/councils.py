"""Councils (议事会): meetings, agenda topics and attendance."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import councils as models
from schema.audit import audited
from schema.context import Info, load_related
from schema.org import OrgUnit, Person, _int_id
from schema.pagination import Connection, connection
from services import councils as service
from services.org import get_visible

MeetingStatus = strawberry.enum(
    models.MeetingStatus,
    description="Where a meeting stands: drafted → scheduled → held → closed → reviewed, or cancelled.",
)
if TYPE_CHECKING:
    from schema.concerns import Concern
    from schema.loop import AllianceUnit, MeetingEvent, Rating, Task, TopicStatus, Vote

ConcernRef = Annotated["Concern", strawberry.lazy("schema.concerns")]
# --- councils loop / alliance
AllianceUnitRef = Annotated["AllianceUnit", strawberry.lazy("schema.loop")]
MeetingEventRef = Annotated["MeetingEvent", strawberry.lazy("schema.loop")]
RatingRef = Annotated["Rating", strawberry.lazy("schema.loop")]
TaskRef = Annotated["Task", strawberry.lazy("schema.loop")]
TopicStatusRef = Annotated["TopicStatus", strawberry.lazy("schema.loop")]
VoteRef = Annotated["Vote", strawberry.lazy("schema.loop")]


@strawberry.type(
    description='A "little stool" council (小板凳议事会) of a community or village, where '
    "staff sit with residents to raise, deliberate, act on and review matters."
)
class Council:
    id: strawberry.ID = strawberry.field(description="Identifier of the council.")
    name: str = strawberry.field(description="Name, e.g. 红板凳议事会.")
    description: str = strawberry.field(description="What the council is for.")
    created_at: datetime = strawberry.field(description="When the council was set up.")
    row: strawberry.Private[models.Council]

    @classmethod
    def from_model(cls, row: models.Council) -> Council:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The community or village the council belongs to.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.unit_id, OrgUnit.from_model)

    @strawberry.field(description="Meetings of this council the caller may see, by start time.")
    async def meetings(self, info: Info) -> list[Meeting]:
        rows = await info.context.loaders.children("Meeting", "council_id", "starts_at").load(self.row.id)
        return [Meeting.from_model(r) for r in rows]


@strawberry.type(description="One sitting of a council: time, place, agenda and who attended.")
class Meeting:
    id: strawberry.ID = strawberry.field(description="Identifier of the meeting.")
    title: str = strawberry.field(description="What the meeting is about.")
    starts_at: datetime = strawberry.field(description="When it starts (with time zone).")
    place: str = strawberry.field(description="Where, e.g. a courtyard of 新青村.")
    status: MeetingStatus = strawberry.field(description="Scheduled, held or cancelled.")
    created_at: datetime = strawberry.field(description="When it was scheduled.")
    row: strawberry.Private[models.Meeting]

    @classmethod
    def from_model(cls, row: models.Meeting) -> Meeting:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            starts_at=row.starts_at,
            place=row.place,
            status=row.status,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The council holding the meeting, when the caller may see it.")
    async def council(self, info: Info) -> Council | None:
        return await load_related(info, "Council", self.row.council_id, Council.from_model)

    @strawberry.field(description="Agenda topics the caller may see, in the order raised.")
    async def topics(self, info: Info) -> list[AgendaTopic]:
        rows = await info.context.loaders.children("AgendaTopic", "meeting_id").load(self.row.id)
        return [AgendaTopic.from_model(r) for r in rows]

    @strawberry.field(description="Attendance records the caller may see (`Attendance` read).")
    async def attendance(self, info: Info) -> list[Attendance]:
        rows = await info.context.loaders.children("Attendance", "meeting_id").load(self.row.id)
        return [Attendance.from_model(r) for r in rows]

    # --- councils loop / alliance
    @strawberry.field(description="Minutes recorded when the meeting was closed (empty before).")
    def minutes(self) -> str:
        return self.row.minutes

    @strawberry.field(description="Head count of people present, recorded when closing.")
    def attendance_count(self) -> int | None:
        return self.row.attendance_count

    @strawberry.field(description="Alliance units present (recorded when closing) that the caller may see.")
    async def present_units(self, info: Info) -> list[AllianceUnitRef]:
        from schema.loop import AllianceUnit
        from services.loop import present_units

        ids = (await present_units([self.row.id]))[self.row.id]
        rows = await info.context.loaders.by_id("AllianceUnit").load_many(ids)
        return [AllianceUnit.from_model(r) for r in rows if r is not None]

    @strawberry.field(
        description="Its history and that of its topics and votes, oldest first (`MeetingEvent` read)."
    )
    async def events(self, info: Info) -> list[MeetingEventRef]:
        from schema.loop import MeetingEvent

        rows = await info.context.loaders.children("MeetingEvent", "meeting_id").load(self.row.id)
        return [MeetingEvent.from_model(r) for r in rows]

    @strawberry.field(description="Residents' ratings of the outcome the caller may see (`Rating` read).")
    async def ratings(self, info: Info) -> list[RatingRef]:
        from schema.loop import Rating

        rows = await info.context.loaders.children("Rating", "meeting_id").load(self.row.id)
        return [Rating.from_model(r) for r in rows]


@strawberry.type(description="A topic on a meeting's agenda (公开说事), possibly from a concern.")
class AgendaTopic:
    id: strawberry.ID = strawberry.field(description="Identifier of the topic.")
    title: str = strawberry.field(description="The matter, in residents' words.")
    description: str = strawberry.field(description="Details.")
    created_at: datetime = strawberry.field(description="When it was put on the agenda.")
    row: strawberry.Private[models.AgendaTopic]

    @classmethod
    def from_model(cls, row: models.AgendaTopic) -> AgendaTopic:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The meeting whose agenda this is.")
    async def meeting(self, info: Info) -> Meeting | None:
        return await load_related(info, "Meeting", self.row.meeting_id, Meeting.from_model)

    @strawberry.field(description="The concern this topic came from; null if none or not visible.")
    async def concern(self, info: Info) -> ConcernRef | None:
        from schema.concerns import Concern

        return await load_related(info, "Concern", self.row.concern_id, Concern.from_model)

    @strawberry.field(description="Who raised it; null when the caller may not see that person.")
    async def raised_by(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.raised_by_id, Person.from_model)

    # --- councils loop / alliance
    @strawberry.field(description="Proposed, accepted, discussed, decided or deferred.")
    def status(self) -> TopicStatusRef:
        return self.row.status

    @strawberry.field(
        description="Where it came from: `concern` (公开说事) or `meeting` (raised at the sitting)."
    )
    def source(self) -> str:
        return "concern" if self.row.concern_id is not None else "meeting"

    @strawberry.field(description="The decision (民主议事), once decided; empty before.")
    def decision(self) -> str:
        return self.row.decision

    @strawberry.field(description="When it was decided.")
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="Tasks from this decision the caller may see (`Task` read), by due date.")
    async def tasks(self, info: Info) -> list[TaskRef]:
        from schema.loop import Task

        rows = await info.context.loaders.children("Task", "topic_id", "due_on").load(self.row.id)
        return [Task.from_model(r) for r in rows]

    @strawberry.field(description="Votes on this topic the caller may see (`Vote` read).")
    async def votes(self, info: Info) -> list[VoteRef]:
        from schema.loop import Vote

        rows = await info.context.loaders.children("Vote", "topic_id").load(self.row.id)
        return [Vote.from_model(r) for r in rows]

    @strawberry.field(description="Its history, oldest first (`MeetingEvent` read).")
    async def events(self, info: Info) -> list[MeetingEventRef]:
        from schema.loop import MeetingEvent

        rows = await info.context.loaders.children("MeetingEvent", "topic_id").load(self.row.id)
        return [MeetingEvent.from_model(r) for r in rows]


@strawberry.type(description="A person's attendance at a meeting, and in which capacity.")
class Attendance:
    id: strawberry.ID = strawberry.field(description="Identifier of the record.")
    capacity: str = strawberry.field(description="In which capacity: resident, grid_worker, judge, ...")
    present: bool = strawberry.field(description="False when registered but absent.")
    row: strawberry.Private[models.Attendance]

    @classmethod
    def from_model(cls, row: models.Attendance) -> Attendance:
        return cls(id=strawberry.ID(str(row.id)), capacity=row.capacity, present=row.present, row=row)

    @strawberry.field(description="Who attended; null when the caller may not see that person.")
    async def person(self, info: Info) -> Person | None:
        return await load_related(info, "Person", self.row.person_id, Person.from_model)

    @strawberry.field(description="The meeting attended.")
    async def meeting(self, info: Info) -> Meeting | None:
        return await load_related(info, "Meeting", self.row.meeting_id, Meeting.from_model)


@strawberry.type
class CouncilQuery:
    @strawberry.field(description="Councils the caller may see (`Council` read), newest first.")
    async def councils(
        self,
        info: Info,
        unit_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only councils of this unit.")
        ] = None,
        search: Annotated[str | None, strawberry.argument(description="Part of the name.")] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[Council] | None:
        query = service.visible_councils(info.context.auth, unit_id=_int_id(unit_id, "unitId"), search=search)
        return await connection(info, query, first, after, Council.from_model)

    @strawberry.field(description="One council; NOT_FOUND if it does not exist or is out of scope.")
    async def council(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the council.")],
    ) -> Council | None:
        return Council.from_model(await get_visible(info.context.auth, "Council", id))

    @strawberry.field(description="Meetings the caller may see (`Meeting` read), newest first.")
    async def meetings(
        self,
        info: Info,
        council_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this council's meetings.")
        ] = None,
        status: Annotated[
            MeetingStatus | None, strawberry.argument(description="Only meetings in this state.")
        ] = None,
        starts_after: Annotated[
            datetime | None, strawberry.argument(description="Starting at or after this time.")
        ] = None,
        starts_before: Annotated[
            datetime | None, strawberry.argument(description="Starting before this time.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[Meeting] | None:
        query = service.visible_meetings(
            info.context.auth,
            council_id=_int_id(council_id, "councilId"),
            status=status,
            starts_after=starts_after,
            starts_before=starts_before,
        )
        return await connection(info, query, first, after, Meeting.from_model)

    @strawberry.field(description="One meeting; NOT_FOUND if it does not exist or is out of scope.")
    async def meeting(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the meeting.")],
    ) -> Meeting | None:
        return Meeting.from_model(await get_visible(info.context.auth, "Meeting", id))


@strawberry.input(description="A meeting to put on a council's calendar.")
class ScheduleMeetingInput:
    council_id: strawberry.ID = strawberry.field(description="The council that meets.")
    title: str = strawberry.field(description="What the meeting is about (1-200 characters).")
    starts_at: datetime = strawberry.field(description="Start time, with a time zone offset.")
    place: str = strawberry.field(default="", description="Where it is held.")
    draft: bool = strawberry.field(
        default=False, description="Create it as a draft (drafted), to be scheduled with transitionMeeting."
    )


@strawberry.input(description="A topic to add to a meeting's agenda.")
class AddAgendaTopicInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    title: str = strawberry.field(description="The matter (1-200 characters).")
    description: str = strawberry.field(default="", description="Details.")
    concern_id: strawberry.ID | None = strawberry.field(
        default=None, description="The concern it comes from, if any."
    )


@strawberry.input(description="Who attended a meeting.")
class RecordAttendanceInput:
    meeting_id: strawberry.ID = strawberry.field(description="The meeting.")
    person_id: strawberry.ID = strawberry.field(description="The attendee.")
    capacity: str = strawberry.field(default="resident", description="In which capacity they came.")
    present: bool = strawberry.field(default=True, description="False to record an absence.")


@strawberry.type
class CouncilMutation:
    @strawberry.mutation(description="Schedule a meeting of a council (`Meeting` create in its scope).")
    @audited("scheduleMeeting", "Meeting", "create")
    async def schedule_meeting(
        self,
        info: Info,
        input: Annotated[
            ScheduleMeetingInput, strawberry.argument(description="What to do; see the input type.")
        ],
    ) -> Meeting | None:
        row = await service.schedule_meeting(
            info.context.auth,
            council_id=input.council_id,
            title=input.title,
            starts_at=input.starts_at,
            place=input.place,
            draft=input.draft,
        )
        return Meeting.from_model(row)

    @strawberry.mutation(description="Add a topic to a meeting's agenda (`AgendaTopic` create).")
    @audited("addAgendaTopic", "AgendaTopic", "create")
    async def add_agenda_topic(
        self,
        info: Info,
        input: Annotated[
            AddAgendaTopicInput, strawberry.argument(description="What to do; see the input type.")
        ],
    ) -> AgendaTopic | None:
        row = await service.add_topic(
            info.context.auth,
            meeting_id=input.meeting_id,
            title=input.title,
            description=input.description,
            concern_id=input.concern_id,
        )
        return AgendaTopic.from_model(row)

    @strawberry.mutation(description="Record (or correct) a person's attendance (`Attendance` create).")
    @audited("recordAttendance", "Attendance", "create")
    async def record_attendance(
        self,
        info: Info,
        input: Annotated[
            RecordAttendanceInput, strawberry.argument(description="What to do; see the input type.")
        ],
    ) -> Attendance | None:
        row = await service.record_attendance(
            info.context.auth,
            meeting_id=input.meeting_id,
            person_id=input.person_id,
            capacity=input.capacity,
            present=input.present,
        )
        return Attendance.from_model(row)
