"""Bandeng benchmark: prints throughput, latency and SQL statements per request.

Not a test. It builds a throwaway database (SQLite temp file, or a fresh PostgreSQL
database ``bandeng_bench_<random>`` that is dropped at the end), applies the real
migrations, seeds the demo world plus bulk data, issues tokens and then sends a bounded
number of GraphQL requests per scenario, in-process through ``httpx.ASGITransport`` and,
with ``--http``, also over loopback to uvicorn running in a child process.

    python bench/run.py
    python bench/run.py --database-url postgres://postgres@127.0.0.1:5432/test --http

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import platform
import random
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run against the checkout this file lives in
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tortoise import Tortoise, connections  # noqa: E402
from tortoise.expressions import F  # noqa: E402

from app import seed  # noqa: E402
from models.concerns import Concern, ConcernEvent, ConcernStatus  # noqa: E402
from models.councils import AgendaTopic, Attendance, Council, Meeting, MeetingStatus  # noqa: E402
from models.org import OrgUnit, UnitKind  # noqa: E402
from models.people import ApiToken, Person, RoleAssignment  # noqa: E402
from services import database, identity  # noqa: E402
from services.concerns import CATEGORIES, OPEN  # noqa: E402
from services.config import Settings  # noqa: E402
from services.org import create_unit  # noqa: E402

THIS_FILE = Path(__file__).resolve()
POLICY_DIR = ROOT / "policies"
LOOPBACK = "127.0.0.1"
SQL_PATH = "/__bench/sql"

# --------------------------------------------------------------------- SQL counting


class SqlCounter(logging.Handler):
    """Counts statements Tortoise logs on ``tortoise.db_client`` (like tests' QueryCounter)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.count = 0
        self._logger = logging.getLogger("tortoise.db_client")

    def emit(self, record: logging.LogRecord) -> None:
        # Only statements: the asyncpg client also logs pool creation/closing here.
        if not str(record.msg).startswith(("Created connection pool", "Closed connection pool")):
            self.count += 1

    def install(self) -> SqlCounter:
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        self._logger.propagate = False  # keep statements off the console
        return self

    def remove(self) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(logging.NOTSET)
        self._logger.propagate = True


# ------------------------------------------------------------------------- database


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgres", parts.netloc, parts.path, "", ""))


def _hide_password(text: str) -> str:
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "asyncpg://", "psycopg://"))


async def create_postgres_database(base_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"bandeng_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(base_url, name), name


async def drop_postgres_database(base_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def database_version(url: str) -> str:
    conn = connections.get("default")
    if is_postgres(url):
        _, rows = await conn.execute_query("SHOW server_version")
        return f"PostgreSQL {rows[0]['server_version']}"
    _, rows = await conn.execute_query("SELECT sqlite_version() AS v")
    return f"SQLite {rows[0]['v']}"


# ---------------------------------------------------------------------- bulk data


@dataclass
class BenchWorld:
    """What the scenarios need: who asks, and about what."""

    tokens: dict[str, str] = field(default_factory=dict)
    actors: dict[str, str] = field(default_factory=dict)  # token key -> description
    bench_community_id: int = 0
    demo_community_id: int = 0
    resident_grid_id: int = 0
    secretary_concern_ids: list[int] = field(default_factory=list)
    open_concern_ids: list[int] = field(default_factory=list)  # a step can still be taken
    counts: dict[str, int] = field(default_factory=dict)


async def add_bulk_data(world: seed.DemoWorld, args: argparse.Namespace, rng: random.Random) -> BenchWorld:
    """One extra community under 南川西路街道: grids, residents, a secretary, one council
    with ``--meetings`` meetings of ``--topics`` topics and ``--attendance`` attendees,
    and ``--concerns`` concerns spread over the grids. Inserted with ``bulk_create``."""
    bench = BenchWorld()
    street = world.units["nanchuan"]
    community = await create_unit(UnitKind.COMMUNITY, "压测社区", street)
    grids = [await create_unit(UnitKind.GRID, f"压测社区第{i + 1}网格", community) for i in range(args.grids)]
    grid_ids = [g.id for g in grids]

    residents = [
        Person(
            name=f"压测居民{i:05d}",
            phone=f"188{i:08d}",
            address=f"{grids[i % len(grids)].name} {i // len(grids) + 1}号",
            home_unit_id=grids[i % len(grids)].id,
            scope_path=grids[i % len(grids)].path,
        )
        for i in range(args.residents)
    ]
    await Person.bulk_create(residents, batch_size=500)
    secretary = await Person.create(
        name="压测书记",
        phone="18700000000",
        address="压测社区居委会",
        home_unit=community,
        scope_path=community.path,
    )
    await Person.filter(owner_id=None).update(owner_id=F("id"))
    resident_rows = (
        await Person.filter(home_unit_id__in=grid_ids)
        .order_by("id")
        .values_list("id", "home_unit_id", "scope_path")
    )
    by_grid: dict[int, list[int]] = defaultdict(list)
    path_of_person: dict[int, str] = {}
    for person_id, grid_id, path in resident_rows:
        by_grid[grid_id].append(person_id)
        path_of_person[person_id] = path
    await RoleAssignment.bulk_create(
        [
            RoleAssignment(person_id=pid, role="resident", unit_id=gid, scope_path=path)
            for pid, gid, path in resident_rows
        ]
        + [
            RoleAssignment(
                person_id=secretary.id, role="secretary", unit_id=community.id, scope_path=community.path
            )
        ],
        batch_size=500,
    )

    categories = list(CATEGORIES)
    statuses = list(ConcernStatus)
    concerns = []
    for i in range(args.concerns):
        grid = grids[i % len(grids)]
        owner = rng.choice(by_grid[grid.id])
        concerns.append(
            Concern(
                unit_id=grid.id,
                scope_path=grid.path,
                owner_id=owner,
                raised_by_id=owner,
                recorded_by_id=owner,
                title=f"压测诉求 {i:05d}",
                description="Generated for the benchmark: a stairwell, a lamp, a leaking pipe.",
                category=rng.choice(categories),
                location=f"{rng.randint(1, 40)} 号楼 {rng.randint(1, 6)} 单元",
                status=rng.choice(statuses),
            )
        )
    await Concern.bulk_create(concerns, batch_size=500)
    concern_rows = (
        await Concern.filter(unit_id__in=grid_ids).order_by("id").values_list("id", "scope_path", "owner_id")
    )
    await ConcernEvent.bulk_create(
        [
            ConcernEvent(
                concern_id=cid,
                scope_path=path,
                owner_id=owner,
                actor_id=owner,
                action="submitted",
                to_status=ConcernStatus.SUBMITTED,
            )
            for cid, path, owner in concern_rows
        ],
        batch_size=500,
    )

    council = await Council.create(
        name="压测社区议事会",
        description="Bulk council for the benchmark.",
        unit=community,
        scope_path=community.path,
    )
    start = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
    now = datetime.now(UTC)
    meetings = []
    for i in range(args.meetings):
        starts = start + timedelta(days=7 * i)
        meetings.append(
            Meeting(
                council_id=council.id,
                scope_path=community.path,
                title=f"第 {i + 1} 次议事",
                starts_at=starts,
                place=f"压测社区第{i % len(grids) + 1}网格院落",
                status=MeetingStatus.HELD if starts < now else MeetingStatus.SCHEDULED,
                scheduled_by_id=secretary.id,
            )
        )
    await Meeting.bulk_create(meetings, batch_size=500)
    meeting_ids = await Meeting.filter(council_id=council.id).order_by("id").values_list("id", flat=True)

    all_residents = [pid for pid, _, _ in resident_rows]
    concern_ids = [cid for cid, _, _ in concern_rows]
    topics, attendance = [], []
    for mid in meeting_ids:
        for j in range(args.topics):
            raiser = rng.choice(all_residents)
            topics.append(
                AgendaTopic(
                    meeting_id=mid,
                    scope_path=community.path,
                    owner_id=raiser,
                    title=f"议题 {mid}-{j + 1}",
                    description="Generated agenda topic.",
                    concern_id=rng.choice(concern_ids) if j % 3 == 0 else None,
                    raised_by_id=raiser,
                )
            )
        for pid in rng.sample(all_residents, min(args.attendance, len(all_residents))):
            attendance.append(
                Attendance(
                    meeting_id=mid,
                    person_id=pid,
                    scope_path=community.path,
                    owner_id=pid,
                    capacity="resident",
                    present=rng.random() < 0.9,
                    recorded_by_id=secretary.id,
                )
            )
    await AgendaTopic.bulk_create(topics, batch_size=500)
    await Attendance.bulk_create(attendance, batch_size=500)

    # Who asks.
    resident_id = by_grid[grids[0].id][0]
    official = world.people["street_official_xu"]
    bench.tokens = {
        "street_official": await identity.issue_token(official.id, "bench"),
        "secretary": await identity.issue_token(secretary.id, "bench"),
        "resident": await identity.issue_token(resident_id, "bench"),
    }
    bench.actors = {
        "street_official": f"{official.name} (street_official {street.path})",
        "secretary": f"压测书记 (secretary {community.path})",
        "resident": f"person {resident_id} (resident {path_of_person[resident_id]})",
    }
    bench.bench_community_id = community.id
    bench.demo_community_id = world.units["fulu"].id
    bench.resident_grid_id = grids[0].id
    bench.secretary_concern_ids = concern_ids
    bench.open_concern_ids = list(
        await Concern.filter(id__in=concern_ids, status__in=list(OPEN)).values_list("id", flat=True)
    )
    for model in (
        OrgUnit,
        Person,
        RoleAssignment,
        ApiToken,
        Council,
        Meeting,
        AgendaTopic,
        Attendance,
        Concern,
        ConcernEvent,
    ):
        bench.counts[model._meta.db_table] = await model.all().count()
    return bench


# ------------------------------------------------------------------------ scenarios

# Page sizes explicit, within the query cost limit (docs/operations.md): the bench
# community has one council of 100 meetings, each with 10 topics and 5 attendance records:
# 1 + 100 + 100 x 10 + 100 x 5 = 1,601 rows at most.
NESTED = """query Nested($unit: ID!) {
  councils(unitId: $unit, first: 1) {
    nodes { id name meetings(first: 100) { id title startsAt status
      topics(first: 10) { id title }
      attendance(first: 5) { id capacity present } } }
  }
}"""

NESTED_DEEP = """query NestedDeep($unit: ID!) {
  councils(unitId: $unit, first: 1) {
    nodes { id name meetings(first: 100) { id title startsAt status
      topics(first: 10) { id title raisedBy { name } }
      attendance(first: 5) { id capacity present person { name } } } }
  }
}"""


@dataclass
class Scenario:
    key: str
    title: str
    actor: str  # token key
    query: str
    variables: Callable[[int, random.Random], dict]
    shape: Callable[[dict], str] = lambda body: ""


def _nested_shape(body: dict) -> str:
    nodes = body["data"]["councils"]["nodes"]
    meetings = [m for c in nodes for m in c["meetings"]]
    topics = sum(len(m["topics"]) for m in meetings)
    attendance = sum(len(m["attendance"]) for m in meetings)
    return f"{len(nodes)} council, {len(meetings)} meetings, {topics} topics, {attendance} attendance"


def build_scenarios(bench: BenchWorld) -> list[Scenario]:
    counter = iter(range(10**9))
    return [
        Scenario("a", "me { name }", "resident", "query Me { me { name } }", lambda i, r: {}),
        Scenario(
            "b",
            "concerns(first: 50) + totalCount",
            "street_official",
            "query Concerns { concerns(first: 50) { totalCount pageInfo { hasNextPage endCursor }"
            " nodes { id title category status createdAt } } }",
            lambda i, r: {},
            lambda body: f"50 of {body['data']['concerns']['totalCount']} concerns",
        ),
        Scenario(
            "c",
            "councils→meetings→topics+attendance",
            "street_official",
            NESTED,
            lambda i, r: {"unit": str(bench.bench_community_id)},
            _nested_shape,
        ),
        Scenario(
            "c-small",
            "same query, demo council (few rows)",
            "street_official",
            NESTED,
            lambda i, r: {"unit": str(bench.demo_community_id)},
            _nested_shape,
        ),
        Scenario(
            "c-deep",
            "c + raisedBy/person: one level deeper",
            "street_official",
            NESTED_DEEP,
            lambda i, r: {"unit": str(bench.bench_community_id)},
            _nested_shape,
        ),
        Scenario(
            "d",
            "concern(id) lookup",
            "secretary",
            "query One($id: ID!) { concern(id: $id) { id title status category createdAt } }",
            lambda i, r: {"id": str(r.choice(bench.secretary_concern_ids))},
        ),
        Scenario(
            "e",
            "mutation raiseConcern",
            "resident",
            "mutation Raise($input: RaiseConcernInput!) { raiseConcern(input: $input) { id status } }",
            lambda i, r: {
                "input": {
                    "unitId": str(bench.resident_grid_id),
                    "title": f"压测新诉求 {next(counter)}",
                    "category": "safety",
                    "description": "Raised by the benchmark.",
                    "location": "3 号楼",
                }
            },
        ),
        Scenario(
            "f",
            "mutation superviseConcern (a workflow step)",
            "street_official",
            "mutation Urge($input: ConcernStepInput!) { superviseConcern(input: $input) "
            "{ __typename ... on Concern { id supervisionCount } } }",
            lambda i, r: {"input": {"concernId": str(r.choice(bench.open_concern_ids)), "note": "督办"}},
        ),
    ]


@dataclass
class Result:
    scenario: Scenario
    requests: int
    seconds: float
    latencies_ms: list[float]
    sql: int | None
    errors: int
    first_error: str
    bytes_per_response: float
    shape: str
    cut_short: bool  # stopped by --max-seconds before --requests

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def run_scenario(
    client: httpx.AsyncClient,
    scenario: Scenario,
    token: str,
    *,
    requests: int,
    concurrency: int,
    warmup: int,
    max_seconds: float,
    rng: random.Random,
    sql_count: Callable[[], object],
) -> Result:
    headers = {"Authorization": f"Bearer {token}"}

    async def send(i: int) -> httpx.Response:
        payload = {"query": scenario.query, "variables": scenario.variables(i, rng)}
        return await client.post("/graphql", json=payload, headers=headers)

    # Warm-up (not measured): also checks that the scenario answers without errors.
    shape, first_error = "", ""
    for i in range(max(1, warmup)):
        response = await send(i)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            first_error = f"HTTP {response.status_code}: {str(body.get('errors') or body)[:300]}"
            break
        shape = scenario.shape(body)

    latencies: list[float] = []
    errors = 0
    total_bytes = 0
    next_index = 0

    async def worker() -> None:
        nonlocal errors, total_bytes, next_index, first_error
        while next_index < requests and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            response = await send(i)
            latencies.append((time.perf_counter() - t0) * 1000)
            total_bytes += len(response.content)
            # Cheap check; the JSON is decoded only when something looks wrong.
            if response.status_code != 200 or b'"errors":' in response.content:
                errors += 1
                if not first_error:
                    first_error = f"HTTP {response.status_code}: {response.text[:300]}"

    before = await _maybe_await(sql_count())
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    seconds = time.perf_counter() - t0
    after = await _maybe_await(sql_count())
    sql = None if before is None or after is None else after - before
    done = len(latencies)
    return Result(
        scenario,
        done,
        seconds,
        latencies,
        sql,
        errors,
        first_error,
        total_bytes / max(1, done),
        shape,
        cut_short=done < requests,
    )


async def _maybe_await(value):
    if asyncio.iscoroutine(value):
        return await value
    return value


def print_results(title: str, results: list[Result]) -> None:
    print(f"\n== {title}")
    head = (
        f"{'':8}{'scenario':39}{'actor':16}{'reqs':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'SQL/req':>9}{'KB/resp':>9}{'errors':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        sql = "n/a" if r.sql is None else f"{r.sql / r.requests:.2f}"
        print(
            f"{r.scenario.key:8}{r.scenario.title:39}{r.scenario.actor:16}"
            f"{str(r.requests) + ('*' if r.cut_short else ''):>6}"
            f"{r.requests / r.seconds:>9.1f}{r.percentile(0.5):>9.1f}{r.percentile(0.95):>9.1f}"
            f"{sql:>9}{r.bytes_per_response / 1024:>9.1f}{r.errors:>7}"
        )
    if any(r.cut_short for r in results):
        print("  * stopped by the --max-seconds time budget before --requests")
    for r in results:
        if r.shape:
            print(f"  {r.scenario.key}: {r.shape}")
    for r in results:
        if r.first_error:
            print(f"  {r.scenario.key} FIRST ERROR: {r.first_error}")


# --------------------------------------------------------------------- transports


async def run_in_process(
    args: argparse.Namespace, settings: Settings, bench: BenchWorld, scenarios: list[Scenario]
) -> list[Result]:
    from app.http import create_app
    from policies.store import PolicyStore

    app = create_app(settings, policy_store=PolicyStore(POLICY_DIR), manage_database=False)
    counter = SqlCounter().install()
    results = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client:
            for scenario in scenarios:
                results.append(
                    await run_scenario(
                        client,
                        scenario,
                        bench.tokens[scenario.actor],
                        requests=args.requests,
                        concurrency=args.concurrency,
                        warmup=args.warmup,
                        max_seconds=args.max_seconds,
                        rng=random.Random(args.seed),
                        sql_count=lambda: counter.count,
                    )
                )
    finally:
        counter.remove()
    return results


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


async def run_over_http(
    args: argparse.Namespace, database_url: str, bench: BenchWorld, scenarios
) -> list[Result]:
    port = _free_port()
    env = dict(os.environ, BANDENG_BENCH_DATABASE_URL=database_url)  # not on the command line
    if args.stock_uvicorn:
        env["BANDENG_BENCH_STOCK_UVICORN"] = "1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(THIS_FILE), "--serve-child", str(port), env=env, cwd=str(ROOT)
    )
    base = f"http://{LOOPBACK}:{port}"
    results = []
    try:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            deadline = time.monotonic() + 30
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"uvicorn child exited with {proc.returncode}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn child did not become ready in 30 s")
                await asyncio.sleep(0.1)

            async def sql_count() -> int:
                return int((await client.get(SQL_PATH)).text)

            for scenario in scenarios:
                results.append(
                    await run_scenario(
                        client,
                        scenario,
                        bench.tokens[scenario.actor],
                        requests=args.requests,
                        concurrency=args.concurrency,
                        warmup=args.warmup,
                        max_seconds=args.max_seconds,
                        rng=random.Random(args.seed),
                        sql_count=sql_count,
                    )
                )
    finally:
        if proc.returncode is None:
            proc.terminate()  # uvicorn shuts down gracefully and closes Tortoise in the lifespan
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    return results


class _SqlEndpoint:
    """Wraps the app in the uvicorn child: ``GET /__bench/sql`` answers the statement count."""

    def __init__(self, app, counter: SqlCounter):
        self.app = app
        self.counter = counter

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == SQL_PATH:
            body = str(self.counter.count).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


# The bench measures the service, not its rate limits (which would answer 429 here).
NO_RATE_LIMITS = {"rate_limit_token_rate": 0, "rate_limit_address_rate": 0}


def serve_child(port: int) -> None:
    """The uvicorn child of ``--http``: the real app (its lifespan opens Tortoise)."""
    import uvicorn

    from app.http import create_app
    from app.server import DrainingServer, uvicorn_config
    from policies.store import PolicyStore

    url = os.environ["BANDENG_BENCH_DATABASE_URL"]
    settings = Settings(database_url=url, policy_dir=POLICY_DIR, log_level="WARNING", **NO_RATE_LIMITS)
    app = create_app(settings, policy_store=PolicyStore(POLICY_DIR), manage_database=True)
    counter = SqlCounter().install()
    if os.environ.get("BANDENG_BENCH_STOCK_UVICORN"):  # uvicorn's defaults (httptools, no limits)
        uvicorn.run(
            _SqlEndpoint(app, counter),
            host=LOOPBACK,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        return
    # the server `bandeng serve` runs: h11 with the header limits and read timeouts
    config = uvicorn_config(_SqlEndpoint(app, counter), settings, LOOPBACK, port)
    config.access_log = False
    DrainingServer(config, app.state.drain, drain_seconds=0).run()


# --------------------------------------------------------------------------- main


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_header(args: argparse.Namespace, db_text: str, bench: BenchWorld, setup_seconds: float) -> None:
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in (
            "strawberry-graphql",
            "graphql-core",
            "tortoise-orm",
            "pycasbin",
            "starlette",
            "uvicorn",
            "httpx",
            "asyncpg" if is_postgres(args.database_url or "") else "aiosqlite",
        )
    )
    print("Bandeng benchmark", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print(f"machine   : {platform.platform()}, {os.cpu_count()} cores (os.cpu_count)")
    print(f"python    : {platform.python_implementation()} {platform.python_version()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load avg  : {load} (1/5/15 min, before the run; other work on the machine skews figures)")
    print(f"database  : {db_text}")
    print(f"versions  : {versions}")
    print(f"code      : git {_git()}")
    print(f"command   : {_hide_password(shlex.join(sys.orig_argv))}")
    print(
        f"requests  : up to {args.requests} per scenario (at most {args.max_seconds:g} s each) after "
        f"{args.warmup} warm-up, concurrency {args.concurrency}, seed {args.seed}"
    )
    print(
        f"data      : demo world + 1 community, {args.grids} grids, {args.residents} residents, "
        f"1 council x {args.meetings} meetings x {args.topics} topics + {args.attendance} attendance, "
        f"{args.concerns} concerns (built in {setup_seconds:.1f} s)"
    )
    print("rows      : " + ", ".join(f"{table} {n}" for table, n in bench.counts.items()))
    print("actors    : " + "; ".join(f"{key} = {text}" for key, text in bench.actors.items()))


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    tmp: tempfile.TemporaryDirectory | None = None
    pg_name = None
    try:
        t0 = time.perf_counter()
        if args.database_url:
            if not is_postgres(args.database_url):
                raise SystemExit("--database-url must be a postgres:// URL (SQLite is the default).")
            url, pg_name = await create_postgres_database(args.database_url)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="bandeng_bench_")
            url = f"sqlite://{Path(tmp.name) / 'bench.sqlite3'}"
        await database.upgrade(url)
        await database.connect(url)
        world = await seed.seed_demo()
        bench = await add_bulk_data(world, args, rng)
        setup_seconds = time.perf_counter() - t0
        kind = await database_version(url)
        where = (
            f"throwaway database {pg_name} (dropped at the end)"
            if pg_name
            else "temp file (deleted at the end)"
        )
        print_header(args, f"{kind}, {where}", bench, setup_seconds)

        scenarios = build_scenarios(bench)
        if args.scenarios:
            wanted = args.scenarios.split(",")
            scenarios = [s for s in scenarios if s.key in wanted]
        settings = Settings(database_url=url, policy_dir=POLICY_DIR, **NO_RATE_LIMITS)
        results = await run_in_process(args, settings, bench, scenarios)
        print_results("in-process (httpx.ASGITransport, same event loop as the client)", results)
        sys.stdout.flush()
        if args.http:
            await Tortoise.close_connections()  # the child owns the database now
            results = await run_over_http(args, url, bench, scenarios)
            print_results(
                f"HTTP over loopback (uvicorn child process on {LOOPBACK}, "
                f"{'stock uvicorn' if args.stock_uvicorn else 'bandeng serve: h11 with limits'}, httpx client)",
                results,
            )
        print("\nSQL/req counts statements logged on tortoise.db_client (BEGIN/COMMIT are not logged).")
    finally:
        await Tortoise.close_connections()
        if pg_name:
            await drop_postgres_database(args.database_url, pg_name)
        if tmp is not None:
            tmp.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Bandeng GraphQL benchmark (prints figures; not a test).")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL server to create a throwaway bandeng_bench_<random> database on "
        "(e.g. postgres://postgres@127.0.0.1:5432/test); default: SQLite temp file",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="measured requests per scenario (default 200)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=10.0, help="time budget per scenario, seconds (default 10)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument(
        "--warmup", type=int, default=5, help="unmeasured requests per scenario first (default 5)"
    )
    parser.add_argument(
        "--http", action="store_true", help="also run over loopback against uvicorn (child process)"
    )
    parser.add_argument(
        "--stock-uvicorn",
        action="store_true",
        help="with --http: uvicorn's defaults (httptools, no limits) instead of `bandeng serve`'s server",
    )
    parser.add_argument(
        "--scenarios", default="", help="comma-separated subset, e.g. a,c,c-small (default all)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the data and ids (default 1)")
    parser.add_argument("--grids", type=int, default=10, help="grids in the bench community (default 10)")
    parser.add_argument(
        "--residents", type=int, default=500, help="residents in the bench grids (default 500)"
    )
    parser.add_argument(
        "--meetings", type=int, default=100, help="meetings of the bench council (default 100)"
    )
    parser.add_argument("--topics", type=int, default=10, help="agenda topics per meeting (default 10)")
    parser.add_argument(
        "--attendance", type=int, default=5, help="attendance records per meeting (default 5)"
    )
    parser.add_argument(
        "--concerns", type=int, default=3000, help="concerns over the bench grids (default 3000)"
    )
    parser.add_argument("--serve-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.serve_child:
        for name in ("requests", "concurrency", "grids", "residents", "meetings"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        if args.residents < args.grids:
            parser.error("--residents must be at least --grids (every grid needs a resident)")
        if args.requests > 100_000 or args.concurrency > 256:
            parser.error("keep --requests <= 100000 and --concurrency <= 256")
    return args


def main() -> None:
    args = parse_args()
    if args.serve_child:
        serve_child(args.serve_child)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
