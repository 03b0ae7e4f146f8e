"""The committed migrations describe the models exactly, and upgrade an old database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise import connections

MIGRATIONS = Path(__file__).resolve().parent.parent / "models" / "migrations"

DETECT_CHANGES = """
import asyncio, sys
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector
from services.config import tortoise_config

async def main():
    config = tortoise_config("sqlite://" + sys.argv[1])
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        changes = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    print(len(changes))

asyncio.run(main())
"""


def test_models_and_migrations_agree(tmp_path):
    """Like `makemigrations --check`: a model change without a migration fails.

    In a subprocess: initialising Tortoise binds the (global) model classes to that
    database's dialect, which would leak into the rest of the session."""
    done = subprocess.run(
        [sys.executable, "-c", DETECT_CHANGES, str(tmp_path / "check.sqlite3")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", (
        "models changed without a migration: run "
        "`tortoise -c services.config.TORTOISE_ORM makemigrations` and commit the file"
    )


def test_bandeng_migrate_is_idempotent(tmp_path):
    """`bandeng migrate` twice on a new database: the second run has nothing to apply.

    Runs the real command in a subprocess: migrating re-initialises Tortoise's global
    state, which must not touch the test session's connection."""
    env = {**os.environ, "BANDENG_DATABASE_URL": f"sqlite://{tmp_path / 'twice.sqlite3'}"}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "database is up to date" in done.stdout
    tables = sqlite3.connect(tmp_path / "twice.sqlite3").execute(
        "SELECT name FROM tortoise_migrations ORDER BY name"
    )
    on_disk = sorted(p.stem for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert len(on_disk) >= 3
    assert [name for (name,) in tables] == on_disk


UPGRADE_WITH_ROWS = """
import asyncio, sqlite3, sys
from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate
from services.config import tortoise_config

async def main():
    config = tortoise_config("sqlite://" + sys.argv[1])
    await migrate(config=config, target="models.0004_role_affiliation")
    await Tortoise.close_connections()
    db = sqlite3.connect(sys.argv[1])
    db.executescript(
        "INSERT INTO org_unit (id, kind, name, path, created_at) VALUES (1, 'community', 'c', '/c/1', '2024-01-01');"
        "INSERT INTO council (id, name, description, unit_id, scope_path, created_at) "
        "VALUES (1, 'k', '', 1, '/c/1', '2024-01-01');"
        "INSERT INTO meeting (id, council_id, title, starts_at, place, status, scope_path, created_at) "
        "VALUES (1, 1, 'm', '2024-04-16', '', 'held', '/c/1', '2024-01-01');"
        "INSERT INTO agenda_topic (id, meeting_id, title, description, scope_path, created_at) "
        "VALUES (1, 1, 't', '', '/c/1', '2024-01-01');"
    )
    db.commit()
    db.close()
    await migrate(config=config)
    await Tortoise.close_connections()
    db = sqlite3.connect(sys.argv[1])
    print(db.execute("SELECT status, decision FROM agenda_topic").fetchall(), db.execute("SELECT minutes FROM meeting").fetchall())

asyncio.run(main())
"""


def test_councils_loop_migration_upgrades_a_database_with_meetings(tmp_path):
    """--- councils loop / alliance: 0005 adds NOT NULL columns to tables that already
    have rows; they need database defaults (proposed topics, empty minutes)."""
    done = subprocess.run(
        [sys.executable, "-c", UPGRADE_WITH_ROWS, str(tmp_path / "old.sqlite3")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('proposed', '')] [('',)]"


async def test_every_scoped_table_has_its_pattern_index_on_postgres(database_url):
    """On PostgreSQL, ``scope_path LIKE '/s/1/c/2/%'`` needs a ``varchar_pattern_ops`` index;
    every table with a scope_path column gets one by the migrations' one convention
    (``models.base.ensure_scope_indexes``), the tables added later (tasks, cases, rounds ...)
    included. Runs in the PostgreSQL pass of the suite (CI runs both)."""
    from tests.conftest import is_postgres

    if not is_postgres():
        pytest.skip("SQLite has no pattern operator classes; this runs in the PostgreSQL pass")
    conn = connections.get("default")
    scoped = {
        row["table_name"]
        for row in await conn.execute_query_dict(
            "SELECT table_name FROM information_schema.columns "
            "WHERE column_name = 'scope_path' AND table_schema = current_schema()"
        )
    }
    indexed = {
        row["tablename"]
        for row in await conn.execute_query_dict(
            "SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexdef LIKE '%scope_path varchar_pattern_ops%'"
        )
    }
    assert len(scoped) >= 20, scoped
    # concern_tally is keyed by scope, read by equality (its unique index), never by LIKE
    assert scoped - indexed - {"concern_tally"} == set(), "scoped tables without a pattern index"
