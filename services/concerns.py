"""Residents' concerns (诉求): raising them and reading them within scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.concerns import Concern, ConcernEvent, ConcernKind, ConcernLevel, ConcernStatus
from models.org import UnitKind
from services.authz import Facts, RequestAuth
from services.errors import BadUserInput
from services.org import get_visible

# The categories people in the field use, with the time the responsible level has
# before a concern is overdue (and shows up for the street's supervision, 督办).
CATEGORIES: dict[str, str] = {
    "infrastructure": "Roads, walls, drainage, lamps (基础设施)",
    "property": "Property management (物业)",
    "environment": "Sanitation and greenery (环境卫生)",
    "safety": "Safety hazards, e-bikes in stairwells (安全隐患)",
    "neighbourhood": "Neighbour disputes (邻里纠纷)",
    "elderly": "Elderly care, elevators for old buildings (养老/加装电梯)",
    "home_repair": "Service order: repairs at home (上门维修)",
    "elderly_visit": "Service order: visits and help for the elderly (助老服务)",
    "errand": "Service order: errands and paperwork (代办跑腿)",
    "other": "Anything else (其他)",
}
DUE_HOURS: dict[str, int] = {
    "safety": 24,
    "infrastructure": 72,
    "property": 72,
    "environment": 48,
    "neighbourhood": 120,
    "elderly": 240,
    "home_repair": 48,
    "elderly_visit": 72,
    "errand": 48,
    "other": 120,
}
assert set(DUE_HOURS) == set(CATEGORIES)

OPEN = (
    ConcernStatus.SUBMITTED,
    ConcernStatus.ACCEPTED,
    ConcernStatus.ON_AGENDA,
    ConcernStatus.ASSIGNED,
    ConcernStatus.IN_PROGRESS,
    ConcernStatus.REOPENED,
)


def visible_concerns(
    auth: RequestAuth,
    *,
    status: ConcernStatus | None = None,
    category: str | None = None,
    unit_id: int | None = None,
    search: str | None = None,
    kind: ConcernKind | None = None,
    level: ConcernLevel | None = None,
    overdue: bool | None = None,
):
    query = auth.listing("Concern")
    if kind is not None:
        query = query.filter(kind=kind)
    if level is not None:
        query = query.filter(level=level)
    if overdue is not None:
        late = Q(due_at__lt=datetime.now(UTC), status__in=list(OPEN))
        query = query.filter(late if overdue else ~late)
    if status is not None:
        query = query.filter(status=status)
    if category is not None:
        query = query.filter(category=category)
    if unit_id is not None:
        query = query.filter(unit_id=unit_id)
    if search:
        query = query.filter(title__icontains=search)
    return query


async def raise_concern(
    auth: RequestAuth,
    *,
    unit_id: str,
    title: str,
    description: str,
    category: str,
    location: str,
    resident_id: str | None,
    kind: ConcernKind = ConcernKind.CONCERN,
    photos: list[str] | None = None,
) -> Concern:
    """A resident raises a concern, or a worker records one for a resident."""
    unit = await get_visible(auth, "OrgUnit", unit_id)
    owner_id = auth.actor.person_id
    if resident_id is not None:
        owner_id = (await get_visible(auth, "Person", resident_id)).id
    # Ask the policy before judging the input: a caller who may not act here learns
    # nothing from validation messages.
    auth.require("Concern", "create", Facts(unit.path, owner_id))
    if unit.kind != UnitKind.GRID:
        raise BadUserInput("Concerns are raised in a grid (网格).", argument="unitId")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise BadUserInput("`title` must be 1 to 200 characters.", argument="title")
    if category not in CATEGORIES:
        raise BadUserInput(
            f"Unknown category {category!r}; use one of {', '.join(CATEGORIES)}.", argument="category"
        )
    async with in_transaction():
        concern = await Concern.create(
            unit=unit,
            scope_path=unit.path,
            owner_id=owner_id,
            raised_by_id=owner_id,
            recorded_by_id=auth.actor.person_id,
            title=title,
            description=(description or "").strip(),
            category=category,
            location=(location or "").strip()[:200],
            kind=kind,
            photos=_references(photos, "photos"),
            due_at=datetime.now(UTC) + timedelta(hours=DUE_HOURS[category]),
        )
        await ConcernEvent.create(
            concern=concern,
            scope_path=concern.scope_path,
            owner_id=owner_id,
            actor_id=auth.actor.person_id,
            kind="submitted",
            from_status=None,
            to_status=ConcernStatus.SUBMITTED,
            note="",
        )
    return concern


def _references(values: list[str] | None, argument: str) -> list[str]:
    """Photo/document references (ids or URLs from the upload service), checked, not fetched."""
    refs = [v.strip() for v in values or [] if v and v.strip()]
    if len(refs) > 20 or any(len(v) > 500 for v in refs):
        raise BadUserInput(
            f"`{argument}`: at most 20 references of at most 500 characters.", argument=argument
        )
    return refs
