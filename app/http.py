"""The ASGI application: GraphQL (and GraphiQL) at ``/graphql``, health and readiness."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import asynccontextmanager

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType
from tortoise import Tortoise, connections
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import graphiql as graphiql_page
from app import live, protocol
from app.deadline import DatabaseProbe, RequestDeadline
from app.middleware import CORS, EXCEPTION_HANDLERS, SecurityHeaders
from app.observe import Observe, metrics_endpoint
from app.ratelimit import RateLimit, bucket_store
from app.server import DrainState
from policies.store import PolicyStore
from schema import compiled
from schema.context import Context
from schema.root import build_schema
from services import logs, metrics
from services.bus import Bus, BusListener
from services.config import Settings, is_postgres_url, load_settings, tortoise_config
from services.identity_cache import IdentityCache, IdentityListener
from services.policy_versions import LISTENER_APPLICATION_NAME as POLICY_LISTENER
from services.policy_versions import PolicyFollower
from services.postgres import BUS_APPLICATION_NAME, identity_listener_connection, listener_connection
from services.webhooks import WebhookWorker

log = logging.getLogger("bandeng.http")

# The parameters a request answered from a proven plan may carry (no variables, no
# extensions, no trusted-document id).
_PLAIN_REQUEST = frozenset({"query", "operationName", "variables"})


class BandengGraphQL(GraphQL):
    """Strawberry's ASGI view with our context: the actor and the policy in force.
    Subscriptions over graphql-transport-ws (app/live.py)."""

    graphql_transport_ws_handler_class = live.LiveHandler
    websocket_adapter_class = live.TextWebSocketAdapter

    def __init__(
        self, settings: Settings, policy_store: PolicyStore, identity_cache: IdentityCache, bus: Bus
    ):
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.cors_origins,
        )
        self.bus = bus
        self.token_watch = live.TokenWatch(identity_cache)  # open connections' tokens, re-checked
        self.settings = settings
        self.policy_store = policy_store
        self.compiler = self.schema.compiler  # type: ignore[attr-defined]
        self.identity_cache = identity_cache

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_page.page_html()

    def should_render_graphql_ide(self, request) -> bool:
        # A GET naming a trusted document (`documentId`, no `query`) is an operation.
        return "documentId" not in request.query_params and super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # Served with its assets from this service (no CDN) under a same-origin-only CSP.
        html = self.graphql_ide_html
        return HTMLResponse(
            html, headers={"Content-Security-Policy": graphiql_page.content_security_policy(html)}
        )

    # --- GraphQL over HTTP (app/protocol.py): strict bodies, media types, status codes ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's, but every refusal is a JSON GraphQL response with a code (its own
        answers them in plain text)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        response = await self.fast(request) if request.method == "POST" else None
        if response is None:
            response = await self._run(request)
        await response(scope, receive, send)

    async def _run(self, request: Request) -> Response:
        try:
            return await self.run(request)
        except (HTTPException, protocol.RequestRefused) as exc:
            return self._refusal(request, self._as_refusal(request, exc))

    async def fast(self, request: Request) -> Response | None:
        """A query this process has already answered from its plan (the same document and
        operation, no variables: ``Compiler.proven``) is answered from the plan again,
        without Strawberry's pipeline: everything the pipeline checks depends on the
        document only, and it passed. Anything else, and any error, returns None: the
        request then goes through the whole pipeline (which answers errors as always).
        In ``verify`` mode the pipeline runs as well and its answer must be the same."""
        mode = self.settings.compiled_reads
        if mode == "off":
            return None
        media_type = protocol.negotiate(request.headers.get("accept"))
        if media_type is None:
            return None
        try:
            protocol.check_content_type(request.headers.get("content-type"))
            body = self.parse_json(await request.body())
        except protocol.RequestRefused:
            return None
        query, operation_name = body.get("query"), body.get("operationName")
        if not isinstance(query, str) or body.get("variables") or set(body) - _PLAIN_REQUEST:
            return None
        proven = self.compiler.proven(query, operation_name)
        if proven is None:
            return None
        context = await self.get_context(request, None)
        if context.auth_problem is not None:
            return None
        await context.authenticate()
        try:
            data = await self.compiler.execute(*proven, context)
        except Exception as exc:  # the pipeline answers it (the same error, as always)
            log.debug("fast path fell back: %r", exc)
            return None
        compiled.STATS["fast"] += 1
        operation = proven[0].operation.name
        metrics.note_operation(operation.value if operation else None)
        metrics.note_code(metrics.OK)
        response = Response(self.encode_json({"data": data}), media_type=media_type)
        if mode == "verify":
            await self._check_fast(request, response, context.authorizer)
        return response

    async def _check_fast(self, request: Request, fast: Response, authorizer: object) -> None:
        token = compiled.CHECKING.set(True)
        try:
            reference = await self._run(request)
        finally:
            compiled.CHECKING.reset(token)
        if self.policy_store.current is not authorizer:
            return  # the policy changed in between: the two answers may differ, rightly
        if reference.status_code != fast.status_code or json.loads(reference.body) != json.loads(fast.body):
            compiled.MISMATCHES.append(
                {"fast": fast.body, "pipeline": reference.body, "status": reference.status_code}
            )

    def encode_json(self, data: object) -> bytes:
        """Once, with orjson (UTF-8, compact); the standard library where orjson refuses
        (a lone surrogate in stored text)."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    @staticmethod
    def _as_refusal(request: Request, exc: Exception) -> protocol.RequestRefused:
        if isinstance(exc, protocol.RequestRefused):
            return exc
        assert isinstance(exc, HTTPException)
        cause = exc.__cause__
        if isinstance(cause, InvalidOperationTypeError) and request.method == "GET":
            # The spec: a mutation over GET is 405, and nothing runs.
            return protocol.RequestRefused(
                405,
                f"{exc.reason}: send {cause.operation_type.value}s with POST.",
                headers={"Allow": "POST"},
            )
        if isinstance(cause, CannotGetOperationTypeError):
            return protocol.RequestRefused(400, exc.reason, protocol.OPERATION_RESOLUTION_FAILURE)
        if exc.status_code == 405:  # e.g. HEAD, which Starlette routes along with GET
            return protocol.RequestRefused(405, exc.reason, headers={"Allow": "GET, POST"})
        return protocol.RequestRefused(exc.status_code, exc.reason)

    @staticmethod
    def _refusal(request: Request, refusal: protocol.RequestRefused) -> Response:
        metrics.note_code(refusal.code)
        media_type = protocol.negotiate(request.headers.get("accept")) or protocol.JSON
        return JSONResponse(
            protocol.error_body(refusal.message, refusal.code),
            status_code=refusal.status,
            headers=refusal.headers,
            media_type=media_type,
        )

    async def get_sub_response(self, request: Request) -> Response:
        sub_response = await super().get_sub_response(request)
        # The negotiated type rides on the sub-response to ``create_response`` (None: 406,
        # refused in ``parse_http_body`` once the GraphiQL page has had its chance).
        sub_response.media_type = protocol.negotiate(request.headers.get("accept"))
        return sub_response

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        accept = request.headers.get("accept")
        if protocol.negotiate(accept) is None:
            raise protocol.not_acceptable(accept)
        if request.method == "POST":
            protocol.check_content_type(request.content_type)
        data = await super().parse_http_body(request)
        assert isinstance(data, GraphQLRequestData)  # parse_json refuses arrays (batches)
        if live.is_subscription(data.query, data.operation_name):
            raise protocol.RequestRefused(
                400, "Subscriptions are served over a websocket at /graphql (graphql-transport-ws)."
            )
        return data

    def parse_json(self, data: str | bytes) -> dict:
        """A POST body: a JSON object with well-typed parameters, or a 400 saying why."""
        body = protocol.parse_object(data, "The request body", self.settings.max_json_depth)
        assert body is not None
        protocol.check_parameters(body)
        return body

    def parse_query_params(self, params: QueryParams) -> dict:
        """A GET request's parameters; ``variables`` and ``extensions`` are JSON objects."""
        parsed: dict = dict(params)
        for name in ("variables", "extensions"):
            text = parsed.get(name)
            if isinstance(text, str):
                parsed[name] = (
                    protocol.parse_object(
                        text, f"The `{name}` parameter", self.settings.max_json_depth, allow_null=True
                    )
                    if text.strip()
                    else None
                )
        protocol.check_parameters(parsed)
        return parsed

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if result.errors:  # the outcome counted (services.metrics): the first error's code
            metrics.note_code(
                (result.errors[0].extensions or {}).get("code") or protocol.INTERNAL_SERVER_ERROR
            )
        # application/graphql-response+json: no ``data`` when execution never started (the
        # status then says why); application/json keeps ``data: null`` as it always had.
        if protocol.negotiate(request.headers.get("accept")) == protocol.GRAPHQL_RESPONSE_JSON:
            if not protocol.started_execution(result):
                response.pop("data", None)
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or protocol.JSON
        response.headers["content-type"] = media_type
        if (
            media_type == protocol.GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and "data" not in response_data
            and not sub_response.status_code
        ):
            response.status_code = protocol.status_without_data(response_data)
        return response

    async def on_ws_connect(self, context: Context) -> UnsetType:
        await live.connect(context)  # the token in connection_init, or the socket closes
        return UNSET

    async def get_context(self, request, response) -> Context:
        if isinstance(request, WebSocket):  # authenticated by connection_init (``on_ws_connect``)
            return Context(
                request=request,
                response=response,
                settings=self.settings,
                authorizer=self.policy_store.current,
                actor=None,
                policy_store=self.policy_store,
                identity_cache=self.identity_cache,
                bus=self.bus,
            )
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
            identity_cache=self.identity_cache,
        )


def _policy_report(store: PolicyStore, follower: PolicyFollower | None) -> dict:
    """The policy in force, for ``/readyz``: its version, where it came from, the last refusal."""
    policy = store.current.policy
    failure = store.last_error
    report: dict = {
        "version": policy.version,
        "loadedAt": policy.loaded_at.isoformat(),
        "source": store.source,
        "published": (
            {
                "number": policy.publication.number,
                "publishedAt": policy.publication.published_at.isoformat(),
                "publishedBy": policy.publication.published_by,
            }
            if policy.publication
            else None
        ),
        "lastError": (
            {
                "at": failure.at.isoformat(),
                "refusedVersion": failure.version,
                "refusedPublished": failure.published,
                "problems": list(failure.problems),
            }
            if failure
            else None
        ),
    }
    if follower is not None:  # BANDENG_POLICY_SOURCE=database
        report["listener"] = "on" if follower.listening else "off"
    return report


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
        await protocol.send_error(
            send, 413, f"Request body is larger than {self.limit} bytes.", "PAYLOAD_TOO_LARGE"
        )


class _TooLarge(Exception):
    pass


class _Application(Starlette):
    """Starlette with ``SecurityHeaders`` outside everything, even the 500 handler, and
    ``Observe`` (request id, log line, metrics) outside that."""

    def build_middleware_stack(self) -> ASGIApp:
        return Observe(SecurityHeaders(super().build_middleware_stack()))


def create_app(
    settings: Settings | None = None,
    *,
    policy_store: PolicyStore | None = None,
    manage_database: bool = True,
    drain: DrainState | None = None,
) -> Starlette:
    """Build the application. Tests pass ``manage_database=False`` and own the ORM; a
    worker of ``bandeng serve --workers N`` passes its server's ``drain``."""
    settings = settings or load_settings()
    if problems := settings.production_problems():
        raise ValueError("; ".join(problems))
    store = policy_store or PolicyStore(settings.policy_dir)
    # The actors behind tokens, cached while this instance's listener for identity changes
    # is up (PostgreSQL only: services/identity_cache.py); without it, every request looks
    # its token up (one statement).
    identity_cache = IdentityCache()
    identity_listener = (
        IdentityListener(identity_cache, lambda: identity_listener_connection(settings))
        if is_postgres_url(settings.database_url)
        else None
    )
    # BANDENG_POLICY_SOURCE=database: the newest published version, told by PostgreSQL's
    # NOTIFY (polled as well, and only polled on SQLite); services/policy_versions.py.
    follower = (
        PolicyFollower(
            store,
            (lambda: listener_connection(settings, POLICY_LISTENER))
            if is_postgres_url(settings.database_url)
            else None,
            poll_seconds=settings.policy_poll_seconds,
        )
        if settings.policy_source == "database"
        else None
    )
    # Committed events for this instance's subscriptions (services/bus.py): through
    # PostgreSQL's LISTEN/NOTIFY between instances, in-process on SQLite.
    bus = Bus(concurrency=max(1, settings.db_pool_max // 2))  # half the pool at most for fan-out
    bus_listener = (
        BusListener(bus, lambda: listener_connection(settings, BUS_APPLICATION_NAME))
        if is_postgres_url(settings.database_url)
        else None
    )
    graphql = BandengGraphQL(settings, store, identity_cache, bus)
    database_probe = DatabaseProbe(
        lambda: connections.get("default").execute_query("SELECT 1"), settings.ready_timeout
    )
    drain = drain or DrainState()

    def watch_this_app() -> None:
        metrics.watch(lambda: store.current.version, metrics.database_pool)

    watch_this_app()
    rate_limits = bucket_store(settings)
    # Signed webhooks: the outbox fanned out and deliveries POSTed in the background,
    # never inside a request (services/webhooks.py).
    webhooks = WebhookWorker(settings, lambda: store.current) if settings.webhooks else None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if drain.active:  # SIGTERM received: tell the load balancer to stop sending
            return JSONResponse({"status": "draining"}, status_code=503)
        body: dict = {"policy": _policy_report(store, follower), "pid": os.getpid()}
        # "off" on SQLite, and on PostgreSQL while the listener is down (docs/operations.md)
        body["identityCache"] = "on" if identity_cache.enabled else "off"
        problem = await database_probe.problem()
        if problem is None and follower is not None and not follower.synced:
            problem = "the published policy has not been read yet"
        if problem is not None:
            body["status"] = "unavailable"
            body["database"] = problem
            return JSONResponse(body, status_code=503)
        body["status"] = "ready"
        body["database"] = "ok"
        return JSONResponse(body)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if manage_database and not logs.configured():  # a worker process started by uvicorn
            logs.configure(settings.log_level, settings.log_format_in_force)
        if manage_database:
            await Tortoise.init(
                config=tortoise_config(settings.database_url, settings), _enable_global_fallback=True
            )
        stop = asyncio.Event()
        if follower is not None:
            await follower.start()  # before the first request: the published policy, if any
        following = asyncio.create_task(follower.run(stop)) if follower is not None else None
        watching = settings.watch_policy and follower is None  # the database source replaces the folder
        watcher = asyncio.create_task(store.watch(stop)) if watching else None
        listening = asyncio.create_task(identity_listener.run(stop)) if identity_listener else None
        delivering = asyncio.create_task(webhooks.run(stop)) if webhooks else None
        live_tasks = [asyncio.create_task(live.watch_overdue(bus, stop))]
        if bus_listener is not None:
            live_tasks.append(asyncio.create_task(bus_listener.run(stop)))
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                await watcher
            if listening is not None:
                await listening
            if following is not None:
                await following
            if delivering is not None:
                await delivering
            await asyncio.gather(*live_tasks)
            await rate_limits.close()
            if manage_database:
                await Tortoise.close_connections()

    app = _Application(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
        + (
            [Route("/metrics", metrics_endpoint(settings, watch_this_app))]
            if settings.metrics_access != "off"
            else []
        )
        + (
            [Mount(graphiql_page.STATIC_URL, app=StaticFiles(directory=graphiql_page.STATIC_DIR))]
            if settings.graphiql_enabled
            else []
        ),
        lifespan=lifespan,
        middleware=[
            # Outermost first: the client's address is settled (only trusted proxies'
            # X-Forwarded-For counts), then CORS (so that 429, 503 and 413 answers are
            # readable by an allowed origin), the rate limits, the deadline, the body cap.
            *(
                [Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)]
                if settings.trusted_proxies
                else []
            ),
            Middleware(
                CORS,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                expose_headers=["Retry-After"],
                max_age=600,
            ),
            Middleware(RateLimit, settings=settings, store=rate_limits),
            # The deadline covers everything below it, the body's arrival included.
            Middleware(RequestDeadline, seconds=settings.request_timeout),
            Middleware(BodySizeLimit, limit=settings.max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.settings = settings
    app.state.policy_store = store
    app.state.drain = drain
    app.state.rate_limits = rate_limits
    app.state.identity_cache = identity_cache
    app.state.identity_listener = identity_listener
    app.state.policy_follower = follower
    app.state.webhooks = webhooks
    app.state.bus = bus
    app.state.bus_listener = bus_listener
    return app
