"""A graphql-transport-ws client for the tests (httpx-ws on the ASGI app, same event loop)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

PROTOCOL = "graphql-transport-ws"


class LiveClient:
    """One websocket connection: ``subscribe`` then ``next`` / ``drain``."""

    def __init__(self, ws: AsyncWebSocketSession):
        self.ws = ws
        self._ids = itertools.count(1)

    async def init(self, payload: Any) -> dict:
        await self.ws.send_json({"type": "connection_init", "payload": payload})
        return await self.ws.receive_json(timeout=10)

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        key = str(next(self._ids))
        await self.ws.send_json(
            {"id": key, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        )
        return key

    async def receive(self, wait: float = 10) -> dict:
        return await self.ws.receive_json(timeout=wait)

    async def drain(self, wait: float = 0.05) -> list[dict]:
        """Every message already received (call after ``bus.settled()``)."""
        found = []
        while True:
            try:
                found.append(await self.ws.receive_json(timeout=wait))
            except TimeoutError:
                return found


@contextlib.asynccontextmanager
async def connect(app: Any, token: str | None, payload: Any = None) -> AsyncIterator[LiveClient]:
    """A connection initialised with ``token`` (acknowledged: asserted)."""
    async with live_socket(app) as client:
        ack = await client.init(payload if payload is not None else {"authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        yield client


@contextlib.asynccontextmanager
async def live_socket(app: Any) -> AsyncIterator[LiveClient]:
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app), base_url="http://test") as http:
        async with aconnect_ws("/graphql", http, subprotocols=[PROTOCOL]) as ws:
            yield LiveClient(ws)


__all__ = ["LiveClient", "WebSocketDisconnect", "connect", "live_socket"]
