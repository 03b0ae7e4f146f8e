"""Nested reads: the relations of each resource, and batched, authorized loading.

Each domain declares its resources' relations once (``relations("Concern", unit=One(
"OrgUnit", "unit_id"), events=Many("ConcernEvent", "concern_id"))``): which column leads
to which resource. The GraphQL layer names a relation, never a column. Every batch goes
through the same visibility filter as the root lists (one SQL statement per batch), so
a nested field never shows a row that the list would hide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.authz import RequestAuth


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


def _relation(row: Any, name: str) -> One | Many:
    return RELATIONS[(type(row).__name__, name)]


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
