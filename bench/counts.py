"""Prints what counting costs as the data grows: issue 9, "cost grows with the work".

Not a test. Builds (once; kept for the next run, ``--rebuild`` builds again) two
PostgreSQL databases with one street of 10 communities and 300 grids:

* ``bandeng_counts_big``: 3,000,000 concerns (10,000 per grid),
* ``bandeng_counts_small``: 30,000 concerns (100 per grid),

the concerns spread evenly over 2024-01-01 .. 2026-12-31, 60 % closed (30 h after being
raised), 10 % resolved, the rest open; written with one ``INSERT ... SELECT FROM
generate_series`` each (a minute or two for 3M), then VACUUM ANALYZE. Then, through the real
app (in-process ASGI client, real tokens, real policy), for a street official, a
community secretary and a grid worker, it times

* ``concerns(first: 20) { totalCount totalCountIsEstimate nodes { id } }`` and
* ``statistics(since: 2025-01-01, until: 2026-01-01) { concerns { ... } }``

and prints the median (p50) of ``--repeat`` x ``--rounds`` sequential requests per
database (the rounds alternate the two databases, so load from elsewhere on the machine
falls on both alike) and the ratio big/small. Issue 9 asks for at most 1.5x.

    .venv/bin/python bench/counts.py                      # postgres://postgres@127.0.0.1:5432
    .venv/bin/python bench/counts.py --rebuild --repeat 10 --rounds 6
    BANDENG_EXACT_COUNT_LIMIT=1000 .venv/bin/python bench/counts.py
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run against the checkout this file lives in
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

# bench/run.py's helpers (this folder is on sys.path when a script of it runs)
from run import _asyncpg_dsn, _with_database  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from models.org import UnitKind  # noqa: E402
from models.people import Person  # noqa: E402
from services import database, identity, people  # noqa: E402
from services.concerns import CATEGORIES  # noqa: E402
from services.config import POLICY_DIR_DEFAULT, load_settings  # noqa: E402
from services.org import create_unit  # noqa: E402
from services.tally import MIGRATION as TALLY  # noqa: E402

COMMUNITIES = 10
GRIDS_PER_COMMUNITY = 30
SIZES = {"small": 30_000, "big": 3_000_000}
ACTORS = ("street_official", "secretary", "grid_worker")

LIST = "{ concerns(first: 20) { totalCount totalCountIsEstimate nodes { id } } }"
STATS = """{ statistics(since: "2025-01-01T00:00:00Z", until: "2026-01-01T00:00:00Z") {
  concerns { collected resolved closed overdueNow meanHoursToClose isEstimate
             byCategory { category count countAYearEarlier } } } }"""
QUERIES = {"concerns(first:20){totalCount}": LIST, "statistics{concerns}": STATS}

# One statement writes every concern: grid i % 300, time spread over three years.
FILL = """
WITH grid AS (
  SELECT id, path, row_number() OVER (ORDER BY id) - 1 AS n FROM org_unit WHERE kind = 'grid'
), cat AS (
  SELECT array[{categories}]::text[] AS names
), rows AS (
  SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i::float8 / $1) * interval '1095 days' AS at
  FROM generate_series(0, $1 - 1) AS i
)
INSERT INTO concern (
  scope_path, owner_id, created_at, version, kind, unit_id, raised_by_id, title, description,
  category, location, photos, status, level, due_at, assignee_name, resolution, proof,
  rating_comment, supervision_count, resolved_at, closed_at, updated_at
)
SELECT grid.path, $2, rows.at, 0, 'concern', grid.id, $2, 'bench', '',
  cat.names[1 + (rows.i / 300) % array_length(cat.names, 1)], '', '[]',
  CASE WHEN rows.i % 10 < 6 THEN 'closed' WHEN rows.i % 10 = 6 THEN 'resolved'
       WHEN rows.i % 10 = 7 THEN 'in_progress' WHEN rows.i % 10 = 8 THEN 'submitted'
       ELSE 'accepted' END,
  'grid', rows.at + interval '7 days', '', '', '[]', '', 0,
  CASE WHEN rows.i % 10 < 7 THEN rows.at + interval '20 hours' END,
  CASE WHEN rows.i % 10 < 6 THEN rows.at + interval '30 hours' END,
  rows.at
FROM rows JOIN grid ON grid.n = rows.i % 300 CROSS JOIN cat
"""


async def _exists(base_url: str, name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _recreate(base_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def build(url: str, concerns: int) -> None:
    """The street, its people and ``concerns`` concerns (the database is empty)."""
    import asyncpg

    await database.upgrade(url)
    await database.connect(url)
    try:
        street = await create_unit(UnitKind.STREET, "计数街道")
        official = await people.create_person("街道干部", "13900000001", "", street)
        await people.assign_role(official, "street_official", street)
        for c in range(COMMUNITIES):
            community = await create_unit(UnitKind.COMMUNITY, f"社区{c}", street)
            if c == 0:
                secretary = await people.create_person("书记", "13900000002", "", community)
                await people.assign_role(secretary, "secretary", community)
            for g in range(GRIDS_PER_COMMUNITY):
                grid = await create_unit(UnitKind.GRID, f"网格{c}-{g}", community)
                if c == 0 and g == 0:
                    worker = await people.create_person("网格员", "13900000003", "", grid)
                    await people.assign_role(worker, "grid_worker", grid)
                    resident = await people.create_person("居民", "13900000004", "", grid)
    finally:
        await Tortoise.close_connections()
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        categories = ", ".join("'" + c.replace("'", "''") + "'" for c in CATEGORIES)
        started = time.perf_counter()
        # the tally triggers off for the bulk load (3M trigger calls), then one recount
        await conn.execute("ALTER TABLE concern DISABLE TRIGGER USER")
        await conn.execute(FILL.replace("{categories}", categories), concerns, resident.id)
        await conn.execute("ALTER TABLE concern ENABLE TRIGGER USER")
        await conn.execute(
            f"DELETE FROM concern_tally; {TALLY.FILL} {TALLY.RECOUNT['postgres']} {TALLY.ORDERED}"
        )
        print(f"  {concerns:,} concerns written in {time.perf_counter() - started:.1f} s", flush=True)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def tokens() -> dict[str, str]:
    by_role = {}
    for actor in ACTORS:
        person = await Person.filter(assignments__role=actor).first()
        assert person is not None, actor
        by_role[actor] = await identity.issue_token(person.id, "bench-counts")
    return by_role


async def measure(url: str, repeat: int, samples: dict, answers: dict, upgrade: bool) -> None:
    """Add ``repeat`` timings (ms) of each (actor, query) against the database at ``url``
    to ``samples`` (after three warm-up requests each), and the last answer to ``answers``."""
    from app.http import create_app
    from policies.store import PolicyStore

    settings = load_settings().with_overrides(
        database_url=url, rate_limit_token_rate=0, rate_limit_address_rate=0, watch_policy=False
    )
    if upgrade:
        await database.upgrade(url)  # a database built by an older checkout gets the new migrations
    await database.connect(url, settings)
    try:
        app = create_app(settings, policy_store=PolicyStore(POLICY_DIR_DEFAULT), manage_database=False)
        by_role = await tokens()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            for actor in ACTORS:
                headers = {"Authorization": f"Bearer {by_role[actor]}"}
                for label, query in QUERIES.items():
                    for i in range(repeat + 3):  # three warm-up requests
                        started = time.perf_counter()
                        response = await client.post("/graphql", json={"query": query}, headers=headers)
                        elapsed = (time.perf_counter() - started) * 1000
                        body = response.json()
                        assert response.status_code == 200 and "errors" not in body, body
                        if i >= 3:
                            samples.setdefault((actor, label), []).append(elapsed)
                    answers[(actor, label)] = body["data"]
    finally:
        await Tortoise.close_connections()


def _summary(answer: dict) -> str:
    if "concerns" in answer:
        c = answer["concerns"]
        return f"totalCount {c['totalCount']:,}{' (estimate)' if c['totalCountIsEstimate'] else ''}"
    c = answer["statistics"]["concerns"]
    return f"collected {c['collected']:,}{' (estimate)' if c['isEstimate'] else ''}"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=os.environ.get("BANDENG_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per query and round")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds, each measuring both databases in turn (evens out load)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the databases again")
    parser.add_argument("--build-only", action="store_true", help="build the databases, do not measure")
    args = parser.parse_args()
    logging.getLogger("bandeng").setLevel(logging.WARNING)
    urls = {}
    for size, concerns in SIZES.items():
        name = f"bandeng_counts_{size}"
        url = _with_database(args.url, name)
        if args.rebuild or not await _exists(args.url, name):
            print(f"building {name} ({concerns:,} concerns) ...", flush=True)
            await _recreate(args.url, name)
            await build(url, concerns)
        urls[size] = url
    if args.build_only:
        return
    samples: dict[str, dict] = {size: {} for size in SIZES}
    answers: dict[str, dict] = {size: {} for size in SIZES}
    for round_ in range(args.rounds):
        for size, url in urls.items():
            await measure(url, args.repeat, samples[size], answers[size], upgrade=round_ == 0)
    limit = load_settings().exact_count_limit
    n = args.repeat * args.rounds
    print(
        f"\nBANDENG_EXACT_COUNT_LIMIT={limit}, p50 of {n} sequential requests per cell "
        f"({args.rounds} rounds alternating the databases), in-process ASGI"
    )
    print(f"{'actor':<16} {'query':<32} {'30k ms':>8} {'3M ms':>8} {'3M/30k':>7}  answer at 30k | at 3M")
    for actor in ACTORS:
        for label in QUERIES:
            small = statistics.median(samples["small"][(actor, label)])
            big = statistics.median(samples["big"][(actor, label)])
            said = (
                f"{_summary(answers['small'][(actor, label)])} | {_summary(answers['big'][(actor, label)])}"
            )
            print(f"{actor:<16} {label:<32} {small:>8.2f} {big:>8.2f} {big / small:>6.2f}x  {said}")


if __name__ == "__main__":
    asyncio.run(main())
