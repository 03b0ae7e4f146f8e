"""The ASGI application: GraphQL (and GraphiQL) at ``/graphql``, health and readiness."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from tortoise import Tortoise, connections

from app import graphiql as graphiql_page
from policies.store import PolicyStore
from schema.context import Context
from schema.root import build_schema
from services.config import Settings, load_settings, tortoise_config

log = logging.getLogger("bandeng.http")


class BandengGraphQL(GraphQL):
    """Strawberry's ASGI view with our context: the actor and the policy in force."""

    def __init__(self, settings: Settings, policy_store: PolicyStore):
        super().__init__(build_schema(settings), graphql_ide="graphiql", allow_queries_via_get=True)
        self.settings = settings
        self.policy_store = policy_store

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_page.page_html()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # Served with its assets from this service (no CDN) under a same-origin-only CSP.
        html = self.graphql_ide_html
        return HTMLResponse(
            html, headers={"Content-Security-Policy": graphiql_page.content_security_policy(html)}
        )

    async def get_context(self, request, response) -> Context:
        # The token is looked up only when the operation executes (``Context.authenticate``):
        # a request refused before execution costs no SQL statement.
        problem, bearer = None, None
        header = request.headers.get("authorization")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                problem = "The Authorization header must be `Bearer <token>`."
            else:
                bearer = token.strip()
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            authorizer=self.policy_store.current,  # fixed for the whole request
            actor=None,
            auth_problem=problem,
            policy_store=self.policy_store,
            token=bearer,
        )


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"Request body is larger than {self.limit} bytes.",
                        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(
    settings: Settings | None = None,
    *,
    policy_store: PolicyStore | None = None,
    manage_database: bool = True,
) -> Starlette:
    """Build the application. Tests pass ``manage_database=False`` and own the ORM."""
    settings = settings or load_settings()
    store = policy_store or PolicyStore(settings.policy_dir)
    graphql = BandengGraphQL(settings, store)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        policy = store.current
        body: dict = {
            "policy": {
                "version": policy.version,
                "loadedAt": policy.policy.loaded_at.isoformat(),
                "lastError": (
                    {
                        "at": store.last_error.at.isoformat(),
                        "refusedVersion": store.last_error.version,
                        "problems": list(store.last_error.problems),
                    }
                    if store.last_error
                    else None
                ),
            }
        }
        try:
            await connections.get("default").execute_query("SELECT 1")
        except Exception as exc:
            body["status"] = "unavailable"
            body["database"] = f"unreachable: {type(exc).__name__}"
            return JSONResponse(body, status_code=503)
        body["status"] = "ready"
        body["database"] = "ok"
        return JSONResponse(body)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if manage_database:
            await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
        stop = asyncio.Event()
        watcher = asyncio.create_task(store.watch(stop)) if settings.watch_policy else None
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                await watcher
            if manage_database:
                await Tortoise.close_connections()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount(graphiql_page.STATIC_URL, app=StaticFiles(directory=graphiql_page.STATIC_DIR)),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.policy_store = store
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app
