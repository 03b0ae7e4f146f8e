"""A page of a list that several grants reach (services.pagination.PageQuery).

On PostgreSQL a page whose condition is an OR (``scope = X OR scope LIKE 'X/%'``, a
resident's own rows OR their grid's) is read one branch per alternative, each in id
order with its own LIMIT, and merged: the planner can then read each branch from an
ordered index and stop after a page. These tests hold the merged read to the plain one:
the same rows, each once, in order, on every page, whatever the alternatives overlap.
"""

from __future__ import annotations

import pytest
from tortoise.expressions import Q

from models.concerns import Concern
from services.pagination import MAX_BRANCHES, PageQuery, paginate
from tests.conftest import is_postgres


def _overlapping(scope: str, some_ids: list[int]) -> Q:
    """Three alternatives that share rows: a grid, some ids (in it and outside), a status."""
    return Q(scope_path=scope) | Q(id__in=some_ids) | Q(status="resolved")


async def _expected(condition_ids: set[int], newest_first: bool, after: int | None, limit: int) -> list[int]:
    ids = sorted(condition_ids, reverse=newest_first)
    if after is not None:
        ids = [i for i in ids if (i < after if newest_first else i > after)]
    return ids[:limit]


@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_overlapping_alternatives_give_each_row_once_in_order(demo, newest_first, limit):
    everything = await Concern.all().values("id", "scope_path", "status")
    grid = max(
        (r["scope_path"] for r in everything), key=lambda s: sum(r["scope_path"] == s for r in everything)
    )
    in_grid = [r["id"] for r in everything if r["scope_path"] == grid]
    outside = [r["id"] for r in everything if r["scope_path"] != grid]
    some = in_grid[:2] + outside[:2]
    condition = _overlapping(grid, some)
    matching = {
        r["id"] for r in everything if r["scope_path"] == grid or r["id"] in some or r["status"] == "resolved"
    }
    assert len(matching) > 3 and set(in_grid[:2]) <= matching  # overlap between the alternatives
    order = "-id" if newest_first else "id"
    after: int | None = None
    seen: list[int] = []
    while True:
        query = Concern.filter(condition)
        if after is not None:
            query = query.filter(**{"id__lt" if newest_first else "id__gt": after})
        page = PageQuery(query.order_by(order).limit(limit), newest_first, limit)
        got = [row.id for row in await page.models()]
        assert got == await _expected(matching, newest_first, after, limit)
        _, sql, _ = page.sql(("id", "title"))
        assert ("UNION ALL" in sql) == is_postgres()
        if is_postgres():
            assert sql.count("UNION ALL") == 2, sql  # three alternatives, three branches
        if not got:
            break
        seen += got
        after = got[-1]
    assert sorted(seen) == sorted(matching) and len(seen) == len(set(seen))


async def test_a_plain_condition_or_too_many_alternatives_read_as_one_statement(demo):
    ids = list(await Concern.all().values_list("id", flat=True))
    alternatives = (ids + [10**9 + n for n in range(MAX_BRANCHES + 1)])[: MAX_BRANCHES + 1]
    many = Q(*(Q(id=i) for i in alternatives), join_type=Q.OR)
    for condition in (Q(status="resolved"), many, ~(Q(status="resolved") | Q(id=ids[0]))):
        page = PageQuery(Concern.filter(condition).order_by("-id").limit(5), True, 5)
        _, sql, _ = page.sql(("id",))
        assert "UNION" not in sql
        expected = [r.id for r in await Concern.filter(condition).order_by("-id").limit(5)]
        assert [r.id for r in await page.models()] == expected


async def test_paginate_reads_the_same_pages_through_the_branches(demo):
    everything = await Concern.all().values("id", "scope_path")
    grid = everything[0]["scope_path"]
    street = "/".join(grid.split("/")[:3])
    condition = Q(scope_path=street) | Q(scope_path__startswith=street + "/")
    want = [r.id for r in await Concern.filter(condition).order_by("-id")]
    got: list[int] = []
    after = None
    while True:
        page = await paginate(
            Concern.filter(condition), list_name="Query.concerns", first=4, after=after, max_page_size=100
        )
        got += [row.id for row in page.rows]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert got == want and len(want) > 4
