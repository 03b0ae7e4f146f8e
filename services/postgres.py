"""The PostgreSQL client the service runs on: Tortoise's asyncpg client with a timeout on
taking a connection from the pool (Tortoise asks the pool without one), and without a
session reset after each statement (``keep_session``).

Named as the ``engine`` of the connection in ``services.config.connection_config``; the
other timeouts (connect, statement, command) are asyncpg's own options.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url

from services.config import Settings


class TimedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire`` waits at most ``acquire_timeout`` seconds unless
    told otherwise. asyncpg also applies an acquisition's timeout to the reset of the
    connection when it is released, so a released connection never hangs the caller
    either: a connection that cannot be reset in time is closed, and replaced later."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


# asyncpg.create_pool's defaults (max_queries, connection_class, ...), for building the pool
# ourselves without restating them.
_POOL_DEFAULTS: dict[str, Any] = dict(asyncpg.create_pool.__kwdefaults__ or {})


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset when a connection comes back: nothing beyond what asyncpg always
    does first (roll back an open transaction, drop listeners).

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` after every statement Tortoise runs outside a transaction: one more round
    trip each time, for session state this service never creates. It sets nothing with
    ``SET`` (its settings are the connection's start-up parameters, which ``RESET ALL``
    would keep anyway), takes no advisory locks, keeps no cursors, and listens only on
    connections of its own, outside the pool. Code that changes session state must use
    ``SET LOCAL`` inside a transaction, or bring the default reset back."""


class TimedAsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client, on a ``TimedPool``."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        options = {**_POOL_DEFAULTS, "reset": keep_session, **kwargs}
        return await TimedPool(None, acquire_timeout=self.acquire_timeout, **options)


client_class = TimedAsyncpgClient


LISTENER_APPLICATION_NAME = "bandeng-identity-listener"
BUS_APPLICATION_NAME = "bandeng-event-listener"  # services.bus (LISTEN bandeng_events)


async def identity_listener_connection(settings: Settings) -> asyncpg.Connection:
    """A connection of its own (outside the pool) for ``LISTEN bandeng_identity``
    (``services.identity_cache``), to the service's database with its connect timeout."""
    return await listener_connection(settings, LISTENER_APPLICATION_NAME)


async def listener_connection(settings: Settings, application_name: str) -> asyncpg.Connection:
    """A connection outside the pool, named ``application_name`` in ``pg_stat_activity``."""
    credentials = expand_db_url(settings.database_url)["credentials"]
    options = {
        key: credentials[key] for key in ("host", "port", "user", "password", "ssl") if key in credentials
    }
    return await asyncpg.connect(
        database=credentials.get("database"),
        timeout=settings.db_connect_timeout,
        server_settings={"application_name": application_name},
        **options,
    )
