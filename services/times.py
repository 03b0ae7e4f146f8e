"""Times as the database compares them."""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(moment: datetime) -> datetime:
    """Compare in UTC, as stored: SQLite compares the stored text, so ``09:00+08:00``
    must become ``01:00+00:00`` first. A time without an offset is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
