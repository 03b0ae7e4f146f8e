"""The grid worker's rounds log (网格员走访/巡查日志): recorded by the worker who walked,
read by the community and the street, and a finding that becomes a concern in one step,
by the concern's own rules, once even when the button is pressed many times."""

from __future__ import annotations

import asyncio

import pytest

from models.concerns import Concern, ConcernEvent
from models.rounds import GridRound, GridRoundEvent
from tests.conftest import error_codes, gql

FOLLOW_UP = (
    "mutation($input: RaiseConcernFromRoundInput!) { raiseConcernFromRound(input: $input) { __typename "
    "... on GridRound { id status concern { id title status raisedBy { name } events { kind } } "
    "events { action fromStatus toStatus } } "
    "... on InvalidTransition { currentStatus allowedActions } } }"
)
RECORD = "mutation($input: RecordGridRoundInput!) { recordGridRound(input: $input) { id status kind walkedBy { name } } }"


async def test_a_visit_is_recorded_and_its_finding_becomes_the_residents_concern(mutable_demo):
    d = mutable_demo
    async with d.client("grid_worker_chen") as client:
        body = await gql(
            client,
            RECORD,
            {
                "input": {
                    "unitId": d.id("units", "fulu_g1"),
                    "kind": "VISIT",
                    "walkedAt": "2026-11-30T09:00:00+08:00",
                    "place": "3 号楼 2 单元 202",
                    "residentId": d.id("people", "resident_li"),
                    "findings": "楼道灯坏了一周",
                }
            },
        )
        assert body["data"]["recordGridRound"] == {
            "id": body["data"]["recordGridRound"]["id"],
            "status": "RECORDED",
            "kind": "VISIT",
            "walkedBy": {"name": "陈晓燕"},
        }
        round_id = body["data"]["recordGridRound"]["id"]
        body = await gql(
            client,
            FOLLOW_UP,
            {"input": {"roundId": round_id, "title": "楼道灯不亮", "category": "infrastructure"}},
        )
    result = body["data"]["raiseConcernFromRound"]
    assert result["status"] == "FOLLOWED_UP"
    assert [(e["action"], e["fromStatus"], e["toStatus"]) for e in result["events"]] == [
        ("record", None, "recorded"),
        ("follow_up", "recorded", "followed_up"),
    ]
    concern = result["concern"]
    assert (concern["title"], concern["status"], concern["raisedBy"]) == (
        "楼道灯不亮",
        "SUBMITTED",
        {"name": "李建国"},
    )
    assert [e["kind"] for e in concern["events"]] == ["submitted"]
    row = await Concern.get(id=int(concern["id"]))
    assert (row.description, row.location, row.recorded_by_id) == (
        "楼道灯坏了一周",
        "3 号楼 2 单元 202",
        d.world.people["grid_worker_chen"].id,
    )
    # the resident sees the concern raised for them, not the worker's log
    async with d.client("resident_li") as client:
        mine = await gql(client, "{ concerns { nodes { id } } gridRounds { totalCount } }")
    assert concern["id"] in {n["id"] for n in mine["data"]["concerns"]["nodes"]}
    assert error_codes(mine) == ["FORBIDDEN"] and mine["data"]["gridRounds"] is None


async def test_a_finding_the_concern_rules_refuse_writes_nothing(mutable_demo):
    d = mutable_demo
    chen_visit = d.world.rounds["chen_visit"]
    before = (await Concern.all().count(), await GridRoundEvent.all().count())
    async with d.client("grid_worker_chen") as client:
        body = await gql(
            client, FOLLOW_UP, {"input": {"roundId": str(chen_visit.id), "title": "x", "category": "weather"}}
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == "category"
    assert (await Concern.all().count(), await GridRoundEvent.all().count()) == before
    assert (await GridRound.get(id=chen_visit.id)).status == "recorded"


async def test_pressing_follow_up_many_times_at_once_raises_one_concern(mutable_demo):
    d = mutable_demo
    patrol = d.world.rounds["chen_patrol"]
    concerns_before = await Concern.all().count()
    clients = [d.client("grid_worker_chen") for _ in range(24)]
    try:
        bodies = await asyncio.gather(
            *(
                gql(
                    c,
                    FOLLOW_UP,
                    {"input": {"roundId": str(patrol.id), "title": "楼道纸箱堆放", "category": "safety"}},
                )
                for c in clients
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    kinds = [b["data"]["raiseConcernFromRound"]["__typename"] for b in bodies]
    assert kinds.count("GridRound") == 1 and kinds.count("InvalidTransition") == 23, kinds
    assert await Concern.all().count() == concerns_before + 1
    row = await GridRound.get(id=patrol.id)
    assert row.status == "followed_up" and row.concern_id is not None
    assert await ConcernEvent.filter(concern_id=row.concern_id).count() == 1


async def test_the_secretary_reads_the_communitys_rounds_and_no_others(demo):
    async with demo.client("secretary_yang") as client:  # 杜集社区
        body = await gql(client, "{ gridRounds { nodes { id place walkedBy { name } resident { name } } } }")
    nodes = body["data"]["gridRounds"]["nodes"]
    assert [n["id"] for n in nodes] == [demo.id("rounds", "ma_visit")]
    assert nodes[0]["walkedBy"] == {"name": "马丽"} and nodes[0]["resident"] == {"name": "周丽华"}
    async with demo.client("secretary_yang") as client:
        body = await gql(
            client, "query($id: ID!) { gridRound(id: $id) { id } }", {"id": demo.id("rounds", "chen_visit")}
        )
    assert error_codes(body) == ["NOT_FOUND"]


ROUND_INPUT = {
    "kind": "PATROL",
    "walkedAt": "2026-11-30T09:00:00+08:00",
    "place": "巷口",
    "findings": "井盖松动",
}


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        ({"walkedAt": "2026-11-30T09:00:00"}, "BAD_USER_INPUT", "walkedAt"),  # no time zone
        ({"findings": "x" * 4001}, "BAD_USER_INPUT", "findings"),
        ({"place": "x" * 201}, "BAD_USER_INPUT", "place"),
        ({"kind": "NAP"}, "BAD_USER_INPUT", None),  # not a kind of round: GraphQL refuses it
        ({"residentId": "resident_zhou"}, "NOT_FOUND", "Person"),  # a resident of another community
        ({"unitId": "fulu_g2"}, "NOT_FOUND", "OrgUnit"),  # the neighbouring grid: not the worker's to see
    ],
)
async def test_a_round_with_bad_input_is_refused_and_writes_nothing(mutable_demo, change, code, detail):
    d = mutable_demo
    values = {"unitId": d.id("units", "fulu_g1"), **ROUND_INPUT, **change}
    for key, table in (("residentId", "people"), ("unitId", "units")):
        if key in change:
            values[key] = d.id(table, change[key])
    before = (await GridRound.all().count(), await GridRoundEvent.all().count())
    async with d.client("grid_worker_chen") as client:
        body = await gql(client, RECORD, {"input": values})
    assert error_codes(body) == [code], body
    assert body["data"] is None or body["data"]["recordGridRound"] is None
    error = body["errors"][0]
    if code == "NOT_FOUND":  # the same words as for a row that does not exist
        assert error["message"].startswith(f"No {detail} with id "), error
    elif detail is not None:
        assert error["extensions"]["argument"] == detail, error
    assert (await GridRound.all().count(), await GridRoundEvent.all().count()) == before
