"""Batched, authorized reads for DataLoaders: one SQL statement per batch.

Every batch goes through the same visibility filter as the root lists, so a nested
field never shows a row that the list would hide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from services.authz import RequestAuth


async def by_ids(auth: RequestAuth, resource: str, ids: Sequence[int]) -> list:
    """Objects for ``ids`` in order; ``None`` where missing or not visible."""
    rows = await auth.visible(resource).filter(id__in=list(set(ids)))
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def children(
    auth: RequestAuth, resource: str, parent_field: str, parent_ids: Sequence[int], order: str = "id"
) -> list[list]:
    """Visible children of each parent, grouped by ``parent_field`` (e.g. ``council_id``)."""
    rows = (
        await auth.visible(resource).filter(**{f"{parent_field}__in": list(set(parent_ids))}).order_by(order)
    )
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent_field)].append(row)
    return [grouped.get(i, []) for i in parent_ids]
