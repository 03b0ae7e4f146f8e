"""Statistics with known fixtures: counted in SQL, within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime

from models.concerns import Concern, ConcernStatus
from models.councils import Attendance, Meeting, MeetingStatus
from tests.conftest import error_codes, gql

QUERY = """query($since: DateTime!, $until: DateTime!, $unit: ID) {
  statistics(since: $since, until: $until, unitId: $unit) {
    concerns { collected resolved closed overdueNow meanHoursToClose
               byCategory { category count countAYearEarlier changePercent } }
    councils { councils meetingsHeld attendances }
  }
}"""
PERIOD = {"since": "2025-01-01T00:00:00Z", "until": "2025-07-01T00:00:00Z"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def concern(d, grid: str, owner: str, category: str, created: str, closed: str | None = None) -> None:
    unit, person = d.world.units[grid], d.world.people[owner]
    row = await Concern.create(
        unit=unit, scope_path=unit.path, owner_id=person.id, raised_by=person, title="统计", category=category
    )
    changes = {"created_at": at(created)}
    if closed:
        changes.update(status=ConcernStatus.CLOSED, resolved_at=at(closed), closed_at=at(closed))
    await Concern.filter(id=row.id).update(**changes)


async def build(d) -> None:
    # 福禄巷北社区 in the first half of 2025: 3 raised, 2 closed after 10 h and 30 h.
    await concern(
        d, "fulu_g1", "resident_wang", "infrastructure", "2025-02-01T08:00:00", "2025-02-01T18:00:00"
    )
    await concern(d, "fulu_g1", "resident_li", "infrastructure", "2025-03-01T08:00:00", "2025-03-02T14:00:00")
    await concern(d, "fulu_g2", "resident_zhao", "property", "2025-04-01T08:00:00")
    # ... and a year earlier: 4 infrastructure, 1 property.
    for month in ("01", "02", "03", "04"):
        await concern(d, "fulu_g1", "resident_wang", "infrastructure", f"2024-{month}-10T08:00:00")
    await concern(d, "fulu_g2", "resident_zhao", "property", "2024-05-10T08:00:00")
    # 杜集社区 (the other street): 2 raised in the period.
    await concern(d, "duji_g1", "resident_zhou", "safety", "2025-05-01T08:00:00")
    await concern(d, "duji_g2", "resident_wu", "safety", "2025-05-02T08:00:00")
    # Meetings held in the period: one in 福禄巷北 with 2 present, one in 杜集 with 1.
    for council_key, present in (("fulu", ("resident_wang", "resident_li")), ("duji", ("resident_zhou",))):
        council = d.world.councils[council_key]
        meeting = await Meeting.create(
            council=council, scope_path=council.scope_path, title="上半年议事", starts_at=at("2025-03-15T09:00:00"),
            status=MeetingStatus.HELD,
        )  # fmt: skip
        for key in present:
            person = d.world.people[key]
            await Attendance.create(
                meeting=meeting, person=person, scope_path=meeting.scope_path, owner_id=person.id
            )


async def figures(d, caller: str, unit: str | None = None) -> dict:
    async with d.client(caller) as client:
        body = await gql(client, QUERY, {**PERIOD, "unit": d.id("units", unit) if unit else None})
    assert "errors" not in body, body
    return body["data"]["statistics"]


async def test_a_secretary_counts_their_community(mutable_demo):
    d = mutable_demo
    await build(d)
    stats = await figures(d, "secretary_zhang")
    concerns = stats["concerns"]
    assert (concerns["collected"], concerns["resolved"], concerns["closed"]) == (3, 2, 2)
    assert concerns["meanHoursToClose"] == 20.0  # (10 h + 30 h) / 2
    assert concerns["byCategory"] == [
        {"category": "infrastructure", "count": 2, "countAYearEarlier": 4, "changePercent": -50.0},
        {"category": "property", "count": 1, "countAYearEarlier": 1, "changePercent": 0.0},
    ]
    # the seeded 楼道电动车堵塞 is overdue now
    assert concerns["overdueNow"] == 1
    assert stats["councils"] == {"councils": 1, "meetingsHeld": 1, "attendances": 2}


async def test_a_street_official_counts_only_their_street(mutable_demo):
    d = mutable_demo
    await build(d)
    stats = await figures(d, "street_official_gao")
    assert stats["concerns"]["collected"] == 2
    assert stats["concerns"]["byCategory"] == [
        {"category": "safety", "count": 2, "countAYearEarlier": 0, "changePercent": None}
    ]
    assert stats["councils"] == {"councils": 1, "meetingsHeld": 1, "attendances": 1}


async def test_a_grid_worker_counts_their_grid_and_a_unit_narrows(mutable_demo):
    d = mutable_demo
    await build(d)
    worker = await figures(d, "grid_worker_chen")
    assert worker["concerns"]["collected"] == 2  # fulu_g1 only
    narrowed = await figures(d, "secretary_zhang", unit="fulu_g2")
    assert narrowed["concerns"]["collected"] == 1


async def test_a_foreign_unit_is_not_found_and_a_reversed_period_is_bad_input(mutable_demo):
    d = mutable_demo
    async with d.client("secretary_zhang") as client:
        foreign = await gql(client, QUERY, {**PERIOD, "unit": d.id("units", "duji")})
        reversed_period = await gql(client, QUERY, {"since": PERIOD["until"], "until": PERIOD["since"]})
    assert error_codes(foreign) == ["NOT_FOUND"]
    assert error_codes(reversed_period) == ["BAD_USER_INPUT"]


DISPUTES = """query($since: DateTime!, $until: DateTime!) {
  statistics(since: $since, until: $until) {
    disputes { opened settled referred byCategory { category count countAYearEarlier changePercent } }
    outreach { events residentsReached }
  }
}"""


async def dispute(
    d, grid: str, category: str, created: str, status: str = "open", workstation: int | None = None
):
    from models.mediation import MediationCase

    unit = d.world.units[grid]
    row = await MediationCase.create(
        unit=unit, scope_path=unit.path, owner_id=d.world.people["resident_wang"].id, title="纠纷",
        category=category, level="group", status=status, workstation_id=workstation,
    )  # fmt: skip
    await MediationCase.filter(id=row.id).update(created_at=at(created))


async def test_disputes_against_a_year_earlier_and_outreach(mutable_demo):
    """物业纠纷 fell from 4 to 3 (-25%), 装修纠纷 rose from 0 to 1; two outreach events reached 70."""
    from models.mediation import OutreachEvent

    d = mutable_demo
    for month in ("02", "03", "04"):
        await dispute(d, "fulu_g1", "property", f"2025-{month}-01T08:00:00", status="settled")
    await dispute(d, "fulu_g2", "renovation", "2025-05-01T08:00:00", workstation=1)
    for month in ("01", "02", "03", "04"):
        await dispute(d, "fulu_g1", "property", f"2024-{month}-15T08:00:00")
    await dispute(d, "duji_g1", "property", "2025-02-01T08:00:00")  # the other street
    fulu = d.world.units["fulu"]
    for attendance, held in (
        (40, "2025-03-08T09:00:00"),
        (30, "2025-06-01T09:00:00"),
        (99, "2024-06-01T09:00:00"),
    ):
        await OutreachEvent.create(
            workstation_id=1, unit=fulu, scope_path=fulu.path, title="民法典进院落", held_at=at(held),
            attendance=attendance,
        )  # fmt: skip
    async with d.client("secretary_zhang") as client:
        body = await gql(client, DISPUTES, PERIOD)
    assert "errors" not in body, body
    stats = body["data"]["statistics"]
    assert stats["disputes"]["opened"] == 4
    assert (stats["disputes"]["settled"], stats["disputes"]["referred"]) == (3, 1)
    assert stats["disputes"]["byCategory"] == [
        {"category": "property", "count": 3, "countAYearEarlier": 4, "changePercent": -25.0},
        {"category": "renovation", "count": 1, "countAYearEarlier": 0, "changePercent": None},
    ]
    assert stats["outreach"] == {"events": 2, "residentsReached": 70}


async def test_sections_a_role_may_not_read_are_forbidden(demo):
    async with demo.client("admin") as client:
        body = await gql(client, DISPUTES, PERIOD)
    assert body["data"]["statistics"] == {"disputes": None, "outreach": None}
    assert sorted(error_codes(body)) == ["FORBIDDEN", "FORBIDDEN"]
