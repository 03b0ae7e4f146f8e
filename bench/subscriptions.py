"""Subscriptions at scale (issue 10): events per second fanned out to N open
subscriptions on one instance, delivery latency p50/p99, memory per open subscription.

A throwaway database (SQLite file, or ``bandeng_bench_<random>`` on PostgreSQL, dropped
at the end) with the demo world; a real ``bandeng serve`` child process on loopback;
``--subscriptions`` websocket connections (one subscription each, every one a token of
the street official 徐, who may read the concern) to
``concernChanged(id: <the leaning wall>)``; then ``--events`` supervision steps (督办,
the one step that may repeat) sent over HTTP, at most ``--window`` of them not yet delivered
to every subscriber. Each event reaches
every subscriber after the server has re-read the concern through that subscriber's
visibility and resolved its payload. It prints:

- fan-out: events per second and deliveries per second, from the first step sent to the
  last payload received;
- latency: from the event's time (the step's clock, in the payload's ``at``) to the
  payload's arrival at the client, p50/p99 over every delivery;
- memory: the server's resident set before and after opening the subscriptions, per
  subscription (a connection, its token check, its bus queue and its Strawberry task).

The clients run in this process on the same 2 cores as the server: figures are
lower bounds of what the server alone would do. Not a test: it asserts nothing.

    .venv/bin/python bench/subscriptions.py
    .venv/bin/python bench/subscriptions.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from httpx_ws import aconnect_ws  # noqa: E402
from run import _git, _hide_password, create_postgres_database, drop_postgres_database, is_postgres  # noqa: E402
from tortoise.transactions import in_transaction  # noqa: E402

from app import seed  # noqa: E402
from services import database, identity  # noqa: E402
from services.config import load_settings  # noqa: E402

SUBSCRIBER = "street_official_xu"
SELECTION = "action at concern { id status supervisionCount raisedBy { name phone } }"
QUERY = "subscription($id: ID) { concernChanged(id: $id) { %s } }"
SUPERVISE = (
    'mutation($i: ID!) { superviseConcern(input: {concernId: $i, note: "请加快办理"}) { __typename } }'
)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def prepare(url: str, count: int) -> tuple[list[str], str, str]:
    """Migrations, the demo world, ``count`` tokens for the subscriber and one for the actor."""
    await database.upgrade(url)
    await database.connect(url)
    try:
        async with in_transaction():
            world = await seed.seed_demo()
        person = world.people[SUBSCRIBER]
        tokens = [await identity.issue_token(person.id, f"bench {i}") for i in range(count)]
        actor = await identity.issue_token(person.id, "bench actor")
        return tokens, actor, str(world.concerns["wall"].id)
    finally:
        await database.disconnect()


class Progress:
    """Payloads received so far, and an event set when ``target`` is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.target and self.count >= self.target:
            self.reached.set()

    async def at_least(self, count: int, limit: float) -> None:
        self.target, self.reached = count, asyncio.Event()
        if self.count < count:
            await asyncio.wait_for(self.reached.wait(), limit)


class Subscriber:
    def __init__(self, progress: Progress, selection: str) -> None:
        self.selection = selection
        self.arrivals: list[tuple[float, str]] = []  # (time received, the event's `at`)
        self.ready = asyncio.Event()
        self.progress = progress

    async def run(self, http: httpx.AsyncClient, token: str, concern: str, stop: asyncio.Event) -> None:
        async with aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
            ack = await ws.receive_json()
            assert ack["type"] == "connection_ack", ack
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": QUERY % self.selection, "variables": {"id": concern}},
                }
            )
            receiving = asyncio.ensure_future(self._receive(ws))
            await stop.wait()
            receiving.cancel()

    async def _receive(self, ws) -> None:
        while True:
            message = await ws.receive_json()
            now = time.time()
            if message.get("type") != "next":
                raise RuntimeError(message)
            self.arrivals.append((now, message["payload"]["data"]["concernChanged"]["at"]))
            self.ready.set()
            self.progress.add()


async def bench(args: argparse.Namespace) -> None:
    temporary = None
    if args.database_url and is_postgres(args.database_url):
        url, name = await create_postgres_database(args.database_url)
        db_text = f"PostgreSQL (throwaway database {name})"
    else:
        temporary = tempfile.TemporaryDirectory()
        url = f"sqlite://{temporary.name}/bench.sqlite3"
        db_text = "SQLite (temp file)"
    server = None
    try:
        started = time.monotonic()
        tokens, actor, concern = await prepare(url, args.subscriptions)
        setup = time.monotonic() - started
        port = free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")}
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            cwd=ROOT,
            env={
                **environment,
                "BANDENG_DATABASE_URL": url,
                "BANDENG_SECRET": load_settings().secret,
                "BANDENG_WATCH_POLICY": "false",
                "BANDENG_RATE_LIMIT_TOKEN_RATE": "0",
                "BANDENG_RATE_LIMIT_ADDRESS_RATE": "0",
                "BANDENG_LOG_LEVEL": "WARNING",
                # every open websocket counts against it (default 1,000): room for the clients
                "BANDENG_HTTP_LIMIT_CONCURRENCY": str(args.subscriptions + 100),
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            await wait_ready(http, server)
            await asyncio.sleep(1)
            before = rss_kib(server.pid)
            stop = asyncio.Event()
            progress = Progress()
            subscribers = [Subscriber(progress, args.selection) for _ in tokens]
            tasks = []
            for subscriber, token in zip(subscribers, tokens, strict=True):
                tasks.append(asyncio.ensure_future(subscriber.run(http, token, concern, stop)))
                await asyncio.sleep(0)
            headers = {"Authorization": f"Bearer {actor}"}
            # Warm-up: steps until every subscriber has heard one (so every one is subscribed).
            warmups = 0
            while not all(s.ready.is_set() for s in subscribers):
                failed = [t for t in tasks if t.done() and t.exception()]
                if failed:
                    raise RuntimeError(failed[0].exception())
                await supervise(http, headers, concern)
                warmups += 1
                await asyncio.sleep(1)
            await asyncio.sleep(2)  # the warm-up's last deliveries
            after = rss_kib(server.pid)
            for subscriber in subscribers:
                subscriber.arrivals.clear()
            expected = args.events * len(subscribers)
            progress.count = 0
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            first = time.time()
            try:
                for number in range(args.events):
                    # at most --window events in flight (sent, not yet delivered to everyone)
                    await progress.at_least((number - args.window + 1) * len(subscribers), args.timeout)
                    await supervise(http, headers, concern)
                sent = time.time()
                await progress.at_least(expected, args.timeout)
            except TimeoutError:
                sent = time.time()  # reported: fewer payloads than expected
            server_cpu = cpu_seconds(server.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
            arrivals = [a for s in subscribers for a in s.arrivals]
            last = max((t for t, _ in arrivals), default=sent)
            latencies = sorted((t - datetime.fromisoformat(at).timestamp()) * 1000 for t, at in arrivals)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = last - first
        print("Bandeng subscriptions benchmark", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        print(f"machine   : {platform.platform()}, {os.cpu_count()} cores; load avg {os.getloadavg()[0]:.2f}")
        print(f"database  : {db_text}")
        print(f"code      : git {_git()}")
        print(f"command   : {_hide_password(shlex.join(sys.orig_argv))}")
        print(
            f"setup     : {setup:.1f} s (migrations, demo world, {len(tokens) + 1} tokens); {warmups} warm-up step(s)"
        )
        print(
            f"fan-out   : {args.events} events x {len(subscribers)} subscriptions: "
            f"{len(arrivals)}/{expected} payloads received in {elapsed:.2f} s -> "
            f"{args.events / elapsed:.1f} events/s, {len(arrivals) / elapsed:.0f} deliveries/s "
            f"(steps sent in {sent - first:.2f} s)"
        )
        print(
            f"cpu       : server {server_cpu:.1f} s ({server_cpu * 1000 / max(len(arrivals), 1):.2f} ms per "
            f"delivery), clients {client_cpu:.1f} s, over {elapsed:.1f} s on {os.cpu_count()} cores"
        )
        if latencies:
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(
                f"latency   : p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms (event time -> client)"
            )
        print(
            f"memory    : server RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB with "
            f"{len(subscribers)} open: {(after - before) / len(subscribers):.1f} KiB per subscription"
        )
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
            await server.wait()
        if temporary is not None:
            temporary.cleanup()
        elif args.database_url:
            await drop_postgres_database(args.database_url, url.rsplit("/", 1)[1])


async def supervise(http: httpx.AsyncClient, headers: dict, concern: str) -> None:
    response = await http.post(
        "/graphql", json={"query": SUPERVISE, "variables": {"i": concern}}, headers=headers
    )
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    body = response.json()
    if body.get("errors") or body["data"]["superviseConcern"]["__typename"] != "Concern":
        raise RuntimeError(body)


async def wait_ready(http: httpx.AsyncClient, server) -> None:
    for _ in range(600):
        if server.returncode is not None:
            raise RuntimeError(f"serve exited {server.returncode}")
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="postgres://... (a throwaway database is made); default SQLite"
    )
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument(
        "--window",
        type=int,
        default=2,
        help="events in flight at most (1: each reaches everyone before the next)",
    )
    parser.add_argument(
        "--selection", default=SELECTION, help=f"the payload's selection (default: {SELECTION})"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the deliveries")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
