"""Residents' concerns (诉求): raising them and reading them within scope."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models.concerns import Concern, ConcernEvent, ConcernStatus
from models.org import UnitKind
from services.authz import Facts, RequestAuth
from services.errors import BadUserInput
from services.org import get_visible

# The categories people in the field use; due times per category come with the field issue.
CATEGORIES: dict[str, str] = {
    "infrastructure": "Roads, walls, drainage, lamps (基础设施)",
    "property": "Property management (物业)",
    "environment": "Sanitation and greenery (环境卫生)",
    "safety": "Safety hazards, e-bikes in stairwells (安全隐患)",
    "neighbourhood": "Neighbour disputes (邻里纠纷)",
    "elderly": "Elderly care, elevators for old buildings (养老/加装电梯)",
    "other": "Anything else (其他)",
}


def visible_concerns(
    auth: RequestAuth,
    *,
    status: ConcernStatus | None = None,
    category: str | None = None,
    unit_id: int | None = None,
    search: str | None = None,
):
    query = auth.listing("Concern")
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
