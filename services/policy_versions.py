"""Published policy versions: stored by ``bandeng policy publish``, followed by every instance.

In a deployment of several instances, editing each instance's policy folder leaves them
disagreeing for as long as the copies differ. With ``BANDENG_POLICY_SOURCE=database`` the
policy is published once, in the database, and every instance follows it:

- **Publish** (``publish``): the folder is read into memory once, checked exactly as
  ``bandeng policy check`` checks it (policy tests included), and only if it passes stored
  as the next version (``policy_version``: every file, its checksum, who, when, why). A
  broken folder stores nothing. A folder identical to the newest version stores nothing
  either (publishing is idempotent). ``rollback`` publishes an older version's files
  again, under a new number, after checking them again.
- **Tell** (migration 0014): a trigger on ``policy_version`` calls
  ``pg_notify('bandeng_policy', <number>)`` in the publishing transaction, delivered at
  commit whoever inserted the row.
- **Follow** (``PolicyFollower``): each instance reads the newest version at start-up
  (before it serves), again at each notification on a ``LISTEN`` connection of its own,
  after that connection is (re)established, and every ``BANDENG_POLICY_POLL_SECONDS`` in
  case a notification was missed (and, on SQLite, which has no ``NOTIFY``, instead of
  them). A new version is built off the event loop with every check, then swapped in as a
  whole (``PolicyStore.install_published``); a version that fails here is not served: the
  instance keeps the policy in force and shows the refusal (``/readyz``, ``policyStatus``).

The newest version is the one to serve: an instance never picks an older one by itself,
except at start-up, when the newest fails to load and there is nothing in force yet but
the bootstrap files; it then serves the newest version that loads (at most
``START_FALLBACKS`` back) and shows the refusal of the newest.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.policy import PolicyVersion
from policies.check import CheckReport
from policies.loader import PolicyError, Publication
from policies.published import build_published, check_files
from policies.store import PolicyStore
from services.errors import NotFound

log = logging.getLogger("bandeng.policy")

CHANNEL = "bandeng_policy"
LISTENER_APPLICATION_NAME = "bandeng-policy-listener"
START_FALLBACKS = 5


def default_publisher() -> str:
    """Who publishes when ``--by`` is not given: the system user and host."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (a container)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:128]


@dataclass(frozen=True)
class PublishOutcome:
    """What ``publish`` did: the checker's report; the version stored (or the newest one
    when ``stored`` is False because it has the same files); nothing when refused."""

    report: CheckReport
    version: PolicyVersion | None
    stored: bool

    @property
    def refused(self) -> bool:
        return not self.report.ok


async def newest() -> PolicyVersion | None:
    return await PolicyVersion.all().order_by("-number").first()


async def get(number: int) -> PolicyVersion | None:
    return await PolicyVersion.get_or_none(number=number)


async def history(limit: int = 50) -> list[PolicyVersion]:
    """The published versions, newest first."""
    return await PolicyVersion.all().order_by("-number").limit(limit)


async def publish(
    files: dict[str, str],
    *,
    label: str,
    by: str,
    note: str = "",
    copied_from: int | None = None,
) -> PublishOutcome:
    """Check ``files`` (a policy folder read with ``policies.published.read_folder``) as
    ``bandeng policy check`` does, against the newest published version, and store them as
    the next version only if they pass."""
    latest = await newest()
    report = await asyncio.to_thread(check_files, files, label, latest.files if latest else None)
    if not report.ok or report.version is None:
        return PublishOutcome(report, None, False)
    if latest is not None and latest.files == files:
        return PublishOutcome(report, latest, False)
    for _attempt in range(5):  # two publishers at once: the loser takes the next number
        try:
            async with in_transaction() as connection:
                last = await PolicyVersion.all().using_db(connection).order_by("-number").first()
                row = await PolicyVersion.create(
                    number=(last.number if last else 0) + 1,
                    checksum=report.version,
                    files=files,
                    published_by=by[:128],
                    note=note,
                    copied_from=copied_from,
                    using_db=connection,
                )
            log.info("policy version %s published by %s (%s)", row.number, row.published_by, row.checksum)
            return PublishOutcome(report, row, True)
        except IntegrityError:
            continue
    raise RuntimeError("could not take a version number: too many publishers at once")


async def rollback(number: int, *, by: str, note: str = "") -> PublishOutcome:
    """Publish version ``number``'s files again, as the next version (checked again: the
    code running now must still accept them)."""
    old = await get(number)
    if old is None:
        raise NotFound(f"There is no published policy version {number}.")
    return await publish(
        old.files,
        label=f"published version {number}",
        by=by,
        note=note or f"rollback to version {number}",
        copied_from=number,
    )


def publication_of(row: PolicyVersion) -> Publication:
    return Publication(row.number, row.published_at, row.published_by, row.note)


Connect = Callable[[], Awaitable[Any]]


class PolicyFollower:
    """Keeps a ``PolicyStore`` on the newest published version (module docstring)."""

    def __init__(
        self,
        store: PolicyStore,
        connect: Connect | None,
        *,
        poll_seconds: float = 5.0,
        retry_delay: float = 1.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self._connect = connect
        self.poll_seconds = poll_seconds
        self.retry_delay = retry_delay
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.synced = False  # the database has been read at least once
        self.listening = False  # the LISTEN connection is up (PostgreSQL)
        self.connection: Any = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()

    # ---- reading the database

    async def sync(self) -> None:
        """Put the newest published version in force, unless it already is or was refused."""
        async with self._lock:
            summary = await PolicyVersion.all().order_by("-number").first().values("number", "checksum")
            if summary is None:  # nothing published: the bootstrap files stay in force
                if not self.synced:
                    log.warning("no policy published yet: serving the files in %s", self.store.directory)
                self.synced = True
                return
            number, checksum = summary["number"], summary["checksum"]
            current = self.store.current
            publication = current.policy.publication
            failure = self.store.last_error
            if publication is not None and publication.number == number and current.version == checksum:
                self.synced = True
                return
            if failure is not None and failure.published == number and failure.version == checksum:
                self.synced = True
                return  # refused already: wait for a newer version
            await self._load(number, fall_back=publication is None)
            self.synced = True

    async def _load(self, number: int, *, fall_back: bool) -> None:
        row = await get(number)
        if row is None:  # gone between the two reads (a truncated table): next time
            return
        try:
            candidate = await asyncio.to_thread(build_published, row.files, row.checksum, publication_of(row))
        except PolicyError as exc:
            self.store.refuse_published(exc, row.number, row.checksum)
            if fall_back:
                await self._fall_back(row.number)
            return
        self.store.install_published(candidate)

    async def _fall_back(self, refused: int) -> None:
        """At start-up: the newest version that loads, below the refused one."""
        older = await PolicyVersion.filter(number__lt=refused).order_by("-number").limit(START_FALLBACKS)
        for row in older:
            try:
                candidate = await asyncio.to_thread(
                    build_published, row.files, row.checksum, publication_of(row)
                )
            except PolicyError:
                continue
            log.warning("serving published version %s: version %s cannot be loaded here", row.number, refused)
            self.store.install_published(candidate, keep_error=True)
            return

    # ---- running with the application

    async def start(self) -> None:
        """The first read, before the instance serves (a database that cannot be read yet
        leaves the bootstrap files in force; ``run`` keeps trying)."""
        try:
            await self.sync()
        except Exception as exc:
            log.warning("published policy not read at start-up, retrying: %r", exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until ``stop``: at every notification, and every ``poll_seconds``."""
        self._wake = asyncio.Event()
        listening = asyncio.create_task(self._listen_forever(stop)) if self._connect else None
        try:
            while not stop.is_set():
                # Until the first read succeeded, retry sooner than the poll.
                delay = self.poll_seconds if self.synced else min(self.retry_delay, self.poll_seconds)
                await _first(stop, self._wake, seconds=delay)
                self._wake.clear()
                if stop.is_set():
                    break
                try:
                    await self.sync()
                except Exception as exc:  # the database is down: the policy in force stays
                    log.warning(
                        "published policy not read (still serving %s): %r", self.store.current.version, exc
                    )
        finally:
            if listening is not None:
                await listening

    async def _listen_forever(self, stop: asyncio.Event) -> None:
        assert self._connect is not None
        while not stop.is_set():
            lost = self._lost = asyncio.Event()
            try:
                connection = self.connection = await self._connect()
                connection.add_termination_listener(self._on_termination)
                await connection.add_listener(CHANNEL, self._on_notification)
                self.listening = True
                log.info("listening on %s for published policies", CHANNEL)
                self._wake.set()  # whatever was published while nobody listened
                while not stop.is_set() and not lost.is_set():
                    if not await _first(stop, lost, seconds=self.ping_interval):
                        await connection.fetchval("SELECT 1", timeout=self.ping_timeout)
                if lost.is_set():
                    log.warning(
                        "policy listener connection lost; polling every %g s meanwhile", self.poll_seconds
                    )
            except Exception as exc:
                log.warning("policy listener connection failed: %r", exc)
            finally:
                self.listening = False
                await self._close()
            if not stop.is_set():
                await _first(stop, seconds=self.retry_delay)

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._wake.set()

    def _on_termination(self, connection: Any) -> None:
        self._lost.set()

    async def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await asyncio.wait_for(connection.close(), self.ping_timeout)
        except Exception:
            connection.terminate()


async def _first(*events: asyncio.Event, seconds: float) -> bool:
    """Wait until one of ``events`` is set (True) or ``seconds`` pass (False)."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for wait in waits:
            wait.cancel()
