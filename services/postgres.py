"""The PostgreSQL client the service runs on: Tortoise's asyncpg client with a timeout on
taking a connection from the pool (Tortoise asks the pool without one).

Named as the ``engine`` of the connection in ``services.config.connection_config``; the
other timeouts (connect, statement, command) are asyncpg's own options.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


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


class TimedAsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client, on a ``TimedPool``."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        options = {**_POOL_DEFAULTS, **kwargs}
        return await TimedPool(None, acquire_timeout=self.acquire_timeout, **options)


client_class = TimedAsyncpgClient
