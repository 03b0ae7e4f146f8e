"""The caller's authorization for one request, over the one policy path.

``policies.authorizer`` turns the policy into a ``Plan`` (a SQL condition) and into
decisions on single objects; this module binds it to the tables: a resource's rows are
those of the model with the resource's name (``models``), and every read goes through
the plan, so a list, a count, a cursor, a nested field and a lookup never disagree.

A resource is named by a string, so its rows are typed ``Any`` here (``QuerySet[Any]``):
they are instances of ``model_of(resource)``, which the caller knows by name.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.models import Model
from tortoise.queryset import QuerySet

import models
from policies import vocabulary
from policies.authorizer import Actor, Authorizer, Plan
from policies.relations import Facts
from policies.resources import RESOURCES, table_resource
from services import metrics, rows
from services.errors import Forbidden, NotFound
from services.ids import parse_id


@functools.cache
def models_by_name() -> dict[str, type[Model]]:
    found: dict[str, type[Model]] = {}
    for module_name in models.MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Model) and value.__module__ == module_name:
                found[name] = value
    return found


def model_of(resource: str) -> type[Model]:
    """The model holding ``resource``'s rows: the one of the same name (for a field
    resource, the one of the record it is part of)."""
    name = table_resource(resource)
    if not RESOURCES[name].stored:
        raise ValueError(f"{resource} is decided on facts only and has no table")
    return models_by_name()[name]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RequestAuth:
    """Per-request view of the authorizer: plans are computed once per request.

    ``now`` is the request's clock (the demo seed sets it to the past)."""

    actor: Actor
    authorizer: Authorizer
    now: Callable[[], datetime] = _now
    _plans: dict[tuple[str, str], Plan] = field(default_factory=dict)

    def plan(self, resource: str, action: str = "read") -> Plan:
        key = (resource, action)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.authorizer.plan(self.actor, resource, action)
        return plan

    def visible(self, resource: str, queryset: QuerySet[Any] | None = None) -> QuerySet[Any]:
        """Rows of ``resource`` the actor may read, as a query (never filtered after)."""
        if queryset is None:
            queryset = model_of(resource).all()
        return self.plan(resource, "read").apply(queryset)

    def listing(self, resource: str, /, **conditions: Any) -> QuerySet[Any]:
        """Root lists and lookups: like ``visible``, but a role with no read rule at all
        for the resource gets FORBIDDEN (it says nothing about the data, only the policy).
        Nested fields use ``visible`` and simply come back empty. ``conditions`` narrow
        the list (Tortoise filters); one that is ``None`` was not asked for."""
        if not self.plan(resource, "read").grants:
            metrics.note_denial(resource)
            raise Forbidden(f"Your roles may not read {resource}.", resource=resource, action="read")
        return self.visible(resource).filter(**{k: v for k, v in conditions.items() if v is not None})

    async def get_visible(self, resource: str, object_id: object, argument: str = "id") -> Any:
        """One object if the actor may read it; otherwise NOT_FOUND, the same for both cases.
        ``object_id`` is the id as the client sent it (BAD_USER_INPUT when it is not an id)."""
        key = parse_id(object_id, argument)
        plan = self.plan(resource, "read")
        if not plan.grants:
            metrics.note_denial(resource)
            raise Forbidden(f"Your roles may not read {resource}.", resource=resource, action="read")
        # The row by its key, then the plan's predicate on its facts: the same answer as
        # the plan's SQL condition (tests/test_authz_property.py proves they agree), in one
        # statement whose text never changes, without building a query.
        row = await rows.by_id(model_of(resource), key)
        if row is None or not plan.allows(Facts.of(row, resource)):
            if row is not None:  # it exists, outside the caller's reach: a denial for the operator
                metrics.note_denial(resource)
            raise NotFound(f"No {resource} with id {key} that you can see.")
        return row

    def may_read_field(self, field_resource: str, obj: object) -> bool:
        """Field-level rules (``Person.contact`` ...), decided in this one place: the
        plan's predicate on the object's facts, computed once per request. Callers
        answer ``null`` for a denied field (documented on the field)."""
        if field_resource not in vocabulary.FIELD_RESOURCES:
            raise ValueError(f"{field_resource} is not a field resource")
        if self.plan(field_resource, "read").allows(Facts.of(obj, field_resource)):
            return True
        metrics.note_denial(field_resource)
        return False

    def can(self, resource: str, action: str, facts: Facts) -> bool:
        return self.authorizer.decide(self.actor, resource, action, facts)

    def require(self, resource: str, action: str, facts: Facts) -> None:
        if not self.can(resource, action, facts):
            metrics.note_denial(resource)
            raise Forbidden(f"You may not {action} this {resource} here.", resource=resource, action=action)
