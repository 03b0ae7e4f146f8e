"""Cursor connections (``first``/``after``, ``totalCount``, ``pageInfo``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from services.pagination import Page, paginate

T = TypeVar("T")


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More rows follow `endCursor`.")
    has_previous_page: bool = strawberry.field(description="This page was asked for with `after`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first row of the page.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last row; pass it as `after` for the next page."
    )


@strawberry.type(description="A row of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this row.")
    node: T = strawberry.field(description="The row.")


@strawberry.type(description="A page of a list that the caller may see, newest first.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The rows of this page with cursors.")
    nodes: list[T] = strawberry.field(description="The rows of this page.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more rows follow.")
    page: strawberry.Private[Page]

    @strawberry.field(
        description="How many rows the caller may see in the whole list (not the page): exact up to "
        "the server's count limit (`BANDENG_EXACT_COUNT_LIMIT`, 10,000 by default), beyond it an "
        "estimate, flagged by `totalCountIsEstimate`."
    )
    async def total_count(self) -> int:
        return (await self.page.total_count()).value

    @strawberry.field(
        description="True when `totalCount` is an estimate: the list has more rows than the server "
        "counts exactly (`BANDENG_EXACT_COUNT_LIMIT`); false when it is the exact count."
    )
    async def total_count_is_estimate(self) -> bool:
        return not (await self.page.total_count()).exact

    @classmethod
    def build(cls, page: Page, convert: Callable[[object], T]) -> Connection[T]:
        nodes = [convert(row) for row in page.rows]
        return cls(
            edges=[
                Edge(cursor=page.cursor(row), node=node) for row, node in zip(page.rows, nodes, strict=True)
            ],
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            page=page,
        )


async def connection(
    info,
    query,
    first: int | None,
    after: str | None,
    convert: Callable[[object], T],
    *,
    newest_first: bool = True,
    list_name: str | None = None,
) -> Connection[T]:
    """One page of an already-authorized query as a connection (page size bounded by the
    settings); its cursors name the list (by default the field, e.g. ``Query.concerns``)."""
    page = await paginate(
        query,
        list_name=f"{info._raw_info.parent_type.name}.{info.field_name}" if list_name is None else list_name,
        first=first,
        after=after,
        max_page_size=info.context.settings.max_page_size,
        exact_count_limit=info.context.settings.exact_count_limit,
        newest_first=newest_first,
    )
    return Connection.build(page, convert)
