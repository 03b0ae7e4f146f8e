"""Subscriptions over ``graphql-transport-ws``: who may connect, how long, and the
notices that no write makes (a concern's due time running out).

``LiveHandler`` is Strawberry's protocol handler with three additions:

- ``connection_init`` must carry ``{"authorization": "Bearer <token>"}``; a missing or
  malformed one, or an unknown or revoked token, closes the socket with **4403** and a
  reason saying which (the graphql-transport-ws code for a refused ``connection_init``);
  a database that cannot be reached closes it with **1011** (try again);
- while connected, its token is checked again every second with every other open
  connection's (``TokenWatch``: on PostgreSQL from the identity cache, which revocations
  and role changes evict at once on every instance, so a statement only after a change;
  on SQLite one statement per 500 connections): a revoked token closes the socket with
  4403 "the token has been revoked"; a change of the person's roles applies from the
  next event on;
- only subscriptions are run over it: queries and mutations go over HTTP, where the rate
  limits, the deadline and the audit apply (an ``error`` message says so).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from services import concerns, identity
from services.bus import Bus, Notice
from services.errors import is_database_down

log = logging.getLogger("bandeng.live")

REFUSED = 4403  # graphql-transport-ws: connection_init refused (Forbidden)
RECHECK_INTERVAL = 1.0  # seconds between two checks of a connected token
OVERDUE_INTERVAL = 5.0  # seconds between two looks for concerns turning overdue


class ConnectionRefused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def bearer_of(params: Any) -> str:
    """The token from a ``connection_init`` payload, or ConnectionRefused saying why."""
    value = None
    if isinstance(params, dict):
        value = params.get("authorization", params.get("Authorization"))
    if not isinstance(value, str) or not value.strip():
        raise ConnectionRefused(
            REFUSED, 'Forbidden: send {"authorization": "Bearer <token>"} in connection_init.'
        )
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ConnectionRefused(REFUSED, "Forbidden: the authorization must be `Bearer <token>`.")
    return token.strip()


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Messages as text frames, as graphql-transport-ws requires (the view encodes JSON
    to bytes, with orjson, for HTTP)."""

    async def send_json(self, message: Any) -> None:
        encoded = self.view.encode_json(message)
        try:
            await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class LiveHandler(BaseGraphQLTransportWSHandler):
    token: str | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        if self.connection_acknowledged and self.token is None:
            self.token = bearer_of(self.context.connection_params)
            self.view.token_watch.add(self.token, self)

    async def revoked(self) -> None:
        await self.websocket.close(code=REFUSED, reason="Forbidden: the token has been revoked.")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not _is_subscription(message):
            error = GraphQLError(
                "Only subscriptions are served over the websocket: send queries and mutations over HTTP.",
                extensions={"code": "BAD_REQUEST"},
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self.token is not None:
            self.view.token_watch.discard(self.token, self)
        await super().shutdown()


class TokenWatch:
    """The tokens of an instance's open connections, checked again every ``interval``
    seconds, all at once (``identity.authenticate_many``: from the identity cache on
    PostgreSQL, one statement per 500 tokens otherwise). A connection whose token no
    longer works is closed; the others get their actor as it is now (roles changed).
    Runs while there are connections (no lifespan needed)."""

    interval = RECHECK_INTERVAL

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.connections: dict[str, set[LiveHandler]] = {}
        self._task: asyncio.Task | None = None

    def add(self, token: str, handler: LiveHandler) -> None:
        self.connections.setdefault(token, set()).add(handler)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def discard(self, token: str, handler: LiveHandler) -> None:
        handlers = self.connections.get(token)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:
                del self.connections[token]

    async def _run(self) -> None:
        while self.connections:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as exc:  # a database fault is not a revocation: try again later
                log.warning("subscription token check failed: %r", exc)

    async def check(self) -> None:
        tokens = list(self.connections)
        if not tokens:
            return
        actors = await identity.authenticate_many(tokens, self.cache)
        for token in tokens:
            actor = actors.get(token)
            for handler in list(self.connections.get(token, ())):
                if actor is None:
                    self.discard(token, handler)
                    try:
                        await handler.revoked()
                    except Exception as exc:  # the socket went away meanwhile
                        log.debug("closing a revoked connection: %r", exc)
                else:
                    handler.context.actor = actor


async def connect(context: Any) -> None:
    """The view's ``on_ws_connect``: the actor behind the ``connection_init`` payload's
    token, or ConnectionRefused saying why."""
    token = bearer_of(context.connection_params)
    try:
        actor = await identity.authenticate(token, context.identity_cache)
    except Exception as exc:
        if is_database_down(exc):
            raise ConnectionRefused(1011, "The service cannot reach its database; try again.") from exc
        raise
    if actor is None:
        raise ConnectionRefused(REFUSED, "Forbidden: the token is unknown or has been revoked.")
    context.actor = actor
    context.renew()


def _is_subscription(message: SubscribeMessage) -> bool:
    """Whether the message's operation is a subscription (a document that does not parse
    is left to Strawberry, which closes the socket with 4400 as the protocol says)."""
    try:
        payload = message["payload"]
        return is_subscription(payload["query"], payload.get("operationName"), unknown=True)
    except Exception:
        return True


def is_subscription(query: object, operation_name: object, unknown: bool = False) -> bool:
    """Whether ``query``'s operation named ``operation_name`` (or its only one) is a
    subscription; ``unknown`` when that cannot be told (it does not parse, no such
    operation: the pipeline says why). Parses only a text that contains the word."""
    if not isinstance(query, str) or "subscription" not in query:
        return False
    try:
        document = parse(query)
    except Exception:
        return unknown
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name is not None and operation.name.value == operation_name):
            return operation.operation == OperationType.SUBSCRIPTION
    return unknown


# ------------------------------------------------------------------- concerns turning overdue


async def announce_overdue(bus: Bus, since: datetime, until: datetime) -> int:
    """Deliver an ``overdue`` notice to this instance's subscribers for each open concern
    whose due time ran out in ``(since, until]``. Each instance looks for itself and tells
    only its own subscribers: nothing is written, nothing crosses the bus."""
    found = await concerns.turned_overdue(since, until)
    for concern in found:
        status = str(concern.status)
        assert concern.due_at is not None
        bus.deliver(Notice.of("Concern", concern, "overdue", status, status, concern.due_at))
    return len(found)


async def watch_overdue(bus: Bus, stop: asyncio.Event, interval: float = OVERDUE_INTERVAL) -> None:
    """Every ``interval`` seconds, while someone subscribes, ``announce_overdue`` since the last look."""
    since = datetime.now(UTC)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
        until = datetime.now(UTC)
        if len(bus):
            try:
                await announce_overdue(bus, since, until)
            except Exception as exc:  # the database is away: these are lost, later ones are not
                log.warning("overdue check failed: %r", exc)
        since = until
