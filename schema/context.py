"""The per-request context: who is asking, under which policy, with which loaders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from policies.authorizer import Actor, Authorizer
from services import identity, metrics, reads
from services.authz import RequestAuth
from services.config import Settings
from services.errors import ServiceUnavailable, Unauthenticated, is_database_down
from services.identity_cache import IdentityCache

log = logging.getLogger("bandeng.http")


@dataclass
class Loaders:
    """DataLoaders built per request, per (resource, key); all go through the policy."""

    auth: RequestAuth
    _loaders: dict[tuple, DataLoader] = field(default_factory=dict)

    def by_id(self, resource: str) -> DataLoader:
        key = ("id", resource)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(load_fn=lambda ids: reads.by_ids(self.auth, resource, ids))
        return self._loaders[key]

    def children(self, resource: str, parent_field: str, order: str, first: int) -> DataLoader:
        """Children by parent id; one loader (so one statement per batch) per page size."""
        key = ("children", resource, parent_field, order, first)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(
                load_fn=lambda ids: reads.children_of(self.auth, resource, parent_field, ids, order, first)
            )
        return self._loaders[key]

    def linked(self, relation: reads.Through, first: int) -> DataLoader:
        """Ids of linked objects by parent id (through a link table), per page size."""
        key = ("linked", relation, first)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(
                load_fn=lambda ids: reads.linked_ids(self.auth, relation, ids, first)
            )
        return self._loaders[key]


@dataclass
class Context:
    request: Any
    response: Any
    settings: Settings
    authorizer: Authorizer
    actor: Actor | None
    auth_problem: str | None = None
    database_unavailable: bool = False
    policy_store: Any = None
    auth_error: Exception | None = None  # authentication failed for another reason (a bug)
    token: str | None = None  # the bearer token, looked up by ``authenticate``
    identity_cache: IdentityCache | None = None  # this instance's (services.identity_cache)
    # A websocket connection's (schema/subscriptions.py): its ``connection_init`` payload
    # and this instance's event bus.
    connection_params: Any = None
    bus: Any = None

    def renew(self) -> None:
        """A subscription's next event is decided afresh: the policy in force now, the
        actor as last checked, no plan or loaded row kept from the previous event."""
        if self.policy_store is not None:
            self.authorizer = self.policy_store.current
        self.__dict__.pop("auth", None)
        self.__dict__.pop("loaders", None)

    async def authenticate(self) -> None:
        """Find the actor behind ``token`` (once). Run when the operation is about to
        execute, so that a request refused by parsing, validation or the query limits
        costs no SQL statement."""
        token, self.token = self.token, None
        if token is None:
            return
        try:
            self.actor = await identity.authenticate(token, self.identity_cache)
        except Exception as exc:  # a dead database must not look like a bad token
            if is_database_down(exc):
                log.warning("authentication failed: database unavailable: %r", exc)
                self.database_unavailable = True
            else:
                self.auth_error = exc
        else:
            if self.actor is None:
                self.auth_problem = "The token is unknown or has been revoked."
            else:
                metrics.note_actor(self.actor.person_id)

    @cached_property
    def auth(self) -> RequestAuth:
        """The caller's authorization, or UNAUTHENTICATED when there is no valid token."""
        if self.database_unavailable:
            raise ServiceUnavailable("The service cannot reach its database; try again shortly.")
        if self.auth_error is not None:
            raise self.auth_error  # masked and logged as any unexpected error
        if self.actor is None:
            raise Unauthenticated(
                self.auth_problem or "Send `Authorization: Bearer <token>`; only the schema is public."
            )
        return RequestAuth(self.actor, self.authorizer)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.auth)


class Authenticate(SchemaExtension):
    """Authenticates the caller when the operation starts executing (after validation)."""

    async def on_execute(self) -> AsyncIterator[None]:
        await self.execution_context.context.authenticate()
        yield


Info = strawberry.Info[Context, None]
