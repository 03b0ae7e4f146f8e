"""The HTTP server: uvicorn with our limits, and a graceful drain on SIGTERM.

*Limits.* uvicorn's HTTP/1.1 protocols have no header count limit nor read timeout (only
the idle keep-alive one), and a header size limit only with h11 (on a head still
incomplete). Both protocols are extended here, with the same behaviour:

- a cap on the number of headers (``431``, connection closed);
- the size of the request line plus headers, blank line included (``431``, closed);
- a header timeout: from the connection (or the first byte of a request) to the end of
  its headers, and a body timeout: from the end of the headers to the end of the body.
  Either answers ``408`` (when nothing was answered yet) and closes the connection;
- a malformed request: ``400``, closed. Every refusal has a JSON body.

``BANDENG_HTTP_PARSER`` picks the protocol: ``httptools`` (the default; llhttp, in C,
several times cheaper per request: ``LimitedHttpToolsProtocol``) or ``h11`` (pure Python:
``LimitedH11Protocol``).

*Drain.* On SIGTERM the server first keeps serving while ``/readyz`` answers 503 for
``drain_seconds`` (so that a load balancer stops sending), then stops listening, lets
in-flight requests finish (at most ``shutdown_timeout``), and the process exits 0. A
second SIGTERM, or SIGINT, skips the rest of the drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import h11
import httptools
import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import multiprocess

from services.config import Settings

log = logging.getLogger("bandeng.server")


class DrainState:
    """Shared by the server (which starts the drain) and ``/readyz`` (which reports it)."""

    def __init__(self) -> None:
        self.started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def start(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()


class _LimitedConnection(h11.Connection):
    """h11's connection refusing requests with more than ``max_headers`` headers, or a head
    (request line + headers) over ``max_incomplete_event_size`` bytes. h11 itself only
    bounds a head still incomplete: a larger one arriving whole in one read would pass."""

    def __init__(self, max_headers: int, max_incomplete_event_size: int):
        super().__init__(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
        self.max_headers = max_headers
        self.refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        buffered = len(self._receive_buffer)
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        if isinstance(event, h11.Request):
            if len(event.headers) > self.max_headers:
                reason = f"More than {self.max_headers} request headers."
            elif buffered - len(self._receive_buffer) > self._max_incomplete_event_size:
                reason = f"A request head over {self._max_incomplete_event_size} bytes."
            else:
                return event
            self.refusal = h11.RemoteProtocolError(reason, error_status_hint=431)
            # h11 must not go on with this request: put it in its error state.
            self._process_error(self.their_role)
            raise self.refusal
        return event


def _error_response(status: int, reason: bytes, code: str, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response with a JSON error body."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    head = (
        f"HTTP/1.1 {status} ".encode()
        + reason
        + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    return head + body


class _ReadDeadlines:
    """The header and body read timeouts, shared by both protocols.

    The read deadline follows the client's side of the parser: waiting for (the rest of)
    a request head, or for the rest of a body. Idle keep-alive time is uvicorn's own timer;
    once a request is complete, the request deadline is the app's. A subclass says which
    phase the client is in (``_client_phase``) and whether a request head has begun."""

    max_headers = 100
    max_header_bytes = 32 * 1024
    header_timeout = 10.0
    body_timeout = 30.0

    # provided by uvicorn's protocols
    transport: Any
    loop: Any
    cycle: Any
    _read_timer: asyncio.TimerHandle | None = None
    _read_phase: str | None = None

    def _client_phase(self) -> str | None:
        raise NotImplementedError

    def _head_begun(self) -> bool:
        raise NotImplementedError

    def _watch_reading(self) -> None:
        phase = None if self.transport is None or self.transport.is_closing() else self._client_phase()
        if phase == self._read_phase:
            return
        self._stop_read_timer()
        self._read_phase = phase
        if phase is not None:
            delay = self.header_timeout if phase == "head" else self.body_timeout
            self._read_timer = self.loop.call_later(delay, self._read_timed_out, phase)

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self._read_phase = None

    def _read_timed_out(self, phase: str) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        answered = self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete
        # A connection that never sent a byte is just closed; a half-sent request hears why.
        if (phase == "body" or self._head_begun()) and not answered:
            seconds = self.header_timeout if phase == "head" else self.body_timeout
            what = "headers" if phase == "head" else "body"
            self.transport.write(
                _error_response(
                    408,
                    b"Request Timeout",
                    "REQUEST_TIMEOUT",
                    f"The request {what} did not arrive within {seconds:g} s.",
                )
            )
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app gets http.disconnect; its answer is dropped
            self.cycle.message_event.set()
        self.transport.close()

    def _refuse(self, status: int) -> None:
        """Answer a request the parser refused (``400`` or ``431``) and close."""
        if status == 431:
            self.transport.write(
                _error_response(
                    431,
                    b"Request Header Fields Too Large",
                    "REQUEST_HEADERS_TOO_LARGE",
                    f"The request headers exceed {self.max_header_bytes} bytes or {self.max_headers} fields.",
                )
            )
        else:
            self.transport.write(
                _error_response(400, b"Bad Request", "BAD_REQUEST", "Malformed HTTP request.")
            )
        self._stop_read_timer()
        self.transport.close()


class LimitedH11Protocol(_ReadDeadlines, H11Protocol):
    """uvicorn's h11 protocol with a header count cap and header/body read timeouts.

    The limits are class attributes, set by ``protocol_class(settings)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _LimitedConnection(self.max_headers, self.max_header_bytes)

    def _client_phase(self) -> str | None:
        if self.conn.their_state is h11.IDLE:
            return None if self.timeout_keep_alive_task is not None else "head"
        if self.conn.their_state is h11.SEND_BODY:
            return "body"
        return None

    def _head_begun(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_reading()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        refusal = self.conn.refusal
        self._refuse(refusal.error_status_hint if refusal is not None else 400)


class _HeadRefused(httptools.HttpParserError):
    """Raised from httptools' callbacks (a ``431``): stops the parser (``feed_data`` raises
    ``HttpParserCallbackError``, which uvicorn answers through ``send_400_response``)."""


class LimitedHttpToolsProtocol(_ReadDeadlines, HttpToolsProtocol):
    """uvicorn's httptools (llhttp) protocol with the same limits as ``LimitedH11Protocol``.

    llhttp has no header limits of its own, so the bytes of a request head are counted as
    they arrive: once ``max_header_bytes`` bytes of a head were fed without the head being
    complete, the request is refused. Only the head's bytes are fed while a head is being
    read (a body in the same read is fed after it), so a head of exactly the limit passes.
    Bytes of a pipelined request that arrive in the same read as the end of the previous
    request are not counted there (at most one read); its head as parsed still is, at the
    end of its headers. The header count is checked per header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_body = False  # between on_headers_complete and on_message_complete
        self._head_bytes = 0  # bytes fed since the last request's end, while no body is read
        self._header_count = 0
        self._header_size = 0  # the headers' bytes as parsed (see on_headers_complete)
        self._refusal = 400
        self._deferred_refusal: int | None = None  # a refusal waiting for the answers before it

    def _client_phase(self) -> str | None:
        if self._in_body:
            return "body"
        if self.timeout_keep_alive_task is not None or self.pipeline:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # the request arrived: the app's time
        return "head"

    def _head_begun(self) -> bool:
        return self._head_bytes > 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_reading()

    def data_received(self, data: bytes) -> None:
        while data and self._deferred_refusal is None:
            if self._in_body:
                piece, data = data, b""
            else:
                room = self.max_header_bytes - self._head_bytes
                if room <= 0:
                    self.logger.warning("Request headers too large.")
                    self._refuse(431)
                    return
                if len(data) <= room:
                    piece, data = data, b""
                else:
                    piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self.parser.should_upgrade() and self._should_upgrade():
                self._stop_read_timer()  # the connection is the WebSocket protocol's now
                return
        self._watch_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        self._header_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_size += len(name) + len(value) + 4  # "name: value\r\n"
        if self._header_count > self.max_headers:
            self._refusal = 431
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # The head as parsed ("METHOD url HTTP/1.1\r\n", headers, "\r\n"): at most its raw
        # size, and the only measure of a pipelined head that began in an uncounted read.
        if len(self.parser.get_method()) + len(self.url) + self._header_size + 14 > self.max_header_bytes:
            self._refusal = 431
            raise _HeadRefused
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred_refusal is not None and not self.pipeline and not self.transport.is_closing():
            self._refuse(self._deferred_refusal)
            return
        self._watch_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._refuse(self._refusal)

    def _refuse(self, status: int) -> None:
        # llhttp parses a pipelined request at once (h11 only once the answers before it are
        # sent): a refusal waits for the answers still owed, in order, then closes.
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            self._deferred_refusal = status
            self._stop_read_timer()
            self.flow.pause_reading()
            return
        self._deferred_refusal = None
        super()._refuse(status)


def protocol_class(settings: Settings) -> type[LimitedHttpToolsProtocol | LimitedH11Protocol]:
    """The protocol of ``settings.http_parser`` with the limits of ``settings``."""
    base: type[LimitedHttpToolsProtocol | LimitedH11Protocol] = (
        LimitedH11Protocol if settings.http_parser == "h11" else LimitedHttpToolsProtocol
    )
    return type(
        f"Bandeng{base.__name__}",
        (base,),
        {
            "max_headers": settings.http_max_headers,
            "max_header_bytes": settings.http_max_header_bytes,
            "header_timeout": settings.http_header_timeout,
            "body_timeout": settings.http_body_timeout,
        },
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain phase between SIGTERM and closing the listener."""

    def __init__(self, config: uvicorn.Config, drain: DrainState, drain_seconds: float):
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.drain.active and self.drain_seconds > 0:
            log.info(
                "SIGTERM: draining for %g s (/readyz answers 503), then shutting down", self.drain_seconds
            )
            self.drain.start()
            return
        self.drain.start()
        if sig == signal.SIGTERM:
            # uvicorn would re-raise the signal after shutting down, ending the process
            # by the signal (exit status -15); a completed drain is a clean exit.
            self.should_exit = True
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        started = self.drain.started_at
        if started is not None and not self.should_exit and time.monotonic() - started >= self.drain_seconds:
            log.info("drain over: closing the listener, finishing in-flight requests")
            self.should_exit = True
        return await super().on_tick(counter)


class QuietDisconnect:
    """A client gone before its body arrived (or cut off by the body timeout) has nobody
    to answer: end the request quietly instead of logging a traceback per connection."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.info("client disconnected before its request body arrived: %s", scope.get("path"))


def uvicorn_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration with every limit of ``settings``."""
    return uvicorn.Config(QuietDisconnect(app), host=host, port=port, **_options(settings))


def _options(settings: Settings) -> dict[str, Any]:
    return dict(
        http=protocol_class(settings),
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        timeout_keep_alive=settings.http_keep_alive_timeout,
        limit_concurrency=settings.http_limit_concurrency or None,
        backlog=settings.http_backlog,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # The app applies BANDENG_TRUSTED_PROXIES itself (see app.http.create_app).
        proxy_headers=False,
        server_header=False,
        log_level=settings.log_level.lower(),
        # Logging is set up by the command (services.logs): uvicorn's lines go through it,
        # and its access log (client addresses) is replaced by app.observe's request line.
        log_config=None,
        access_log=False,
    )


def serve(app: Any, settings: Settings, host: str, port: int, drain: DrainState) -> None:
    """Run until SIGTERM (drained) or SIGINT."""
    DrainingServer(uvicorn_config(app, settings, host, port), drain, settings.drain_seconds).run()


# --- several worker processes (``bandeng serve --workers N``) ---------------------------------
#
# uvicorn's supervisor (``uvicorn.supervisors.multiprocess``) binds the socket once, starts N
# processes by ``spawn`` and sends each its ``Config`` (pickled); it restarts a worker that
# dies or stops answering its health check, and passes SIGTERM on to every worker. Each
# worker builds its own application, so everything in the application is per process: the
# lifespan (database pool, identity listener, policy store and follower or watcher), caches,
# in-process rate-limit buckets, the drain. Two things are ours: the configuration is sent
# as the settings it is built from (our protocol class is made per settings and the app is
# built in the worker), and each worker runs ``DrainingServer``, so SIGTERM drains every
# worker as it drains a single process.

AppBuilder = Callable[[Settings, DrainState], Any]


class WorkerConfig(uvicorn.Config):
    """uvicorn's configuration for a worker: made again from ``settings`` in the worker
    process, where it builds the application with ``build_app(settings, drain)`` (a
    module-level function, so that it can be sent to the worker)."""

    def __init__(self, settings: Settings, host: str, port: int, workers: int, build_app: AppBuilder):
        self.settings = settings
        self.build_app = build_app
        self.drain = DrainState()
        super().__init__(
            self._make_app, host=host, port=port, workers=workers, factory=True, **_options(settings)
        )

    def _make_app(self) -> Any:
        return QuietDisconnect(self.build_app(self.settings, self.drain))

    def __reduce__(self) -> tuple[Any, ...]:
        return (WorkerConfig, (self.settings, self.host, self.port, self.workers, self.build_app))


class DrainingWorker(multiprocess.Process):
    """A worker process of uvicorn's supervisor that runs ``DrainingServer``."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            config = self.config
            assert isinstance(config, WorkerConfig)
            self._server = DrainingServer(config, config.drain, config.settings.drain_seconds)
        return self._server


def serve_workers(settings: Settings, host: str, port: int, workers: int, build_app: AppBuilder) -> None:
    """Run ``workers`` processes on one socket until SIGTERM (each drains) or SIGINT."""
    config = WorkerConfig(settings, host, port, workers, build_app)
    sock = config.bind_socket()
    # The supervisor makes its workers with the module's ``Process`` class: ours runs
    # DrainingServer. This process (the supervisor of `bandeng serve`) runs nothing else.
    multiprocess.Process = DrainingWorker  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
