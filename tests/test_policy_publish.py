"""Publishing the policy to the database (``bandeng policy publish``) and instances that
follow it (``BANDENG_POLICY_SOURCE=database``), on SQLite (the poll) and PostgreSQL (the
notification, and the poll for a notification that never came).

The instances here are applications in this process with their lifespan running; the
multi-process test (real ``bandeng serve`` processes) is tests/test_multi_instance.py.
Waits poll for an outcome with a generous bound (they catch a hang, they measure nothing).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from app.http import create_app
from models.policy import PolicyVersion
from policies.loader import END_MARKER, content_version
from policies.published import read_folder
from policies.store import PolicyStore
from services import policy_versions
from tests.conftest import POLICY_DIR, error_codes, gql, is_postgres
from tests.test_policy_reload import BROKEN, CHANGED, MODEL, ORIGINAL, copy_policies, write_atomically

ROOT = Path(__file__).resolve().parent.parent
BOUND = 15.0  # seconds before a wait fails: only catches a hang

STATUS = """{ policyStatus { version source ruleCount published { number publishedBy note }
  lastError { refusedVersion refusedPublishedVersion problems } } }"""
PHONES = "{ me { policyVersion } people(first: 50) { nodes { phone } } }"
V_ORIGINAL = content_version(MODEL, ORIGINAL)
V_CHANGED = content_version(MODEL, CHANGED)

postgres_only = pytest.mark.skipif(
    not is_postgres(), reason="needs PostgreSQL (BANDENG_TEST_DATABASE_URL=postgres://...)"
)


def folder(tmp_path: Path, name: str, policy: str) -> Path:
    """A policy folder whose tests hold for the original and the changed policy alike."""
    target = copy_policies(tmp_path / name)
    write_atomically(target, policy)
    return target


@asynccontextmanager
async def following(settings, poll_seconds: float = 0.2) -> AsyncIterator:
    """An instance that follows the published policy, its lifespan running."""
    app = create_app(
        settings.with_overrides(
            policy_source="database", policy_poll_seconds=poll_seconds, watch_policy=False
        ),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )
    async with app.router.lifespan_context(app):
        yield app


def client(app, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)


async def status(app, demo) -> dict:
    async with client(app, demo.tokens["admin"]) as c:
        body = await gql(c, STATUS)
    assert not body.get("errors"), body
    return body["data"]["policyStatus"]


async def phones(app, demo) -> list[str | None]:
    async with client(app, demo.tokens["grid_worker_chen"]) as c:
        body = await gql(c, PHONES)
    assert not body.get("errors"), body
    return [node["phone"] for node in body["data"]["people"]["nodes"]]


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {BOUND} s: {what}")
        await asyncio.sleep(0.02)


async def publish(directory: Path, note: str = "") -> policy_versions.PublishOutcome:
    return await policy_versions.publish(read_folder(directory), label=str(directory), by="test", note=note)


async def store_unchecked(number: int, files: dict[str, str], checksum: str) -> None:
    """A version stored without the checker (as psql, or a newer release's publish, could)."""
    await PolicyVersion.create(number=number, checksum=checksum, files=files, published_by="psql")


# ------------------------------------------------------------------------------ publishing


async def test_publish_stores_a_checked_folder_once_and_refuses_a_broken_one(mutable_demo, tmp_path):
    original = folder(tmp_path, "original", ORIGINAL)
    changed = folder(tmp_path, "changed", CHANGED)
    broken = folder(tmp_path, "broken", BROKEN)

    first = await publish(original, "first")
    assert first.stored and first.version is not None
    assert (first.version.number, first.version.checksum) == (1, V_ORIGINAL)
    assert first.version.files == read_folder(original)
    assert set(first.version.files) >= {"model.conf", "policy.csv", "tests/grid_worker.yaml"}

    again = await publish(original)
    assert not again.stored and again.version is not None and again.version.number == 1

    refused = await publish(broken)
    assert refused.refused and refused.version is None
    assert any("unknown resource 'Parcel'" in error for error in refused.report.errors)
    assert await PolicyVersion.all().count() == 1  # nothing stored

    second = await publish(changed, "grid workers no longer see phones")
    assert second.stored and second.version is not None
    assert (second.version.number, second.version.checksum) == (2, V_CHANGED)
    assert "- grid_worker loses read on Person.contact (in_scope)" in second.report.changes

    back = await policy_versions.rollback(1, by="test")
    assert back.stored and back.version is not None
    assert (back.version.number, back.version.checksum, back.version.copied_from) == (3, V_ORIGINAL, 1)
    assert back.version.note == "rollback to version 1"
    assert back.version.files == first.version.files
    assert [row.number for row in await policy_versions.history()] == [3, 2, 1]


async def test_two_publishers_at_once_get_two_numbers(mutable_demo, tmp_path):
    original = folder(tmp_path, "original", ORIGINAL)
    changed = folder(tmp_path, "changed", CHANGED)
    outcomes = await asyncio.gather(publish(original), publish(changed))
    numbers = sorted(o.version.number for o in outcomes if o.version is not None)
    assert numbers == [1, 2]
    assert await PolicyVersion.all().count() == 2


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "BANDENG_DATABASE_URL": database_url, "BANDENG_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_publish_commands(mutable_demo, database_url, tmp_path):
    """publish (refused with the checker's own words, then stored), versions, rollback."""
    original = folder(tmp_path, "original", ORIGINAL)
    broken = folder(tmp_path, "broken", BROKEN)

    checked = await asyncio.to_thread(cli, "policy", "check", str(broken), database_url=database_url)
    done = await asyncio.to_thread(cli, "policy", "publish", str(broken), database_url=database_url)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert errors and errors == [line for line in checked.stdout.splitlines() if line.startswith("error:")]
    assert "nothing was published" in done.stdout
    assert await PolicyVersion.all().count() == 0

    done = await asyncio.to_thread(
        cli,
        "policy",
        "publish",
        str(original),
        "--note",
        "区里审定",
        "--by",
        "admin-li",
        database_url=database_url,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published: version 1 ({V_ORIGINAL}) by admin-li" in done.stdout
    done = await asyncio.to_thread(cli, "policy", "publish", str(original), database_url=database_url)
    assert done.returncode == 0 and "unchanged: published version 1" in done.stdout

    done = await asyncio.to_thread(cli, "policy", "rollback", "7", database_url=database_url)
    assert done.returncode == 1 and "There is no published policy version 7." in done.stderr
    assert (await publish(folder(tmp_path, "changed", CHANGED))).stored  # version 2
    done = await asyncio.to_thread(cli, "policy", "rollback", "1", database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "access change against published version 2:" in done.stdout
    assert "+ grid_worker gains read on Person.contact (in_scope)" in done.stdout
    assert f"published: version 3 ({V_ORIGINAL})" in done.stdout

    done = await asyncio.to_thread(cli, "policy", "versions", database_url=database_url)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["3", V_ORIGINAL], ["2", V_CHANGED], ["1", V_ORIGINAL]]
    assert lines[0].endswith("(version 1 again): rollback to version 1")
    assert lines[2].endswith("admin-li: 区里审定")


# ------------------------------------------------------------------------------- following


async def test_every_instance_follows_the_newest_version_and_keeps_it_when_the_next_is_broken(
    mutable_demo, settings, tmp_path
):
    demo = mutable_demo
    changed = folder(tmp_path, "changed", CHANGED)
    async with following(settings) as one, following(settings) as two:
        instances = (one, two)
        for app in instances:
            before = await status(app, demo)
            assert (before["source"], before["published"], before["version"]) == ("FILES", None, V_ORIGINAL)
            assert all(await phones(app, demo))
            async with client(app) as c:
                ready = (await c.get("/readyz")).json()
            assert ready["status"] == "ready" and ready["policy"]["source"] == "files"

        assert (await publish(changed, "no phones")).stored
        for app in instances:

            async def serves_it(app=app) -> bool:
                return (await status(app, demo))["published"] is not None

            await eventually(serves_it, "the instance serves the published version")
            now = await status(app, demo)
            assert now["source"] == "DATABASE" and now["version"] == V_CHANGED
            assert now["published"] == {"number": 1, "publishedBy": "test", "note": "no phones"}
            assert now["lastError"] is None
            assert not any(await phones(app, demo))  # the permission changed with it
            async with client(app) as c:
                policy = (await c.get("/readyz")).json()["policy"]
            assert policy["source"] == "database" and policy["published"]["number"] == 1
            assert policy["version"] == V_CHANGED

        # A version that cannot load here (stored without the checker): not served.
        files = read_folder(changed)
        files["policy.csv"] = BROKEN
        await store_unchecked(2, files, content_version(MODEL, BROKEN))
        for app in instances:

            async def refused_it(app=app) -> bool:
                return (await status(app, demo))["lastError"] is not None

            await eventually(refused_it, "the instance refuses the broken version")
            now = await status(app, demo)
            assert now["published"]["number"] == 1 and now["version"] == V_CHANGED
            assert now["lastError"]["refusedPublishedVersion"] == 2
            assert any("unknown resource 'Parcel'" in p for p in now["lastError"]["problems"])
            assert not any(await phones(app, demo))  # still version 1's rule
            async with client(app) as c:
                ready = (await c.get("/readyz")).json()
            assert ready["status"] == "ready"
            assert ready["policy"]["lastError"]["refusedPublished"] == 2

        # The rollback to the original files is the newest again: served, the refusal gone.
        original = folder(tmp_path, "original", ORIGINAL)
        assert (await publish(original, "back")).stored
        for app in instances:

            async def serves_three(app=app) -> bool:
                return (await status(app, demo))["published"]["number"] == 3

            await eventually(serves_three, "the instance serves version 3")
            now = await status(app, demo)
            assert now["version"] == V_ORIGINAL and now["lastError"] is None
            assert all(await phones(app, demo))


async def test_an_instance_starting_on_a_broken_newest_version_serves_the_one_before(
    mutable_demo, settings, tmp_path
):
    changed = folder(tmp_path, "changed", CHANGED)
    assert (await publish(changed)).stored
    files = read_folder(changed)
    files["policy.csv"] = CHANGED.replace(END_MARKER, "")  # truncated: no end marker
    await store_unchecked(2, files, content_version(MODEL, files["policy.csv"]))
    async with following(settings, poll_seconds=60) as app:
        now = await status(app, mutable_demo)
        assert now["published"]["number"] == 1 and now["version"] == V_CHANGED
        assert now["lastError"]["refusedPublishedVersion"] == 2
        assert any("does not end with" in problem for problem in now["lastError"]["problems"])


async def test_only_a_policy_reader_sees_the_policy_status(mutable_demo, settings, tmp_path):
    assert (await publish(folder(tmp_path, "changed", CHANGED))).stored
    async with following(settings) as app:
        for role in ("resident_wang", "grid_worker_chen", "secretary_zhang", "court_district"):
            async with client(app, mutable_demo.tokens[role]) as c:
                body = await gql(c, STATUS)
            assert error_codes(body) == ["FORBIDDEN"] and body["data"] == {"policyStatus": None}
        assert (await status(app, mutable_demo))["published"]["number"] == 1


@postgres_only
async def test_a_version_whose_notification_was_lost_is_picked_up_by_the_poll(
    mutable_demo, settings, tmp_path
):
    changed = folder(tmp_path, "changed", CHANGED)
    async with following(settings, poll_seconds=0.5) as app:
        follower = app.state.policy_follower
        await eventually(lambda: _true(follower.listening), "the policy listener is up")
        files = read_folder(changed)
        async with in_transaction() as connection:
            # Triggers off for this transaction only: the row arrives without its NOTIFY.
            await connection.execute_query("SET LOCAL session_replication_role = replica")
            await PolicyVersion.create(
                number=1, checksum=V_CHANGED, files=files, published_by="test", using_db=connection
            )

        async def serves_it() -> bool:
            return (await status(app, mutable_demo))["published"] is not None

        await eventually(serves_it, "the poll finds the version")
        assert (await status(app, mutable_demo))["version"] == V_CHANGED


@postgres_only
async def test_the_policy_listener_is_its_own_named_connection(mutable_demo, settings):
    async with following(settings) as app:
        follower = app.state.policy_follower
        await eventually(lambda: _true(follower.listening), "the policy listener is up")
        pid = follower.connection.get_server_pid()
        rows = await connections.get("default").execute_query_dict(
            "SELECT application_name FROM pg_stat_activity WHERE pid = $1", [pid]
        )
        assert rows == [{"application_name": policy_versions.LISTENER_APPLICATION_NAME}]
        async with client(app) as c:
            assert (await c.get("/readyz")).json()["policy"]["listener"] == "on"


async def _true(value: bool) -> bool:
    return value
