"""The councils' closed loop through the API: every legal transition succeeds and is
recorded as an event; every illegal one returns InvalidTransition and changes nothing.
Also: anonymous votes, the Rating.author field rule, overdue tasks, and the whole loop
from a draft meeting to residents' ratings with an alliance unit doing the work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.councils import (
    AgendaTopic,
    Meeting,
    MeetingEvent,
    MeetingStatus,
    Rating,
    Task,
    TaskEvent,
    TaskStatus,
    TopicStatus,
    Vote,
    VoteParticipation,
)
from tests.conftest import Demo, error_codes, gql

# The truth tables of the two machines, written independently of their declarations in
# services/councils.py: status -> action -> next status.
M, T = MeetingStatus, TopicStatus
MEETING_TRANSITIONS: dict[MeetingStatus, dict[str, MeetingStatus]] = {
    M.DRAFTED: {"schedule": M.SCHEDULED, "cancel": M.CANCELLED},
    M.SCHEDULED: {"hold": M.HELD, "postpone": M.SCHEDULED, "cancel": M.CANCELLED},
    M.HELD: {"close": M.CLOSED},
    M.CLOSED: {"review": M.REVIEWED},
    M.REVIEWED: {},
    M.CANCELLED: {},
}
TOPIC_TRANSITIONS: dict[TopicStatus, dict[str, TopicStatus]] = {
    T.PROPOSED: {"accept": T.ACCEPTED, "defer": T.DEFERRED},
    T.ACCEPTED: {"discuss": T.DISCUSSED, "defer": T.DEFERRED},
    T.DISCUSSED: {"decide": T.DECIDED, "defer": T.DEFERRED},
    T.DEFERRED: {"accept": T.ACCEPTED},
    T.DECIDED: {},
}
MEETING_ACTIONS = ("schedule", "hold", "postpone", "close", "review", "cancel")
TOPIC_ACTIONS = ("accept", "discuss", "decide", "defer")

TRANSITION_MEETING = """
mutation($input: TransitionMeetingInput!) {
  transitionMeeting(input: $input) {
    __typename
    ... on Meeting { id status startsAt minutes attendanceCount presentUnits { name } }
    ... on InvalidTransition { message currentStatus allowedActions }
  }
}"""
TRANSITION_TOPIC = """
mutation($input: TransitionTopicInput!) {
  transitionTopic(input: $input) {
    __typename
    ... on AgendaTopic { id status decision }
    ... on InvalidTransition { message currentStatus allowedActions }
  }
}"""


async def _meeting(demo: Demo, status: MeetingStatus) -> Meeting:
    council = demo.world.councils["fulu"]
    return await Meeting.create(
        council=council,
        scope_path=council.scope_path,
        title=f"状态机 {status}",
        starts_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
        status=status,
    )


def _meeting_input(meeting: Meeting, action: str, demo: Demo) -> dict:
    values = {"meetingId": str(meeting.id), "action": action.upper(), "note": f"测试 {action}"}
    if action == "postpone":
        values["startsAt"] = "2026-12-08T09:30:00+08:00"
    if action == "close":
        values |= {
            "minutes": "议定事项已记录",
            "attendanceCount": 12,
            "allianceUnitIds": [demo.id("alliance_units", "school")],
        }
    return values


async def test_every_meeting_transition_legal_or_refused(mutable_demo):
    demo, failures = mutable_demo, []
    async with demo.client("secretary_zhang") as client:
        for status in MeetingStatus:
            for action in MEETING_ACTIONS:
                meeting = await _meeting(demo, status)
                before = await Meeting.filter(id=meeting.id).values()
                body = await gql(client, TRANSITION_MEETING, {"input": _meeting_input(meeting, action, demo)})
                assert "errors" not in body, body
                result = body["data"]["transitionMeeting"]
                events = await MeetingEvent.filter(meeting_id=meeting.id).values()
                target = MEETING_TRANSITIONS[status].get(action)
                if target is not None:
                    if result["__typename"] != "Meeting" or result["status"] != target.name:
                        failures.append(f"{status} --{action}--> expected {target}, got {result}")
                    expected_event = {
                        "action": action,
                        "from_status": status.value,
                        "to_status": target.value,
                        "actor_id": demo.world.people["secretary_zhang"].id,
                        "subject": "meeting",
                        "note": f"测试 {action}",
                    }
                    if len(events) != 1 or any(events[0][k] != v for k, v in expected_event.items()):
                        failures.append(f"{status} --{action}-->: events {events}")
                else:
                    if result["__typename"] != "InvalidTransition" or result["currentStatus"] != status.value:
                        failures.append(f"{status} --{action}--> should be refused, got {result}")
                    elif result["allowedActions"] != list(MEETING_TRANSITIONS[status]):
                        failures.append(f"{status}: allowed {result['allowedActions']}")
                    if events or await Meeting.filter(id=meeting.id).values() != before:
                        failures.append(f"{status} --{action}--> refused but changed something")
    assert not failures, "\n".join(failures)


async def test_close_records_minutes_head_count_and_alliance_units(mutable_demo):
    demo = mutable_demo
    meeting = await _meeting(demo, MeetingStatus.HELD)
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, TRANSITION_MEETING, {"input": _meeting_input(meeting, "close", demo)})
    assert body["data"]["transitionMeeting"] == {
        "__typename": "Meeting",
        "id": str(meeting.id),
        "status": "CLOSED",
        "startsAt": "2026-12-01T09:00:00+00:00",
        "minutes": "议定事项已记录",
        "attendanceCount": 12,
        "presentUnits": [{"name": "福禄巷小学"}],
    }


async def test_postpone_needs_a_new_time_and_moves_it(mutable_demo):
    demo = mutable_demo
    meeting = await _meeting(demo, MeetingStatus.SCHEDULED)
    async with demo.client("secretary_zhang") as client:
        values = {"meetingId": str(meeting.id), "action": "POSTPONE"}
        body = await gql(client, TRANSITION_MEETING, {"input": values})
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert not await MeetingEvent.filter(meeting_id=meeting.id).exists()
        body = await gql(client, TRANSITION_MEETING, {"input": _meeting_input(meeting, "postpone", demo)})
    result = body["data"]["transitionMeeting"]
    assert result["status"] == "SCHEDULED"
    assert datetime.fromisoformat(result["startsAt"]) == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    assert (await Meeting.get(id=meeting.id)).starts_at == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)


async def test_every_topic_transition_legal_or_refused(mutable_demo):
    demo, failures = mutable_demo, []
    held = await _meeting(demo, MeetingStatus.HELD)
    async with demo.client("secretary_zhang") as client:
        for status in TopicStatus:
            for action in TOPIC_ACTIONS:
                topic = await AgendaTopic.create(
                    meeting=held, scope_path=held.scope_path, title=f"{status} {action}", status=status
                )
                before = await AgendaTopic.filter(id=topic.id).values()
                values = {"topicId": str(topic.id), "action": action.upper()}
                if action == "decide":
                    values["decision"] = "请联盟单位协助"
                body = await gql(client, TRANSITION_TOPIC, {"input": values})
                assert "errors" not in body, body
                result = body["data"]["transitionTopic"]
                events = await MeetingEvent.filter(topic_id=topic.id).values()
                target = TOPIC_TRANSITIONS[status].get(action)
                if target is not None:
                    if result["__typename"] != "AgendaTopic" or result["status"] != target.name:
                        failures.append(f"{status} --{action}--> expected {target}, got {result}")
                    if len(events) != 1 or (events[0]["from_status"], events[0]["to_status"]) != (
                        status.value,
                        target.value,
                    ):
                        failures.append(f"{status} --{action}-->: events {events}")
                    if action == "decide" and result.get("decision") != "请联盟单位协助":
                        failures.append(f"decision not recorded: {result}")
                else:
                    if result["__typename"] != "InvalidTransition" or result["currentStatus"] != status.value:
                        failures.append(f"{status} --{action}--> should be refused, got {result}")
                    if events or await AgendaTopic.filter(id=topic.id).values() != before:
                        failures.append(f"{status} --{action}--> refused but changed something")
    assert not failures, "\n".join(failures)


async def test_topics_are_discussed_only_while_the_meeting_is_held(mutable_demo):
    demo = mutable_demo
    topic = await AgendaTopic.get(id=demo.id("topics", "park_site"))
    topic.status = TopicStatus.ACCEPTED
    await topic.save(update_fields=["status"])
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, TRANSITION_TOPIC, {"input": {"topicId": str(topic.id), "action": "DISCUSS"}})
    result = body["data"]["transitionTopic"]
    assert result["__typename"] == "InvalidTransition" and result["allowedActions"] == ["defer"], result
    assert (await AgendaTopic.get(id=topic.id)).status == TopicStatus.ACCEPTED


COMPLETE = """mutation($input: CompleteTaskInput!) { completeTask(input: $input) {
  __typename ... on Task { status result overdue events { action fromStatus toStatus note } }
  ... on InvalidTransition { currentStatus allowedActions } } }"""


async def test_task_open_to_done_then_refused(mutable_demo):
    demo = mutable_demo
    task_id = demo.id("tasks", "wall_recheck")
    async with demo.client("alliance_staff_dizhi") as client:
        body = await gql(client, COMPLETE, {"input": {"taskId": task_id, "result": "复查无异常"}})
        assert body["data"]["completeTask"] == {
            "__typename": "Task",
            "status": "DONE",
            "result": "复查无异常",
            "overdue": False,
            "events": [
                {"action": "assign", "fromStatus": None, "toStatus": "open", "note": ""},
                {"action": "complete", "fromStatus": "open", "toStatus": "done", "note": "复查无异常"},
            ],
        }
        before = await Task.filter(id=task_id).values()
        body = await gql(client, COMPLETE, {"input": {"taskId": task_id, "result": "again"}})
    assert body["data"]["completeTask"] == {
        "__typename": "InvalidTransition",
        "currentStatus": "done",
        "allowedActions": [],
    }
    assert await Task.filter(id=task_id).values() == before
    assert await TaskEvent.filter(task_id=task_id).count() == 2


async def test_tasks_from_undecided_topics_are_refused(mutable_demo):
    demo = mutable_demo
    query = """mutation($input: AssignTaskInput!) { assignTask(input: $input) {
      __typename ... on InvalidTransition { currentStatus } } }"""
    values = {"title": "x", "dueOn": "2027-01-01", "topicId": demo.id("topics", "park_site")}
    values["allianceUnitId"] = demo.id("alliance_units", "school")
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, query, {"input": values})
    assert body["data"]["assignTask"] == {"__typename": "InvalidTransition", "currentStatus": "proposed"}
    assert not await Task.filter(title="x").exists()


async def test_overdue_tasks(demo):
    query = "{ tasks(overdue: true) { nodes { title overdue allianceUnit { name } } } }"
    async with demo.client("secretary_yang") as client:
        body = await gql(client, query)
    assert body["data"]["tasks"]["nodes"] == [
        {"title": "加设雨水篦子并疏通管网", "overdue": True, "allianceUnit": {"name": "市政工程设计院"}}
    ]


# --------------------------------------------------------------------------------- votes

VOTE = """query($id: ID!) { meeting(id: $id) { topics { votes {
  question status hasVoted results { forCount againstCount abstainCount total thresholdMet } } } } }"""
CAST = """mutation($input: CastBallotInput!) { castBallot(input: $input) {
  __typename ... on Vote { status results { total } } ... on InvalidTransition { currentStatus } } }"""
CLOSE_VOTE = """mutation($input: CloseVoteInput!) { closeVote(input: $input) {
  __typename ... on Vote { status results { forCount againstCount abstainCount total thresholdMet } }
  ... on InvalidTransition { currentStatus allowedActions } } }"""


async def test_anonymous_vote_with_the_sixty_percent_rule(mutable_demo):
    demo = mutable_demo
    vote_id = demo.id("votes", "committee")
    ballots = {"resident_wang": "AGAINST", "resident_li": "AGAINST", "grid_worker_chen": "FOR"}
    for person, choice in ballots.items():
        async with demo.client(person) as client:
            body = await gql(client, CAST, {"input": {"voteId": vote_id, "choice": choice}})
            # results stay hidden while the vote is open
            assert body["data"]["castBallot"] == {"__typename": "Vote", "status": "OPEN", "results": None}
    async with demo.client("resident_wang") as client:
        again = await gql(client, CAST, {"input": {"voteId": vote_id, "choice": "FOR"}})
        assert error_codes(again) == ["BAD_USER_INPUT"]
        seen = await gql(client, VOTE, {"id": demo.id("meetings", "park")})
    votes = [v for t in seen["data"]["meeting"]["topics"] for v in t["votes"]]
    assert votes == [
        {"question": "是否对议题委员会的工作不满意?", "status": "OPEN", "hasVoted": True, "results": None}
    ]
    stored = await Vote.get(id=vote_id)
    assert (stored.for_count, stored.against_count) == (1, 2)
    # who voted is kept apart from any choice: the participation rows have no choice
    assert set(VoteParticipation._meta.fields_map) == {"id", "vote", "vote_id", "voter_id"}
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, CLOSE_VOTE, {"input": {"voteId": vote_id}})
        assert body["data"]["closeVote"] == {
            "__typename": "Vote",
            "status": "CLOSED",
            # 2 of 3 against: 66.7% > 60%, so the topic committee is re-elected
            "results": {
                "forCount": 1,
                "againstCount": 2,
                "abstainCount": 0,
                "total": 3,
                "thresholdMet": True,
            },
        }
        again = await gql(client, CLOSE_VOTE, {"input": {"voteId": vote_id}})
        assert again["data"]["closeVote"]["__typename"] == "InvalidTransition"
    async with demo.client("resident_zhao") as client:
        late = await gql(client, CAST, {"input": {"voteId": vote_id, "choice": "FOR"}})
    assert late["data"]["castBallot"] == {"__typename": "InvalidTransition", "currentStatus": "closed"}
    assert await VoteParticipation.filter(vote_id=vote_id).count() == 3
    events = await MeetingEvent.filter(vote_id=vote_id).order_by("id").values_list("action", flat=True)
    assert events == ["open", "close"]


# ------------------------------------------------------------------------ Rating.author

RATINGS = """query($id: ID!) { meeting(id: $id) { ratings { score comment author { name } } } }"""


@pytest.mark.parametrize(
    ("person", "authors"),
    [
        ("secretary_zhang", {"李建国", "赵桂兰"}),  # the secretary sees every rater
        ("resident_li", {"李建国", None}),  # a rater sees only themselves
        ("resident_zhao", {"赵桂兰", None}),
        ("resident_wang", {None}),  # another resident: the ratings, not who gave them
        ("grid_worker_chen", {None}),
        ("street_official_xu", {None}),
    ],
)
async def test_rating_author_is_a_field_rule(demo, person, authors):
    async with demo.client(person) as client:
        body = await gql(client, RATINGS, {"id": demo.id("meetings", "wall")})
    assert "errors" not in body, body
    ratings = body["data"]["meeting"]["ratings"]
    assert sorted(r["score"] for r in ratings) == [4, 5]
    assert {r["author"] and r["author"]["name"] for r in ratings} == authors


@pytest.mark.parametrize("person", ["judge_he", "alliance_staff_dizhi", "admin"])
async def test_roles_without_ratings_see_no_rater(demo, person):
    async with demo.client(person) as client:
        body = await gql(client, RATINGS, {"id": demo.id("meetings", "wall")})
    meeting = (body.get("data") or {}).get("meeting")
    assert meeting is None or meeting["ratings"] == [], body
    assert "李建国" not in str(body) and "赵桂兰" not in str(body)


# ------------------------------------------------------------------------- the whole loop


async def test_the_whole_loop_with_an_alliance_unit(mutable_demo):
    """公开说事 → 民主议事 → 集中干事 → 事后评事, each step by the role that does it."""
    demo = mutable_demo
    secretary, staff, resident = "secretary_zhang", "alliance_staff_dizhi", "resident_wang"

    async def call(person, query, values):
        async with demo.client(person) as client:
            body = await gql(client, query, {"input": values})
        assert "errors" not in body, body
        return next(iter(body["data"].values()))

    meeting = await call(
        secretary,
        "mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { id status } }",
        {
            "councilId": demo.id("councils", "fulu"),
            "title": "围墙复查",
            "startsAt": "2026-12-20T09:30:00+08:00",
            "draft": True,
        },
    )
    assert meeting["status"] == "DRAFTED"
    move = {"meetingId": meeting["id"]}
    assert (await call(secretary, TRANSITION_MEETING, {**move, "action": "SCHEDULE"}))[
        "status"
    ] == "SCHEDULED"
    topic = await call(
        resident,
        "mutation($input: AddAgendaTopicInput!) { addAgendaTopic(input: $input) { id status source } }",
        {"meetingId": meeting["id"], "title": "围墙又有裂缝", "concernId": demo.id("concerns", "wall")},
    )
    assert (topic["status"], topic["source"]) == ("PROPOSED", "concern")
    await call(secretary, TRANSITION_TOPIC, {"topicId": topic["id"], "action": "ACCEPT"})
    await call(secretary, TRANSITION_MEETING, {**move, "action": "HOLD"})
    await call(secretary, TRANSITION_TOPIC, {"topicId": topic["id"], "action": "DISCUSS"})
    decided = await call(
        secretary,
        TRANSITION_TOPIC,
        {"topicId": topic["id"], "action": "DECIDE", "decision": "请地质调查院再检测"},
    )
    assert decided["status"] == "DECIDED"
    task = await call(
        secretary,
        "mutation($input: AssignTaskInput!) { assignTask(input: $input) { ... on Task { id status ownerKind } } }",
        {
            "title": "再检测围墙",
            "dueOn": "2027-01-10",
            "topicId": topic["id"],
            "allianceUnitId": demo.id("alliance_units", "dizhi"),
        },
    )
    assert (task["status"], task["ownerKind"]) == ("OPEN", "ALLIANCE_UNIT")
    async with demo.client(staff) as client:
        mine = await gql(client, "{ tasks(status: OPEN) { nodes { id title } } }")
    assert {n["title"] for n in mine["data"]["tasks"]["nodes"]} == {"再检测围墙", "围墙季度复查"}
    done = await call(staff, COMPLETE, {"taskId": task["id"], "result": "已检测, 无需维修"})
    assert done["status"] == "DONE"
    closed = await call(
        secretary,
        TRANSITION_MEETING,
        {
            **move,
            "action": "CLOSE",
            "minutes": "议定请地质调查院再检测",
            "allianceUnitIds": [demo.id("alliance_units", "dizhi")],
        },
    )
    assert closed["presentUnits"] == [{"name": "地质调查院"}]
    rating = await call(
        resident,
        "mutation($input: RateMeetingInput!) { rateMeeting(input: $input) { ... on Rating { score author { name } } } }",
        {"meetingId": meeting["id"], "score": 5, "comment": "放心了"},
    )
    assert rating == {"score": 5, "author": {"name": "王秀英"}}
    assert (await call(secretary, TRANSITION_MEETING, {**move, "action": "REVIEW"}))["status"] == "REVIEWED"
    late = await call(
        resident,
        "mutation($input: RateMeetingInput!) { rateMeeting(input: $input) { __typename } }",
        {"meetingId": meeting["id"], "score": 1},
    )
    assert late == {"__typename": "InvalidTransition"}
    history = (
        await MeetingEvent.filter(meeting_id=int(meeting["id"]))
        .order_by("id")
        .values_list("subject", "action")
    )
    assert history == [
        ("meeting", "draft"),
        ("meeting", "schedule"),
        ("topic", "propose"),
        ("topic", "accept"),
        ("meeting", "hold"),
        ("topic", "discuss"),
        ("topic", "decide"),
        ("meeting", "close"),
        ("meeting", "review"),
    ]
    assert await Rating.filter(meeting_id=int(meeting["id"])).count() == 1
    assert (await Task.get(id=int(task["id"]))).status == TaskStatus.DONE


STAFF_DEEP = """{
  allianceUnits(first: 5) { nodes { id name alliedWith { name } tasks(first: 10) { id title
    topic { title meeting { title } } ownerPerson { name } events(first: 10) { action actor { name } } } } }
  tasks(first: 100) { nodes { id allianceUnit { id name } topic { id } } }
}"""


async def test_alliance_staff_reach_nothing_beyond_their_unit(demo):
    """Staff of 地质调查院 see their unit and its tasks; nested paths to topics, meetings
    and people come back null, and the power company's lamp task never appears."""
    async with demo.client("alliance_staff_dizhi") as client:
        body = await gql(client, STAFF_DEEP)
    assert "errors" not in body, body
    units = body["data"]["allianceUnits"]["nodes"]
    assert [u["name"] for u in units] == ["地质调查院"]
    assert units[0]["alliedWith"] == {"name": "南川西路街道"}
    titles = {t["title"] for t in units[0]["tasks"]}
    assert titles == {"检测并加固小学对面围墙", "围墙季度复查"}
    for task in units[0]["tasks"]:
        assert task["topic"] is None and task["ownerPerson"] is None
        # only the staff member themself, who reported the repair done
        assert {(event["actor"] or {}).get("name") for event in task["events"]} <= {None, "地调院李工"}
    tasks = body["data"]["tasks"]["nodes"]
    assert {t["allianceUnit"]["id"] for t in tasks} == {demo.id("alliance_units", "dizhi")}
    assert demo.id("tasks", "lamp_repair") not in {t["id"] for t in tasks}
    assert "修复村口路灯" not in str(body) and "供电公司" not in str(body)
