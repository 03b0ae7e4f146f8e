"""Statistics for the caller's scope, counted in SQL.

Every figure is counted on the same authorized queries as the lists
(``RequestAuth.listing``), so a secretary's figures are those of their community and
a street official's those of their street: nobody counts what they could not list.

Concern and dispute figures are counted like ``totalCount``
(``services.pagination.bounded_count``): exactly up to ``BANDENG_EXACT_COUNT_LIMIT`` rows
per figure, beyond it the planner's estimate for the same authorized query, and the
section says so (``isEstimate``). A figure then costs at most that many rows of work
however many concerns the scope holds (docs/operations.md, "Counts at scale").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from tortoise import connections
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Avg, Count, Sum
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.concerns import ConcernStatus
from models.councils import MeetingStatus
from models.mediation import CaseCategory, CaseStatus
from policies.relations import under_condition
from services import tally
from services.authz import RequestAuth
from services.concerns import CATEGORIES, OPEN
from services.errors import BadUserInput
from services.pagination import DEFAULT_EXACT_COUNT_LIMIT, TotalCount, bounded_count, estimate
from services.times import to_utc

# The categories: ``by_category`` has a figure per category at most.
CONCERN_CATEGORIES = tuple(CATEGORIES)
CASE_CATEGORIES = tuple(CaseCategory)

MODEL = TypeVar("MODEL", bound=Model)

SECONDS_TO_CLOSE = {
    "sqlite": "(julianday(closed_at) - julianday(created_at)) * 86400",
    "postgres": "EXTRACT(EPOCH FROM (closed_at - created_at))",
}


@dataclass(frozen=True)
class CategoryCount:
    category: str
    count: int
    count_a_year_earlier: int

    @property
    def change_percent(self) -> float | None:
        """Change against the same period a year earlier (None when there was nothing)."""
        if self.count_a_year_earlier == 0:
            return None
        return round(100.0 * (self.count - self.count_a_year_earlier) / self.count_a_year_earlier, 2)


@dataclass(frozen=True)
class ConcernFigures:
    collected: int
    resolved: int
    closed: int
    overdue_now: int
    mean_hours_to_close: float | None
    by_category: tuple[CategoryCount, ...]
    is_estimate: bool = False


@dataclass(frozen=True)
class CouncilFigures:
    councils: int
    meetings_held: int
    attendances: int


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    since, until = to_utc(since), to_utc(until)
    if until <= since:
        raise BadUserInput("`until` must be after `since`.", argument="until")
    return since, until


def _narrow(query: QuerySet[MODEL], unit_path: str | None, column: str = "scope_path") -> QuerySet[MODEL]:
    return query if unit_path is None else query.filter(under_condition(column, unit_path))


def _created(
    auth: RequestAuth, resource: str, since: datetime, until: datetime, unit_path: str | None
) -> tuple[QuerySet[Any], QuerySet[Any], datetime, datetime]:
    """The caller's visible rows of ``resource`` (within ``unit_path``), those created in
    the period, and the period in UTC."""
    since, until = period(since, until)
    visible = _narrow(auth.listing(resource), unit_path)
    return visible, visible.filter(created_at__gte=since, created_at__lt=until), since, until


class _Counter:
    """Bounded counts for one section, remembering whether any figure is an estimate."""

    def __init__(self, limit: int):
        self.limit = limit
        self.estimated = False

    def took(self, count: TotalCount) -> int:
        self.estimated |= not count.exact
        return count.value

    async def count(self, query: QuerySet[Any]) -> int:
        return self.took(await bounded_count(query, self.limit))


async def concern_figures(
    auth: RequestAuth,
    since: datetime,
    until: datetime,
    unit_path: str | None = None,
    limit: int = DEFAULT_EXACT_COUNT_LIMIT,
) -> ConcernFigures:
    visible, in_period, since, until = _created(auth, "Concern", since, until, unit_path)
    paths = tally.roots(auth.plan("Concern"), unit_path)
    if paths is not None:  # whole subtrees: read the tallies, exact at any size
        return await _tallied(auth, visible, paths, since, until)
    # another rule (a resident's own concerns): count rows, at most ``limit`` per figure
    closed = visible.filter(status=ConcernStatus.CLOSED, closed_at__gte=since, closed_at__lt=until)
    counter = _Counter(limit)
    closed_count = await counter.count(closed)
    return ConcernFigures(
        collected=await counter.count(in_period),
        resolved=await counter.count(visible.filter(resolved_at__gte=since, resolved_at__lt=until)),
        closed=closed_count,
        overdue_now=await counter.count(visible.filter(Q(due_at__lt=auth.now()), status__in=list(OPEN))),
        mean_hours_to_close=await _mean_hours_to_close(closed, limit),
        by_category=await by_category(visible, since, until, counter),
        is_estimate=counter.estimated,
    )


def _add(into: dict[str, tuple[int, float]], more: dict[str, tuple[int, float]]) -> None:
    for key, (n, seconds) in more.items():
        was_n, was_seconds = into.get(key, (0, 0.0))
        into[key] = (was_n + n, was_seconds + seconds)


def _total(per_category: dict[str, tuple[int, float]]) -> tuple[int, float]:
    return sum(n for n, _ in per_category.values()), sum(s for _, s in per_category.values())


async def _in_period(
    paths: tuple[str, ...], measure: str, rows: QuerySet[Any], column: str, since: datetime, until: datetime
) -> dict[str, tuple[int, float]]:
    """Per category, the count (and seconds to close) of ``measure`` in the period: whole
    days from the tallies under ``paths``; the parts of days at either end from ``rows``
    (the caller's visible concerns that count for ``measure``), by ``column``."""
    days = tally.split(since, until)
    found = await tally.sums(paths, measure, days.first_day, days.end_day) if days.first_day else {}
    dialect = connections.get("default").capabilities.dialect
    for start, end in days.edges:
        in_edge = rows.filter(**{f"{column}__gte": start, f"{column}__lt": end})
        # Sum takes any SQL term at run time, like Avg below
        seconds = Sum(RawSQL(SECONDS_TO_CLOSE[dialect]))  # type: ignore[arg-type]
        grouped = (
            await in_edge.annotate(total=Count("id"), secs=seconds)
            .group_by("category")
            .values("category", "total", "secs")
        )
        _add(found, {str(r["category"]): (int(r["total"]), float(r["secs"] or 0.0)) for r in grouped})
    return found


async def _tallied(
    auth: RequestAuth, visible: QuerySet[Any], paths: tuple[str, ...], since: datetime, until: datetime
) -> ConcernFigures:
    """Concern figures from the tallies (services/tally.py): exact, a day's rows of work at most."""
    raised = await _in_period(paths, tally.RAISED, visible, "created_at", since, until)
    earlier = await _in_period(
        paths, tally.RAISED, visible, "created_at", _year_earlier(since), _year_earlier(until)
    )
    resolved = await _in_period(
        paths, tally.RESOLVED, visible.filter(resolved_at__isnull=False), "resolved_at", since, until
    )
    closed_rows = visible.filter(status=ConcernStatus.CLOSED, closed_at__isnull=False)
    closed, seconds = _total(await _in_period(paths, tally.CLOSED, closed_rows, "closed_at", since, until))
    # overdue: open with a due time before today from the tallies, then today's so far
    now = to_utc(auth.now())
    today = datetime.combine(now.date(), time(0), UTC)
    overdue, _ = _total(await tally.sums(paths, tally.OPEN_DUE, None, today.date()))
    if now > today:
        overdue += await visible.filter(status__in=list(OPEN), due_at__gte=today, due_at__lt=now).count()
    categories = sorted(
        c for c in set(raised) | set(earlier) if raised.get(c, (0,))[0] or earlier.get(c, (0,))[0]
    )
    return ConcernFigures(
        collected=_total(raised)[0],
        resolved=_total(resolved)[0],
        closed=closed,
        overdue_now=overdue,
        mean_hours_to_close=round(seconds / closed / 3600, 2) if closed else None,
        by_category=tuple(
            CategoryCount(c, raised.get(c, (0, 0.0))[0], earlier.get(c, (0, 0.0))[0]) for c in categories
        ),
    )


async def _mean_hours_to_close(closed: QuerySet[Any], limit: int) -> float | None:
    """The mean over the closed rows, or over ``limit`` of them when there are more (the
    count says so: the section is then an estimate)."""
    dialect = connections.get("default").capabilities.dialect
    # Avg takes any SQL term at run time (Function._resolve_argument); its stub names only
    # field names and F expressions
    seconds_to_close = Avg(RawSQL(SECONDS_TO_CLOSE[dialect]))  # type: ignore[arg-type]
    sample = Subquery(closed.limit(limit).values("id"))
    mean = (
        await closed.model.filter(id__in=sample).annotate(seconds=seconds_to_close).first().values("seconds")
    )
    seconds = (mean or {}).get("seconds")
    return None if seconds is None else round(float(seconds) / 3600, 2)


async def by_category(
    visible: QuerySet[Any], since: datetime, until: datetime, counter: _Counter | None = None
) -> tuple[CategoryCount, ...]:
    """Rows created per category in the period and in the same period a year earlier:
    grouped over at most ``limit + 1`` rows; beyond, each category's planner estimate."""
    counter = counter or _Counter(DEFAULT_EXACT_COUNT_LIMIT)

    async def counts(start: datetime, end: datetime) -> dict[str, int]:
        created = visible.filter(created_at__gte=start, created_at__lt=end)
        sample = Subquery(created.limit(counter.limit + 1).values("id"))
        rows = (
            await created.model.filter(id__in=sample)
            .annotate(n=Count("id"))
            .group_by("category")
            .values("category", "n")
        )
        found = {str(row["category"]): row["n"] for row in rows}
        if sum(found.values()) <= counter.limit:
            return found
        counter.estimated = True
        # SQLite has no estimate (0): the sample's own count is the best it knows
        return {c: max(await estimate(created.filter(category=c)), n) for c, n in found.items()}

    now, earlier = await counts(since, until), await counts(_year_earlier(since), _year_earlier(until))
    return tuple(CategoryCount(c, now.get(c, 0), earlier.get(c, 0)) for c in sorted(set(now) | set(earlier)))


@dataclass(frozen=True)
class DisputeFigures:
    opened: int
    settled: int
    referred: int
    by_category: tuple[CategoryCount, ...]
    is_estimate: bool = False


async def dispute_figures(
    auth: RequestAuth,
    since: datetime,
    until: datetime,
    unit_path: str | None = None,
    limit: int = DEFAULT_EXACT_COUNT_LIMIT,
) -> DisputeFigures:
    """Mediation cases (纠纷) of the period, per category against a year earlier."""
    visible, in_period, since, until = _created(auth, "MediationCase", since, until, unit_path)
    counter = _Counter(limit)
    return DisputeFigures(
        opened=await counter.count(in_period),
        settled=await counter.count(in_period.filter(status=CaseStatus.SETTLED)),
        referred=await counter.count(in_period.filter(workstation_id__isnull=False)),
        by_category=await by_category(visible, since, until, counter),
        is_estimate=counter.estimated,
    )


@dataclass(frozen=True)
class OutreachFigures:
    events: int
    residents_reached: int


async def outreach_figures(
    auth: RequestAuth, since: datetime, until: datetime, unit_path: str | None = None
) -> OutreachFigures:
    """Legal outreach (普法) held in the period and the residents it reached."""
    since, until = period(since, until)
    held = _narrow(auth.listing("OutreachEvent"), unit_path).filter(held_at__gte=since, held_at__lt=until)
    total = await held.annotate(reached=Sum("attendance")).first().values("reached")
    return OutreachFigures(
        events=await held.count(), residents_reached=int((total or {}).get("reached") or 0)
    )


HELD = [s for s in MeetingStatus if s.value in ("held", "closed", "reviewed")]


async def council_figures(
    auth: RequestAuth, since: datetime, until: datetime, unit_path: str | None = None
) -> CouncilFigures:
    since, until = period(since, until)
    meetings = _narrow(auth.listing("Meeting"), unit_path).filter(
        status__in=HELD, starts_at__gte=since, starts_at__lt=until
    )
    held_ids = await meetings.values_list("id", flat=True)
    attendance = _narrow(auth.visible("Attendance"), unit_path).filter(
        meeting_id__in=list(held_ids), present=True
    )
    return CouncilFigures(
        councils=await _narrow(auth.listing("Council"), unit_path).count(),
        meetings_held=len(held_ids),
        attendances=await attendance.count(),
    )
