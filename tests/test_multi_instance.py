"""Several instances on one PostgreSQL database: real ``bandeng serve`` processes.

Three processes (``python -m app.cli serve``, each on a free port) follow the published
policy (``BANDENG_POLICY_SOURCE=database``) with the fallback poll turned down to once an
hour, so that what reaches them here is PostgreSQL's notification. They must

- serve a policy published through ``bandeng policy publish`` (a permission that changed
  included), refuse a broken one (the command stores nothing; a broken version stored
  behind the checker's back is refused by each instance, which keeps the one in force),
  and serve a rollback;
- refuse a token revoked by ``bandeng token revoke`` on the first request after it;
- store every acknowledged write exactly once under a load spread over the three.

These need PostgreSQL (several processes sharing SQLite is not a deployment): on SQLite
they are skipped, and ``.ci/run``'s PostgreSQL pass runs them (an unreachable PostgreSQL
fails the session in conftest). ``--workers`` is tested on both databases.

Waits poll for an outcome with a generous bound; the latencies are printed (``-s``), not
asserted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from models.concerns import Concern, ConcernEvent
from models.policy import PolicyVersion
from policies.loader import content_version
from policies.published import read_folder
from services import identity, policy_versions, tally
from tests.conftest import error_codes, is_postgres
from tests.test_policy_reload import BROKEN, CHANGED, MODEL, ORIGINAL, copy_policies, write_atomically

ROOT = Path(__file__).resolve().parent.parent
BOUND = 20.0  # seconds before a wait fails (a busy 2-core machine): only catches a hang
V_ORIGINAL = content_version(MODEL, ORIGINAL)
V_CHANGED = content_version(MODEL, CHANGED)

SERVICE_ENV = {
    "BANDENG_POLICY_SOURCE": "database",
    "BANDENG_POLICY_POLL_SECONDS": "3600",  # what arrives here comes by NOTIFY
    "BANDENG_RATE_LIMIT_TOKEN_RATE": "0",
    "BANDENG_RATE_LIMIT_ADDRESS_RATE": "0",
    "BANDENG_DB_POOL_MAX": "5",
    "BANDENG_DRAIN_SECONDS": "1",
    "BANDENG_LOG_LEVEL": "warning",
}
STATUS = "{ policyStatus { version published { number } lastError { refusedPublishedVersion problems } } }"
PHONES = "{ people(first: 50) { nodes { phone } } }"
RAISE = "mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id title } }"

postgres_only = pytest.mark.skipif(
    not is_postgres(), reason="several processes on one database need PostgreSQL"
)
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """``bandeng serve`` in a subprocess."""

    process: asyncio.subprocess.Process
    base_url: str
    log: Path

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=BOUND)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    async def ready(self) -> dict:
        began = time.monotonic()
        async with self.client() as client:
            while True:
                assert self.process.returncode is None, f"the service exited:\n{self.output()}"
                try:
                    response = await client.get("/readyz")
                    if response.status_code == 200:
                        return response.json()
                except httpx.TransportError:
                    pass
                assert time.monotonic() - began < 90, f"the service did not start:\n{self.output()}"
                await asyncio.sleep(0.1)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode


async def start(database_url: str, log: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = _free_port()
    environment = {**os.environ, **SERVICE_ENV, **(env or {}), "BANDENG_DATABASE_URL": database_url}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "app.cli", "serve", "--port", str(port), *extra),
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


@pytest.fixture(scope="module")
async def instances(database_url, tmp_path_factory):
    if not is_postgres():
        pytest.skip("several processes on one database need PostgreSQL")
    logs = tmp_path_factory.mktemp("instances")
    servers = [await start(database_url, logs / f"instance-{n}.log") for n in range(3)]
    try:
        await asyncio.gather(*(server.ready() for server in servers))
        yield servers
    finally:
        await asyncio.gather(*(server.stop() for server in servers))


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "BANDENG_DATABASE_URL": database_url, "BANDENG_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def post(server: Server, token: str, query: str, variables: dict | None = None) -> dict:
    async with server.client(token) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


async def until_all(servers: list[Server], holds, what: str) -> float:
    """Poll every instance's /readyz until ``holds(policy)`` on all; the seconds it took."""
    began = time.monotonic()
    pending = list(servers)
    async with httpx.AsyncClient(timeout=BOUND) as client:
        while pending:
            policies = [(await client.get(f"{s.base_url}/readyz")).json()["policy"] for s in pending]
            pending = [s for s, policy in zip(pending, policies, strict=True) if not holds(policy)]
            if time.monotonic() - began > BOUND:
                raise AssertionError(
                    f"not within {BOUND} s on {len(pending)} instance(s): {what}: {policies}"
                )
            if pending:
                await asyncio.sleep(0.01)
    return time.monotonic() - began


def published(number: int):
    return lambda policy: (policy["published"] or {}).get("number") == number


# ---------------------------------------------------------------------------------- policy


@postgres_only
async def test_a_published_policy_reaches_every_instance_and_a_broken_one_none(
    instances, mutable_demo, database_url, tmp_path
):
    tokens = mutable_demo.tokens
    original = copy_policies(tmp_path / "original")
    changed = copy_policies(tmp_path / "changed")
    write_atomically(changed, CHANGED)
    broken = copy_policies(tmp_path / "broken")
    write_atomically(broken, BROKEN)

    async def everyone_sees_phones(expected: bool) -> None:
        for server in instances:
            body = await post(server, tokens["grid_worker_chen"], PHONES)
            phones = [node["phone"] for node in body["data"]["people"]["nodes"]]
            assert phones and all(bool(p) == expected for p in phones), (server.base_url, phones)

    async def everyone_reports(number: int, version: str, refused: int | None = None) -> None:
        for server in instances:
            status = (await post(server, tokens["admin"], STATUS))["data"]["policyStatus"]
            assert status["published"] == {"number": number} and status["version"] == version
            got = status["lastError"]["refusedPublishedVersion"] if status["lastError"] else None
            assert got == refused, status

    done = await asyncio.to_thread(cli, "policy", "publish", str(original), database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    first = await until_all(instances, published(1), "version 1")
    await everyone_reports(1, V_ORIGINAL)
    await everyone_sees_phones(True)

    done = await asyncio.to_thread(cli, "policy", "publish", str(changed), database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    second = await until_all(instances, published(2), "version 2")
    await everyone_reports(2, V_CHANGED)
    await everyone_sees_phones(False)  # the permission changed on every instance

    # A broken folder: refused by the command, nothing stored, nothing changes anywhere.
    done = await asyncio.to_thread(cli, "policy", "publish", str(broken), database_url=database_url)
    assert done.returncode == 1 and "unknown resource 'Parcel'" in done.stdout
    assert await PolicyVersion.all().count() == 2
    await everyone_reports(2, V_CHANGED)

    # A broken version stored behind the checker's back: each instance refuses it, keeps 2.
    files = read_folder(changed)
    files["policy.csv"] = BROKEN
    await PolicyVersion.create(
        number=3, checksum=content_version(MODEL, BROKEN), files=files, published_by="psql"
    )
    await until_all(
        instances,
        lambda policy: (policy["lastError"] or {}).get("refusedPublished") == 3,
        "the broken version refused",
    )
    await everyone_reports(2, V_CHANGED, refused=3)
    await everyone_sees_phones(False)

    # Rollback: version 1's files again, as version 4.
    done = await asyncio.to_thread(cli, "policy", "rollback", "1", database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    await until_all(instances, published(4), "the rollback")
    await everyone_reports(4, V_ORIGINAL)
    await everyone_sees_phones(True)
    print(
        f"\npublished -> served by all 3 instances (after the command returned): {first:.3f} s, {second:.3f} s"
    )


# -------------------------------------------------------------------------------- identity


@postgres_only
async def test_a_token_revoked_by_the_command_is_refused_by_every_instance_at_once(
    instances, mutable_demo, database_url
):
    token = await identity.issue_token(mutable_demo.world.people["secretary_zhang"].id, "multi")
    for server in instances:
        for _ in range(2):  # the second answer comes from the instance's identity cache
            body = await post(server, token, "{ me { name } }")
            assert body["data"]["me"]["name"] == "张卫东", body
    done = await asyncio.to_thread(cli, "token", "revoke", token, database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    # The first request after the command returned, on every instance.
    answers = await asyncio.gather(*(post(server, token, "{ me { name } }") for server in instances))
    assert [error_codes(body) for body in answers] == [["UNAUTHENTICATED"]] * 3, answers


# ---------------------------------------------------------------------------------- writes


@postgres_only
async def test_writes_spread_over_the_instances_are_each_stored_once(instances, mutable_demo):
    token = mutable_demo.tokens["resident_wang"]
    unit = mutable_demo.id("units", "fulu_g1")
    clients_per_instance, writes_per_client = 4, 10

    async def writer(server: Server, name: str) -> list[tuple[str, str]]:
        acknowledged = []
        async with server.client(token) as client:
            for n in range(writes_per_client):
                title = f"multi-{name}-{n}"
                response = await client.post(
                    "/graphql",
                    json={
                        "query": RAISE,
                        "variables": {"input": {"unitId": unit, "title": title, "category": "safety"}},
                    },
                )
                body = response.json()
                if response.status_code == 200 and not body.get("errors"):
                    assert body["data"]["raiseConcern"]["title"] == title
                    acknowledged.append((body["data"]["raiseConcern"]["id"], title))
        return acknowledged

    began = time.monotonic()
    results = await asyncio.gather(
        *(
            writer(server, f"{i}-{c}")
            for i, server in enumerate(instances)
            for c in range(clients_per_instance)
        )
    )
    seconds = time.monotonic() - began
    acknowledged = [item for result in results for item in result]
    total = len(instances) * clients_per_instance * writes_per_client
    assert len(acknowledged) == total  # no faults here: every write is answered with its result

    stored = await Concern.filter(title__startswith="multi-").values_list("id", "title")
    assert Counter(title for _, title in stored) == Counter(title for _, title in acknowledged)
    assert sorted((str(i), t) for i, t in stored) == sorted(acknowledged)  # once each, as answered
    events = await ConcernEvent.filter(concern_id__in=[i for i, _ in stored]).values_list(
        "concern_id", flat=True
    )
    assert Counter(events) == Counter(i for i, _ in stored)  # one event each (raised)
    assert await tally.recount_differences() == []
    print(
        f"\n{total} raiseConcern over 3 instances x {clients_per_instance} clients: {total / seconds:.0f}/s"
    )


# --------------------------------------------------------------------------------- workers


async def test_serve_with_workers_runs_the_application_in_each_and_drains_them(
    database_url, mutable_demo, tmp_path
):
    """``serve --workers 2``: two processes answer on one port, each follows the published
    policy (its own lifespan), and SIGTERM drains both (``/readyz`` 503) before they exit."""
    env = {"BANDENG_POLICY_POLL_SECONDS": "0.2"}  # SQLite has no NOTIFY; PostgreSQL's is used too
    server = await start(database_url, tmp_path / "workers.log", "--workers", "2", env=env)
    try:
        await server.ready()

        async def pids() -> dict[int, dict]:
            async def one() -> dict:
                async with httpx.AsyncClient(timeout=BOUND) as client:  # a new connection each
                    return (await client.get(f"{server.base_url}/readyz")).json()

            answers = await asyncio.gather(*(one() for _ in range(8)))
            return {answer["pid"]: answer for answer in answers}

        seen: dict[int, dict] = {}
        for _ in range(50):
            seen.update(await pids())
            if len(seen) == 2:
                break
        assert len(seen) == 2, f"one worker answered: {seen}"
        assert server.process.pid not in seen  # the supervisor serves nothing itself

        changed = copy_policies(tmp_path / "changed")
        write_atomically(changed, CHANGED)
        outcome = await policy_versions.publish(read_folder(changed), label="changed", by="test")
        assert outcome.stored
        serving: dict[int, dict] = {}
        began = time.monotonic()
        while len(serving) < 2:
            assert time.monotonic() - began < BOUND, f"not every worker serves version 1: {seen}"
            seen = await pids()
            serving.update({pid: a for pid, a in seen.items() if published(1)(a["policy"])})
        assert {a["policy"]["version"] for a in serving.values()} == {V_CHANGED}

        server.process.send_signal(signal.SIGTERM)
        answers = set()
        async with server.client() as client:
            while server.process.returncode is None and (503, "draining") not in answers:
                try:
                    ready = await client.get("/readyz")
                    answers.add((ready.status_code, ready.json()["status"]))
                except httpx.TransportError:  # the listener closed: the drain is over
                    break
                await asyncio.sleep(0.05)
        assert (503, "draining") in answers, answers  # both workers drain before closing
        assert await server.stop() == 0, server.output()
        for pid in serving:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        await server.stop()
