"""Statistics for the caller's scope (counted in SQL on the caller's visible rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.context import Info
from schema.limits import CAP
from schema.types import mirror
from services import statistics as service


@strawberry.type(
    description="Concerns of one category in the period, against the same period a year earlier."
)
class CategoryFigure:
    category: str = strawberry.field(description="The category.")
    count: int = strawberry.field(description="Raised in the period.")
    count_a_year_earlier: int = strawberry.field(description="Raised in the same period a year earlier.")
    change_percent: float | None = strawberry.field(
        description="Change in percent (e.g. -22.77); null when the earlier period had none."
    )


@strawberry.type(description="Concern figures: collected, resolved, closed (销号), overdue, time to close.")
class ConcernStatistics:
    collected: int = strawberry.field(description="Raised in the period.")
    resolved: int = strawberry.field(description="Resolved in the period.")
    closed: int = strawberry.field(description="Closed after the resident's rating in the period.")
    overdue_now: int = strawberry.field(description="Open and past their due time now.")
    mean_hours_to_close: float | None = strawberry.field(
        description="Mean hours from raising to closing, of those closed in the period."
    )
    by_category: list[CategoryFigure] = strawberry.field(
        description=f"Raised per category, with last year's figure: at most one per category "
        f"({len(service.CONCERN_CATEGORIES)}).",
        metadata={CAP: len(service.CONCERN_CATEGORIES)},
    )
    is_estimate: bool = strawberry.field(
        description="True when a figure of this section is an estimate: each is counted exactly up to "
        "the server's count limit (`BANDENG_EXACT_COUNT_LIMIT`, 10,000 rows by default) and estimated "
        "beyond it (the mean over that many of the closed rows)."
    )


@strawberry.type(description="Council figures: councils, meetings held, attendance.")
class CouncilStatistics:
    councils: int = strawberry.field(description="Councils in scope.")
    meetings_held: int = strawberry.field(description="Meetings held in the period.")
    attendances: int = strawberry.field(description="People present at those meetings.")


@strawberry.type(
    description="Dispute figures (纠纷): mediation cases opened, settled, referred, by category."
)
class DisputeStatistics:
    opened: int = strawberry.field(description="Cases opened in the period.")
    settled: int = strawberry.field(
        description="Of those, settled: by mediation, or after referral by a settlement the court guided "
        "or confirmed."
    )
    referred: int = strawberry.field(description="Of those, referred to a judge workstation (诉调对接).")
    by_category: list[CategoryFigure] = strawberry.field(
        description="Opened per category, with the same period a year earlier (e.g. 物业纠纷 -22.77%): at "
        f"most one per category ({len(service.CASE_CATEGORIES)}).",
        metadata={CAP: len(service.CASE_CATEGORIES)},
    )
    is_estimate: bool = strawberry.field(
        description="True when a figure of this section is an estimate: each is counted exactly up to "
        "the server's count limit (`BANDENG_EXACT_COUNT_LIMIT`, 10,000 rows by default) and estimated "
        "beyond it (the mean over that many of the closed rows)."
    )


@strawberry.type(description="Legal outreach (普法) figures.")
class OutreachStatistics:
    events: int = strawberry.field(description="Outreach events held in the period.")
    residents_reached: int = strawberry.field(description="Residents reached by them.")


@strawberry.type(description="Figures for the caller's scope (or a unit within it) over a period.")
class Statistics:
    since: datetime = strawberry.field(description="Start of the period (inclusive).")
    until: datetime = strawberry.field(description="End of the period (exclusive).")
    unit_path: strawberry.Private[str | None]

    @property
    def period(self) -> tuple[datetime, datetime, str | None]:
        return self.since, self.until, self.unit_path

    @strawberry.field(
        description="Concern figures; null with FORBIDDEN when the caller may not read concerns."
    )
    async def concerns(self, info: Info) -> ConcernStatistics | None:
        figures = await service.concern_figures(
            info.context.auth, *self.period, limit=info.context.settings.exact_count_limit
        )
        return mirror(ConcernStatistics, figures)

    @strawberry.field(
        description="Council figures; null with FORBIDDEN when the caller may not read meetings."
    )
    async def councils(self, info: Info) -> CouncilStatistics | None:
        return mirror(CouncilStatistics, await service.council_figures(info.context.auth, *self.period))

    @strawberry.field(description="Dispute figures; null with FORBIDDEN when the caller may not read cases.")
    async def disputes(self, info: Info) -> DisputeStatistics | None:
        figures = await service.dispute_figures(
            info.context.auth, *self.period, limit=info.context.settings.exact_count_limit
        )
        return mirror(DisputeStatistics, figures)

    @strawberry.field(description="Outreach figures; null with FORBIDDEN when the caller may not read them.")
    async def outreach(self, info: Info) -> OutreachStatistics | None:
        return mirror(OutreachStatistics, await service.outreach_figures(info.context.auth, *self.period))


@strawberry.type
class StatisticsQuery:
    @strawberry.field(
        description="Statistics of what the caller may see, for a period and optionally one unit."
    )
    async def statistics(
        self,
        info: Info,
        since: Annotated[datetime, strawberry.argument(description="Start of the period (inclusive).")],
        until: Annotated[datetime, strawberry.argument(description="End of the period (exclusive).")],
        unit_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this unit and below (it must be visible)."),
        ] = None,
    ) -> Statistics | None:
        auth = info.context.auth
        since, until = service.period(since, until)
        path = (await auth.get_visible("OrgUnit", unit_id, "unitId")).path if unit_id is not None else None
        return Statistics(since=since, until=until, unit_path=path)


QUERIES = (StatisticsQuery,)
