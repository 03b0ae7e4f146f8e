"""The operator's view of each request: its id, one log line, its metrics, its trace span;
and the ``/metrics`` endpoint.

``Observe`` wraps the whole application (outside the security headers and the 500
handler), so every answer, refusals and errors included, carries ``X-Request-ID`` and is
counted. The probes (``/healthz``, ``/readyz``) and ``/metrics`` itself are not counted
or logged: they would drown the requests that matter.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from itertools import count

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import protocol
from services import metrics, tracing
from services.config import Settings

log = logging.getLogger("bandeng.request")

CLIENT_DISCONNECTED = "CLIENT_DISCONNECTED"  # the client left before its request had arrived
UNOBSERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
REQUEST_ID_HEADER = b"x-request-id"
# An incoming request id is kept when it is short and made of characters that are safe in
# any log format (a UUID, a hex string, a load balancer's "Root=1-5f84c7a9-..." id);
# anything else is replaced by our own.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:=+/@-]{1,128}")
# Our own ids: this process's random prefix and a counter (unique across instances
# without a call to the random source per request).
_PREFIX = os.urandom(6).hex()
_counter = count(1)


def request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode()
            break
    return f"{_PREFIX}-{next(_counter):x}"


class Observe:
    """Request id (from ``X-Request-ID`` when sane, else ours, sent back in the response),
    duration, outcome code, one ``request`` log line, the metrics, a trace span."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" or scope["path"] in UNOBSERVED_PATHS:
            await self.app(scope, receive, send)
            return
        record = metrics.RequestRecord(request_id(scope))
        context_token = metrics.CURRENT.set(record)
        if kind != "http":  # a WebSocket: its log lines carry the id; not a request to count
            try:
                await self.app(scope, receive, send)
            finally:
                metrics.CURRENT.reset(context_token)
            return
        started = time.perf_counter()
        status = 500
        header = (REQUEST_ID_HEADER, record.request_id.encode())
        span = tracing.request_span(scope) if tracing.TRACER is not None else None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # nobody to answer: app.server.QuietDisconnect notes it
            record.code = CLIENT_DISCONNECTED
            raise
        except Exception:
            # Starlette's 500 handler has answered (with the id) and re-raised: the traceback
            # is logged here, with the request's fields, rather than by the server without them.
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            status = 500
            if record.code is None:
                record.code = protocol.INTERNAL_SERVER_ERROR
        finally:
            seconds = time.perf_counter() - started
            if record.code is None and status >= 400:
                record.code = protocol.CODE_FOR_STATUS.get(status, f"HTTP_{status}")
            metrics.finish(record, seconds)
            if span is not None:
                tracing.end_request_span(span, record, status)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "code": record.code or metrics.OK,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )
            metrics.CURRENT.reset(context_token)


def metrics_endpoint(settings: Settings, watch=None):
    """``GET /metrics`` in Prometheus's text format, open or behind
    ``Authorization: Bearer $BANDENG_METRICS_TOKEN`` (``Settings.metrics_access``).
    ``watch`` points the process's policy and pool figures at this application first
    (one per process in service; several in the tests)."""
    expected = f"Bearer {settings.metrics_token}".encode()

    async def endpoint(request: Request) -> Response:
        if settings.metrics_access == "token":
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    protocol.error_body(
                        "Send `Authorization: Bearer <BANDENG_METRICS_TOKEN>` to read the metrics.",
                        "UNAUTHENTICATED",
                    ),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        if watch is not None:
            watch()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return endpoint
