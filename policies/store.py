"""The policy in force: one immutable ``Authorizer``, swapped as a whole.

A request takes ``store.current`` once at its start and keeps it, so no request is
ever decided on a half-loaded policy. A new policy is built off to the side (in a
worker thread: loading blocks), put through every check of ``bandeng policy check``
including the policy tests, and only then swapped in. A broken, truncated or missing
file leaves the running policy in force; the failure is logged and shown in
``/readyz`` and the ``policyStatus`` query.

Every instance watches its own copy of ``policies/``. The version is a hash of the
files' content, so instances that have the same files agree on the version. With
``BANDENG_POLICY_SOURCE=database`` the store follows the published versions instead
(``services.policy_versions.PolicyFollower``, through ``install_published`` and
``refuse_published``) and nothing watches the folder.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from policies.authorizer import Authorizer
from policies.check import check_directory
from policies.loader import MODEL_FILE, POLICY_FILE, PolicyError, read_version

if TYPE_CHECKING:
    from watchfiles import Change

log = logging.getLogger("bandeng.policy")

WATCHED = {MODEL_FILE, POLICY_FILE}


@dataclass(frozen=True)
class LoadFailure:
    at: datetime
    version: str | None  # of the files that were refused
    problems: tuple[str, ...]
    published: int | None = None  # the published version refused (BANDENG_POLICY_SOURCE=database)


class PolicyCheckCrashed(PolicyError):
    """The check itself failed, not the files: worth trying the same files again."""


def build_checked(directory: Path) -> Authorizer:
    """A new authorizer for ``directory``, or ``PolicyError`` with every problem found.

    Anything else that goes wrong (a file replaced between two reads, an unexpected
    parser error) raises ``PolicyCheckCrashed``: the running policy stays in force and
    the same files are tried again at the next change or rescan."""
    try:
        report = check_directory(directory)
    except PolicyError:
        raise
    except Exception as exc:
        log.exception("unexpected error while checking %s", directory)
        raise PolicyCheckCrashed(
            [f"{directory}: could not be checked: {type(exc).__name__}: {exc}"]
        ) from None
    if not report.ok or report.authorizer is None:
        raise PolicyError(report.errors or [f"{directory}: policy could not be built"])
    return report.authorizer


class PolicyStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self.current: Authorizer = build_checked(directory)  # no policy, no service
        self.last_error: LoadFailure | None = None
        self._lock = asyncio.Lock()

    def _install(self, candidate: Authorizer) -> None:
        previous = self.current.version
        self.current = candidate  # one reference assignment: atomic for every reader
        self.last_error = None
        if candidate.version != previous:
            log.info("policy %s in force (was %s)", candidate.version, previous)

    def _refuse(self, exc: PolicyError, version: str | None) -> None:
        # A crashed check is not a verdict on the files: no version, so they stay pending.
        refused = None if isinstance(exc, PolicyCheckCrashed) else version
        self.last_error = LoadFailure(datetime.now(UTC), refused, tuple(exc.problems))
        log.error(
            "policy change refused, still serving %s: %s", self.current.version, "; ".join(exc.problems)
        )

    @property
    def source(self) -> str:
        """Where the policy in force came from: ``files`` or ``database`` (published)."""
        return "files" if self.current.policy.publication is None else "database"

    def install_published(self, candidate: Authorizer, *, keep_error: bool = False) -> None:
        """Put a published version in force (``keep_error``: an older one, in place of the
        newest, refused one, whose refusal stays on show)."""
        failure = self.last_error
        self._install(candidate)
        if keep_error:
            self.last_error = failure

    def refuse_published(self, exc: PolicyError, number: int, checksum: str) -> None:
        """Published version ``number`` cannot serve here: keep the policy in force, say why."""
        self._refuse(exc, checksum)
        if self.last_error is not None and not isinstance(exc, PolicyCheckCrashed):
            self.last_error = replace(self.last_error, published=number)

    def reload(self) -> bool:
        """Load the files again (blocking); keep the running policy if they are broken."""
        # The version is read before the build: files saved while it runs differ from it,
        # so they stay pending instead of passing for the refused ones.
        on_disk = read_version(self.directory)
        try:
            candidate = build_checked(self.directory)
        except PolicyError as exc:
            self._refuse(exc, on_disk)
            return False
        self._install(candidate)
        return True

    async def areload(self) -> bool:
        """``reload`` without blocking the event loop: the build runs in a thread."""
        async with self._lock:
            on_disk = read_version(self.directory)  # before the build, as in ``reload``
            try:
                candidate = await asyncio.to_thread(build_checked, self.directory)
            except PolicyError as exc:
                self._refuse(exc, on_disk)
                return False
            self._install(candidate)
            return True

    def pending(self) -> bool:
        """Do the files on disk differ from the policy in force (and from the last refusal)?"""
        on_disk = read_version(self.directory)
        if on_disk == self.current.version:
            return False
        return self.last_error is None or self.last_error.version != on_disk

    async def watch(
        self, stop: asyncio.Event, *, debounce_ms: int = 100, rescan_seconds: float = 5.0
    ) -> None:
        """Reload whenever the files change; also rescan every few seconds, so a
        missed file event (network file systems, editors' atomic renames) still
        converges."""
        from watchfiles import awatch

        def relevant(change: Change, path: str) -> bool:
            return Path(path).name in WATCHED

        log.info("watching %s for policy changes", self.directory)
        async for _changes in awatch(
            self.directory,
            watch_filter=relevant,
            debounce=debounce_ms,
            step=25,
            stop_event=stop,
            rust_timeout=int(rescan_seconds * 1000),
            yield_on_timeout=True,
            recursive=False,
        ):
            try:
                if self.pending():
                    await self.areload()
                elif self.last_error is not None and read_version(self.directory) == self.current.version:
                    # The refused edit was taken back: the files are the policy in force again.
                    log.info("policy files are back to %s, the policy in force", self.current.version)
                    self.last_error = None
            except Exception:  # the watcher must outlive any one bad change
                log.exception("policy watcher: change not applied, still serving %s", self.current.version)
