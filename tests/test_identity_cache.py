"""The caller's identity is cached per token, and never outlives a change to it.

Every test runs an application with its lifespan (so, on PostgreSQL, with its identity
listener and the cache on; on SQLite the cache stays off and each request looks its token
up in one statement). Changes made in this process through the services are seen by the
next request; changes made elsewhere (another process, another connection, another
instance) are seen as soon as PostgreSQL delivers their notification: those tests poll,
with a bound, for the outcome.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from tortoise import connections

from app.http import create_app
from models.people import ApiToken, Person, RoleAssignment
from policies.authorizer import Actor
from policies.store import PolicyStore
from services import identity, people
from services.identity_cache import IdentityCache
from services.postgres import LISTENER_APPLICATION_NAME
from tests.conftest import POLICY_DIR, Demo, QueryCounter, error_codes, gql, is_postgres

ROOT = Path(__file__).resolve().parent.parent
ME = "{ me { name roles(first: 20) { role scopePath } } }"
COUNCILS = "{ councils(first: 50) { nodes { name } } }"
BOUND = 15.0  # seconds a notification may take to arrive before a test fails: only catches a hang

postgres_only = pytest.mark.skipif(
    not is_postgres(), reason="needs PostgreSQL (BANDENG_TEST_DATABASE_URL=postgres://...)"
)


@asynccontextmanager
async def running(settings) -> AsyncIterator:
    """An application with its lifespan running; on PostgreSQL, once its cache is on."""
    app = create_app(
        settings.with_overrides(watch_policy=False),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )
    async with app.router.lifespan_context(app):
        if is_postgres():
            await eventually(lambda: _true(app.state.identity_cache.enabled), "the identity listener starts")
        yield app


async def _true(value: bool) -> bool:
    return value


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail after ``BOUND`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {BOUND} s: {what}")
        await asyncio.sleep(0.02)


def client(app, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def me(app, token: str) -> dict:
    async with client(app, token) as c:
        return await gql(c, ME)


async def unauthenticated(app, token: str) -> bool:
    return error_codes(await me(app, token)) == ["UNAUTHENTICATED"]


async def identity_statements(app, token: str, query: str = "{ me { name } }") -> tuple[list[str], dict]:
    async with client(app, token) as c:
        with QueryCounter() as counter:
            body = await gql(c, query)
    return [s for s in counter.statements if '"api_token"' in s or '"role_assignment"' in s], body


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    """``bandeng`` in another process, on the test database."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "BANDENG_DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def fresh_token(demo: Demo, key: str) -> str:
    return await identity.issue_token(demo.world.people[key].id, "identity-cache-test")


# ------------------------------------------------------------------ changes in this process


async def test_a_token_revoked_through_the_service_fails_on_the_next_request(mutable_demo, settings):
    token = await fresh_token(mutable_demo, "secretary_zhang")
    async with running(settings) as app:
        for _ in range(2):  # the second one from the cache, on PostgreSQL
            assert (await me(app, token))["data"]["me"]["name"] == "张卫东"
        assert await identity.revoke_token(token)
        body = await me(app, token)
    assert error_codes(body) == ["UNAUTHENTICATED"], body
    assert "revoked" in body["errors"][0]["message"]


async def test_a_role_withdrawn_or_assigned_counts_from_the_next_request(mutable_demo, settings):
    zhang = mutable_demo.world.people["secretary_zhang"]
    token = await fresh_token(mutable_demo, "secretary_zhang")
    async with running(settings) as app, client(app, token) as c:
        before = await gql(c, COUNCILS)
        await gql(c, COUNCILS)  # warm
        visible = {n["name"] for n in before["data"]["councils"]["nodes"]}
        assert visible

        assert await people.withdraw_role(zhang, "secretary", mutable_demo.world.units["fulu"])
        withdrawn = await gql(c, COUNCILS)
        roles = (await gql(c, ME))["data"]["me"]["roles"]
        assert roles == []
        assert error_codes(withdrawn) == ["FORBIDDEN"], withdrawn

        await people.assign_role(zhang, "street_official", mutable_demo.world.units["nanchuan"])
        assigned = await gql(c, COUNCILS)
        assert [r["role"] for r in (await gql(c, ME))["data"]["me"]["roles"]] == ["street_official"]
        assert visible < {n["name"] for n in assigned["data"]["councils"]["nodes"]}


async def test_a_refused_token_is_not_remembered(mutable_demo, settings):
    """Unknown and revoked answers are not cached: the token works as soon as it is valid."""
    token = await fresh_token(mutable_demo, "resident_wang")
    assert await identity.revoke_token(token)
    async with running(settings) as app:
        assert await unauthenticated(app, token)
        await ApiToken.filter(token_hash=identity.hash_token(token)).update(revoked_at=None)
        assert (await me(app, token))["data"]["me"]["name"] == "王秀英"


# ------------------------------------------------------------------ changes from elsewhere


async def test_a_token_revoked_by_the_cli_in_another_process_stops_working(mutable_demo, settings):
    token = await fresh_token(mutable_demo, "grid_worker_chen")
    async with running(settings) as app:
        for _ in range(2):
            assert "errors" not in await me(app, token)
        done = cli("token", "revoke", token, database_url=settings.database_url)
        assert done.returncode == 0, done.stderr
        if is_postgres():  # seen when its notification arrives
            await eventually(lambda: unauthenticated(app, token), "the revocation reaches the instance")
        else:  # no cache on SQLite: the very next request
            assert await unauthenticated(app, token)


async def test_a_token_issued_by_the_cli_in_another_process_works_at_once(mutable_demo, settings):
    async with running(settings) as app:
        done = cli("token", "issue", "--person", "王秀英", database_url=settings.database_url)
        assert done.returncode == 0, done.stderr
        body = await me(app, done.stdout.strip())
    assert body["data"]["me"]["name"] == "王秀英", body


async def test_changes_made_behind_the_services_back_reach_every_instance(mutable_demo, settings):
    """Two instances, both warm; roles, names and tokens changed over a plain connection
    (no eviction in this process): each instance sees every change."""
    zhang = mutable_demo.world.people["secretary_zhang"]
    token = await fresh_token(mutable_demo, "secretary_zhang")
    async with running(settings) as one, running(settings) as two:
        apps = (one, two)
        for app in apps:
            for _ in range(2):
                assert (await me(app, token))["data"]["me"]["name"] == "张卫东"

        async def everywhere(predicate: Callable[[dict], bool], what: str) -> None:
            for app in apps:

                async def holds(app=app) -> bool:
                    return predicate(await me(app, token))

                await eventually(holds, what)

        await RoleAssignment.filter(person_id=zhang.id).delete()
        await everywhere(lambda body: body["data"]["me"]["roles"] == [], "the withdrawn role")
        await RoleAssignment.create(
            person_id=zhang.id,
            role="volunteer",
            unit_id=mutable_demo.world.units["fulu"].id,
            scope_path=mutable_demo.world.units["fulu"].path,
        )
        await everywhere(
            lambda body: [r["role"] for r in body["data"]["me"]["roles"]] == ["volunteer"], "the new role"
        )
        await Person.filter(id=zhang.id).update(name="张卫东（已改名）")
        await everywhere(lambda body: body["data"]["me"]["name"] == "张卫东（已改名）", "the new name")
        await connections.get("default").execute_query(
            "UPDATE api_token SET revoked_at = CURRENT_TIMESTAMP WHERE person_id = " + str(zhang.id)
        )
        await everywhere(lambda body: error_codes(body) == ["UNAUTHENTICATED"], "the revocation")


# ------------------------------------------------------------------ what it saves, how it fails


@postgres_only
async def test_a_warm_request_costs_no_identity_statement(demo, settings):
    token = demo.tokens["street_official_xu"]
    async with running(settings) as app:
        cold, body = await identity_statements(app, token)
        assert body["data"]["me"]["name"] == "徐主任"
        warm, body = await identity_statements(app, token)
        assert body["data"]["me"]["name"] == "徐主任"
    assert len(cold) == 1, cold  # token, person and roles in one statement
    assert warm == []


async def test_without_a_listener_every_request_looks_its_token_up_in_one_statement(demo, settings):
    """The test application runs no lifespan: no listener, no cache (so on SQLite, always)."""
    token = demo.tokens["street_official_xu"]
    for _ in range(2):
        statements, body = await identity_statements(demo.app, token)
        assert body["data"]["me"]["name"] == "徐主任"
        assert len(statements) == 1, statements


@postgres_only
async def test_while_the_listener_is_lost_the_cache_is_bypassed(mutable_demo, settings):
    token = await fresh_token(mutable_demo, "secretary_zhang")
    async with running(settings) as app:
        cache, listener = app.state.identity_cache, app.state.identity_listener
        for _ in range(2):
            assert "errors" not in await me(app, token)
        assert len(cache) >= 1
        listener.retry_delay = 3600  # stays down until the test lets it come back
        pid = listener.connection.get_server_pid()
        terminated = await connections.get("default").execute_query(
            "SELECT pg_terminate_backend($1) FROM pg_stat_activity WHERE pid = $1 AND application_name = $2",
            [pid, LISTENER_APPLICATION_NAME],
        )
        assert terminated[0] == 1
        await eventually(lambda: _true(not cache.enabled), "the instance notices its listener is gone")
        assert len(cache) == 0
        async with client(app, token) as c:
            assert (await c.get("/readyz")).json()["identityCache"] == "off"

        # Revoked over a plain connection while nobody listens: no notification reaches
        # this instance, and still the next request refuses the token.
        await ApiToken.filter(token_hash=identity.hash_token(token)).update(revoked_at=datetime.now(UTC))
        statements, body = await identity_statements(app, token)
        assert error_codes(body) == ["UNAUTHENTICATED"]
        assert len(statements) == 1  # from the database, not the cache

        # Back again (a new connection, LISTEN, then the cache on, empty).
        other = await fresh_token(mutable_demo, "resident_li")
        listener.retry_now()
        await eventually(
            lambda: _true(cache.enabled and listener.connections_made == 2), "the listener reconnects"
        )
        for _ in range(2):
            assert "errors" not in await me(app, other)
        warm, _ = await identity_statements(app, other)
        assert warm == []
        async with client(app, token) as c:
            assert (await c.get("/readyz")).json()["identityCache"] == "on"


def test_the_cache_is_bounded_and_refuses_a_lookup_older_than_an_eviction():
    cache = IdentityCache(max_entries=2)
    actor = Actor(person_id=1, name="a", assignments=())
    cache.put("h1", actor, cache.generation)
    assert cache.get("h1") is None  # off until a listener turns it on
    cache.enable()
    for key in ("h1", "h2", "h3"):
        cache.put(key, actor, cache.generation)
    assert len(cache) == 2 and cache.get("h1") is None and cache.get("h3") is actor

    cache.put("h3", Actor(person_id=2, name="b", assignments=()), cache.generation)  # replaced
    cache.notified("1")  # a change to person 1 leaves person 2's entry
    assert len(cache) == 1 and cache.get("h3").name == "b" and cache.get("h2") is None
    cache.notified("2")
    assert len(cache) == 0

    started = cache.generation  # a lookup begins...
    cache.notified("1")  # ...a change to person 1 arrives...
    cache.put("h4", actor, started)  # ...the lookup's (maybe stale) answer is not kept
    assert len(cache) == 0 and cache.get("h4") is None
    cache.put("h4", actor, cache.generation)
    cache.notified("*")
    assert len(cache) == 0
    cache.put("h5", actor, cache.generation)
    cache.disable()
    assert cache.get("h5") is None and len(cache) == 0


@postgres_only
async def test_the_database_announces_identity_changes_at_commit_only(mutable_demo, settings):
    """The triggers of migration 0010: a change notifies its person at commit; a rolled
    back change, a token's ``last_used_at`` or a person's phone notify nothing."""
    from tortoise.transactions import in_transaction

    from services.postgres import identity_listener_connection

    wang = mutable_demo.world.people["resident_wang"]
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await identity_listener_connection(settings)
    try:
        await listener.add_listener("bandeng_identity", lambda *args: heard.put_nowait(args[3]))

        class Rollback(Exception):
            pass

        with pytest.raises(Rollback):
            async with in_transaction():
                await RoleAssignment.filter(person_id=wang.id).delete()
                raise Rollback
        await ApiToken.filter(person_id=wang.id).update(last_used_at=datetime.now(UTC))
        await Person.filter(id=wang.id).update(phone="13800009999")
        await RoleAssignment.filter(person_id=wang.id).delete()  # the only one that counts
        assert await asyncio.wait_for(heard.get(), BOUND) == str(wang.id)
        # Notifications arrive in commit order: any from the earlier changes came first.
        await listener.execute("SELECT 1")
        assert heard.empty()
    finally:
        await listener.close()
