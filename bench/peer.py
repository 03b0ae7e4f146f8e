"""Bandeng against PostGraphile 5 (the peer of issue 9): same PostgreSQL, same rows.

Not a test. It installs PostGraphile 5 on Node 22 from npm in a scratch folder (reused
when present), builds the W1 data (100 councils x 10 meetings under one street) and the
W2/W3 data (a community of grids, residents, concerns and events) in a fresh Bandeng
database, copies the W2/W3 rows into the peer's ``peer`` database (same ids, names,
titles, events), starts one Bandeng process and two PostGraphile processes (without and
with row-level security), checks that both sides return the same rows, and then runs
alternating ``wrk`` rounds and prints req/s, p50, server CPU ms per request, SQL
statements per request and the Bandeng/peer ratio (median of the per-round ratios).

    python bench/peer.py
    python bench/peer.py --rounds 5 --concerns 30000 --grids 300 --residents 3000

See bench/README.md ("Against PostGraphile 5") and bench/peer/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run against the checkout this file lives in
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

# bench/run.py's helpers (this folder is on sys.path when a script of it runs)
from run import LOOPBACK, SqlCounter, _free_port, _git, _version  # noqa: E402
from tortoise import Tortoise, connections  # noqa: E402
from tortoise.expressions import F  # noqa: E402

from models.concerns import Concern, ConcernEvent, ConcernStatus  # noqa: E402
from models.councils import Council, Meeting, MeetingStatus  # noqa: E402
from models.org import UnitKind  # noqa: E402
from models.people import Person, RoleAssignment  # noqa: E402
from services import database, identity  # noqa: E402
from services.org import create_unit  # noqa: E402

PEER_FILES = Path(__file__).resolve().parent / "peer"
POLICY_DIR = ROOT / "policies"
BANDENG_DB = "bandeng_bench"
PEER_DB = "peer"
W1_PEER_SCOPE = "city/main-street/"  # peer-w1.sql puts every council under this path
EVENT_STEPS = [  # (action, from, to): the history every generated concern gets, in order
    ("submitted", None, ConcernStatus.SUBMITTED),
    ("accept", ConcernStatus.SUBMITTED, ConcernStatus.ACCEPTED),
    ("start", ConcernStatus.ACCEPTED, ConcernStatus.IN_PROGRESS),
]

# ------------------------------------------------------------------------ workloads

W1_BANDENG = "{ councils(first: 100) { nodes { name meetings { title } } } }"
W1_PEER = (
    "{ allCouncils(first: 100, orderBy: PRIMARY_KEY_DESC) { nodes { name "
    "meetingsByCouncilId(orderBy: PRIMARY_KEY_DESC) { nodes { title } } } } }"
)
W2_BANDENG = (
    "{ concerns(first: 20) { nodes { title status raisedBy { name } events { kind toStatus createdAt } } } }"
)
W2_PEER = (
    "{ allConcerns(first: 20, orderBy: PRIMARY_KEY_DESC) { nodes { title status "
    "personByRaisedById { name } concernEventsByConcernId(orderBy: PRIMARY_KEY_ASC) "
    "{ nodes { kind toStatus createdAt } } } } }"
)
W3_BANDENG = "{ me { name } }"
W3_PEER = "{ currentPerson { name } }"
RAISE = "mutation Raise($input: RaiseConcernInput!) { raiseConcern(input: $input) { id status } }"


def _when(text: str) -> str:
    """A timestamp in one form whatever the server's formatting."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def normalise(workload: str, side: str, body: dict) -> object:
    """The rows of an answer, in a form both servers can be compared in."""
    if body.get("errors") or not body.get("data"):
        return {"errors": body.get("errors"), "data": body.get("data")}
    data = body["data"]
    if workload == "W1":
        if side == "bandeng":
            return [[c["name"], [m["title"] for m in c["meetings"]]] for c in data["councils"]["nodes"]]
        return [
            [c["name"], [m["title"] for m in c["meetingsByCouncilId"]["nodes"]]]
            for c in data["allCouncils"]["nodes"]
        ]
    if workload == "W2":
        if side == "bandeng":
            nodes = data["concerns"]["nodes"]
            return [
                [
                    n["title"],
                    n["status"].lower(),
                    n["raisedBy"]["name"],
                    [[e["kind"], (e["toStatus"] or "").lower(), _when(e["createdAt"])] for e in n["events"]],
                ]
                for n in nodes
            ]
        return [
            [
                n["title"],
                n["status"].lower(),
                n["personByRaisedById"]["name"],
                [
                    [e["kind"], (e["toStatus"] or "").lower(), _when(e["createdAt"])]
                    for e in n["concernEventsByConcernId"]["nodes"]
                ],
            ]
            for n in data["allConcerns"]["nodes"]
        ]
    return data["me"]["name"] if side == "bandeng" else data["currentPerson"]["name"]


# ------------------------------------------------------------------------- helpers


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgres", parts.netloc, "/" + name, "", ""))


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ step 1: install


@dataclass
class Peer:
    """Where PostGraphile lives: the node binary and the folder with its node_modules."""

    node: Path
    pg5: Path

    def version(self) -> str:
        package = json.loads((self.pg5 / "node_modules/postgraphile/package.json").read_text())
        node = subprocess.run([str(self.node), "--version"], capture_output=True, text=True).stdout.strip()
        return f"PostGraphile {package['version']} on Node {node}"


def install_peer(peer_dir: Path) -> Peer:
    """Node 22 from npm's ``node`` package, then the pinned PostGraphile (as bench/peer/README.md)."""
    node_dir, pg5 = peer_dir / "node22", peer_dir / "pg5"
    node = node_dir / "node_modules/node/bin/node"
    npm = shutil.which("npm")
    if not node.exists():
        if npm is None:
            raise SystemExit("npm is needed to install Node 22 for the peer: apt-get install -y npm")
        print(f"installing Node 22 from npm into {node_dir} ...", flush=True)
        node_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "init", "-y"], cwd=node_dir, check=True, capture_output=True)
        subprocess.run([npm, "install", "node@22"], cwd=node_dir, check=True, capture_output=True)
    pg5.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "graphile.config.mjs"):
        shutil.copyfile(PEER_FILES / name, pg5 / name)
    if not (pg5 / "node_modules/postgraphile/dist/cli-run.js").exists():
        print(f"installing PostGraphile into {pg5} ...", flush=True)
        env = dict(os.environ, PATH=f"{node.parent}:{os.environ.get('PATH', '')}")
        subprocess.run([npm or "npm", "install"], cwd=pg5, env=env, check=True, capture_output=True)
    return Peer(node, pg5)


def peer_jwt(peer: Peer, scope: str, person_id: int | None = None) -> str:
    """The JWT the RLS server expects, signed by bench/peer/mkjwt.js."""
    argv = [str(peer.node), str(PEER_FILES / "mkjwt.js"), scope] + ([str(person_id)] if person_id else [])
    return subprocess.run(argv, cwd=peer.pg5, check=True, capture_output=True, text=True).stdout.strip()


# --------------------------------------------------------------------- step 2: data


@dataclass
class World:
    """Who asks what, on both sides."""

    bandeng_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # bandeng: official, worker, resident
    jwts: dict[str, str] = field(default_factory=dict)  # peer: w1, w2, w3
    grid_id: int = 0
    write_grid_id: int = 0
    grid_path: str = ""
    resident_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    actors: dict[str, str] = field(default_factory=dict)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop a database left by an earlier run, with its connections."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def recreate_database(admin_url: str, name: str) -> None:
    """Drop (with its connections) and create an empty database."""
    await drop_database(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def build_bandeng(admin_url: str, args: argparse.Namespace) -> World:
    """A fresh ``bandeng_bench`` with the real migrations: W1's councils and W2/W3's concerns."""
    world = World(bandeng_url=_with_database(admin_url, args.bandeng_db))
    await recreate_database(admin_url, args.bandeng_db)
    await database.upgrade(world.bandeng_url)
    await database.connect(world.bandeng_url)
    try:
        street = await create_unit(UnitKind.STREET, "Main Street")
        official = await Person.create(name="Street official", scope_path=street.path, home_unit=street)
        await RoleAssignment.create(
            person=official, role="street_official", unit=street, scope_path=street.path
        )

        # W1: the councils and meetings of peer-w1.sql, one community per council.
        now = datetime.now(UTC)
        for g in range(1, 101):
            community = await create_unit(UnitKind.COMMUNITY, f"Community {g:03d}", street)
            council = await Council.create(
                name=f"Council {g}", unit=community, scope_path=community.path, owner_id=official.id
            )
            await Meeting.bulk_create(
                [
                    Meeting(
                        council_id=council.id,
                        scope_path=community.path,
                        title=f"Meeting {m} of council {g}",
                        starts_at=now - timedelta(days=m),
                        status=MeetingStatus.HELD,
                        scheduled_by_id=official.id,
                    )
                    for m in range(1, 11)
                ]
            )

        # W2/W3: a community of grids with residents, concerns and their events.
        home = await create_unit(UnitKind.COMMUNITY, "Concern community", street)
        grids = [await create_unit(UnitKind.GRID, f"Grid {i + 1:03d}", home) for i in range(args.grids)]
        await Person.bulk_create(
            [
                Person(
                    name=f"Resident {i:05d}",
                    phone=f"188{i:08d}",
                    home_unit_id=grids[i % len(grids)].id,
                    scope_path=grids[i % len(grids)].path,
                )
                for i in range(args.residents)
            ],
            batch_size=1000,
        )
        residents = (
            await Person.filter(name__startswith="Resident ")
            .order_by("id")
            .values_list("id", "home_unit_id", "scope_path")
        )
        await RoleAssignment.bulk_create(
            [RoleAssignment(person_id=p, role="resident", unit_id=g, scope_path=s) for p, g, s in residents],
            batch_size=1000,
        )
        by_grid: dict[int, list[int]] = {}
        for pid, gid, _ in residents:
            by_grid.setdefault(gid, []).append(pid)
        statuses = [s for _, _, s in EVENT_STEPS]
        for start in range(0, args.concerns, 2000):
            batch = []
            for i in range(start, min(start + 2000, args.concerns)):
                grid = grids[i % len(grids)]
                people = by_grid[grid.id]
                raiser = people[(i // len(grids)) % len(people)]
                batch.append(
                    Concern(
                        unit_id=grid.id,
                        scope_path=grid.path,
                        owner_id=raiser,
                        raised_by_id=raiser,
                        recorded_by_id=raiser,
                        title=f"Concern {i:06d}",
                        description="Generated for the peer benchmark.",
                        category="safety",
                        location=f"Building {i % 40 + 1}",
                        status=statuses[(i // len(grids)) % len(statuses)],
                    )
                )
            await Concern.bulk_create(batch, batch_size=1000)
        conn = connections.get("default")
        # Distinct, increasing times, so "newest first" and "oldest first" mean ids on both sides.
        await conn.execute_script(
            "UPDATE concern SET created_at = timestamptz '2026-01-01 00:00:00+00' + id * interval '1 minute';"
        )
        concerns = await Concern.all().order_by("id").values_list("id", "scope_path", "owner_id", "status")
        steps_of = {s: EVENT_STEPS[: statuses.index(s) + 1] for s in statuses}
        events = [
            ConcernEvent(
                concern_id=cid,
                scope_path=path,
                owner_id=owner,
                actor_id=owner,
                action=action,
                from_status=before,
                to_status=after,
            )
            for cid, path, owner, status in concerns
            for action, before, after in steps_of[ConcernStatus(status)]
        ]
        for start in range(0, len(events), 5000):
            await ConcernEvent.bulk_create(events[start : start + 5000], batch_size=1000)
        await conn.execute_script(
            "UPDATE concern_event e SET created_at = c.created_at + (e.id - m.first) * interval '1 second'"
            " FROM concern c, (SELECT concern_id, min(id) AS first FROM concern_event GROUP BY concern_id) m"
            " WHERE c.id = e.concern_id AND m.concern_id = e.concern_id; ANALYZE;"
        )

        grid = grids[0]
        worker = await Person.create(name="Grid worker", scope_path=grid.path, home_unit=grid)
        await RoleAssignment.create(person=worker, role="grid_worker", unit=grid, scope_path=grid.path)
        resident_id = by_grid[grid.id][0]
        await Person.filter(owner_id=None).update(owner_id=F("id"))
        world.tokens = {
            "W1": await identity.issue_token(official.id, "peer-bench"),
            "W2": await identity.issue_token(worker.id, "peer-bench"),
            "W3": await identity.issue_token(resident_id, "peer-bench"),
            # raises in another grid, so that W2's page stays the same as the peer's
            "write": await identity.issue_token(by_grid[grids[1].id][0], "peer-bench"),
        }
        world.write_grid_id = grids[1].id
        world.grid_path, world.resident_id = grid.path, resident_id
        world.grid_id = grid.id
        world.actors = {
            "W1": f"street_official {street.path} (Bandeng); peer JWT scope {W1_PEER_SCOPE}",
            "W2": f"grid_worker {grid.path}; peer JWT scope {grid.path}",
            "W3": f"resident person {resident_id} {grid.path}; peer JWT scope + person_id",
        }
        for table in ("council", "meeting", "person", "concern", "concern_event"):
            _, rows = await conn.execute_query(f"SELECT count(*) AS n FROM {table}")
            world.counts[table] = rows[0]["n"]
    finally:
        await Tortoise.close_connections()
    return world


def load_peer_sql(admin_url: str) -> None:
    """The ``peer`` database from bench/peer/peer-w1.sql and peer-w2.sql (with psql: they use \\c)."""
    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("psql is needed to load bench/peer/*.sql: apt-get install -y postgresql-client")
    # peer-w1.sql drops and creates the database itself; CREATE ROLE fails harmlessly when it exists.
    for script, url in (("peer-w1.sql", admin_url), ("peer-w2.sql", _with_database(admin_url, PEER_DB))):
        done = subprocess.run(
            [psql, url, "-q", "-f", str(PEER_FILES / script)], capture_output=True, text=True
        )
        errors = [
            line for line in done.stderr.splitlines() if "ERROR" in line and "already exists" not in line
        ]
        if done.returncode or errors:
            raise SystemExit(f"loading {script} failed:\n{done.stderr}")


async def copy_rows_to_peer(admin_url: str, world: World) -> None:
    """W2/W3's person, concern and concern_event rows, copied from Bandeng's database as they are."""
    source = await asyncpg.connect(world.bandeng_url)
    target = await asyncpg.connect(_with_database(admin_url, PEER_DB))
    try:
        copies = {
            "person": "SELECT id, name, phone, scope_path FROM person",
            "concern": "SELECT id, scope_path, title, description, category, location, status,"
            " raised_by_id, created_at FROM concern",
            "concern_event": "SELECT id, concern_id, scope_path, action, from_status, to_status,"
            " created_at FROM concern_event",
        }
        for table, query in copies.items():
            rows = await source.fetch(query)
            await target.copy_records_to_table(table, records=[tuple(r) for r in rows])
        await target.execute("ANALYZE")
    finally:
        await source.close()
        await target.close()


def build_peer(admin_url: str, world: World, peer: Peer) -> None:
    """The peer's database and the JWTs of the same callers."""
    asyncio.run(drop_database(admin_url, PEER_DB))
    load_peer_sql(admin_url)
    asyncio.run(copy_rows_to_peer(admin_url, world))
    world.jwts = {
        "W1": peer_jwt(peer, W1_PEER_SCOPE),
        "W2": peer_jwt(peer, world.grid_path),
        "W3": peer_jwt(peer, world.grid_path, world.resident_id),
    }


# ------------------------------------------------------------------ step 3: servers


@dataclass
class Server:
    """One server process (its own process group, so that it and its children stop together)."""

    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/graphql"

    def cpu_ticks(self) -> int:
        """utime + stime of the process and its descendants (from /proc/<pid>/stat)."""
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        tree, todo = set(), [self.proc.pid]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo.extend(child for child, parent in parents.items() if parent == pid and child not in tree)
        return sum(ticks.get(pid, 0) for pid in tree)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_server(name: str, argv: list[str], env: dict[str, str], cwd: Path, port: int, logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, proc, port, log)


def wait_ready(server: Server, token: str, query: str, seconds: float = 60) -> None:
    """Until the server answers a GraphQL request (or stop with its log)."""
    deadline = time.monotonic() + seconds
    while True:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited:\n{server.log.read_text()[-3000:]}")
        with suppress(httpx.TransportError):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            answer = httpx.post(server.url, json={"query": query}, headers=headers, timeout=10)
            if answer.status_code == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{server.name} did not answer in {seconds:g} s:\n{server.log.read_text()[-3000:]}"
            )
        time.sleep(0.2)


def allow_all_policy(folder: Path) -> Path:
    """A copy of the policy files in which every ``read`` rule reaches every row (``any``)."""
    # without the policy's own tests (they expect denials, rightly)
    shutil.copytree(POLICY_DIR, folder, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.py"))
    lines: list[str] = []
    for line in (folder / "policy.csv").read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 5 and parts[0] == "p" and parts[3] == "read":
            line = ", ".join([*parts[:4], "any"])
            if line in lines:  # a role read the resource through two relations
                continue
        lines.append(line)
    (folder / "policy.csv").write_text("\n".join(lines) + "\n")
    return folder


def start_servers(
    args: argparse.Namespace, world: World, peer: Peer | None, logs: Path, servers: dict[str, Server]
) -> None:
    """Bandeng (one process, rate limits off) and the peer without and with RLS, into ``servers``
    as they start (so that the caller stops the ones started when a later one fails)."""
    pg = urlsplit(args.database_url)
    env = dict(
        os.environ,
        BANDENG_DATABASE_URL=world.bandeng_url,
        BANDENG_RATE_LIMIT_TOKEN_RATE="0",
        BANDENG_RATE_LIMIT_ADDRESS_RATE="0",
        BANDENG_LOG_LEVEL="warning",
    )
    port = _free_port()
    servers["bandeng"] = start_server(
        "bandeng", [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env, ROOT, port, logs
    )
    wait_ready(servers["bandeng"], world.tokens["W3"], W3_BANDENG)
    if peer is None:  # --only writes
        return
    # The same service under a policy that lets every rule read everything (the cost of
    # authorization is the difference).
    port = _free_port()
    allow_env = dict(env, BANDENG_POLICY_DIR=str(allow_all_policy(logs / "allow-all")))
    servers["bandeng-allow"] = start_server(
        "bandeng-allow",
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        allow_env,
        ROOT,
        port,
        logs,
    )
    for rls in ("0", "1"):
        port = _free_port()
        peer_env = dict(
            os.environ,
            PEER_RLS=rls,
            PEER_PG=f"{pg.hostname or LOOPBACK}:{pg.port or 5432}",
            PORT=str(port),
            NODE_ENV="production",
        )
        argv = [str(peer.node), "node_modules/postgraphile/dist/cli-run.js", "-C", "graphile.config.mjs"]
        name = "peer" if rls == "0" else "peer+rls"
        servers[name] = start_server(name, argv, peer_env, peer.pg5, port, logs)
    wait_ready(servers["bandeng-allow"], world.tokens["W3"], W3_BANDENG)
    wait_ready(servers["peer"], "", "{ __typename }")
    wait_ready(servers["peer+rls"], world.jwts["W3"], W3_PEER)


# ------------------------------------------------------------------- step 4: check


@dataclass
class Workload:
    """One measured pair: the Bandeng query and the peer query that return the same rows."""

    key: str
    title: str
    bandeng: str
    peer: str
    peer_servers: tuple[str, ...]


WORKLOADS = [
    Workload(
        "W1",
        "councils(first:100){name meetings{title}}, street official",
        W1_BANDENG,
        W1_PEER,
        ("peer", "peer+rls"),
    ),
    Workload("W2", "concerns(first:20) + raisedBy + events, grid worker", W2_BANDENG, W2_PEER, ("peer+rls",)),
    Workload("W3", "{ me { name } }, resident", W3_BANDENG, W3_PEER, ("peer+rls",)),
]


AUTHZ_MEASURED = ("W1", "W2")  # also run under the allow-all policy


def check_same_rows(servers: dict[str, Server], world: World) -> dict[str, str]:
    """Both sides answer each workload with the same rows, or stop with the difference."""
    shapes = {}
    for w in WORKLOADS:
        answers = {}
        for name in ("bandeng", *w.peer_servers):
            query, token = (
                (w.bandeng, world.tokens[w.key]) if name == "bandeng" else (w.peer, world.jwts[w.key])
            )
            headers = {"Authorization": f"Bearer {token}"} if name != "peer" else {}
            body = httpx.post(servers[name].url, json={"query": query}, headers=headers, timeout=60).json()
            answers[name] = normalise(w.key, "bandeng" if name == "bandeng" else "peer", body)
        for name in w.peer_servers:
            if answers[name] != answers["bandeng"]:
                mine = json.dumps(answers["bandeng"], ensure_ascii=False, indent=1).splitlines()
                theirs = json.dumps(answers[name], ensure_ascii=False, indent=1).splitlines()
                diff = "\n".join(list(difflib.unified_diff(mine, theirs, "bandeng", name, lineterm=""))[:80])
                raise SystemExit(f"{w.key}: Bandeng and {name} answer different rows:\n{diff}")
        rows = answers["bandeng"]
        if w.key == "W1":
            shapes[w.key] = f"{len(rows)} councils, {sum(len(m) for _, m in rows)} meetings"
        elif w.key == "W2":
            shapes[w.key] = f"{len(rows)} concerns, {sum(len(r[3]) for r in rows)} events"
        else:
            shapes[w.key] = f"name {rows!r}"
    return shapes


# ------------------------------------------------------------------- step 5: rounds

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local n = 0
ok = 0
bad = 0
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
{body}
function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do good = good + (t:get("ok") or 0); wrong = wrong + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), e.status, e.connect + e.read + e.write + e.timeout, good, wrong))
end
"""
READ_BODY = "wrk.body = prefix"
WRITE_BODY = """
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. n .. suffix)
end
function response(status, headers, body)
  if status == 200 and not string.find(body, '"errors"', 1, true) then ok = ok + 1 else bad = bad + 1 end
end
"""


@dataclass
class Measure:
    """One wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    failed: int
    cpu_ms: float
    ok: int = 0
    bad: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_ms / self.requests if self.requests else float("nan")  # none finished


def wrk_script(folder: Path, name: str, token: str, body: dict | None, write_prefix: str = "") -> Path:
    """A wrk Lua script: a fixed POST body, or (writes) a body with a counter and answer checks."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    if write_prefix:
        marker = "@@N@@"
        text = json.dumps(_raise_body(world_grid=body["grid"], title=write_prefix + marker))
        prefix, suffix = text.split(marker)
        lua = WRK_LUA.format(auth=auth, prefix=prefix, suffix=suffix, body=WRITE_BODY)
    else:
        lua = WRK_LUA.format(auth=auth, prefix=json.dumps(body), suffix="", body=READ_BODY)
    path = folder / f"{name}.lua"
    path.write_text(lua)
    return path


def _raise_body(world_grid: int, title: str) -> dict:
    return {
        "query": RAISE,
        "variables": {
            "input": {
                "unitId": str(world_grid),
                "title": title,
                "category": "safety",
                "description": "Raised by the peer benchmark.",
                "location": "Building 3",
            }
        },
    }


def run_wrk(server: Server, script: Path, args: argparse.Namespace, warmup: bool = True) -> Measure:
    """``wrk -t1 -c16 -d{seconds}s`` after a warm-up, with the server's CPU ticks around it."""
    base = ["wrk", "-t1", f"-c{args.connections}", "--timeout", "60s", "-s", str(script)]
    if warmup and args.warmup > 0:
        subprocess.run([*base, f"-d{args.warmup:g}s", server.url], capture_output=True, check=True)
    tick = os.sysconf("SC_CLK_TCK")
    before = server.cpu_ticks()
    done = subprocess.run(
        [*base, f"-d{args.seconds:g}s", server.url], capture_output=True, text=True, check=True
    )
    cpu_ms = (server.cpu_ticks() - before) * 1000 / tick
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    requests, micros, p50, status, socket_errors, ok, bad = (int(x) for x in line.split()[1:])
    return Measure(requests, micros / 1e6, p50 / 1000, status + socket_errors, cpu_ms, ok, bad)


@dataclass
class Round:
    """The measures of one round: (workload, server) -> Measure, plus the write test."""

    reads: dict[tuple[str, str], Measure] = field(default_factory=dict)
    write: Measure | None = None
    stored: int = 0
    distinct: int = 0


async def count_raised(url: str, prefix: str) -> tuple[int, int]:
    """Rows and distinct titles stored by one write run."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT title) AS d FROM concern WHERE title LIKE $1", prefix + "%"
        )
        return row["n"], row["d"]
    finally:
        await conn.close()


def run_rounds(
    args: argparse.Namespace, servers: dict[str, Server], world: World, scripts: Path
) -> list[Round]:
    """Alternating rounds: peer first in even rounds, Bandeng first in odd ones; the
    write runs after every read round (the rows they add to Bandeng's concern table, and
    not to the peer's, would otherwise sit in front of W2's newest-first page)."""
    rounds = [Round() for _ in range(args.rounds)]
    for number, result in enumerate(rounds):
        for w in WORKLOADS if args.only != "writes" else ():
            order = [*w.peer_servers, "bandeng", *(["bandeng-allow"] if w.key in AUTHZ_MEASURED else [])]
            if number % 2:
                order.reverse()
            for name in order:
                ours = name.startswith("bandeng")
                token = world.tokens[w.key] if ours else (world.jwts[w.key] if name != "peer" else "")
                query = w.bandeng if ours else w.peer
                script = wrk_script(scripts, f"{w.key}-{name}", token, {"query": query})
                measure = run_wrk(servers[name], script, args)
                result.reads[(w.key, name)] = measure
                print(
                    f"  round {number + 1} {w.key} {name:9} {measure.rate:8.1f} req/s  p50 {measure.p50_ms:6.1f} ms"
                    f"  CPU {measure.cpu_per_request:6.2f} ms/req  failed {measure.failed}  load {_load()}",
                    flush=True,
                )
    for number, result in enumerate(rounds):
        if args.write_seconds > 0:
            prefix = f"peer-bench {os.getpid()} r{number + 1} #"
            script = wrk_script(
                scripts, "write", world.tokens["write"], {"grid": world.write_grid_id}, prefix
            )
            seconds, args.seconds = args.seconds, args.write_seconds
            try:
                result.write = run_wrk(servers["bandeng"], script, args, warmup=False)
            finally:
                args.seconds = seconds
            time.sleep(1)  # requests still in flight when wrk stopped
            result.stored, result.distinct = asyncio.run(count_raised(world.bandeng_url, prefix))
            m = result.write
            print(
                f"  round {number + 1} write bandeng {m.rate:8.1f} req/s  p50 {m.p50_ms:6.1f} ms  ok {m.ok}"
                f"  failed {m.bad + m.failed}  stored {result.stored}  distinct {result.distinct}",
                flush=True,
            )
    return rounds


# ----------------------------------------------------------- step 6: SQL statements


async def count_bandeng_statements(world: World, only: str = "", repeat: int = 20) -> dict[str, float]:
    """A separate, short counting pass in-process: statements per request on the db_client logger."""
    from app.http import create_app
    from policies.store import PolicyStore
    from services.config import Settings

    settings = Settings(
        database_url=world.bandeng_url,
        policy_dir=POLICY_DIR,
        rate_limit_token_rate=0,
        rate_limit_address_rate=0,
    )
    await database.connect(world.bandeng_url)
    app = create_app(
        settings.with_overrides(watch_policy=False),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )
    counter = SqlCounter().install()
    counts = {}
    try:
        # With the lifespan, as the server runs: the identity cache listens (PostgreSQL).
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            bodies = {w.key: {"query": w.bandeng} for w in WORKLOADS if only != "writes"}
            tokens = dict(world.tokens)
            bodies["write"] = _raise_body(world.write_grid_id, "peer-bench statement count")
            for _ in range(200):
                if app.state.identity_cache.enabled:
                    break
                await asyncio.sleep(0.05)
            for key, body in bodies.items():
                headers = {"Authorization": f"Bearer {tokens[key]}"}
                await client.post("/graphql", json=body, headers=headers)  # warm
                before = counter.count
                for _ in range(repeat):
                    await client.post("/graphql", json=body, headers=headers)
                counts[key] = (counter.count - before) / repeat
    finally:
        counter.remove()
        await Tortoise.close_connections()
    return counts


# ------------------------------------------------------------------ step 6: report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(rounds: list[Round], statements: dict[str, float]) -> None:
    """One line per (workload, peer variant): medians over the rounds and the median ratio."""
    print()
    head = (
        "| workload | peer | peer req/s | Bandeng req/s | peer p50 ms | Bandeng p50 ms "
        "| peer CPU ms/req | Bandeng CPU ms/req | peer SQL/req | Bandeng SQL/req | Bandeng/peer |"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for w in WORKLOADS if rounds and rounds[0].reads else ():
        b = [r.reads[(w.key, "bandeng")] for r in rounds]
        for name in w.peer_servers:
            p = [r.reads[(w.key, name)] for r in rounds]
            ratios = [mb.rate / mp.rate for mb, mp in zip(b, p, strict=True)]
            peer_sql = "1" if name == "peer" else "1 (+ BEGIN, set_config, COMMIT)"
            print(
                f"| {w.key} | {'PostGraphile 5' + (' + RLS' if name != 'peer' else '')} "
                f"| {_median([m.rate for m in p]):.0f} | {_median([m.rate for m in b]):.0f} "
                f"| {_median([m.p50_ms for m in p]):.1f} | {_median([m.p50_ms for m in b]):.1f} "
                f"| {_median([m.cpu_per_request for m in p]):.2f} | {_median([m.cpu_per_request for m in b]):.2f} "
                f"| {peer_sql} | {statements.get(w.key, float('nan')):.1f} "
                f"| {_median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |"
            )
    overheads = []
    for key in AUTHZ_MEASURED if rounds and rounds[0].reads else ():
        ratios = [r.reads[(key, "bandeng-allow")].rate / r.reads[(key, "bandeng")].rate for r in rounds]
        allow = _median([r.reads[(key, "bandeng-allow")].rate for r in rounds])
        overheads.append(
            f"{key} {(_median(ratios) - 1) * 100:+.1f}% ({allow:.0f} req/s under a policy allowing all reads)"
        )
    if overheads:
        print(f"\nauthorization's cost (allow-all req/s / real req/s - 1, median): {'; '.join(overheads)}")
    writes = [r for r in rounds if r.write is not None]
    if writes:
        ok = sum(r.write.ok for r in writes)
        stored = sum(r.stored for r in writes)
        distinct = sum(r.distinct for r in writes)
        lost = sum(max(0, r.write.ok - r.distinct) for r in writes)
        print(
            f"| write raiseConcern, resident | — | — | {_median([r.write.rate for r in writes]):.0f} | — "
            f"| {_median([r.write.p50_ms for r in writes]):.1f} | — "
            f"| {_median([r.write.cpu_per_request for r in writes]):.2f} | — "
            f"| {statements.get('write', float('nan')):.1f} | — |"
        )
        print(
            f"\nwrites: {ok} successful answers, {stored} rows stored ({distinct} distinct titles): "
            f"lost {lost}, duplicated {stored - distinct}, "
            f"stored without a successful answer {max(0, distinct - ok)} (in flight when wrk stopped, or failed)"
        )


def print_header(
    args: argparse.Namespace, peer: Peer | None, world: World, shapes: dict[str, str], setup: float
) -> None:
    versions = ", ".join(
        f"{d} {_version(d)}"
        for d in ("strawberry-graphql", "graphql-core", "tortoise-orm", "uvicorn", "asyncpg")
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    print("Bandeng against PostGraphile 5", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print(
        f"machine   : {platform.platform()}, {os.cpu_count()} cores, load avg {_load()} (1/5/15 min, before)"
    )
    print(f"command   : {shlex.join(sys.orig_argv)}")
    print(f"code      : git {_git()}")
    print(f"versions  : Python {platform.python_version()}, {versions}")
    print(f"peer      : {f'{peer.version()} in {peer.pg5}' if peer else 'not run (--only writes)'}")
    print(f"wrk       : {(wrk.stdout + wrk.stderr).splitlines()[0] if (wrk.stdout + wrk.stderr) else '?'}")
    print(
        f"method    : wrk -t1 -c{args.connections} -d{args.seconds:g}s after a {args.warmup:g} s warm-up, "
        f"{args.rounds} alternating rounds; writes {args.write_seconds:g} s per round"
    )
    print(f"data      : {', '.join(f'{t} {n}' for t, n in world.counts.items())} (built in {setup:.0f} s)")
    for key, text in world.actors.items():
        if key in shapes:
            print(f"{key:10}: {text}; same rows on both sides: {shapes[key]}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Bandeng against PostGraphile 5 on the same PostgreSQL data (prints figures; not a test)."
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/test",
        help="admin URL of the PostgreSQL server; databases bandeng_bench and peer are (re)created on it",
    )
    parser.add_argument(
        "--peer-dir", default="/tmp/bandeng-peer", help="where Node 22 and PostGraphile are installed"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=10, help="wrk -d per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="wrk warm-up before each run, s (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument(
        "--write-seconds", type=float, default=10, help="raiseConcern test per round, s (0: none; default 10)"
    )
    parser.add_argument(
        "--only",
        choices=["writes"],
        default="",
        help="writes: only Bandeng's raiseConcern test (no peer installed or started, no reads)",
    )
    parser.add_argument(
        "--bandeng-db", default=BANDENG_DB, help=f"Bandeng's database, (re)created (default {BANDENG_DB})"
    )
    parser.add_argument("--grids", type=int, default=30, help="grids of the W2/W3 community (default 30)")
    parser.add_argument("--residents", type=int, default=300, help="residents over the grids (default 300)")
    parser.add_argument(
        "--concerns",
        type=int,
        default=3000,
        help="concerns over the grids, 3 events at most each (default 3000)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.grids < 2 or args.residents < args.grids or args.concerns < 20:
        parser.error("need --rounds >= 1, --grids >= 2, --residents >= --grids, --concerns >= 20")
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    admin = _with_database(args.database_url, urlsplit(args.database_url).path.lstrip("/") or "postgres")
    servers: dict[str, Server] = {}

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with tempfile.TemporaryDirectory(prefix="bandeng-peer-") as tmp:
        try:
            t0 = time.monotonic()
            writes_only = args.only == "writes"
            peer = None if writes_only else install_peer(Path(args.peer_dir))
            print("building the data ...", flush=True)
            world = asyncio.run(build_bandeng(admin, args))
            if peer is not None:
                build_peer(admin, world, peer)
            statements = asyncio.run(count_bandeng_statements(world, args.only))
            setup = time.monotonic() - t0
            start_servers(args, world, peer, Path(tmp), servers)
            shapes = {} if writes_only else check_same_rows(servers, world)
            print_header(args, peer, world, shapes, setup)
            rounds = run_rounds(args, servers, world, Path(tmp))
            print_table(rounds, statements)
            print(
                "\nreq/s, p50: wrk. CPU ms/req: utime+stime of the server's process tree (/proc/<pid>/stat) "
                "over the measured run / requests; PostgreSQL's own CPU is not included.\n"
                "SQL/req: Bandeng counted in a separate in-process pass (20 requests each) on the "
                "tortoise.db_client logger (BEGIN/COMMIT and pool resets not logged); peer: PostGraphile "
                "plans one statement per query (not measured: pg_stat_statements is not preloaded here).\n"
                f"ratio: Bandeng req/s / peer req/s per round, median (min–max). load avg after: {_load()}"
            )
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
