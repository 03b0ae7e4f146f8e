"""The caller's identity cached per token, dropped the moment it may be wrong.

A warm authenticated request on PostgreSQL costs no identity statement: the ``Actor``
(immutable) behind a token hash is kept in an in-process LRU (``IdentityCache``, a few
thousand entries). Only known tokens are cached; an unknown or revoked token is looked
up every time, so a token issued by another process works at once.

**What invalidates it.** Triggers in the database (migration 0010), not the code that
writes: every change that can alter an ``Actor`` calls ``pg_notify('bandeng_identity',
<person id>)`` in the writer's own transaction, so the notification is delivered at
commit, whoever wrote (a service, ``bandeng token revoke`` in another process, a bulk
insert in a test, an operator in psql). The changes are: a role assignment inserted,
updated or deleted; a token revoked, re-hashed, moved or deleted; a person renamed or
deleted; ``TRUNCATE`` of any of the three tables (payload ``*``: everything).

**Who listens.** Each service instance holds one dedicated asyncpg connection outside
the pool (``IdentityListener``, started and stopped with the application's lifespan)
that ``LISTEN``s and evicts that person's entries (or all of them). The cache is
*enabled only while that connection is known to be alive*: before it is established,
as soon as it is lost (asyncpg's termination callback, or a failed ``SELECT 1`` every
``ping_interval`` seconds for a connection that dies silently), the cache is cleared and
every request goes to the database; after reconnecting and ``LISTEN`` again, the cache
starts empty. A change committed while the listener is down is therefore never hidden
by a cached entry.

**Races.** A request that misses records the cache's ``generation`` before its lookup
and stores the result only if no notification (nor a loss of the listener) arrived
meanwhile: a lookup whose snapshot predates a change cannot repopulate the cache after
that change's notification. Writers in this process also evict at once
(``forget_person`` / ``forget_token``), so the instance that made a change never waits
for its own notification.

**What "immediate" means across instances**: a change is seen by another instance as
soon as its notification arrives (PostgreSQL sends it at commit; sub-millisecond on one
machine). The only window beyond that is a listener connection that died without the
instance noticing yet: at most ``ping_interval`` plus the ping's timeout.

**SQLite** has no ``NOTIFY``, and the CLI may revoke from another process. There the
cache is never enabled: a cached answer would still need one statement to learn whether
it is current (an epoch row, or ``PRAGMA data_version``, which moves at every write by
another connection), which is exactly what the uncached lookup costs — one statement
(``services.identity.lookup``: token, person and roles in one ``LEFT JOIN``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from policies.authorizer import Actor

log = logging.getLogger("bandeng.identity")

CHANNEL = "bandeng_identity"
ALL = "*"
DEFAULT_MAX_ENTRIES = 4096

_live_caches: weakref.WeakSet[IdentityCache] = weakref.WeakSet()


class IdentityCache:
    """Token hash -> Actor, bounded (least recently used out first), enabled only while
    its instance's listener is alive."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Actor] = OrderedDict()
        self._by_person: dict[int, set[str]] = {}  # eviction per notification without a scan
        self._generation = 0
        self._enabled = False
        _live_caches.add(self)

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def generation(self) -> int:
        """Goes up at every eviction: a lookup stores its result only under the
        generation it started in."""
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> Actor | None:
        if not self._enabled:
            return None
        actor = self._entries.get(token_hash)
        if actor is not None:
            self._entries.move_to_end(token_hash)
        return actor

    def put(self, token_hash: str, actor: Actor, generation: int) -> None:
        """Keep ``actor``, looked up when the generation was ``generation``, unless an
        eviction happened since (the lookup may have read what was just changed)."""
        if not self._enabled or generation != self._generation:
            return
        self._drop(token_hash)
        self._entries[token_hash] = actor
        self._by_person.setdefault(actor.person_id, set()).add(token_hash)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))

    def forget_person(self, person_id: int) -> None:
        self._generation += 1
        for key in self._by_person.pop(person_id, ()):
            del self._entries[key]

    def forget_token(self, token_hash: str) -> None:
        self._generation += 1
        self._drop(token_hash)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._by_person.clear()

    def _drop(self, token_hash: str) -> None:
        actor = self._entries.pop(token_hash, None)
        if actor is not None:
            keys = self._by_person[actor.person_id]
            keys.discard(token_hash)
            if not keys:
                del self._by_person[actor.person_id]

    def enable(self) -> None:
        """The listener is (again) in place: start from nothing."""
        self.clear()
        self._enabled = True

    def disable(self) -> None:
        """The listener is gone: nothing cached may be trusted any more."""
        self._enabled = False
        self.clear()

    def notified(self, payload: str) -> None:
        """A notification on ``CHANNEL``: a person id, or ``*``."""
        if payload.isdigit():
            self.forget_person(int(payload))
        else:
            self.clear()


def forget_person(person_id: int) -> None:
    """A writer in this process changed a person's identity: evict at once in every cache
    of this process (the notification, delivered at commit, evicts in the others)."""
    for cache in list(_live_caches):
        cache.forget_person(person_id)


def forget_token(token_hash: str) -> None:
    for cache in list(_live_caches):
        cache.forget_token(token_hash)


Connect = Callable[[], Awaitable[Any]]


class IdentityListener:
    """One dedicated connection that ``LISTEN``s on ``CHANNEL`` for an ``IdentityCache``,
    reconnecting after ``retry_delay`` seconds when it is lost; the cache is enabled only
    while it is up."""

    def __init__(
        self,
        cache: IdentityCache,
        connect: Connect,
        *,
        retry_delay: float = 1.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
    ) -> None:
        self.cache = cache
        self._connect = connect
        self.retry_delay = retry_delay
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connection: Any = None
        self.connections_made = 0
        self._lost = asyncio.Event()
        self._retry = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; the cache is disabled when this returns."""
        self._lost, self._retry = asyncio.Event(), asyncio.Event()  # this loop's (a new lifespan's)
        try:
            while not stop.is_set():
                try:
                    await self._listen(stop)
                except Exception as exc:  # any failure: off until a new connection listens
                    log.warning("identity cache off: listener connection failed: %r", exc)
                finally:
                    self.cache.disable()
                    await self._close()
                if not stop.is_set():
                    await self._pause(stop)
        finally:
            self.cache.disable()
            await self._close()

    async def _listen(self, stop: asyncio.Event) -> None:
        self._lost.clear()
        self._retry.clear()
        connection = await self._connect()
        self.connection = connection
        connection.add_termination_listener(self._on_termination)
        await connection.add_listener(CHANNEL, self._on_notification)
        # From here on every commit's notification reaches us: whatever is cached later
        # was looked up after this point.
        self.cache.enable()
        self.connections_made += 1
        log.info("identity cache on (listening on %s, backend %s)", CHANNEL, connection.get_server_pid())
        stopping = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {stopping, lost}, timeout=self.ping_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    return
                if lost in done or connection.is_closed():
                    log.warning("identity cache off: listener connection lost")
                    return
                await connection.fetchval("SELECT 1", timeout=self.ping_timeout)
        finally:
            stopping.cancel()
            lost.cancel()

    async def _pause(self, stop: asyncio.Event) -> None:
        """Wait ``retry_delay`` seconds, or less if stopped or told to ``retry_now``."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._retry.wait())}
        try:
            await asyncio.wait(waits, timeout=self.retry_delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def retry_now(self) -> None:
        """Reconnect without waiting out ``retry_delay`` (when the connection is down)."""
        self._retry.set()

    def _on_termination(self, connection: Any) -> None:
        self.cache.disable()  # at once, before the loop above wakes up
        self._lost.set()

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self.cache.notified(payload)

    async def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await asyncio.wait_for(connection.close(), self.ping_timeout)
        except Exception:  # already dead: nothing to tidy up but the socket
            connection.terminate()
