"""Keyset pagination over an already-authorized query.

The cursor encodes only the id of the last row returned; paging is ``id < cursor``
(newest first) or ``id > cursor``, applied on top of the visibility filter, so a
cursor can never reveal or reach a row the filter excludes. ``totalCount`` counts
the same filtered query.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet

from services.errors import BadUserInput

CURSOR_PREFIX = "c1:"
DEFAULT_PAGE_SIZE = 20
MAX_ROW_ID = 2**31 - 1  # ids are 32-bit integer columns


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if not text.startswith(CURSOR_PREFIX):
            raise ValueError
        row_id = int(text[len(CURSOR_PREFIX) :])
        if not 0 < row_id <= MAX_ROW_ID:  # beyond an id column: would fail in the database
            raise ValueError
        return row_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput("`after` is not a cursor returned by this API.", argument="after") from None


@dataclass
class Page:
    rows: list[Any]
    has_next_page: bool
    has_previous_page: bool
    filtered: QuerySet[Any]

    @property
    def start_cursor(self) -> str | None:
        return encode_cursor(self.rows[0].id) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.rows[-1].id) if self.rows else None

    async def total_count(self) -> int:
        return await self.filtered.count()


async def paginate(
    queryset: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    max_page_size: int,
    newest_first: bool = True,
) -> Page:
    """One page of ``queryset`` (which must already be filtered by the policy)."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0 or size > max_page_size:
        raise BadUserInput(f"`first` must be between 0 and {max_page_size}, got {size}.", argument="first")
    page_query = queryset
    if after is not None:
        last_id = decode_cursor(after)
        page_query = page_query.filter(**{"id__lt" if newest_first else "id__gt": last_id})
    order = "-id" if newest_first else "id"
    rows = list(await page_query.order_by(order).limit(size + 1))
    has_next = len(rows) > size
    return Page(rows[:size], has_next, after is not None, queryset)
