"""Test harness: one database per session (SQLite by default, PostgreSQL when
``BANDENG_TEST_DATABASE_URL`` points at one), created by the real migrations.

When the URL is set and PostgreSQL is unreachable the session fails; it never skips.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import graphql
import httpx
import pytest
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from app import seed
from app.http import create_app
from policies.store import PolicyStore
from schema import compiled
from services import database, identity
from services.config import Settings

TEST_DATABASE_URL = os.environ.get("BANDENG_TEST_DATABASE_URL", "")
POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith(("postgres://", "asyncpg://"))


async def _create_postgres_database(base_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"bandeng_test_{uuid.uuid4().hex[:10]}"
    dsn = base_url.replace("asyncpg://", "postgres://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    prefix, _, _ = base_url.rpartition("/")
    return f"{prefix}/{name}", name


async def _drop_postgres_database(base_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base_url.replace("asyncpg://", "postgres://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory) -> AsyncIterator[str]:
    """A fresh database with every migration applied, dropped at the end."""
    if is_postgres():
        url, name = await _create_postgres_database(TEST_DATABASE_URL)
        try:
            await database.upgrade(url)
            await database.connect(url)
            yield url
        finally:
            await database.disconnect()
            await _drop_postgres_database(TEST_DATABASE_URL, name)
    else:
        url = TEST_DATABASE_URL or f"sqlite://{tmp_path_factory.mktemp('db') / 'bandeng.sqlite3'}"
        await database.upgrade(url)
        await database.connect(url)
        try:
            yield url
        finally:
            await database.disconnect()


def tables() -> list[str]:
    """Every table of the models (a new domain's too, without being listed here)."""
    return sorted(model._meta.db_table for model in Tortoise.apps["models"].values())


async def truncate_all() -> None:
    conn = connections.get("default")
    if is_postgres():
        await conn.execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables()) + " RESTART IDENTITY CASCADE"
        )
    else:
        # org_unit refers to itself with RESTRICT: switch the checks off while emptying.
        await conn.execute_script("PRAGMA foreign_keys = OFF")
        try:
            for table in tables():
                await conn.execute_script(f'DELETE FROM "{table}"')
            await conn.execute_script("DELETE FROM sqlite_sequence")
        finally:
            await conn.execute_script("PRAGMA foreign_keys = ON")


# The committed schema, as clients see it (schema/schema.graphql).
SCHEMA = graphql.build_schema(
    (Path(__file__).resolve().parent.parent / "schema" / "schema.graphql").read_text()
)

# One caller per kind of demo role (seed keys, app/seed.py), and none (no token).
ROLES = (
    None,
    "resident_wang",
    "grid_worker_chen",
    "secretary_zhang",
    "judge_he",
    "street_official_xu",
    "admin",
    "court_district",
)


class _DemoState:
    dirty = True
    world: seed.DemoWorld | None = None
    tokens: dict[str, str] = {}


async def _reseed() -> None:
    await truncate_all()
    async with in_transaction():  # one commit instead of one per row
        _DemoState.world = await seed.seed_demo()
    _DemoState.tokens = {
        key: await identity.issue_token(person.id, "test") for key, person in _DemoState.world.people.items()
    }
    _DemoState.dirty = False


@dataclass
class Demo:
    """The seeded demo world plus a ready HTTP client per person key."""

    world: seed.DemoWorld
    tokens: dict[str, str]
    app: object

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[key]}"} if key else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test", headers=headers
        )

    def id(self, kind: str, key: str) -> str:
        return str(getattr(self.world, kind)[key].id)


@pytest.fixture(scope="session")
def settings(database_url) -> Settings:
    # Rate limits off: the whole suite shares one client address (tests/test_operations.py
    # turns them on where they are the subject).
    # Compiled reads in ``verify`` mode: every query the suite sends that the compiled path
    # can plan is answered by it and checked against the reference executor (issue 9's
    # differential test over the whole suite; ``_no_compiled_differences`` fails a test
    # that caused a difference).
    return Settings(
        database_url=database_url,
        policy_dir=POLICY_DIR,
        rate_limit_token_rate=0,
        rate_limit_address_rate=0,
        compiled_reads="verify",
    )


@pytest.fixture(autouse=True)
def _no_compiled_differences():
    """Fails the test during which the compiled read path answered differently from the
    reference executor (``schema.compiled.MISMATCHES``)."""
    compiled.MISMATCHES.clear()
    yield
    found = list(compiled.MISMATCHES)
    compiled.MISMATCHES.clear()
    assert not found, f"the compiled read path differs from the reference executor: {found[:3]}"


@pytest.fixture(scope="session")
def app(settings):
    return create_app(settings, policy_store=PolicyStore(POLICY_DIR), manage_database=False)


@pytest.fixture
async def demo(app) -> Demo:
    """The demo world for tests that only read (seeded again only after a writer)."""
    if _DemoState.dirty:
        await _reseed()
    return Demo(_DemoState.world, _DemoState.tokens, app)


@pytest.fixture
async def mutable_demo(app) -> AsyncIterator[Demo]:
    """The demo world for tests that write; the next test gets a fresh copy."""
    if _DemoState.dirty:
        await _reseed()
    _DemoState.dirty = True
    yield Demo(_DemoState.world, _DemoState.tokens, app)


@pytest.fixture
async def empty_database(database_url) -> AsyncIterator[None]:
    """No rows at all (for tests that build their own worlds)."""
    await truncate_all()
    _DemoState.dirty = True
    yield


async def gql(client: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    """POST a GraphQL request and return the decoded body (asserting HTTP 200)."""
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


def error_codes(body: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


class QueryCounter(logging.Handler):
    """Counts SQL statements sent through Tortoise (its ``tortoise.db_client`` log)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if compiled.CHECKING.get():  # the reference executor checking a compiled read (verify mode)
            return
        self.statements.append(record.getMessage())

    def __enter__(self) -> QueryCounter:
        self._logger = logging.getLogger("tortoise.db_client")
        self._previous = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._previous)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries():
    return QueryCounter


__all__ = ["Demo", "gql", "error_codes", "Tortoise", "ROLES", "SCHEMA"]


def pytest_terminal_summary(terminalreporter):
    """How the suite's queries ran (issue 9): compiled and checked against the reference
    executor, answered by it after an error, or not plannable."""
    stats = dict(compiled.STATS)
    if stats:
        terminalreporter.write_line(
            "compiled reads: "
            + ", ".join(f"{key} {value}" for key, value in sorted(stats.items()))
            + " (every compiled answer checked against the reference executor)"
        )
