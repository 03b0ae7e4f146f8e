"""Org units: creating the hierarchy and reading it within scope."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.org import ALLOWED_PARENT, PATH_LETTER, OrgUnit, UnitKind
from policies import scopes
from services import reads
from services.authz import RequestAuth
from services.errors import BadUserInput


async def create_unit(kind: UnitKind, name: str, parent: OrgUnit | None = None) -> OrgUnit:
    """Create a unit under ``parent`` and give it its materialised path."""
    parent_kind = parent.kind if parent else None
    if parent_kind not in ALLOWED_PARENT[kind]:
        raise BadUserInput(f"A {kind} cannot be placed under {parent_kind or 'nothing'}.")
    unit = await OrgUnit.create(kind=kind, name=name, parent=parent, path=f"/pending/{name}")
    unit.path = scopes.child_path(parent.path if parent else "", PATH_LETTER[kind], unit.id)
    await unit.save(update_fields=["path"])
    return unit


reads.relations(
    "OrgUnit", parent=reads.One("OrgUnit", "parent_id"), children=reads.Many("OrgUnit", "parent_id")
)


def visible_units(
    auth: RequestAuth, *, kind: str | None = None, parent_id: int | None = None
) -> QuerySet[OrgUnit]:
    query = auth.listing("OrgUnit")
    if kind is not None:
        query = query.filter(kind=kind)
    if parent_id is not None:
        query = query.filter(parent_id=parent_id)
    return query
