"""Times as the database compares them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def to_utc(moment: datetime) -> datetime: ...
@overload
def to_utc(moment: None) -> None: ...
def to_utc(moment: datetime | None) -> datetime | None:
    """Compare in UTC, as stored: SQLite compares the stored text, so ``09:00+08:00``
    must become ``01:00+00:00`` first. A time without an offset is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
