"""HTTP hardening around the whole application: security headers on every response, and
JSON bodies for the errors Starlette itself answers (404, 405, 500)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import protocol
from services import metrics

# On every response (GraphQL, GraphiQL, static assets, health, errors). A response that sets
# one of these itself keeps its own value (GraphiQL's page has its own CSP).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # Nothing but the GraphiQL page (which brings its own policy) is meant to be rendered.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
# Answers at these paths are per caller or per moment: never stored by any cache.
NO_STORE_PATHS = ("/graphql", "/healthz", "/readyz")


class SecurityHeaders:
    """A pure ASGI middleware: adds ``SECURITY_HEADERS`` to every HTTP response, and
    ``Cache-Control: no-store`` to the responses of ``NO_STORE_PATHS``."""

    def __init__(self, app: ASGIApp, no_store_paths: tuple[str, ...] = NO_STORE_PATHS):
        self.app = app
        self.no_store_paths = no_store_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if scope.get("path", "") in self.no_store_paths:
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    code = protocol.CODE_FOR_STATUS.get(status, protocol.BAD_REQUEST)
    metrics.note_code(code)
    return JSONResponse(protocol.error_body(message, code), status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (unknown path, method not routed) as JSON with a code."""
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the log (Starlette re-raises after this), the client gets
    a JSON 500 with no detail."""
    return _error(500, "Internal error; it has been logged.")


EXCEPTION_HANDLERS = {HTTPException: http_error, Exception: server_error}


class CORS(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in JSON with a code, as every
    other refusal (Starlette answers it in plain text)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return JSONResponse(
            {
                "errors": [
                    {
                        # Starlette's text: "Disallowed CORS origin, method, headers"
                        "message": f"{bytes(response.body).decode()}.",
                        "extensions": {"code": "CORS_NOT_ALLOWED"},
                    }
                ]
            },
            status_code=400,
            headers=headers,
        )
