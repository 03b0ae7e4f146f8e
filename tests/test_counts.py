"""Counts at scale: ``totalCount`` and the statistics are exact up to the server's count
limit and a flagged estimate beyond it, always of what the caller may see
(docs/operations.md, "Counts at scale"). The limit is lowered here so that the demo world
crosses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.http import create_app
from models.concerns import Concern
from policies.store import PolicyStore
from services.config import POLICY_DIR_DEFAULT
from tests.conftest import gql, is_postgres
from tests.test_statistics import PERIOD, QUERY, build

COUNT = "{ concerns(first: 1) { totalCount totalCountIsEstimate } }"
EVERY_ID = "query($after: String) { concerns(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }"
LIMIT = 2


@pytest.fixture(scope="module")
def limited_app(settings):
    """The app with a count limit of 2 rows."""
    return create_app(
        settings.with_overrides(exact_count_limit=LIMIT, watch_policy=False),
        policy_store=PolicyStore(POLICY_DIR_DEFAULT),
        manage_database=False,
    )


def client(app, d, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {d.tokens[key]}"},
    )


async def every_id(c: httpx.AsyncClient) -> list[str]:
    ids, after = [], None
    while True:
        page = (await gql(c, EVERY_ID, {"after": after}))["data"]["concerns"]
        ids += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("key", ["street_official_gao", "secretary_zhang", "grid_worker_chen", "resident_wang"])
async def test_up_to_the_limit_total_count_is_exact(demo, key):
    async with demo.client(key) as c:
        body = await gql(c, COUNT)
        seen = await every_id(c)
    assert body["data"]["concerns"] == {"totalCount": len(seen), "totalCountIsEstimate": False}


async def test_beyond_the_limit_total_count_is_a_flagged_estimate(demo, limited_app, count_queries):
    async with demo.client("secretary_zhang") as c:
        seen = await every_id(c)
    assert len(seen) > LIMIT  # the secretary sees more than the lowered limit
    with count_queries() as statements:
        async with client(limited_app, demo, "secretary_zhang") as c:
            body = await gql(c, COUNT)
    assert "errors" not in body, body
    answer = body["data"]["concerns"]
    assert answer["totalCountIsEstimate"] is True
    assert answer["totalCount"] >= LIMIT + 1  # never below what was counted
    # The count reads at most limit + 1 rows of the caller's own list ...
    bounded = [s for s in statements.statements if "count(*)" in s and f"LIMIT {LIMIT + 1}" in s.replace("$", "")]
    assert bounded or any("LIMIT" in s and "count(" in s for s in statements.statements), statements.statements
    if is_postgres():
        # ... and the estimate is the planner's for that same, policy-filtered query
        explains = [s for s in statements.statements if s.lstrip().startswith("EXPLAIN")]
        assert explains and all("scope_path" in s for s in explains), explains
    else:
        assert answer["totalCount"] == LIMIT + 1


async def test_under_the_limit_a_caller_with_few_rows_gets_the_exact_count(demo, limited_app):
    """Another scope's many rows do not turn a small list into an estimate."""
    async with demo.client("resident_li") as c:
        seen = await every_id(c)
    assert len(seen) <= LIMIT
    async with client(limited_app, demo, "resident_li") as c:
        body = await gql(c, COUNT)
    assert body["data"]["concerns"] == {"totalCount": len(seen), "totalCountIsEstimate": False}


STATS = QUERY.replace("meanHoursToClose", "meanHoursToClose isEstimate")


async def test_statistics_are_exact_and_say_so_under_the_limit(mutable_demo):
    d = mutable_demo
    await build(d)
    async with d.client("secretary_zhang") as c:
        body = await gql(c, STATS, {**PERIOD, "unit": None})
    concerns = body["data"]["statistics"]["concerns"]
    assert (concerns["collected"], concerns["closed"], concerns["isEstimate"]) == (3, 2, False)


async def test_statistics_beyond_the_limit_are_a_flagged_estimate(mutable_demo, limited_app):
    d = mutable_demo
    await build(d)
    async with client(limited_app, d, "secretary_zhang") as c:
        body = await gql(c, STATS, {**PERIOD, "unit": None})
    assert "errors" not in body, body
    concerns = body["data"]["statistics"]["concerns"]
    assert concerns["isEstimate"] is True
    assert concerns["collected"] >= LIMIT + 1  # 3 raised in the period: more than the limit
    assert concerns["closed"] == 2  # within the limit: still exact
    # the street official of the other street is under the limit: exact, not an estimate
    async with client(limited_app, d, "street_official_gao") as c:
        other = (await gql(c, STATS, {**PERIOD, "unit": None}))["data"]["statistics"]["concerns"]
    assert (other["collected"], other["isEstimate"]) == (2, False)


RAISE = """mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id } }"""
RESOLVE = """mutation($id: ID!) { resolveConcern(input: {concernId: $id, resolution: "修好了", proof: ["p.jpg"]}) {
  __typename } }"""


async def test_statistics_follow_state_changes_made_through_the_api(mutable_demo):
    d = mutable_demo
    now = datetime.now(UTC)
    period = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(days=1)).isoformat()}

    async def figures() -> dict:
        async with d.client("secretary_zhang") as c:
            body = await gql(c, STATS, {**period, "unit": None})
        assert "errors" not in body, body
        return body["data"]["statistics"]["concerns"]

    before = await figures()
    async with d.client("grid_worker_chen") as c:
        for title in ("路灯不亮", "井盖松动"):
            input = {"unitId": d.id("units", "fulu_g1"), "title": title, "category": "infrastructure"}
            body = await gql(c, RAISE, {"input": input})
            assert "errors" not in body, body
    after = await figures()
    assert after["collected"] == before["collected"] + 2
    assert after["isEstimate"] is False
    # the figures are those of the table itself, recounted here
    start = datetime.fromisoformat(period["since"])
    scope = d.world.units["fulu"].path
    assert after["collected"] == await Concern.filter(
        created_at__gte=start, scope_path__startswith=scope + "/"
    ).count() + await Concern.filter(created_at__gte=start, scope_path=scope).count()
