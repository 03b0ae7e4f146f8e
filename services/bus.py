"""The event bus: a notice of every committed step, for the subscribers of every instance.

**What goes on it.** When a workflow step or creation commits (``services.workflow`` is
the one writer of steps and their event rows), one small ``Notice`` per event row: the
resource, the object's id, the event's action, the states from and to, the object's
scope path and the event's time. No personal data and no text: a subscriber re-reads the
object through its own visibility (``services.authz``) before anything reaches it, so the
notice itself says nothing that the policy has to hide.

**When.** Notices are collected while the transaction runs (``collecting``) and published
only after it committed; a step that rolls back, loses a race or is refused publishes
nothing. A step run inside a transaction that someone else opened (a seed script, a bulk
import) publishes nothing either: nothing tells us that transaction will commit.

**How far.** Every ``Bus`` is one instance's fan-out to its subscribers (bounded queues).
On SQLite, publishing hands the notice to every bus of this process. On PostgreSQL each
instance's bus also holds one connection of its own that ``LISTEN``s on ``CHANNEL``
(``BusListener``, run by the application's lifespan beside the identity listener), and
publishing is one ``pg_notify(CHANNEL, notice)`` after the commit (whoever commits: a
service instance, a CLI command): every instance, this one included, gets it from
PostgreSQL. A bus whose listener is not up (not started,
or reconnecting) gets this process's notices directly, so an instance never misses its
own events; events of other instances published while its listener was down are missed.

**Delivery is best effort**, by design: a subscriber that is too slow to keep up loses
the oldest notices beyond ``queue_size`` (and is told how many in the log), a notice
that cannot be sent to PostgreSQL is logged and dropped. What must not be lost is read
from the event rows themselves (the history fields, ``updatedSince``, webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient

from services import metrics

log = logging.getLogger("bandeng.bus")

CHANNEL = "bandeng_events"
DEFAULT_QUEUE_SIZE = 256
DEFAULT_CONCURRENCY = 4
SLOT_SECONDS = 1.0


@dataclass(frozen=True)
class Notice:
    """One committed event, as the bus carries it (JSON on PostgreSQL, < 400 bytes)."""

    resource: str  # the machine's resource: Concern, Referral, Meeting, AgendaTopic ...
    id: int  # the object's id
    action: str  # the event row's action: accept, escalated_to_street, referral_accept ...
    from_status: str | None
    to_status: str | None
    scope_path: str
    at: str  # the event's time (ISO 8601)

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, payload: str) -> Notice:
        return cls(**json.loads(payload))

    @classmethod
    def of(
        cls,
        resource: str,
        row: Any,
        action: str,
        from_status: str | None,
        to_status: str | None,
        at: datetime,
    ) -> Notice:
        return cls(resource, row.id, action, from_status, to_status, row.scope_path, at.isoformat())


# ------------------------------------------------------------------------- subscribers


class Subscription:
    """One subscriber's queue of notices, for the resources it asked for."""

    def __init__(self, bus: Bus, resources: frozenset[str], queue_size: int) -> None:
        self.bus = bus
        self.resources = resources
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.waiting = False  # its consumer waits for the next notice (done with the last)

    def offer(self, notice: Notice) -> None:
        if notice.resource not in self.resources:
            return
        if self.queue.full():  # too slow: the oldest goes
            self.queue.get_nowait()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("a slow subscriber has lost %d notices", self.dropped)
        self.queue.put_nowait(notice)

    def __aiter__(self) -> AsyncIterator[Notice]:
        return self

    async def __anext__(self) -> Notice:
        self.waiting = True
        if self.queue.empty():
            self.bus.changed()
        try:
            return await self.queue.get()
        finally:
            self.waiting = False

    @property
    def idle(self) -> bool:
        """Every notice offered so far has been handled (its payload sent, or skipped)."""
        return self.waiting and self.queue.empty()

    def close(self) -> None:
        if self in self.bus.subscriptions:
            self.bus.subscriptions.discard(self)
            metrics.subscription_closed()
        self.bus.changed()


class Bus:
    """One instance's fan-out of notices to its open subscriptions."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.queue_size = queue_size
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self.subscriptions: set[Subscription] = set()
        self.listening = False  # True while its PostgreSQL listener is up
        self.delivered = 0
        self._waiters: list[asyncio.Future[None]] = []
        _live_buses.add(self)

    def subscribe(self, resources: Iterable[str]) -> Subscription:
        """A queue of the notices about ``resources``; ``close()`` it when done."""
        subscription = Subscription(self, frozenset(resources), self.queue_size)
        self.subscriptions.add(subscription)
        metrics.subscription_opened()
        self.changed()
        return subscription

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held by a subscriber while it decides on a notice and its payload is resolved
        and sent: at most ``concurrency`` at once per instance, so that a fan-out to many
        subscribers never takes more than that many of the pool's connections from the
        requests. Given back after ``SLOT_SECONDS`` at the latest: a client that does not
        read (its send waits) must not stall the others."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        await slots.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        timer = asyncio.get_running_loop().call_later(SLOT_SECONDS, release)
        try:
            yield
        finally:
            timer.cancel()
            release()

    def deliver(self, notice: Notice) -> None:
        """To every subscription of this instance (called on the event loop)."""
        self.delivered += 1
        for subscription in list(self.subscriptions):
            subscription.offer(notice)

    def __len__(self) -> int:
        return len(self.subscriptions)

    def changed(self) -> None:
        """A subscription opened, closed or finished its notices: wake ``until``."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked at every change of the subscriptions."""
        while not condition():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    async def settled(self) -> None:
        """Wait until every subscription has handled every notice offered to it (tests and
        the benchmark: what was not sent by then is not going to be)."""
        await self.until(lambda: all(s.idle for s in list(self.subscriptions)))


_live_buses: weakref.WeakSet[Bus] = weakref.WeakSet()
# Called with every batch of committed notices of this process (``on_publish``): the
# webhooks' worker looks at its outbox at once after a mediation step.
_on_publish: list[Callable[[list[Notice]], None]] = []


def on_publish(callback: Callable[[list[Notice]], None]) -> None:
    """Call ``callback`` with the notices of every step this process commits."""
    _on_publish.append(callback)


def open_subscriptions() -> int:
    """Subscriptions open in this process, over all its buses (for the metrics)."""
    return sum(len(bus) for bus in list(_live_buses))


# ------------------------------------------------------------------------- publishing

_pending: contextvars.ContextVar[list[Notice] | None] = contextvars.ContextVar("bus_pending", default=None)


def pending(notice: Notice) -> None:
    """A notice of the transaction in progress (``collecting``); dropped without one."""
    notices = _pending.get()
    if notices is not None:
        notices.append(notice)


class collecting:
    """``async with collecting(): async with in_transaction(): ...``: the notices of the
    steps inside are published once the transaction has committed, never when it raised.
    Nested uses add to the outermost one."""

    def __init__(self) -> None:
        self._token: contextvars.Token[list[Notice] | None] | None = None
        self._notices: list[Notice] = []

    async def __aenter__(self) -> None:
        if _pending.get() is not None or _in_foreign_transaction():
            return  # the outermost collector (or nobody: see the module's docstring) decides
        self._token = _pending.set(self._notices)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is None:
            return
        _pending.reset(self._token)
        if kind is None and self._notices:
            await publish(self._notices)


def _in_foreign_transaction() -> bool:
    try:
        return isinstance(connections.get("default"), TransactionalDBClient)
    except Exception:  # no ORM set up: nothing is written either
        return False


async def publish(notices: list[Notice]) -> None:
    """Committed notices to every bus: on PostgreSQL through ``NOTIFY`` to every listening
    one (every instance), directly to the others of this process. Never raises."""
    for callback in _on_publish:
        try:
            callback(notices)
        except Exception as exc:  # a hook must not undo what is committed
            log.warning("a publish hook failed: %r", exc)
    for notice in notices:
        for bus in list(_live_buses):
            if not bus.listening:
                bus.deliver(notice)
    if _on_postgres():
        try:
            await _notify(notices)
        except Exception as exc:  # the step is committed; only the live notice is lost
            log.warning("could not publish %d notice(s): %r", len(notices), exc)


def _on_postgres() -> bool:
    try:
        return connections.get("default").capabilities.dialect == "postgres"
    except Exception:
        return False


async def _notify(notices: list[Notice]) -> None:
    db = connections.get("default")
    for notice in notices:
        await db.execute_query("SELECT pg_notify($1, $2)", [CHANNEL, notice.encode()])


# ------------------------------------------------------------------- PostgreSQL listener

Connect = Callable[[], Awaitable[Any]]


class BusListener:
    """One dedicated connection that ``LISTEN``s on ``CHANNEL`` and hands every notice to
    ``bus``; reconnects after ``retry_delay`` seconds when it is lost (meanwhile the bus
    gets this process's notices directly)."""

    def __init__(
        self,
        bus: Bus,
        connect: Connect,
        *,
        retry_delay: float = 1.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
    ) -> None:
        self.bus = bus
        self._connect = connect
        self.retry_delay = retry_delay
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connection: Any = None
        self._lost = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._lost = asyncio.Event()
        try:
            while not stop.is_set():
                try:
                    await self._listen(stop)
                except Exception as exc:
                    log.warning("event bus listener failed: %r", exc)
                finally:
                    self.bus.listening = False
                    await self._close()
                if not stop.is_set():
                    try:
                        await asyncio.wait_for(stop.wait(), self.retry_delay)
                    except TimeoutError:
                        pass
        finally:
            self.bus.listening = False
            await self._close()

    async def _listen(self, stop: asyncio.Event) -> None:
        self._lost.clear()
        connection = await self._connect()
        self.connection = connection
        connection.add_termination_listener(self._on_termination)
        await connection.add_listener(CHANNEL, self._on_notification)
        self.bus.listening = True
        log.info("event bus listening on %s (backend %s)", CHANNEL, connection.get_server_pid())
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
                    log.warning("event bus listener connection lost")
                    return
                await connection.fetchval("SELECT 1", timeout=self.ping_timeout)
        finally:
            stopping.cancel()
            lost.cancel()

    def _on_termination(self, connection: Any) -> None:
        self.bus.listening = False
        self._lost.set()

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            notice = Notice.decode(payload)
        except Exception as exc:  # not ours (someone ran NOTIFY by hand): ignore it
            log.warning("ignored a malformed notice on %s: %r", CHANNEL, exc)
            return
        self.bus.deliver(notice)

    async def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await asyncio.wait_for(connection.close(), self.ping_timeout)
        except Exception:
            connection.terminate()
