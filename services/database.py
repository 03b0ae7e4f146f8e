"""Database set-up: upgrade by Tortoise's migrations, connect, disconnect."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from services.config import Settings, tortoise_config


async def upgrade(database_url: str) -> None:
    """Apply every migration in ``models/migrations`` not yet applied (idempotent)."""
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def connect(database_url: str, settings: Settings | None = None) -> None:
    """Open the ORM's connection; with ``settings``, under their timeouts and pool sizes."""
    await Tortoise.init(config=tortoise_config(database_url, settings), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()
