"""Time limits of the HTTP layer: the per-request deadline and the readiness probe's.

``RequestDeadline`` runs each HTTP request as a task. A request still running after
``BANDENG_REQUEST_TIMEOUT`` seconds is cancelled and, if nothing was sent yet, answered
at once with a JSON error (503 ``SERVICE_UNAVAILABLE``, ``reason: REQUEST_TIMEOUT``; 408
``REQUEST_TIMEOUT`` if the client had not even finished sending its body). The request
only ends when the cancelled work has unwound: its transaction rolled back and its
connection back in the pool (asyncpg rolls back, or closes, any connection released in a
transaction; the database settings bound how long that can take).

``DatabaseProbe`` is the readiness check: ``SELECT 1`` with a time limit, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import protocol

log = logging.getLogger("bandeng.deadline")

# While cancelled work unwinds, cancel it again this often: a ``finally`` that swallowed
# the first cancellation (a rollback that failed with its own error) must not let the
# request carry on, e.g. with the next mutation of the document.
RECANCEL_EVERY = 0.5


class RequestDeadline:
    """ASGI middleware: cancel an HTTP request that runs longer than ``seconds``."""

    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = False  # has the response begun?
        answered = False  # has the deadline answered (late output of the work is dropped)?
        body_complete = False

        async def tracked_receive() -> Message:
            nonlocal body_complete
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        work = asyncio.ensure_future(self.app(scope, tracked_receive, guarded_send))
        try:
            done, _ = await asyncio.wait({work}, timeout=self.seconds)
        except asyncio.CancelledError:  # the server is shutting down: so is the work
            work.cancel()
            raise
        if done:
            work.result()  # its exception, if any, goes on to the error middleware
            return
        answered = True
        log.warning("request %s %s cancelled after %ss", scope.get("method"), scope.get("path"), self.seconds)
        if not started:
            await self._answer(send, reading=not body_complete)
        await self._unwind(work)

    async def _unwind(self, work: asyncio.Future) -> None:
        """Cancel ``work`` and wait until it has ended (its ``finally`` blocks run)."""
        while not work.done():
            work.cancel()
            await asyncio.wait({work}, timeout=RECANCEL_EVERY)
        if not work.cancelled() and work.exception() is not None:
            log.warning("cancelled request ended with %r", work.exception())

    async def _answer(self, send: Send, *, reading: bool) -> None:
        headers = [(b"connection", b"close")]
        if reading:
            await protocol.send_error(
                send,
                408,
                f"The request body did not arrive within {self.seconds:g} s.",
                "REQUEST_TIMEOUT",
                headers=headers,
            )
        else:
            await protocol.send_error(
                send,
                503,
                f"The request did not finish within {self.seconds:g} s and was cancelled. Try again shortly.",
                "SERVICE_UNAVAILABLE",
                headers=[*headers, (b"retry-after", b"1")],
                reason="REQUEST_TIMEOUT",
            )


class DatabaseProbe:
    """Readiness's database check: does ``SELECT 1`` answer within ``timeout`` seconds?

    One check runs at a time; probes that arrive meanwhile wait for the same one, so a
    frozen database does not fill the pool with stuck probes. A probe never waits longer
    than ``timeout``: the check it gave up on finishes (or times out) in the background,
    and the next probe after it starts a fresh one, so readiness recovers by itself."""

    def __init__(self, select_one: Callable[[], Awaitable[object]], timeout: float):
        self._select_one = select_one
        self.timeout = timeout
        self._running: asyncio.Task | None = None

    async def _check(self) -> None:
        async with asyncio.timeout(self.timeout * 5):  # bounded even when nobody waits
            await self._select_one()

    async def problem(self) -> str | None:
        """None when the database answers in time; otherwise what went wrong."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check())
            # retrieved even when no probe waits for it to the end (no "never retrieved" log)
            self._running.add_done_callback(lambda t: t.cancelled() or t.exception())
        check = self._running
        done, _ = await asyncio.wait({check}, timeout=self.timeout)
        if not done:
            return f"no answer within {self.timeout:g} s"
        if check.cancelled():
            return "check cancelled"
        exc = check.exception()
        if exc is None:
            return None
        return f"unreachable: {type(exc).__name__}"
