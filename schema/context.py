"""The per-request context: who is asking, under which policy, with which loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from policies.authorizer import Actor, Authorizer
from services import reads
from services.authz import RequestAuth
from services.config import Settings
from services.errors import ServiceUnavailable, Unauthenticated


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

    def children(self, resource: str, parent_field: str, order: str = "id") -> DataLoader:
        key = ("children", resource, parent_field, order)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(
                load_fn=lambda ids: reads.children_of(self.auth, resource, parent_field, ids, order)
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


Info = strawberry.Info[Context, None]
