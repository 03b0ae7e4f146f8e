"""Mediation through the API: the two state machines, the courts' slice and the
confidential parties.

Seed cases (``app/seed.py``): noise (in mediation, grid mediator qin), fee (settled),
leak (failed at the grid, escalated to gold mediator lu, in mediation again), crack
(referred to the 福禄巷北 workstation, pending), land (referred there, closed with a
judicial confirmation), site (杜集, referred to the other court's workstation, pending),
parking (open), dog (failed at the grid).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.mediation import MediationCase, MediationEvent, MediationSession, Referral
from tests.conftest import Demo, error_codes, gql

TRANSITION = """
mutation($input: TransitionMediationCaseInput!) {
  transitionMediationCase(input: $input) {
    __typename
    ... on MediationCase { id status level events { kind fromStatus toStatus note actor { id } } }
    ... on InvalidTransition { message currentStatus allowedActions }
  }
}"""
DECIDE = """
mutation($input: DecideReferralInput!) {
  decideReferral(input: $input) {
    __typename
    ... on Referral { id status returnReason outcome case { status } }
    ... on InvalidTransition { message currentStatus allowedActions }
  }
}"""
SESSION = """
mutation($input: RecordMediationSessionInput!) {
  recordMediationSession(input: $input) {
    __typename
    ... on MediationSession { id heldOn notes }
    ... on InvalidTransition { message currentStatus allowedActions }
  }
}"""
TABLES = (MediationCase, MediationSession, Referral, MediationEvent)


async def snapshot() -> dict:
    return {model.__name__: await model.all().order_by("id").values() for model in TABLES}


async def step(demo: Demo, who: str, case: str, action: str, **extra) -> dict:
    values = {"caseId": demo.id("cases", case), "action": action, "note": f"{action} 测试", **extra}
    async with demo.client(who) as client:
        body = await gql(client, TRANSITION, {"input": values})
    assert "errors" not in body, body
    return body["data"]["transitionMediationCase"]


async def decide(demo: Demo, who: str, referral: str, action: str, **extra) -> dict:
    values = {"referralId": demo.id("referrals", referral), "action": action, **extra}
    async with demo.client(who) as client:
        body = await gql(client, DECIDE, {"input": values})
    assert "errors" not in body, body
    return body["data"]["decideReferral"]


def last_event(result: dict) -> dict:
    return result["events"][-1]


# ------------------------------------------------------------------ legal transitions


async def test_every_case_transition_succeeds_and_is_recorded(mutable_demo):
    demo = mutable_demo
    p = demo.world.people
    result = await step(demo, "mediator_shi", "parking", "START")
    assert result["status"] == "IN_MEDIATION"
    assert last_event(result) == {
        "kind": "start",
        "fromStatus": "open",
        "toStatus": "in_mediation",
        "note": "START 测试",
        "actor": {"id": str(p["mediator_shi"].id)},
    }
    result = await step(demo, "mediator_shi", "parking", "SETTLE")
    assert result["status"] == "SETTLED"
    assert last_event(result)["fromStatus"] == "in_mediation" and last_event(result)["toStatus"] == "settled"

    result = await step(demo, "mediator_qin", "noise", "FAIL")
    assert result["status"] == "FAILED" and last_event(result)["toStatus"] == "failed"

    # failed at the grid → escalated to the community's gold mediator, who starts again
    result = await step(
        demo, "secretary_zhang", "dog", "ESCALATE", mediatorId=demo.id("mediators", "mediator_lu")
    )
    assert (result["status"], result["level"]) == ("ESCALATED", "COMMUNITY")
    assert last_event(result)["kind"] == "escalate" and last_event(result)["fromStatus"] == "failed"
    assert last_event(result)["actor"] == {"id": str(p["secretary_zhang"].id)}
    case = await MediationCase.get(id=demo.id("cases", "dog"))
    assert case.assignee_id == p["mediator_lu"].id
    # the new mediator now sees the whole history; the grid mediator no longer does
    assert await MediationEvent.filter(case_id=case.id).exclude(assignee_id=p["mediator_lu"].id).count() == 0
    result = await step(demo, "mediator_lu", "dog", "START")
    assert result["status"] == "IN_MEDIATION" and last_event(result)["fromStatus"] == "escalated"

    # failed → referred to the workstation serving the community
    result = await step(
        demo, "street_official_xu", "noise", "REFER", workstationId=demo.id("workstations", "fulu")
    )
    assert result["status"] == "REFERRED"
    # the case's step, then the referral it made (pending), each an event of the case's history
    assert [(e["kind"], e["toStatus"]) for e in result["events"][-2:]] == [
        ("refer", "referred"),
        ("referred", "pending"),
    ]
    case = await MediationCase.get(id=demo.id("cases", "noise"))
    station = demo.world.workstations["fulu"]
    assert (case.workstation_id, case.court_id) == (station.id, station.court_id)
    referral = await Referral.get(case_id=case.id)
    assert (referral.status, referral.workstation_id, referral.court_id) == (
        "pending",
        station.id,
        station.court_id,
    )


async def test_every_referral_transition_succeeds_and_is_recorded(mutable_demo):
    demo = mutable_demo
    result = await decide(demo, "judge_he", "crack", "ACCEPT")
    assert result["status"] == "ACCEPTED" and result["case"]["status"] == "REFERRED"
    result = await decide(
        demo, "judge_he", "crack", "RECORD_OUTCOME", outcome="GUIDED_SETTLEMENT", note="引导双方和解"
    )
    assert (result["status"], result["outcome"]) == ("CLOSED", "GUIDED_SETTLEMENT")
    result = await decide(demo, "judge_qian", "site", "RETURN", note="不属于法院受理范围, 请街道继续调解")
    assert (result["status"], result["returnReason"]) == ("RETURNED", "不属于法院受理范围, 请街道继续调解")
    assert result["case"]["status"] == "FAILED"  # back in the street's hands

    events = {
        (e.action, e.from_status, e.to_status)
        for e in await MediationEvent.filter(
            case_id__in=[demo.id("cases", "crack"), demo.id("cases", "site")], action__not="referred"
        )
    }
    assert {
        ("referral_accept", "pending", "accepted"),
        ("referral_record_outcome", "accepted", "closed"),
        ("referral_return", "pending", "returned"),
        ("returned", "referred", "failed"),
    } <= events
    actors = {
        e.actor_id for e in await MediationEvent.filter(action__startswith="referral_", note__not="受理")
    }
    assert actors == {demo.world.people["judge_he"].id, demo.world.people["judge_qian"].id}


async def test_a_session_is_recorded_on_a_case_in_mediation(mutable_demo):
    demo = mutable_demo
    async with demo.client("mediator_lu") as client:
        body = await gql(
            client,
            SESSION,
            {"input": {"caseId": demo.id("cases", "leak"), "heldOn": "2026-11-21", "notes": "现场查看"}},
        )
    assert body["data"]["recordMediationSession"]["__typename"] == "MediationSession", body
    assert await MediationSession.filter(case_id=demo.id("cases", "leak"), notes="现场查看").count() == 1


# ---------------------------------------------------------------- illegal transitions

ILLEGAL = [
    # caller allowed by the policy, but the state does not allow the step
    ("transition", "mediator_lu", "fee", "START", {}, "settled", []),
    ("transition", "mediator_qin", "dog", "SETTLE", {}, "failed", []),
    ("transition", "mediator_shi", "parking", "FAIL", {}, "open", ["start"]),
    ("transition", "mediator_shi", "parking", "SETTLE", {}, "open", ["start"]),
    (
        "transition",
        "secretary_zhang",
        "leak",
        "ESCALATE",
        {"mediatorId": "mediator_fang"},
        "in_mediation",
        [],
    ),
    ("transition", "secretary_zhang", "noise", "REFER", {"workstationId": "fulu"}, "in_mediation", []),
    ("transition", "secretary_zhang", "crack", "REFER", {"workstationId": "fulu"}, "referred", []),
    ("transition", "street_official_xu", "fee", "ESCALATE", {"mediatorId": "mediator_fang"}, "settled", []),
    ("session", "mediator_lu", "fee", None, {}, "settled", []),
    ("session", "mediator_qin", "dog", None, {}, "failed", []),
    ("referral", "judge_he", "land", "ACCEPT", {}, "closed", []),
    ("referral", "judge_he", "land", "RETURN", {"note": "x"}, "closed", []),
    (
        "referral",
        "judge_he",
        "crack",
        "RECORD_OUTCOME",
        {"outcome": "FILED"},
        "pending",
        ["accept", "return"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "who", "target", "action", "extra", "status", "allowed"),
    [pytest.param(*case, id=f"{case[0]}-{case[2]}-{case[3]}-{case[1]}") for case in ILLEGAL],
)
async def test_an_illegal_transition_is_typed_and_changes_nothing(
    demo, request, kind, who, target, action, extra, status, allowed
):
    extra = dict(extra)
    if "mediatorId" in extra:
        extra["mediatorId"] = demo.id("mediators", extra["mediatorId"])
    if "workstationId" in extra:
        extra["workstationId"] = demo.id("workstations", extra["workstationId"])
    before = await snapshot()
    async with demo.client(who) as client:
        if kind == "transition":
            values = {"caseId": demo.id("cases", target), "action": action, "note": "n", **extra}
            body = await gql(client, TRANSITION, {"input": values})
            field = "transitionMediationCase"
        elif kind == "session":
            values = {"caseId": demo.id("cases", target), "heldOn": "2026-11-21"}
            body = await gql(client, SESSION, {"input": values})
            field = "recordMediationSession"
        else:
            values = {"referralId": demo.id("referrals", target), "action": action, **extra}
            body = await gql(client, DECIDE, {"input": values})
            field = "decideReferral"
    after = await snapshot()
    if after != before:
        request.getfixturevalue("mutable_demo")
    assert "errors" not in body, body
    result = body["data"][field]
    assert result["__typename"] == "InvalidTransition", result
    assert result["currentStatus"] == status and result["message"]
    assert result["allowedActions"] == allowed
    assert after == before


async def test_a_forbidden_step_is_an_error_not_a_result(demo):
    """The policy comes first: a grid worker may see the case but not settle it."""
    async with demo.client("grid_worker_chen") as client:
        values = {"caseId": demo.id("cases", "noise"), "action": "SETTLE", "note": "n"}
        body = await gql(client, TRANSITION, {"input": values})
    assert error_codes(body) == ["FORBIDDEN"]


# ------------------------------------------------------------------- the courts' slice

COURT_QUERY = """
query($since: DateTime, $after: String) {
  mediationCases(first: 1, after: $after, updatedSince: $since) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title status parties { name }
      sessions { id } events { id kind } referrals { id status workstation { id court { name } } case { id } }
      workstation { id name court { name tribunal } }
    }
  }
}"""


async def court_pages(demo: Demo, who: str, since: str | None = None) -> list[dict]:
    nodes, after = [], None
    async with demo.client(who) as client:
        while True:
            body = await gql(client, COURT_QUERY, {"since": since, "after": after})
            assert "errors" not in body, body
            page = body["data"]["mediationCases"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]


async def own_rows(demo: Demo, court_key: str) -> dict[str, set[str]]:
    court_id = demo.world.courts[court_key].id
    return {
        name: {str(i) for i in await model.filter(court_id=court_id).values_list("id", flat=True)}
        for name, model in (
            ("cases", MediationCase),
            ("sessions", MediationSession),
            ("events", MediationEvent),
        )
    } | {"referrals": {str(i) for i in await Referral.filter(court_id=court_id).values_list("id", flat=True)}}


@pytest.mark.parametrize(
    ("who", "court", "cases"),
    [
        ("court_district", "district", {"crack", "land", "daylight"}),
        ("court_kuangshan", "kuangshan", {"site"}),
    ],
)
async def test_each_court_sees_only_its_own_cases_and_their_nested_rows(demo, who, court, cases):
    nodes = await court_pages(demo, who)
    assert {n["id"] for n in nodes} == {demo.id("cases", key) for key in cases}
    own = await own_rows(demo, court)
    assert {n["id"] for n in nodes} == own["cases"]
    for node in nodes:
        assert node["parties"] is None  # a court's partner account is not the workstation's judges
        assert {s["id"] for s in node["sessions"]} <= own["sessions"]
        assert {e["id"] for e in node["events"]} <= own["events"] and node["events"]
        assert {r["id"] for r in node["referrals"]} <= own["referrals"] and node["referrals"]
        assert node["workstation"]["court"]["name"] == demo.world.courts[court].name
        for referral in node["referrals"]:
            assert referral["case"]["id"] == node["id"]
    # what the court cannot see reads like a missing id
    for other in sorted(set(demo.world.cases) - cases):
        async with demo.client(who) as client:
            body = await gql(
                client, "query($id: ID!) { mediationCase(id: $id) { id } }", {"id": demo.id("cases", other)}
            )
        assert error_codes(body) == ["NOT_FOUND"], other


async def test_courts_sync_incrementally_with_updated_since(mutable_demo):
    demo = mutable_demo
    since = datetime.now(UTC).isoformat()
    assert await court_pages(demo, "court_district", since) == []
    assert await court_pages(demo, "court_kuangshan", since) == []
    await decide(demo, "judge_he", "crack", "ACCEPT")
    await decide(demo, "judge_qian", "site", "ACCEPT")
    await step(demo, "mediator_lu", "leak", "SETTLE")  # not referred: no court sees it
    changed = await court_pages(demo, "court_district", since)
    assert [n["id"] for n in changed] == [demo.id("cases", "crack")]
    assert [r["status"] for r in changed[0]["referrals"]] == ["ACCEPTED"]
    changed = await court_pages(demo, "court_kuangshan", since)
    assert [n["id"] for n in changed] == [demo.id("cases", "site")]
    async with demo.client("court_district") as client:
        body = await gql(client, '{ mediationCases(updatedSince: "2026-01-01T00:00:00") { totalCount } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- confidential parties

PARTIES_SEEN = {
    # caller: does `parties` come back for every case it can see?
    "resident_wang": False,
    "grid_worker_chen": False,
    "secretary_zhang": True,
    "judge_he": True,
    "street_official_xu": True,
    "mediator_lu": True,
    "mediator_qin": True,
    "court_district": False,
    "court_kuangshan": False,
}


@pytest.mark.parametrize(("who", "sees"), list(PARTIES_SEEN.items()))
async def test_parties_are_null_for_everyone_the_policy_does_not_name(demo, who, sees):
    query = (
        "{ mediationCases(first: 50) { nodes { id parties(first: 5) { name phone idNumber } "
        "referrals(first: 5) { case { id parties(first: 5) { name } } } } } }"
    )
    async with demo.client(who) as client:
        body = await gql(client, query)
    assert "errors" not in body, body
    nodes = body["data"]["mediationCases"]["nodes"]
    assert nodes, f"{who} should see some cases"
    for node in nodes:
        if sees:
            assert node["parties"] and all(p["name"] and p["idNumber"] for p in node["parties"]), node
        else:
            assert node["parties"] is None, node
        for referral in node["referrals"]:  # the same answer through a nested path
            assert (referral["case"]["parties"] is not None) == sees, node


async def test_a_mediator_sees_only_assigned_cases(demo):
    async with demo.client("mediator_qin") as client:
        body = await gql(client, "{ mediationCases { nodes { id } } }")
    # leak was escalated away from the grid mediator: it is no longer theirs
    assert {n["id"] for n in body["data"]["mediationCases"]["nodes"]} == {
        demo.id("cases", "noise"),
        demo.id("cases", "dog"),
    }
