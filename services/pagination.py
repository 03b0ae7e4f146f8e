"""Keyset pagination over an already-authorized query.

The cursor encodes the id of the last row returned, and which list and order it was
returned in; paging is ``id < cursor`` (newest first) or ``id > cursor``, applied on top
of the visibility filter, so a cursor can never reveal or reach a row the filter
excludes. A cursor of another list, or of the same list in the other order, is refused
(``BAD_USER_INPUT`` naming ``after``): it would page by the wrong id. The filters are not
part of the list's identity: a cursor stays valid when a filter changes.

``totalCount`` counts the same filtered query, but never more than
``BANDENG_EXACT_COUNT_LIMIT`` rows of it (``SELECT count(*) FROM (SELECT id ... LIMIT
limit + 1)``): up to the limit the count is exact; beyond it the answer is an estimate,
flagged as such (on PostgreSQL the planner's row estimate for that same filtered query,
asked first; on SQLite the limit + 1). So a count costs at most ``limit`` rows of work
however large the table grows (docs/operations.md, "Counts at scale").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from services.errors import BadUserInput
from services.ids import MAX_ID, is_canonical_id

CURSOR_VERSION = "c2"  # c1 (the id alone) is refused as an older format
DEFAULT_PAGE_SIZE = 20
DEFAULT_EXACT_COUNT_LIMIT = 10_000
MAX_CURSOR_LENGTH = 200  # declared on every `after` argument
_LIST_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
MAX_ROW_ID = MAX_ID


def _order(newest_first: bool) -> str:
    return "desc" if newest_first else "asc"


def encode_cursor(list_name: str, newest_first: bool, row_id: int) -> str:
    """The opaque cursor of row ``row_id`` in ``list_name`` read in the given order."""
    text = f"{CURSOR_VERSION}:{list_name}:{_order(newest_first)}:{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _refuse(reason: str) -> BadUserInput:
    return BadUserInput(f"`after` {reason}; ask for the first page again.", argument="after")


def decode_cursor(cursor: str, list_name: str, newest_first: bool) -> int:
    """The row id in a cursor of ``list_name`` in this order (BAD_USER_INPUT otherwise)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _refuse("is not a cursor returned by this API") from None
    if text.startswith("c1:"):
        raise _refuse("is a cursor of an older format, which does not name its list")
    version, _, rest = text.partition(":")
    name, _, rest = rest.partition(":")
    order, _, row_id = rest.partition(":")
    if version != CURSOR_VERSION or not _LIST_NAME.fullmatch(name) or not is_canonical_id(row_id):
        raise _refuse("is not a cursor returned by this API")
    if name != list_name:
        raise _refuse(f"is a cursor of another list (`{name}`), not of `{list_name}`")
    if order != _order(newest_first):
        raise _refuse("is a cursor of this list in another order")
    return int(row_id)


@dataclass(frozen=True)
class TotalCount:
    """How many rows a filtered query has: ``exact``, or an estimate above ``limit``."""

    value: int
    exact: bool


def parameterized(queryset: Any) -> tuple[Any, str, list[Any]]:
    """The connection, SQL and parameters Tortoise would run for ``queryset`` (a query,
    or its ``values``/``values_list``)."""
    queryset._choose_db_if_not_chosen()
    queryset._make_query()
    sql, params = queryset.query.get_parameterized_sql()
    return queryset._db, sql, list(params)


# Below this many expected rows the count runs whatever the planner expects (small
# tables, the tests' lowered limits): its cost is small however it is planned.
TRUST_ESTIMATE_FROM = 1_000


async def bounded_count(filtered: QuerySet[Any], limit: int) -> TotalCount:
    """Count the rows of ``filtered``, reading at most ``limit + 1`` of them: exact up to
    ``limit``; beyond, an estimate of the same filtered query (never below ``limit + 1``).

    On PostgreSQL the planner is asked first: when it expects more than ``limit`` rows
    (and at least ``TRUST_ESTIMATE_FROM``) its estimate is the answer and nothing is
    counted. Counting ``LIMIT limit + 1`` rows of a list the planner thinks is large
    lures it into a plain index scan from the start of the scope index, filtered: 162 ms
    for a community of 300k among 3M concerns (bench/counts.py), the whole index."""
    expected = await estimate(filtered)
    if expected > max(limit, TRUST_ESTIMATE_FROM - 1):
        return TotalCount(expected, exact=False)
    db, sql, params = parameterized(filtered.limit(limit + 1).values_list("id", flat=True))
    _, rows = await db.execute_query(f"SELECT count(*) AS n FROM ({sql}) AS bounded", params)  # noqa: S608
    counted = int(rows[0]["n"])
    if counted <= limit:
        return TotalCount(counted, exact=True)
    return TotalCount(max(expected, limit + 1), exact=False)


async def estimate(filtered: QuerySet[Any]) -> int:
    """The planner's row estimate for ``filtered`` on PostgreSQL (0 elsewhere)."""
    db, sql, params = parameterized(filtered.values_list("id", flat=True))
    if db.capabilities.dialect != "postgres":
        return 0
    _, rows = await db.execute_query(f"EXPLAIN (FORMAT JSON) {sql}", params)
    plan = rows[0]["QUERY PLAN"]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# A page of a list visible through several grants (``scope = X OR scope LIKE 'X/%'``,
# or the resident's own rows OR their grid's) is read as one branch per grant, each in
# id order with its own LIMIT, merged (PostgreSQL): an OR cannot be read in id order from
# any index, so PostgreSQL either sorts every visible row or walks the primary key
# backwards filtering all rows until it has a page (a grid's newest 20 concerns among
# a street's: 11,605 rows read, 3-6 ms). Each branch alone is an ordered scan of the
# (scope_path, id) index (migration 0013) or of the primary key: 0.05-0.2 ms.
MAX_BRANCHES = 8


def _disjuncts(condition: Q) -> list[Q] | None:
    """The alternatives of an OR condition (nested ORs flattened), else None."""
    if condition._is_negated:
        return None
    if condition.join_type == Q.OR:
        found: list[Q] = []
        for child in condition.children:
            found.extend(_disjuncts(child) or [child])
        filters: dict[str, Any] = dict(condition.filters)  # the keyword filters, as given
        found.extend(Q(**{key: value}) for key, value in filters.items())
        return found
    if not condition.filters and len(condition.children) == 1:
        return _disjuncts(condition.children[0])
    return None


_PLACEHOLDER = re.compile(r"\$(\d+)")


def renumber(sql: str, offset: int) -> str:
    """PostgreSQL SQL with its parameters ``$n`` moved to ``$(n + offset)``, to join it with
    statements whose ``offset`` parameters come first (Tortoise's SQL holds no literal ``$``)."""
    return _PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


@dataclass(frozen=True)
class PageQuery:
    """The query of one page: ``query`` ordered by id and limited to ``limit`` rows."""

    query: QuerySet[Any]
    newest_first: bool
    limit: int

    def sql(self, names: tuple[str, ...] | None = None) -> tuple[Any, str, list[Any]]:
        """The connection, SQL and parameters that read the page (the fields ``names``,
        or whole rows); on PostgreSQL an OR condition is read one branch per alternative."""
        query = self.query if names is None else self.query.values(*names)
        db, sql, params = parameterized(query)
        merged = self._merged(db, names)
        return (db, sql, params) if merged is None else (db, *merged)

    def _merged(self, db: Any, names: tuple[str, ...] | None) -> tuple[str, list[Any]] | None:
        if db.capabilities.dialect != "postgres":
            return None
        query = self.query
        found = [
            (at, parts)
            for at, condition in enumerate(query._q_objects)
            if (parts := _disjuncts(condition)) is not None and 2 <= len(parts) <= MAX_BRANCHES
        ]
        if not found:
            return None
        at, parts = found[0]
        branches: list[str] = []
        bound: list[Any] = []
        for part in parts:
            branch = query._clone()
            branch._q_objects = [*query._q_objects[:at], part, *query._q_objects[at + 1 :]]
            _, text, values = parameterized(branch if names is None else branch.values(*names))
            branches.append("(" + renumber(text, len(bound)) + ")")
            bound.extend(values)
        order = "DESC" if self.newest_first else "ASC"
        merged = (
            f'SELECT DISTINCT ON ("id") * FROM ({" UNION ALL ".join(branches)}) AS "branches" '
            f'ORDER BY "id" {order} LIMIT {int(self.limit)}'
        )
        return merged, bound

    async def models(self) -> list[Any]:
        """The page's rows as model objects."""
        query = self.query
        query._choose_db_if_not_chosen()
        merged = self._merged(query._db, None)
        if merged is None:
            return list(await query)
        model, db = query.model, query._db
        return list(await db.executor_class(model=model, db=db).execute_select(*merged))


@dataclass
class Page:
    list_name: str
    newest_first: bool
    rows: list[Any]
    has_next_page: bool
    has_previous_page: bool
    filtered: QuerySet[Any]
    exact_count_limit: int = DEFAULT_EXACT_COUNT_LIMIT
    _count: TotalCount | None = field(default=None, repr=False)
    _counting: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def cursor(self, row: Any) -> str:
        """The cursor of one of this page's rows (a model object, or a plain row)."""
        return encode_cursor(
            self.list_name, self.newest_first, row.pk if isinstance(row, Model) else row["id"]
        )

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(self.rows[0]) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.rows[-1]) if self.rows else None

    async def total_count(self) -> TotalCount:
        """The list's size, counted once per page (``totalCount`` and its flag share it).
        A first page with nothing after it is the whole list: its size, no statement."""
        async with self._counting:
            if self._count is None:
                if not self.has_previous_page and not self.has_next_page:
                    self._count = TotalCount(len(self.rows), True)
                else:
                    self._count = await bounded_count(self.filtered, self.exact_count_limit)
            return self._count


async def paginate(
    queryset: QuerySet[Any],
    *,
    list_name: str,
    first: int | None,
    after: str | None,
    max_page_size: int,
    newest_first: bool = True,
    fetch: Callable[[PageQuery], Awaitable[list[Any]]] | None = None,
    exact_count_limit: int = DEFAULT_EXACT_COUNT_LIMIT,
) -> Page:
    """One page of ``queryset`` (which must already be filtered by the policy); ``list_name``
    names the list in its cursors (e.g. ``Query.concerns``). ``fetch`` reads the page's
    query (the compiled read path reads plain rows); by default, model objects."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0 or size > max_page_size:
        raise BadUserInput(f"`first` must be between 0 and {max_page_size}, got {size}.", argument="first")
    page_query = queryset
    if after is not None:
        last_id = decode_cursor(after, list_name, newest_first)
        page_query = page_query.filter(**{"id__lt" if newest_first else "id__gt": last_id})
    order = "-id" if newest_first else "id"
    page = PageQuery(page_query.order_by(order).limit(size + 1), newest_first, size + 1)
    rows = await page.models() if fetch is None else await fetch(page)
    has_next = len(rows) > size
    return Page(
        list_name, newest_first, rows[:size], has_next, after is not None, queryset, exact_count_limit
    )
