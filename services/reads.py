"""Nested reads: the relations of each resource, and batched, authorized loading.

A resource's relations come from its model's foreign keys, declared once there: a
foreign key ``Concern.unit`` is the relation ``unit`` of ``Concern`` (to one
``OrgUnit``), and its ``related_name`` the relation back (``OrgUnit.concerns``, to
many). Relations that are not foreign keys (a case's applicant is its ``owner_id``), or
that want another order than by id, are declared by their domain with ``relations()``.
The GraphQL layer names a relation, never a column. Every batch goes through the same
visibility filter as the root lists (one SQL statement per batch), so a nested field
never shows a row that the list would hide.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from services.authz import RequestAuth, models_by_name


@dataclass(frozen=True)
class One:
    """To one object of ``resource`` whose id is in ``column``; ``guard`` names a field
    resource that must allow it (``Rating.author``), else it reads as null."""

    resource: str
    column: str
    guard: str | None = None


@dataclass(frozen=True)
class Many:
    """To the objects of ``resource`` whose ``column`` holds this object's id, by ``order``."""

    resource: str
    column: str
    order: str = "id"


RELATIONS: dict[tuple[str, str], One | Many] = {}


def relations(resource: str, **declared: One | Many) -> None:
    """Declare relations of ``resource`` (each domain does so for its own resources)."""
    for name, relation in declared.items():
        assert (resource, name) not in RELATIONS, f"{resource}.{name} is declared twice"
        RELATIONS[(resource, name)] = relation


class Loader(Protocol):
    async def load(self, key: int) -> Any: ...


class Loaders(Protocol):
    """The request's batching loaders (built by the GraphQL layer)."""

    auth: RequestAuth

    def by_id(self, resource: str) -> Loader: ...

    def children(self, resource: str, parent_field: str, order: str = "id") -> Loader: ...


@functools.cache
def _from_foreign_keys() -> dict[tuple[str, str], One | Many]:
    found: dict[tuple[str, str], One | Many] = {}
    for resource, model in models_by_name().items():
        for name in model._meta.fk_fields:
            field = model._meta.fields_map[name]
            target = field.model_name.rpartition(".")[2]  # type: ignore[attr-defined]
            column = field.source_field or f"{name}_id"
            found[(resource, name)] = One(target, column)
            if field.related_name:  # type: ignore[attr-defined]
                found[(target, field.related_name)] = Many(resource, column)  # type: ignore[attr-defined]
    return found


def relation(resource: str, name: str) -> One | Many:
    """A relation of ``resource``: declared by its domain, or a foreign key of its model."""
    declared = RELATIONS.get((resource, name))
    return declared if declared is not None else _from_foreign_keys()[(resource, name)]


def target_of(resource: str, column: str) -> str | None:
    """The resource whose ids ``resource``'s ``column`` holds (``Concern.unit_id`` ->
    ``OrgUnit``), by its relations to one object; None for a column naming nothing."""
    return _targets().get((resource, column))


@functools.cache
def _targets() -> dict[tuple[str, str], str]:
    links = {**_from_foreign_keys(), **RELATIONS}
    return {
        (resource, relation.column): relation.resource
        for (resource, _), relation in links.items()
        if isinstance(relation, One) and relation.guard is None
    }


def _relation(row: Any, name: str) -> One | Many:
    return relation(type(row).__name__, name)


async def related(loaders: Loaders, row: Any, name: str) -> Any:
    """The object ``row``'s relation ``name`` points at, or None (none, or not visible)."""
    relation = _relation(row, name)
    assert isinstance(relation, One), name
    if relation.guard is not None and not loaders.auth.may_read_field(relation.guard, row):
        return None
    key = getattr(row, relation.column)
    return None if key is None else await loaders.by_id(relation.resource).load(key)


async def children(loaders: Loaders, row: Any, name: str) -> list[Any]:
    """The visible objects of ``row``'s relation ``name``."""
    relation = _relation(row, name)
    assert isinstance(relation, Many), name
    return await loaders.children(relation.resource, relation.column, relation.order).load(row.id)


async def by_ids(auth: RequestAuth, resource: str, ids: Sequence[int]) -> list[Any]:
    """Objects for ``ids`` in order; ``None`` where missing or not visible."""
    rows = await auth.visible(resource).filter(id__in=list(set(ids)))
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def children_of(
    auth: RequestAuth, resource: str, parent_field: str, parent_ids: Sequence[int], order: str = "id"
) -> list[list[Any]]:
    """Visible children of each parent, grouped by ``parent_field`` (e.g. ``council_id``)."""
    rows = (
        await auth.visible(resource).filter(**{f"{parent_field}__in": list(set(parent_ids))}).order_by(order)
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent_field)].append(row)
    return [grouped.get(i, []) for i in parent_ids]


# A filter that is a function: of the query (the visible rows of the listing's resource),
# the value given and the caller, e.g. ``_overdue(query: QuerySet[Concern], overdue: bool, auth)``.
Narrow = Callable[[QuerySet[Any], Any, RequestAuth], QuerySet[Any]]
# A filter: a column lookup, a lookup and a conversion of the value, or a function.
Filter = str | tuple[str, Callable[[Any], Any]] | Narrow


@dataclass(frozen=True)
class Listing:
    """A root list of a resource, declared: the filters a caller may give. A filter is a
    column lookup (``"name__icontains"``), a lookup and a conversion of the value
    (``("starts_at__gte", to_utc)``), or a function of the query, the value and the
    caller. The list is always the caller's visible rows (``RequestAuth.listing``);
    a filter left out (``None``) is not applied.

    A column filter on a column that names another resource's rows (``unit_id`` of a
    concern, see ``target_of``) only matches when the caller may read the object named:
    filtering by an object the caller cannot see answers exactly as filtering by one
    that does not exist (an empty list), in the same one SQL statement."""

    resource: str
    filters: Mapping[str, Filter] = field(default_factory=dict)

    def __call__(self, auth: RequestAuth, **values: Any) -> QuerySet[Any]:
        query = auth.listing(self.resource)
        for name, value in values.items():
            how = self.filters[name]
            if value is None:
                continue
            if isinstance(how, str):
                query = query.filter(**{how: value})
                target = target_of(self.resource, how)
                if target is not None:
                    readable = auth.visible(target).filter(id=value).values("id")
                    query = query.filter(**{f"{how}__in": Subquery(readable)})
            elif isinstance(how, tuple):
                query = query.filter(**{how[0]: how[1](value)})
            else:
                query = how(query, value, auth)
        return query


def listing(resource: str, *columns: str, **filters: Filter) -> Listing:
    """``Listing(resource, ...)``: each name in ``columns`` filters the column of that name."""
    return Listing(resource, {**{column: column for column in columns}, **filters})
