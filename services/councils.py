"""Councils (议事会): reading them in scope, scheduling meetings, agendas, attendance."""

from __future__ import annotations

from datetime import datetime

from models.councils import AgendaTopic, Attendance, Meeting, MeetingStatus
from services.authz import Facts, RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text as _text
from services.ids import parse_id
from services.org import get_visible
from services.times import to_utc

ATTENDANCE_CAPACITIES = (
    "resident",
    "grid_worker",
    "secretary",
    "judge",
    "street_official",
    "alliance_unit",
    "guest",
)


def visible_councils(auth: RequestAuth, *, unit_id: int | None = None, search: str | None = None):
    query = auth.listing("Council")
    if unit_id is not None:
        query = query.filter(unit_id=unit_id)
    if search:
        query = query.filter(name__icontains=search)
    return query


def visible_meetings(
    auth: RequestAuth,
    *,
    council_id: int | None = None,
    status: MeetingStatus | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
):
    query = auth.listing("Meeting")
    if council_id is not None:
        query = query.filter(council_id=council_id)
    if status is not None:
        query = query.filter(status=status)
    if starts_after is not None:
        query = query.filter(starts_at__gte=to_utc(starts_after))
    if starts_before is not None:
        query = query.filter(starts_at__lt=to_utc(starts_before))
    return query


async def schedule_meeting(
    auth: RequestAuth, *, council_id: str, title: str, starts_at: datetime, place: str, draft: bool = False
) -> Meeting:
    council = await get_visible(auth, "Council", council_id)
    auth.require("Meeting", "create", Facts(council.scope_path))
    title = _text(title, "title", 200)
    if starts_at.tzinfo is None:
        raise BadUserInput("`startsAt` needs a time zone offset.", argument="startsAt")
    return await Meeting.create(
        council=council,
        scope_path=council.scope_path,
        title=title,
        starts_at=starts_at,
        place=(place or "").strip()[:200],
        scheduled_by_id=auth.actor.person_id,
        status=MeetingStatus.DRAFTED if draft else MeetingStatus.SCHEDULED,
    )


async def add_topic(
    auth: RequestAuth, *, meeting_id: str, title: str, description: str, concern_id: str | None
) -> AgendaTopic:
    meeting = await get_visible(auth, "Meeting", meeting_id)
    concern = await get_visible(auth, "Concern", concern_id) if concern_id is not None else None
    auth.require("AgendaTopic", "create", Facts(meeting.scope_path, auth.actor.person_id))
    title = _text(title, "title", 200)
    if meeting.status == MeetingStatus.CANCELLED:
        raise BadUserInput("The meeting was cancelled; topics cannot be added.", argument="meetingId")
    return await AgendaTopic.create(
        meeting=meeting,
        scope_path=meeting.scope_path,
        owner_id=auth.actor.person_id,
        title=title,
        description=(description or "").strip(),
        concern=concern,
        raised_by_id=auth.actor.person_id,
    )


async def record_attendance(
    auth: RequestAuth, *, meeting_id: str, person_id: str, capacity: str, present: bool
) -> Attendance:
    meeting = await get_visible(auth, "Meeting", meeting_id)
    attendee_id = parse_id(person_id, "personId")
    if attendee_id != auth.actor.person_id:
        # Recording someone else: they must be a person the actor can see.
        await get_visible(auth, "Person", attendee_id)
    auth.require("Attendance", "create", Facts(meeting.scope_path, attendee_id))
    if capacity not in ATTENDANCE_CAPACITIES:
        raise BadUserInput(
            f"`capacity` must be one of {', '.join(ATTENDANCE_CAPACITIES)}.", argument="capacity"
        )
    row = await Attendance.filter(meeting_id=meeting.id, person_id=attendee_id).first()
    if row is None:
        return await Attendance.create(
            meeting=meeting,
            person_id=attendee_id,
            scope_path=meeting.scope_path,
            owner_id=attendee_id,
            capacity=capacity,
            present=present,
            recorded_by_id=auth.actor.person_id,
        )
    row.capacity, row.present, row.recorded_by_id = capacity, present, auth.actor.person_id
    await row.save(update_fields=["capacity", "present", "recorded_by_id"])
    return row
