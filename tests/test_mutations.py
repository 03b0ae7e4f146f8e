"""What each mutation does when it is allowed, and how it refuses bad input."""

from __future__ import annotations

import pytest

from models.concerns import Concern, ConcernEvent
from models.councils import AgendaTopic, Attendance, Meeting, MeetingStatus
from tests.conftest import error_codes, gql

RAISE = """mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) {
  id title status category unit { name } raisedBy { name } recordedBy { name }
  events { kind toStatus actor { name } } } }"""
SCHEDULE = """mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) {
  id title status startsAt council { name } } }"""
ADD_TOPIC = """mutation($input: AddAgendaTopicInput!) { addAgendaTopic(input: $input) {
  id title concern { title } raisedBy { name } meeting { title } } }"""
ATTEND = """mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) {
  id capacity present person { name } } }"""


async def test_resident_raises_a_concern_in_own_grid(mutable_demo):
    d = mutable_demo
    async with d.client("resident_wang") as client:
        body = await gql(
            client,
            RAISE,
            {
                "input": {
                    "unitId": d.id("units", "fulu_g1"),
                    "title": "楼道灯坏了",
                    "category": "infrastructure",
                    "location": "3 号楼",
                }
            },
        )
    concern = body["data"]["raiseConcern"]
    assert concern["status"] == "SUBMITTED"
    assert concern["raisedBy"]["name"] == concern["recordedBy"]["name"] == "王秀英"
    assert concern["events"] == [{"kind": "submitted", "toStatus": "submitted", "actor": {"name": "王秀英"}}]
    row = await Concern.get(id=int(concern["id"]))
    assert row.scope_path == d.world.units["fulu_g1"].path
    assert row.owner_id == d.world.people["resident_wang"].id


async def test_grid_worker_records_a_concern_for_a_resident(mutable_demo):
    d = mutable_demo
    async with d.client("grid_worker_chen") as client:
        body = await gql(
            client,
            RAISE,
            {
                "input": {
                    "unitId": d.id("units", "fulu_g1"),
                    "title": "水管漏水",
                    "category": "property",
                    "residentId": d.id("people", "resident_li"),
                }
            },
        )
    concern = body["data"]["raiseConcern"]
    assert concern["raisedBy"]["name"] == "李建国"
    assert concern["recordedBy"]["name"] == "陈晓燕"
    # The resident sees it among their own concerns.
    async with d.client("resident_li") as client:
        mine = await gql(client, "{ concerns { nodes { id } } }")
    assert concern["id"] in [c["id"] for c in mine["data"]["concerns"]["nodes"]]


async def test_resident_cannot_raise_in_a_grid_that_is_not_theirs(mutable_demo):
    d = mutable_demo
    before = await Concern.all().count()
    async with d.client("resident_wang") as client:
        body = await gql(
            client,
            RAISE,
            {
                "input": {
                    "unitId": d.id("units", "fulu_g2"),
                    "title": "x",
                    "category": "other",
                }
            },
        )
    # The neighbouring grid is not visible to a resident: NOT_FOUND, nothing written.
    assert error_codes(body) == ["NOT_FOUND"]
    assert await Concern.all().count() == before


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"category": "weather"}, "category"),
        ({"unitId": "abc"}, "unitId"),
        ({"unitId": "-3"}, "unitId"),
    ],
)
async def test_raise_concern_rejects_bad_input(mutable_demo, change, argument):
    d = mutable_demo
    before = (await Concern.all().count(), await ConcernEvent.all().count())
    payload = {"unitId": d.id("units", "fulu_g1"), "title": "路灯", "category": "infrastructure", **change}
    async with d.client("grid_worker_chen") as client:
        body = await gql(client, RAISE, {"input": payload})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == argument
    assert (await Concern.all().count(), await ConcernEvent.all().count()) == before


async def test_concerns_are_raised_in_grids_only(mutable_demo):
    d = mutable_demo
    async with d.client("secretary_zhang") as client:
        body = await gql(
            client,
            RAISE,
            {
                "input": {
                    "unitId": d.id("units", "fulu"),
                    "title": "x",
                    "category": "other",
                }
            },
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "grid" in body["errors"][0]["message"]


async def test_secretary_schedules_a_meeting(mutable_demo):
    d = mutable_demo
    async with d.client("secretary_zhang") as client:
        body = await gql(
            client,
            SCHEDULE,
            {
                "input": {
                    "councilId": d.id("councils", "fulu"),
                    "title": "电动车充电桩议事",
                    "startsAt": "2026-12-20T09:30:00+08:00",
                    "place": "3 号院",
                }
            },
        )
    meeting = body["data"]["scheduleMeeting"]
    assert meeting["status"] == "SCHEDULED"
    assert meeting["council"]["name"] == "福禄巷北社区小板凳议事会"
    row = await Meeting.get(id=int(meeting["id"]))
    assert row.scope_path == d.world.councils["fulu"].scope_path
    assert row.scheduled_by_id == d.world.people["secretary_zhang"].id


async def test_meeting_time_needs_a_time_zone(mutable_demo):
    d = mutable_demo
    before = await Meeting.all().count()
    async with d.client("secretary_zhang") as client:
        body = await gql(
            client,
            SCHEDULE,
            {
                "input": {
                    "councilId": d.id("councils", "fulu"),
                    "title": "议事",
                    "startsAt": "2026-12-20T09:30:00",
                }
            },
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await Meeting.all().count() == before


async def test_resident_adds_a_topic_from_their_concern(mutable_demo):
    d = mutable_demo
    async with d.client("resident_li") as client:
        body = await gql(
            client,
            ADD_TOPIC,
            {
                "input": {
                    "meetingId": d.id("meetings", "park"),
                    "title": "楼道电动车",
                    "concernId": d.id("concerns", "ebikes"),
                }
            },
        )
    topic = body["data"]["addAgendaTopic"]
    assert topic["concern"]["title"] == "楼道电动车堵塞"
    assert topic["raisedBy"]["name"] == "李建国"
    assert topic["meeting"]["title"] == "口袋公园金点子"


async def test_a_topic_cannot_cite_a_concern_the_caller_cannot_see(mutable_demo):
    d = mutable_demo
    before = await AgendaTopic.all().count()
    async with d.client("resident_li") as client:
        body = await gql(
            client,
            ADD_TOPIC,
            {
                "input": {
                    "meetingId": d.id("meetings", "park"),
                    "title": "墙",
                    "concernId": d.id("concerns", "wall"),
                }
            },
        )
    assert error_codes(body) == ["NOT_FOUND"]
    assert await AgendaTopic.all().count() == before


async def test_no_topics_for_a_cancelled_meeting(mutable_demo):
    d = mutable_demo
    await Meeting.filter(id=d.world.meetings["park"].id).update(status=MeetingStatus.CANCELLED)
    async with d.client("secretary_zhang") as client:
        body = await gql(client, ADD_TOPIC, {"input": {"meetingId": d.id("meetings", "park"), "title": "x"}})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_attendance_is_recorded_once_and_can_be_corrected(mutable_demo):
    d = mutable_demo
    payload = {"meetingId": d.id("meetings", "park"), "personId": d.id("people", "resident_li")}
    async with d.client("grid_worker_chen") as client:
        first = (await gql(client, ATTEND, {"input": payload}))["data"]["recordAttendance"]
        second = (await gql(client, ATTEND, {"input": {**payload, "present": False}}))["data"][
            "recordAttendance"
        ]
    assert first["id"] == second["id"]
    assert (first["present"], second["present"]) == (True, False)
    assert await Attendance.filter(meeting_id=d.world.meetings["park"].id).count() == 1


async def test_attendance_capacity_is_checked(mutable_demo):
    d = mutable_demo
    async with d.client("grid_worker_chen") as client:
        body = await gql(
            client,
            ATTEND,
            {
                "input": {
                    "meetingId": d.id("meetings", "park"),
                    "personId": d.id("people", "resident_li"),
                    "capacity": "mayor",
                }
            },
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await Attendance.filter(meeting_id=d.world.meetings["park"].id).count() == 0


async def test_resident_signs_up_for_a_meeting_but_not_for_others(mutable_demo):
    d = mutable_demo
    meeting = d.id("meetings", "park")
    async with d.client("resident_wang") as client:
        mine = await gql(
            client, ATTEND, {"input": {"meetingId": meeting, "personId": d.id("people", "resident_wang")}}
        )
        theirs = await gql(
            client, ATTEND, {"input": {"meetingId": meeting, "personId": d.id("people", "resident_li")}}
        )
    assert mine["data"]["recordAttendance"]["person"]["name"] == "王秀英"
    # A resident cannot see other residents, so the attendee is NOT_FOUND for them.
    assert error_codes(theirs) == ["NOT_FOUND"]
    assert await Attendance.filter(meeting_id=int(meeting)).count() == 1
