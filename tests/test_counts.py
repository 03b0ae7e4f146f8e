"""Counts at scale: ``totalCount`` and the statistics are exact up to the server's count
limit and a flagged estimate beyond it, always of what the caller may see
(docs/operations.md, "Counts at scale"). The limit is lowered here so that the demo world
crosses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.http import create_app
from models.concerns import Concern, ConcernTally
from policies.store import PolicyStore
from services.config import POLICY_DIR_DEFAULT
from tests.conftest import gql, is_postgres
from tests.test_statistics import PERIOD, QUERY, build, concern

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


@pytest.mark.parametrize(
    "key", ["street_official_gao", "secretary_zhang", "grid_worker_chen", "resident_wang"]
)
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
    bounded = [s for s in statements.statements if "count(*) AS n FROM (" in s]
    assert bounded and all("LIMIT" in s and "scope_path" in s for s in bounded), statements.statements
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


async def test_statistics_of_whole_scopes_come_from_the_tallies_exact_beyond_the_limit(
    mutable_demo, limited_app
):
    d = mutable_demo
    await build(d)
    async with client(limited_app, d, "secretary_zhang") as c:
        body = await gql(c, STATS, {**PERIOD, "unit": None})
    assert "errors" not in body, body
    concerns = body["data"]["statistics"]["concerns"]
    # 3 raised in the period: more than the limit of 2, still exact
    assert (concerns["collected"], concerns["closed"], concerns["isEstimate"]) == (3, 2, False)
    assert concerns["meanHoursToClose"] == 20.0


async def test_a_residents_own_figures_are_counted_and_flagged_beyond_the_limit(mutable_demo, limited_app):
    """A resident's rule is their own concerns, not a scope: their figures are counted
    from the rows, at most the limit per figure."""
    d = mutable_demo
    await build(d)
    for day in ("05", "06", "07"):
        await concern(d, "fulu_g1", "resident_wang", "property", f"2025-06-{day}T08:00:00")
    async with d.client("resident_wang") as c:
        exact = (await gql(c, STATS, {**PERIOD, "unit": None}))["data"]["statistics"]["concerns"]
    assert (exact["collected"], exact["isEstimate"]) == (4, False)
    async with client(limited_app, d, "resident_wang") as c:
        body = await gql(c, STATS, {**PERIOD, "unit": None})
    assert "errors" not in body, body
    limited = body["data"]["statistics"]["concerns"]
    assert limited["isEstimate"] is True and limited["collected"] >= LIMIT + 1


async def test_a_period_that_does_not_start_at_midnight_counts_its_partial_days(mutable_demo):
    d = mutable_demo
    await build(d)  # fulu: raised 02-01 08:00 (closed 18:00), 03-01 08:00 (closed 03-02 14:00), 04-01
    await concern(d, "fulu_g1", "resident_li", "property", "2025-02-01T03:00:00")  # before `since`
    period = {"since": "2025-02-01T12:00:00+08:00", "until": "2025-03-02T10:00:00Z", "unit": None}
    async with d.client("secretary_zhang") as c:
        body = await gql(c, STATS, period)
    concerns = body["data"]["statistics"]["concerns"]
    assert (concerns["collected"], concerns["resolved"], concerns["closed"]) == (2, 1, 1)
    assert concerns["meanHoursToClose"] == 10.0
    assert concerns["byCategory"][0]["category"] == "infrastructure"
    assert concerns["byCategory"][0]["count"] == 2


async def test_overdue_counts_open_concerns_due_before_today_and_earlier_today(mutable_demo):
    d = mutable_demo
    now = datetime.now(UTC)
    period = {"since": "2025-01-01T00:00:00Z", "until": "2025-01-02T00:00:00Z", "unit": None}

    async def overdue() -> int:
        async with d.client("secretary_zhang") as c:
            return (await gql(c, STATS, period))["data"]["statistics"]["concerns"]["overdueNow"]

    before = await overdue()
    unit, person = d.world.units["fulu_g1"], d.world.people["resident_wang"]
    for due in (now - timedelta(days=3), now - timedelta(seconds=30), now + timedelta(days=1)):
        await Concern.create(
            unit=unit, scope_path=unit.path, owner_id=person.id, raised_by=person, title="逾期", category="safety",
            due_at=due,
        )  # fmt: skip
    assert await overdue() == before + 2


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
    assert (
        after["collected"]
        == await Concern.filter(created_at__gte=start, scope_path__startswith=scope + "/").count()
        + await Concern.filter(created_at__gte=start, scope_path=scope).count()
    )


STEP = """mutation($input: ConcernStepInput!) { %s(input: $input) { __typename } }"""


async def test_tallies_equal_a_recount_after_racing_clients(mutable_demo):
    """Raises, accepts and rejects (some racing for the same concern) from many clients at
    once: the tallies the triggers kept equal a recount of the concerns, and the figures
    read from them equal the rows."""
    from services import tally
    from tests.test_concurrency import race

    d = mutable_demo

    def raising(person: str, i: int) -> tuple[str, str, dict]:
        category = ("infrastructure", "safety", "property")[i % 3]
        grid = "fulu_g2" if person == "secretary_zhang" and i % 3 else "fulu_g1"  # the worker's is fulu_g1
        values = {"unitId": d.id("units", grid), "title": f"并发{i}", "category": category}
        if person == "grid_worker_chen":
            values["residentId"] = d.id("people", "resident_wang")
        return person, RAISE, values

    first = await race(d, [raising(("grid_worker_chen", "secretary_zhang")[i % 2], i) for i in range(12)])
    assert not [b for b in first if b.get("errors")], first
    ids = [body["data"]["raiseConcern"]["id"] for body in first]
    calls = [raising("secretary_zhang", i) for i in range(12, 24)]
    for i, concern_id in enumerate(ids):
        # every concern gets an accept and a reject at once: one of them wins
        calls.append(("secretary_zhang", STEP % "acceptConcern", {"concernId": concern_id}))
        calls.append(
            ("secretary_zhang", STEP % "rejectConcern", {"concernId": concern_id, "note": f"重复{i}"})
        )
    bodies = await race(d, calls)
    assert not [b for b in bodies if b.get("errors")], [b for b in bodies if b.get("errors")]
    assert await tally.recount_differences() == []

    now = datetime.now(UTC)
    period = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(days=1)).isoformat()}
    async with d.client("secretary_zhang") as c:
        body = await gql(c, STATS, {**period, "unit": None})
    figures = body["data"]["statistics"]["concerns"]
    scope = d.world.units["fulu"].path
    raised = Concern.filter(created_at__gte=now - timedelta(days=1), scope_path__startswith=scope + "/")
    assert figures["collected"] == await raised.count() >= 24
    assert figures["isEstimate"] is False
    # and the comparison does see a tally that is off
    row = await ConcernTally.filter(scope_path=scope, measure="raised").first()
    await ConcernTally.filter(id=row.id).update(n=row.n + 1)
    assert len(await tally.recount_differences()) == 1
