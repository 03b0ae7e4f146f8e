"""Fault tests: what a client sees when PostgreSQL freezes, restarts, stops at once or is
slow, and when a policy file is corrupted while requests run.

The database faults need PostgreSQL (``BANDENG_TEST_DATABASE_URL=postgres://...``; on
SQLite they are skipped, and ``.ci/run`` runs the suite on both). They run the real
service, ``python -m app.cli serve``, in a subprocess whose database URL points at a
``FaultProxy`` in front of the test database, with short timeouts set through the
environment. An unreachable PostgreSQL fails the session (``conftest.database_url``).

Time limits here are generous ceilings on the client side (an answer must arrive), not
measurements: speed belongs in ``bench/``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

from app.http import create_app
from models.audit import AuditRecord
from models.concerns import Concern, ConcernEvent
from policies.loader import read_version
from policies.store import PolicyStore
from services.config import Settings, tortoise_config
from services.errors import is_database_down
from tests import test_policy_reload as reload
from tests.conftest import POLICY_DIR, error_codes, is_postgres
from tests.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parent.parent

# The service under test: timeouts short enough for a test, in the order the docs give
# (statement < command < request deadline).
SERVICE_ENV = {
    "BANDENG_REQUEST_TIMEOUT": "4",
    "BANDENG_READY_TIMEOUT": "0.5",
    "BANDENG_DB_STATEMENT_TIMEOUT_MS": "1000",
    "BANDENG_DB_COMMAND_TIMEOUT": "2",
    "BANDENG_DB_CONNECT_TIMEOUT": "1",
    "BANDENG_DB_ACQUIRE_TIMEOUT": "1",
    "BANDENG_DB_POOL_MIN": "1",
    "BANDENG_DB_POOL_MAX": "5",
    "BANDENG_WATCH_POLICY": "false",
    # The writers here are the fault's load, not a client to slow down: no rate limits.
    "BANDENG_RATE_LIMIT_TOKEN_RATE": "0",
    "BANDENG_RATE_LIMIT_ADDRESS_RATE": "0",
    "BANDENG_LOG_LEVEL": "warning",
}
REQUEST_CEILING = 4 + 8  # the deadline plus a wide margin: past it the client gives up
READY_CEILING = 5.0  # readiness answers within 0.5 s; this only catches a hang
RECOVER_WITHIN = 20.0

postgres_only = pytest.mark.skipif(
    not is_postgres(), reason="needs PostgreSQL (BANDENG_TEST_DATABASE_URL=postgres://...)"
)

ME = "{ me { name } }"
RAISE = """mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id title } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """The service in a subprocess, reaching PostgreSQL through ``proxy``."""

    proxy: FaultProxy
    process: asyncio.subprocess.Process
    base_url: str
    log: Path

    def client(self, token: str | None, timeout: float = REQUEST_CEILING) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    def alive(self) -> bool:
        return self.process.returncode is None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture(scope="module")
async def service(database_url, tmp_path_factory):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (BANDENG_TEST_DATABASE_URL=postgres://...)")
    target = urlsplit(database_url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    netloc = target.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    proxied = urlunsplit((target.scheme, f"{user}127.0.0.1:{proxy.port}", target.path, target.query, ""))
    port = _free_port()
    log = tmp_path_factory.mktemp("service") / "service.log"
    env = {**os.environ, **SERVICE_ENV, "BANDENG_DATABASE_URL": proxied}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "app.cli", "serve", "--port", str(port)),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    svc = Service(proxy, process, f"http://127.0.0.1:{port}", log)
    try:
        began = time.monotonic()
        async with svc.client(None, timeout=2) as client:
            while True:
                assert svc.alive(), f"the service exited:\n{svc.output()}"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() - began < 60, f"the service did not start:\n{svc.output()}"
                await asyncio.sleep(0.1)
        yield svc
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await proxy.close()


async def until_recovered(svc: Service, token: str) -> None:
    """Poll until readiness and an authenticated query both succeed again (the same process)."""
    began = time.monotonic()
    async with svc.client(token) as client:
        while True:
            assert svc.alive(), f"the service exited:\n{svc.output()}"
            try:
                ready = await client.get("/readyz")
                body = (await client.post("/graphql", json={"query": ME})).json()
                if ready.status_code == 200 and not body.get("errors"):
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() - began < RECOVER_WITHIN, "the service did not recover"
            await asyncio.sleep(0.2)


async def post(client: httpx.AsyncClient, query: str, variables: dict | None = None) -> tuple[int, dict]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    return response.status_code, response.json()


# --------------------------------------------------------------------- frozen database


@postgres_only
async def test_frozen_database_answers_unavailable_then_recovers(service, mutable_demo):
    token = mutable_demo.tokens["resident_wang"]
    async with service.client(token) as client:
        assert (await client.get("/readyz")).status_code == 200
        status, body = await post(client, ME)
        assert status == 200 and not body.get("errors"), body

        service.proxy.freeze()
        try:
            async with service.client(None, timeout=READY_CEILING) as prober:
                ready = await prober.get("/readyz")  # ReadTimeout here would be the old hang
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "no answer" in ready.json()["database"]

            # A read and a write, each answered (not hung) with SERVICE_UNAVAILABLE.
            read, write = await asyncio.gather(
                post(client, "{ me { name } concerns { totalCount } }"),
                post(
                    client,
                    RAISE,
                    {"input": {**_concern_input(mutable_demo), "title": "fault-a-frozen"}},
                ),
            )
            for status, body in (read, write):
                assert status in (200, 503), body
                assert set(error_codes(body)) == {"SERVICE_UNAVAILABLE"}, body
        finally:
            service.proxy.resume()

    await until_recovered(service, token)
    # The write was refused as a whole: nothing or everything of it is stored, never half.
    stored = await Concern.filter(title="fault-a-frozen").values_list("id", flat=True)
    assert len(stored) <= 1
    if stored:
        assert await ConcernEvent.filter(concern_id=stored[0]).count() == 1


def _concern_input(demo) -> dict:
    return {"unitId": demo.id("units", "fulu_g1"), "category": "infrastructure"}


# ------------------------------------------------------------- restart under write load


@dataclass
class Outcome:
    title: str
    status: int | None
    codes: list[str] = field(default_factory=list)
    concern_id: str | None = None
    error: str = ""


async def _writer(svc: Service, demo, worker: int, stop: asyncio.Event, out: list[Outcome]) -> None:
    async with svc.client(demo.tokens["resident_wang"]) as client:
        for i in range(10_000):
            if stop.is_set():
                return
            title = f"fault-b-{worker}-{i}"
            try:
                status, body = await post(client, RAISE, {"input": {**_concern_input(demo), "title": title}})
            except httpx.HTTPError as exc:  # no answer at all is a finding too
                out.append(Outcome(title, None, error=repr(exc)))
                continue
            concern = (body.get("data") or {}).get("raiseConcern")
            out.append(Outcome(title, status, error_codes(body), concern["id"] if concern else None))
            await asyncio.sleep(0.005)


@postgres_only
async def test_restart_under_write_load_loses_and_doubles_no_acknowledged_write(service, mutable_demo):
    demo = mutable_demo
    stop = asyncio.Event()
    outcomes: list[Outcome] = []
    workers = [asyncio.create_task(_writer(service, demo, w, stop, outcomes)) for w in range(4)]
    try:
        await asyncio.sleep(1.0)
        before_restart = len(outcomes)
        await service.proxy.restart(down_for=1.0)
        await until_recovered(service, demo.tokens["resident_wang"])
        recovered_at = len(outcomes)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*workers)

    acknowledged = {o.title: o.concern_id for o in outcomes if o.concern_id and not o.codes}
    failed = [o for o in outcomes if not (o.concern_id and not o.codes)]
    stored = Counter(await Concern.filter(title__startswith="fault-b-").values_list("title", flat=True))
    stored_ids = dict(await Concern.filter(title__startswith="fault-b-").values_list("title", "id"))

    assert before_restart > 0 and len(outcomes) > recovered_at, "the load did not run around the fault"
    assert failed, "the restart was not noticed by any request: the test proves nothing"
    assert [o for o in failed if o.status is None] == [], "a request got no answer"
    assert {code for o in failed for code in o.codes} == {"SERVICE_UNAVAILABLE"}, failed[:5]
    assert {o.status for o in failed} <= {200, 503}
    missing = [t for t in acknowledged if stored[t] != 1]
    assert not missing, f"acknowledged but not stored exactly once: {missing[:5]}"
    assert all(str(stored_ids[t]) == i for t, i in acknowledged.items())
    assert max(stored.values()) == 1, "a write was stored twice"
    # Each stored concern is whole: its creation event and its audit record are there.
    ids = list(stored_ids.values())
    assert await ConcernEvent.filter(concern_id__in=ids).count() == len(ids)
    # ... and its audit record, exactly one, written in the same transaction.
    records = Counter(
        await AuditRecord.filter(
            field="raiseConcern", decision="allow", object_id__in=[str(i) for i in ids]
        ).values_list("object_id", flat=True)
    )
    assert records == Counter(str(i) for i in ids)


# -------------------------------------------------------------------- immediate stop


@postgres_only
async def test_connections_dropped_at_once_give_unavailable_never_internal(service, mutable_demo):
    demo = mutable_demo
    token = demo.tokens["street_official_xu"]
    queries = [
        "{ me { name } concerns(first: 20) { totalCount nodes { title unit { name } } } }",
        "{ people(first: 50) { nodes { name phone } } }",
    ]
    answers: list[tuple[int | None, list[str]]] = []

    async def ask(client: httpx.AsyncClient, query: str, out: list = answers) -> None:
        try:
            status, body = await post(client, query)
            out.append((status, error_codes(body)))
        except httpx.HTTPError as exc:
            out.append((None, [repr(exc)]))

    async with service.client(token) as client:
        # Requests stuck on a frozen connection when it is cut: each must fail cleanly.
        service.proxy.freeze()
        cut: list[tuple[int | None, list[str]]] = []
        stuck = [asyncio.create_task(ask(client, queries[i % 2], cut)) for i in range(6)]
        await asyncio.sleep(0.3)
        service.proxy.drop_all()
        service.proxy.resume()
        await asyncio.gather(*stuck)
        answers.extend(cut)
        assert any(codes for _, codes in cut), "no request was cut: the test proves nothing"

        # Then cuts at random moments under load.
        stop = asyncio.Event()

        async def load(query: str) -> None:
            while not stop.is_set():
                await ask(client, query)

        loaders = [asyncio.create_task(load(queries[i % 2])) for i in range(4)]
        try:
            for _ in range(5):
                await asyncio.sleep(random.uniform(0.1, 0.4))
                service.proxy.drop_all()
        finally:
            stop.set()
            await asyncio.gather(*loaders)

    await until_recovered(service, token)
    codes = Counter(code for _, cs in answers for code in cs)
    assert None not in {status for status, _ in answers}, answers
    assert set(codes) == {"SERVICE_UNAVAILABLE"}, codes


# ---------------------------------------------------------------- statement timeout


@postgres_only
async def test_statement_waiting_on_a_lock_is_cut_by_the_statement_timeout(
    service, mutable_demo, database_url
):
    demo = mutable_demo
    concerns_before = await Concern.all().count()
    events_before = await ConcernEvent.all().count()
    blocker = await asyncpg.connect(database_url.replace("asyncpg://", "postgres://"))
    try:
        # Another session holds the audit table: the mutation inserts its concern and its
        # event, then waits to insert its audit record, longer than the statement timeout.
        await blocker.execute("BEGIN")
        await blocker.execute("LOCK TABLE audit_record IN EXCLUSIVE MODE")
        async with service.client(demo.tokens["resident_wang"]) as client:
            status, body = await post(
                client, RAISE, {"input": {**_concern_input(demo), "title": "fault-c-locked"}}
            )
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()
    assert status in (200, 503), body
    assert error_codes(body) == ["SERVICE_UNAVAILABLE"], body
    assert (body.get("data") or {}).get("raiseConcern") is None
    # Nothing half-written: neither the concern nor its event survived the rollback.
    assert await Concern.filter(title="fault-c-locked").count() == 0
    assert await Concern.all().count() == concerns_before
    assert await ConcernEvent.all().count() == events_before

    # The connection went back to the pool in a usable state: the same write now works.
    async with service.client(demo.tokens["resident_wang"]) as client:
        status, body = await post(
            client, RAISE, {"input": {**_concern_input(demo), "title": "fault-c-after"}}
        )
    assert not body.get("errors"), body
    assert await Concern.filter(title="fault-c-after").count() == 1


# ------------------------------------------------------ policy file corrupted under load


GARBAGE = {
    "policy.csv: binary noise": ("policy.csv", random.Random(8).randbytes(4096)),
    "policy.csv: text noise": ("policy.csv", b"p, ,,, \x00\n" * 50 + b"g, admin\n"),
    "policy.csv: emptied": ("policy.csv", b""),
    "model.conf: noise": ("model.conf", b"[request_definition]\nr = ???\n[matchers]\nm = (((\n"),
}


async def test_corrupted_policy_files_under_load_change_no_decision(mutable_demo, settings, tmp_path):
    """Garbage written in place (not atomically) into the watched policy folder while four
    roles keep asking: every answer is the one the last good policy gives, and each
    corruption is refused with its version reported. Runs on SQLite and PostgreSQL."""
    demo = mutable_demo  # reads only, but refusals leave audit records
    expected = await reload.expectations(demo)
    directory = reload.copy_policies(tmp_path / "policies")
    inst = reload.instance(directory, settings)
    good = inst.store.current.version
    assert good == reload.V_ORIGINAL
    originals = {name: (directory / name).read_bytes() for name in ("policy.csv", "model.conf")}

    observed: list[reload.Observed] = []
    stop = asyncio.Event()
    inst.start()
    workers = [
        asyncio.create_task(reload.traffic(inst, demo, role, expected, stop, observed))
        for role in reload.QUERIES
    ]
    refused: dict[str, str | None] = {}
    windows: dict[str, tuple[float, float]] = {}  # while the garbage was on disk
    try:
        await asyncio.sleep(0.3)
        for what, (name, garbage) in GARBAGE.items():
            written = time.monotonic()
            (directory / name).write_bytes(garbage)
            on_disk = read_version(directory)  # None when the bytes are not even UTF-8
            await reload.wait_for(
                lambda on_disk=on_disk: (
                    inst.store.last_error is not None and inst.store.last_error.version == on_disk
                ),
                reload.SWAP_WITHIN * 3,
                f"refusal of {what}",
            )
            refused[what] = inst.store.last_error.version
            assert inst.store.current.version == good
            async with inst.client(None) as client:  # and readiness says so
                policy = (await client.get("/readyz")).json()["policy"]
            assert policy["version"] == good
            assert policy["lastError"]["refusedVersion"] == on_disk
            await asyncio.sleep(0.5)  # requests keep coming while the garbage is on disk
            windows[what] = (written, time.monotonic())
            (directory / name).write_bytes(originals[name])
            await reload.wait_for(lambda: inst.store.last_error is None, reload.SWAP_WITHIN * 3, "the repair")
            assert inst.store.current.version == good
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await inst.close()

    wrong = [o for o in observed if not o.ok or o.version != good]
    assert not wrong, f"{len(wrong)} of {len(observed)} answers differ from the good policy's: {wrong[:3]}"
    for what, (start, end) in windows.items():  # every role was answered during each corruption
        assert {o.role for o in observed if start <= o.started < end} == set(reload.QUERIES), what
    assert refused["policy.csv: binary noise"] is None  # not UTF-8: no version to report
    assert all(refused[w] not in (None, good) for w in GARBAGE if w != "policy.csv: binary noise")


# ------------------------------------------------------------ the per-request deadline


@pytest.fixture
def deadline_app(settings):
    """The app with a short request deadline (0.5 s), on the suite's database."""
    return create_app(
        settings.with_overrides(request_timeout=0.5, watch_policy=False),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )


def asgi_client(app, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)


async def test_a_request_past_its_deadline_is_cancelled_and_answered(deadline_app, demo, monkeypatch):
    from services.authz import RequestAuth

    ended = []

    async def stuck(*args, **kwargs):
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("cancelled")

    monkeypatch.setattr(RequestAuth, "listing", stuck)
    async with asgi_client(deadline_app, demo.tokens["secretary_zhang"]) as client:
        response = await client.post("/graphql", json={"query": "{ concerns { totalCount } }"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert error_codes(body) == ["SERVICE_UNAVAILABLE"]
        assert body["errors"][0]["extensions"]["reason"] == "REQUEST_TIMEOUT"
        assert ended == ["cancelled"]  # the work was cancelled, not left running
        monkeypatch.undo()
        body = (await client.post("/graphql", json={"query": "{ me { name } }"})).json()
    assert body == {"data": {"me": {"name": "张卫东"}}}


async def test_a_write_past_its_deadline_is_rolled_back(deadline_app, mutable_demo, monkeypatch):
    """Cancelled inside its transaction (after the concern and its event were inserted):
    nothing of it is stored, and the next write goes through on the same database."""
    from services import audit

    async def stuck(*args, **kwargs):
        await asyncio.sleep(60)

    demo = mutable_demo
    before = (await Concern.all().count(), await ConcernEvent.all().count())
    monkeypatch.setattr(audit, "record_change", stuck)
    async with asgi_client(deadline_app, demo.tokens["resident_wang"]) as client:
        response = await client.post(
            "/graphql",
            json={"query": RAISE, "variables": {"input": {**_concern_input(demo), "title": "deadline-1"}}},
        )
        assert response.status_code == 503
        assert error_codes(response.json()) == ["SERVICE_UNAVAILABLE"]
        assert (await Concern.all().count(), await ConcernEvent.all().count()) == before
        monkeypatch.undo()
        body = (
            await client.post(
                "/graphql",
                json={
                    "query": RAISE,
                    "variables": {"input": {**_concern_input(demo), "title": "deadline-2"}},
                },
            )
        ).json()
    assert not body.get("errors"), body
    assert await Concern.filter(title__in=["deadline-1", "deadline-2"]).values_list("title", flat=True) == [
        "deadline-2"
    ]
    if is_postgres():  # no session left holding the cancelled transaction open
        _, rows = await connections.get("default").execute_query(
            "SELECT count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        )
        assert rows[0]["n"] == 0


async def test_a_body_still_arriving_at_the_deadline_gets_408(deadline_app, demo):
    async def slow_body():
        yield b'{"query": "{ me { name } }"'
        await asyncio.sleep(5)
        yield b"}"

    async with asgi_client(deadline_app, demo.tokens["resident_wang"]) as client:
        response = await client.post(
            "/graphql", content=slow_body(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 408
    assert error_codes(response.json()) == ["REQUEST_TIMEOUT"]


# ------------------------------------------------------- what counts as "database down"


def _wrapped(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "down"),
    [
        (
            asyncpg.exceptions.ConnectionDoesNotExistError(
                "connection was closed in the middle of operation"
            ),
            True,
        ),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: another operation is cancelling"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.ConnectionFailureError("connection failure"), True),
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients already"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
        (TimeoutError(), True),  # pool acquire, connect, command timeout
        (ConnectionRefusedError(111, "refused"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (_wrapped(OperationalError("x"), asyncpg.exceptions.ConnectionDoesNotExistError("closed")), True),
        (_wrapped(TransactionManagementError("x"), asyncpg.InterfaceError("connection is closed")), True),
        (_wrapped(OperationalError("x"), asyncpg.exceptions.QueryCanceledError("statement timeout")), True),
        # bugs stay bugs
        (_wrapped(IntegrityError("x"), asyncpg.exceptions.UniqueViolationError("duplicate key")), False),
        (_wrapped(OperationalError("x"), asyncpg.exceptions.UndefinedColumnError("no column")), False),
        (OperationalError("no such table: concern"), False),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
        (asyncpg.exceptions.DataError("invalid input for query argument"), False),
        (sqlite3.OperationalError("no such column: x"), False),
        (FileNotFoundError("policies/policy.csv"), False),
        (_wrapped(KeyError("x"), ConnectionRefusedError()), False),  # a bug while handling an outage
        (ValueError("x"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_database_down_means_the_database_not_the_code(exc, down):
    assert is_database_down(exc) is down


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (
            _wrapped(OperationalError("x"), asyncpg.exceptions.ConnectionDoesNotExistError("closed")),
            "SERVICE_UNAVAILABLE",
        ),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), "SERVICE_UNAVAILABLE"),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), "SERVICE_UNAVAILABLE"),
        (
            _wrapped(IntegrityError("x"), asyncpg.exceptions.UniqueViolationError("duplicate key")),
            "INTERNAL_SERVER_ERROR",
        ),
    ],
    ids=["wrapped lost connection", "closed connection", "statement timeout", "constraint bug"],
)
async def test_a_resolver_failure_is_reported_by_its_cause(demo, monkeypatch, raised, code):
    from services.authz import RequestAuth

    async def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(RequestAuth, "listing", fail)
    async with demo.client("secretary_zhang") as client:
        body = (await client.post("/graphql", json={"query": "{ concerns { totalCount } }"})).json()
    assert error_codes(body) == [code]
    assert "duplicate" not in str(body) and "closed" not in str(body)  # masked either way


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), "SERVICE_UNAVAILABLE"),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients already"), "SERVICE_UNAVAILABLE"),
        (TimeoutError(), "SERVICE_UNAVAILABLE"),  # the pool had no free connection in time
        (ValueError("a bug in the token lookup"), "INTERNAL_SERVER_ERROR"),
    ],
    ids=["lost connection", "too many connections", "acquire timeout", "bug"],
)
async def test_authentication_failure_is_classified_as_resolvers_are(demo, monkeypatch, raised, code):
    from services import identity

    async def fail(token_hash):
        raise raised

    monkeypatch.setattr(identity, "lookup", fail)
    async with demo.client("secretary_zhang") as client:
        body = (await client.post("/graphql", json={"query": "{ me { name } }"})).json()
    assert error_codes(body) == [code]  # never UNAUTHENTICATED: the token was not judged


@postgres_only
async def test_a_statement_running_at_the_deadline_is_cancelled_on_the_server(
    deadline_app, demo, monkeypatch
):
    """The deadline cancels a request in the middle of a statement: PostgreSQL stops it
    too (asyncpg sends a cancel request) and the connection serves the next request."""
    from services.authz import RequestAuth

    async def slow(*args, **kwargs):
        await connections.get("default").execute_query("SELECT pg_sleep(30)")

    monkeypatch.setattr(RequestAuth, "listing", slow)
    async with asgi_client(deadline_app, demo.tokens["secretary_zhang"]) as client:
        response = await client.post("/graphql", json={"query": "{ concerns { totalCount } }"})
        assert response.status_code == 503
        monkeypatch.undo()
        body = (await client.post("/graphql", json={"query": "{ me { name } }"})).json()
    assert body == {"data": {"me": {"name": "张卫东"}}}
    _, rows = await connections.get("default").execute_query(
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(30)%' "
        "AND pid <> pg_backend_pid()"
    )
    assert rows[0]["n"] == 0


# ------------------------------------------------------------ the connection settings


def test_postgres_connections_get_the_timeouts_and_the_url_wins():
    settings = Settings(db_statement_timeout_ms=1234, db_pool_max=7, db_acquire_timeout=0.5)
    config = tortoise_config("postgres://u:p@db.example:6543/bandeng?max_size=20", settings)
    connection = config["connections"]["default"]
    assert connection["engine"] == "services.postgres"
    credentials = connection["credentials"]
    assert credentials["server_settings"]["statement_timeout"] == "1234"
    assert credentials["server_settings"]["idle_in_transaction_session_timeout"] == "10000"
    assert (credentials["host"], credentials["port"], credentials["database"]) == (
        "db.example",
        6543,
        "bandeng",
    )
    assert credentials["acquire_timeout"] == 0.5
    assert credentials["maxsize"] == 7 and credentials["max_size"] == 20  # asyncpg's name, from the URL, wins
    # Migrations and tools: the plain URL, no statement timeout.
    assert tortoise_config("postgres://u@db/bandeng")["connections"]["default"] == "postgres://u@db/bandeng"
    # SQLite: as it was.
    assert tortoise_config("sqlite://x.sqlite3", settings)["connections"]["default"] == "sqlite://x.sqlite3"


@postgres_only
async def test_the_pool_applies_the_timeouts_through_the_orm(database_url):
    """A client built from the config: the server settings are in force, and a full pool
    makes the ORM's next statement fail (as database down) after the acquire timeout,
    inside a transaction too."""
    from services.postgres import client_class

    settings = Settings(db_statement_timeout_ms=1500, db_pool_min=1, db_pool_max=1, db_acquire_timeout=0.2)
    credentials = tortoise_config(database_url, settings)["connections"]["default"]["credentials"]
    client = client_class(**credentials, connection_name="fault_probe")
    try:
        _, rows = await client.execute_query("SHOW statement_timeout")
        assert rows[0]["statement_timeout"] == "1500ms"
        held = await client._pool.acquire()  # the only connection
        try:
            with pytest.raises(TimeoutError) as raised:
                await client.execute_query("SELECT 1")
            assert is_database_down(raised.value)
            with pytest.raises(TimeoutError):
                async with client._in_transaction():  # what in_transaction() enters
                    pass
        finally:
            await client._pool.release(held)
        assert (await client.execute_query("SELECT 1"))[0] == 1  # free again: served
    finally:
        await client.close()


@postgres_only
async def test_a_returned_connection_is_not_reset_but_an_open_transaction_is_rolled_back(database_url):
    """The pool skips asyncpg's RESET round trip (``keep_session``) and still never hands
    out a connection inside a transaction: asyncpg rolls it back on release first."""
    from services.postgres import client_class, keep_session

    settings = Settings(db_pool_min=1, db_pool_max=1)
    credentials = tortoise_config(database_url, settings)["connections"]["default"]["credentials"]
    client = client_class(**credentials, connection_name="reset_probe")
    try:
        await client.execute_query("SELECT 1")
        assert client._pool._reset is keep_session
        connection = await client._pool.acquire()
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.execute("BEGIN; CREATE TEMP TABLE left_open (x int)")  # never committed
        await client._pool.release(connection)
        again = await client._pool.acquire()
        try:
            assert await again.fetchval("SELECT pg_backend_pid()") == backend  # the same session
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('pg_temp.left_open')") is None  # rolled back
        finally:
            await client._pool.release(again)
    finally:
        await client.close()
