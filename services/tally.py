"""Concern figures read from the tallies that migration 0012's triggers keep.

``concern_tally`` has one row per (scope, measure, UTC day, category) for the concern's
own scope and every scope above it, so "raised in the street in 2025" is the street's
rows of 365 days, whatever the number of concerns. A caller's figures come from the
tallies when their read rule for concerns is whole subtrees (``in_scope``,
``in_community``, ``any``): the subtrees' roots are the tally rows to read. Any other rule
(a resident's ``own``) returns ``None`` from ``roots`` and the statistics count rows.

A period is whole UTC days read from the tallies plus, at each end, the part of a day
counted from the concerns themselves (at most a day's rows of the scope each).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise import connections
from tortoise.functions import Sum

from models.concerns import ConcernTally
from policies import scopes
from policies.authorizer import Plan

RAISED, RESOLVED, CLOSED, OPEN_DUE = "raised", "resolved", "closed", "open_due"
SUBTREE_RELATIONS = ("any", "in_scope", "in_community")

MIGRATION = importlib.import_module("models.migrations.0012_concern_tally")


def roots(plan: Plan, unit_path: str | None) -> tuple[str, ...] | None:
    """The scopes whose subtrees hold exactly the rows ``plan`` reaches within ``unit_path``
    (none overlapping another); ``None`` when the plan reaches rows some other way."""
    paths = []
    for relation, grant in plan.grants:
        if relation == "any":
            paths.append(scopes.GLOBAL)
        elif relation == "in_scope":
            paths.append(grant.path)
        elif relation == "in_community":
            paths.append(scopes.community_of(grant.path))
        else:
            return None
    if unit_path is not None:
        paths = [
            unit_path if scopes.is_under(unit_path, p) else p
            for p in paths
            if scopes.is_under(unit_path, p) or scopes.is_under(p, unit_path)
        ]
    distinct = set(paths)
    return tuple(sorted(p for p in distinct if not any(q != p and scopes.is_under(p, q) for q in distinct)))


@dataclass(frozen=True)
class Split:
    """A period as whole UTC days ``[first_day, end_day)`` and the parts of days around them."""

    first_day: date | None
    end_day: date | None
    edges: tuple[tuple[datetime, datetime], ...]


def split(since: datetime, until: datetime) -> Split:
    """``since``/``until`` in UTC: the whole days between them and what is left at each end."""
    first = since.date() if since.time() == time(0) else since.date() + timedelta(days=1)
    end = until.date()
    if first >= end:
        return Split(None, None, ((since, until),))
    lo, hi = datetime.combine(first, time(0), UTC), datetime.combine(end, time(0), UTC)
    return Split(first, end, tuple((a, b) for a, b in ((since, lo), (hi, until)) if a < b))


async def sums(
    paths: tuple[str, ...], measure: str, first_day: date | None, end_day: date | None
) -> dict[str, tuple[int, float]]:
    """Per category: the tallied count and seconds of ``measure`` on days in
    ``[first_day, end_day)`` (``None``: unbounded on that side) under ``paths``."""
    if not paths:
        return {}
    query = ConcernTally.filter(scope_path__in=list(paths), measure=measure)
    if first_day is not None:
        query = query.filter(day__gte=first_day)
    if end_day is not None:
        query = query.filter(day__lt=end_day)
    rows = (
        await query.annotate(total=Sum("n"), secs=Sum("seconds"))
        .group_by("category")
        .values("category", "total", "secs")
    )
    return {str(r["category"]): (int(r["total"] or 0), float(r["secs"] or 0.0)) for r in rows if r["total"]}


async def recount_differences() -> list[tuple[Any, ...]]:
    """Rows where the kept tallies and a recount from the concerns differ (none when the
    triggers did their work): ``(scope, measure, day, category, kept, recounted)``."""
    conn = connections.get("default")
    recount = MIGRATION.RECOUNT[conn.capabilities.dialect]
    _, rows = await conn.execute_query(recount)
    recounted = {
        (r["scope_path"], r["measure"], str(r["day"]), r["category"]): (
            int(r["n"]),
            round(float(r["seconds"]), 3),
        )
        for r in rows
    }
    kept = {
        (r.scope_path, r.measure, str(r.day), r.category): (r.n, round(r.seconds, 3))
        for r in await ConcernTally.all()
        if r.n or r.seconds
    }
    return [
        (*key, kept.get(key), recounted.get(key))
        for key in sorted(set(kept) | set(recounted))
        if kept.get(key) != recounted.get(key)
    ]


async def refill() -> None:
    """Recount every tally from the concerns (after a bulk load with the triggers off)."""
    conn = connections.get("default")
    await conn.execute_script("DELETE FROM concern_tally")
    await conn.execute_script(
        MIGRATION.FILL + MIGRATION.RECOUNT[conn.capabilities.dialect] + MIGRATION.ORDERED
    )
    await conn.execute_script("ANALYZE concern_tally")
