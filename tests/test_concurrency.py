"""Racing clients, one test per stateful resource, through the GraphQL API.

N clients fire conflicting steps at one object at the same time. Exactly the legal
number of steps succeed, every loser gets the typed ``InvalidTransition`` (the same as
any illegal step), nothing is half-written, the event history equals the final state,
and a counter ends at the number of acknowledged increments. The suite runs on SQLite
and, in CI, again on PostgreSQL, where the requests truly overlap.
"""

from __future__ import annotations

import asyncio
import itertools

from models.concerns import Concern, ConcernEvent
from models.councils import AgendaTopic, Meeting, MeetingEvent, Task, TaskEvent, Vote, VoteParticipation
from models.mediation import MediationCase, MediationEvent, Referral
from services import identity, people
from tests.conftest import Demo, error_codes, gql

N = 24  # clients per race


async def race(demo: Demo, calls: list[tuple[str, str, dict]]) -> list[dict]:
    """Send every (person, document, input) at once; the decoded bodies, in call order."""
    clients = {person: demo.client(person) for person in {person for person, _, _ in calls}}
    try:
        return list(
            await asyncio.gather(
                *(gql(clients[person], document, {"input": values}) for person, document, values in calls)
            )
        )
    finally:
        for client in clients.values():
            await client.aclose()


def outcomes(bodies: list[dict], field: str) -> list[str]:
    """Per call: the result's __typename, or the error code."""
    result = []
    for body in bodies:
        if body.get("errors"):
            result.append(error_codes(body)[0])
        else:
            result.append(body["data"][field]["__typename"])
    return result


def interleave(*groups: list) -> list:
    return [call for calls in itertools.zip_longest(*groups) for call in calls if call is not None]


async def assert_history(event_model, key: dict, row, start: str | None) -> list[tuple]:
    """The events of one object form one chain from ``start`` to the row's state, one per
    version step."""
    events = await event_model.filter(**key).order_by("id").values_list("action", "from_status", "to_status")
    state = start
    for _, before, after in events:
        assert before == state, events
        state = after
    assert state == row.status, (events, row.status)
    return events


CONCERN_STEP = (
    "mutation($input: {input}!) {{ {name}(input: $input) {{ __typename "
    "... on Concern {{ id status level supervisionCount }} "
    "... on InvalidTransition {{ currentStatus allowedActions }} }} }}"
)


def concern_step(name: str, input_type: str = "ConcernStepInput") -> str:
    return CONCERN_STEP.format(name=name, input=input_type)


async def new_concern(demo: Demo, accepted: bool = False) -> str:
    async with demo.client("grid_worker_chen") as client:
        body = await gql(
            client,
            "mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id } }",
            {
                "input": {
                    "unitId": demo.id("units", "fulu_g1"),
                    "residentId": demo.id("people", "resident_wang"),
                    "title": "楼道灯不亮",
                    "category": "infrastructure",
                }
            },
        )
        concern_id = body["data"]["raiseConcern"]["id"]
        if accepted:
            await gql(client, concern_step("acceptConcern"), {"input": {"concernId": concern_id}})
    return concern_id


# ------------------------------------------------------------------------------ concerns


async def test_accept_racing_reject_applies_exactly_one(mutable_demo):
    demo = mutable_demo
    concern_id = await new_concern(demo)
    accepts = [("grid_worker_chen", concern_step("acceptConcern"), {"concernId": concern_id})] * (N // 2)
    rejects = [
        ("grid_worker_chen", concern_step("rejectConcern"), {"concernId": concern_id, "note": "重复"})
    ] * (N // 2)
    calls = interleave(accepts, rejects)
    bodies = await race(demo, calls)
    kinds = [next(iter(body["data"].values()))["__typename"] for body in bodies]
    assert kinds.count("Concern") == 1 and kinds.count("InvalidTransition") == N - 1, bodies
    row = await Concern.get(id=int(concern_id))
    expected = "accepted" if "acceptConcern" in calls[kinds.index("Concern")][1] else "rejected"
    assert row.status == expected and row.version == 1
    events = await assert_history(ConcernEvent, {"concern_id": row.id}, row, None)
    assert [e[0] for e in events] == ["submitted", "accept" if expected == "accepted" else "reject"]


async def test_racing_escalations_move_one_level_per_success(mutable_demo):
    demo = mutable_demo
    concern_id = await new_concern(demo, accepted=True)
    calls = [
        ("secretary_zhang", concern_step("escalateConcern"), {"concernId": concern_id, "note": "升级"})
    ] * N
    kinds = outcomes(await race(demo, calls), "escalateConcern")
    successes = kinds.count("Concern")
    # grid → community → street at most. Who loses a race gets InvalidTransition; who comes
    # after the concern reached the street finds it beyond the secretary's reach: FORBIDDEN
    # (the policy is asked before the state, and the street is now responsible).
    assert 1 <= successes <= 2, kinds
    assert kinds.count("InvalidTransition") + kinds.count("FORBIDDEN") == N - successes, kinds
    assert successes == 2 or "FORBIDDEN" not in kinds, kinds
    row = await Concern.get(id=int(concern_id))
    assert row.level == ("community", "street")[successes - 1]
    assert row.status == "accepted" and row.version == 1 + successes
    escalations = await ConcernEvent.filter(concern_id=row.id, action__startswith="escalated_to_").count()
    assert escalations == successes


async def test_racing_ratings_close_or_reopen_once(mutable_demo):
    demo = mutable_demo
    drain = demo.world.concerns["drain"]  # resolved, resident_wang's
    rate = concern_step("rateConcern", "RateConcernInput")
    happy = [("resident_wang", rate, {"concernId": str(drain.id), "rating": 5, "satisfied": True})] * (N // 2)
    unhappy = [("resident_wang", rate, {"concernId": str(drain.id), "rating": 1, "satisfied": False})] * (
        N // 2
    )
    calls = interleave(happy, unhappy)
    bodies = await race(demo, calls)
    kinds = outcomes(bodies, "rateConcern")
    assert kinds.count("Concern") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    winner = calls[kinds.index("Concern")][2]
    told = bodies[kinds.index("Concern")]["data"]["rateConcern"]["status"]
    row = await Concern.get(id=drain.id)
    assert row.status == ("closed" if winner["satisfied"] else "reopened") == told.lower()
    assert row.rating == winner["rating"]
    assert await ConcernEvent.filter(concern_id=drain.id, action="rate").count() == 1


async def test_every_acknowledged_supervision_is_counted(mutable_demo):
    demo = mutable_demo
    ebikes = demo.world.concerns["ebikes"]
    calls = [
        (
            "street_official_xu",
            concern_step("superviseConcern"),
            {"concernId": str(ebikes.id), "note": "督办"},
        )
    ] * N
    kinds = outcomes(await race(demo, calls), "superviseConcern")
    assert kinds == ["Concern"] * N  # a counter step never loses a race
    row = await Concern.get(id=ebikes.id)
    assert row.supervision_count == N
    assert await ConcernEvent.filter(concern_id=ebikes.id, action="supervise").count() == N
    assert row.status == "submitted"


# ------------------------------------------------------------------------------ councils

MEETING_STEP = (
    "mutation($input: TransitionMeetingInput!) { transitionMeeting(input: $input) { __typename "
    "... on Meeting { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)
TOPIC_STEP = (
    "mutation($input: TransitionTopicInput!) { transitionTopic(input: $input) { __typename "
    "... on AgendaTopic { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)


async def test_hold_racing_cancel_applies_exactly_one(mutable_demo):
    demo = mutable_demo
    park = demo.world.meetings["park"]  # scheduled
    hold = [("secretary_zhang", MEETING_STEP, {"meetingId": str(park.id), "action": "HOLD"})] * (N // 2)
    cancel = [("street_official_xu", MEETING_STEP, {"meetingId": str(park.id), "action": "CANCEL"})] * (
        N // 2
    )
    calls = interleave(hold, cancel)
    kinds = outcomes(await race(demo, calls), "transitionMeeting")
    assert kinds.count("Meeting") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    row = await Meeting.get(id=park.id)
    assert row.status == ("held" if calls[kinds.index("Meeting")][2]["action"] == "HOLD" else "cancelled")
    events = await assert_history(MeetingEvent, {"meeting_id": park.id, "subject": "meeting"}, row, None)
    assert len(events) == 2 and row.version == 1  # scheduled, then the one winner


async def _discussed_topic(demo: Demo) -> AgendaTopic:
    async with demo.client("secretary_zhang") as client:
        body = await gql(
            client,
            "mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { id } }",
            {
                "input": {
                    "councilId": demo.id("councils", "fulu"),
                    "title": "充电桩议事",
                    "startsAt": "2026-12-02T09:00:00+08:00",
                }
            },
        )
        meeting_id = body["data"]["scheduleMeeting"]["id"]
        body = await gql(
            client,
            "mutation($input: AddAgendaTopicInput!) { addAgendaTopic(input: $input) { id } }",
            {"input": {"meetingId": meeting_id, "title": "楼道充电桩"}},
        )
        topic_id = body["data"]["addAgendaTopic"]["id"]
        await gql(client, TOPIC_STEP, {"input": {"topicId": topic_id, "action": "ACCEPT"}})
        await gql(client, MEETING_STEP, {"input": {"meetingId": meeting_id, "action": "HOLD"}})
        await gql(client, TOPIC_STEP, {"input": {"topicId": topic_id, "action": "DISCUSS"}})
    return await AgendaTopic.get(id=int(topic_id))


async def test_decide_racing_defer_applies_exactly_one(mutable_demo):
    demo = mutable_demo
    topic = await _discussed_topic(demo)
    assert topic.status == "discussed"
    decide = [
        ("secretary_zhang", TOPIC_STEP, {"topicId": str(topic.id), "action": "DECIDE", "decision": "装"})
    ]
    defer = [("secretary_zhang", TOPIC_STEP, {"topicId": str(topic.id), "action": "DEFER"})]
    calls = interleave(decide * (N // 2), defer * (N // 2))
    kinds = outcomes(await race(demo, calls), "transitionTopic")
    assert kinds.count("AgendaTopic") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    row = await AgendaTopic.get(id=topic.id)
    assert row.status == (
        "decided" if calls[kinds.index("AgendaTopic")][2]["action"] == "DECIDE" else "deferred"
    )
    events = await assert_history(MeetingEvent, {"topic_id": topic.id, "subject": "topic"}, row, None)
    assert [e[0] for e in events][:3] == ["propose", "accept", "discuss"] and len(events) == 4


COMPLETE = (
    "mutation($input: CompleteTaskInput!) { completeTask(input: $input) { __typename "
    "... on Task { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)


async def test_racing_completions_finish_a_task_once_and_resolve_its_concern_once(mutable_demo):
    demo = mutable_demo
    recheck = demo.world.tasks["wall_recheck"]  # the wall's last open task
    by_secretary = [("secretary_zhang", COMPLETE, {"taskId": str(recheck.id), "result": "复查完毕"})]
    by_staff = [("alliance_staff_dizhi", COMPLETE, {"taskId": str(recheck.id), "result": "已复查"})]
    kinds = outcomes(
        await race(demo, interleave(by_secretary * (N // 2), by_staff * (N // 2))), "completeTask"
    )
    assert kinds.count("Task") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    row = await Task.get(id=recheck.id)
    assert row.status == "done"
    await assert_history(TaskEvent, {"task_id": row.id}, row, None)
    wall = await Concern.get(id=demo.world.concerns["wall"].id)
    assert wall.status == "resolved"  # the effect: its decision's last task is done
    assert await ConcernEvent.filter(concern_id=wall.id, action="resolve").count() == 1


async def test_the_last_two_tasks_done_at_once_resolve_their_concern_exactly_once(mutable_demo):
    """Two tasks of one concern done at the same moment: neither completion may see "the
    other task is still open" (write skew), so every concern ends resolved, once."""
    demo = mutable_demo
    assign = "mutation($input: AssignTaskInput!) { assignTask(input: $input) { ... on Task { id } } }"
    concern_ids, calls = [], []
    async with demo.client("secretary_zhang") as client:
        for _ in range(N // 2):
            concern_id = await new_concern(demo, accepted=True)
            concern_ids.append(concern_id)
            for title in ("拆除旧灯", "安装新灯"):
                body = await gql(
                    client,
                    assign,
                    {
                        "input": {
                            "title": title,
                            "dueOn": "2027-01-10",
                            "concernId": concern_id,
                            "ownerPersonId": demo.id("people", "grid_worker_chen"),
                        }
                    },
                )
                task_id = body["data"]["assignTask"]["id"]
                calls.append(("grid_worker_chen", COMPLETE, {"taskId": task_id, "result": "完成"}))
    kinds = outcomes(await race(demo, calls), "completeTask")
    assert kinds == ["Task"] * N, kinds
    for concern_id in concern_ids:
        row = await Concern.get(id=int(concern_id))
        events = await assert_history(ConcernEvent, {"concern_id": row.id}, row, None)
        assert [e[0] for e in events] == ["submitted", "accept", "resolve"], concern_id


BALLOT = (
    "mutation($input: CastBallotInput!) { castBallot(input: $input) { __typename "
    "... on Vote { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)
CLOSE_VOTE = (
    "mutation($input: CloseVoteInput!) { closeVote(input: $input) { __typename "
    "... on Vote { id status results { total forCount againstCount } } "
    "... on InvalidTransition { currentStatus allowedActions } } }"
)


async def _voters(demo: Demo, count: int) -> list[str]:
    """``count`` residents of 福禄巷北社区第一网格 with tokens (keys added to the demo)."""
    grid = demo.world.units["fulu_g1"]
    keys = []
    for n in range(count):
        key = f"voter_{n}"
        person = await people.create_person(f"居民{n}", f"1880000{n:04d}", "", grid)
        await people.assign_role(person, "resident", grid)
        demo.tokens[key] = await identity.issue_token(person.id, "test")
        keys.append(key)
    return keys


async def test_each_voter_is_counted_once_however_often_they_press(mutable_demo):
    demo = mutable_demo
    vote = demo.world.votes["committee"]  # open, anonymous, in 福禄巷北社区
    voters = await _voters(demo, N // 2)
    choices = ["AGAINST", "FOR", "ABSTAIN"]
    calls = [
        (voter, BALLOT, {"voteId": str(vote.id), "choice": choices[n % 3]})
        for n, voter in enumerate(voters)
        for _ in range(2)  # every voter presses twice at once
    ]
    bodies = await race(demo, calls)
    kinds = outcomes(bodies, "castBallot")
    assert kinds.count("Vote") == len(voters) and kinds.count("BAD_USER_INPUT") == len(voters), kinds
    row = await Vote.get(id=vote.id)
    assert row.for_count + row.against_count + row.abstain_count == len(voters)
    assert row.against_count == len(range(0, len(voters), 3))
    assert await VoteParticipation.filter(vote_id=vote.id).count() == len(voters)


async def test_closing_while_ballots_arrive_counts_exactly_the_acknowledged_ones(mutable_demo):
    demo = mutable_demo
    vote = demo.world.votes["committee"]
    voters = await _voters(demo, N - 4)
    ballots = [(voter, BALLOT, {"voteId": str(vote.id), "choice": "AGAINST"}) for voter in voters]
    closes = [("secretary_zhang", CLOSE_VOTE, {"voteId": str(vote.id)})] * 4
    calls = interleave(ballots[: len(ballots) // 2], closes, ballots[len(ballots) // 2 :])
    bodies = await race(demo, calls)
    ballot_kinds = outcomes(
        [b for (_, d, _), b in zip(calls, bodies, strict=True) if d == BALLOT], "castBallot"
    )
    close_kinds = outcomes(
        [b for (_, d, _), b in zip(calls, bodies, strict=True) if d == CLOSE_VOTE], "closeVote"
    )
    assert close_kinds.count("Vote") == 1 and close_kinds.count("InvalidTransition") == 3, close_kinds
    counted = ballot_kinds.count("Vote")
    assert ballot_kinds.count("InvalidTransition") == len(voters) - counted, ballot_kinds
    row = await Vote.get(id=vote.id)
    assert row.status == "closed" and row.against_count == counted
    assert await VoteParticipation.filter(vote_id=vote.id).count() == counted
    assert row.threshold_met is (counted > 0)  # all against: more than 60% as soon as one counted


# ----------------------------------------------------------------------------- mediation

CASE_STEP = (
    "mutation($input: TransitionMediationCaseInput!) { transitionMediationCase(input: $input) { __typename "
    "... on MediationCase { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)
DECIDE = (
    "mutation($input: DecideReferralInput!) { decideReferral(input: $input) { __typename "
    "... on Referral { id status } ... on InvalidTransition { currentStatus allowedActions } } }"
)


async def test_settle_racing_fail_applies_exactly_one(mutable_demo):
    demo = mutable_demo
    noise = demo.world.cases["noise"]  # in mediation with the grid's mediator
    settle = [("mediator_qin", CASE_STEP, {"caseId": str(noise.id), "action": "SETTLE", "note": "和解"})]
    fail = [("mediator_qin", CASE_STEP, {"caseId": str(noise.id), "action": "FAIL", "note": "未果"})]
    calls = interleave(settle * (N // 2), fail * (N // 2))
    kinds = outcomes(await race(demo, calls), "transitionMediationCase")
    assert kinds.count("MediationCase") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    row = await MediationCase.get(id=noise.id)
    winner = calls[kinds.index("MediationCase")][2]
    assert (row.status, row.outcome) == (
        "settled" if winner["action"] == "SETTLE" else "failed",
        winner["note"],
    )
    await assert_history(MediationEvent, {"case_id": noise.id, "referral_id": None}, row, None)


async def test_accept_racing_return_of_a_referral_applies_exactly_one(mutable_demo):
    demo = mutable_demo
    referral = demo.world.referrals["crack"]  # pending at the 福禄巷北 workstation
    accept = [("judge_he", DECIDE, {"referralId": str(referral.id), "action": "ACCEPT"})]
    give_back = [
        ("judge_he", DECIDE, {"referralId": str(referral.id), "action": "RETURN", "note": "请继续调解"})
    ]
    calls = interleave(accept * (N // 2), give_back * (N // 2))
    kinds = outcomes(await race(demo, calls), "decideReferral")
    assert kinds.count("Referral") == 1 and kinds.count("InvalidTransition") == N - 1, kinds
    row = await Referral.get(id=referral.id)
    returned = calls[kinds.index("Referral")][2]["action"] == "RETURN"
    assert row.status == ("returned" if returned else "accepted")
    await assert_history(MediationEvent, {"referral_id": row.id}, row, None)
    case = await MediationCase.get(id=row.case_id)
    assert case.status == ("failed" if returned else "referred")  # the effect, at most once
    assert await MediationEvent.filter(case_id=case.id, action="returned").count() == int(returned)
