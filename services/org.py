"""Org units: creating the hierarchy and reading it within scope."""

from __future__ import annotations

from models.org import ALLOWED_PARENT, PATH_LETTER, OrgUnit, UnitKind
from services import scopes
from services.authz import RequestAuth
from services.errors import BadUserInput, NotFound
from services.ids import parse_id


async def create_unit(kind: UnitKind, name: str, parent: OrgUnit | None = None) -> OrgUnit:
    """Create a unit under ``parent`` and give it its materialised path."""
    parent_kind = parent.kind if parent else None
    if parent_kind not in ALLOWED_PARENT[kind]:
        raise BadUserInput(f"A {kind} cannot be placed under {parent_kind or 'nothing'}.")
    unit = await OrgUnit.create(kind=kind, name=name, parent=parent, path=f"/pending/{name}")
    unit.path = scopes.child_path(parent.path if parent else "", PATH_LETTER[kind], unit.id)
    await unit.save(update_fields=["path"])
    return unit


def visible_units(auth: RequestAuth, *, kind: str | None = None, parent_id: int | None = None):
    query = auth.listing("OrgUnit")
    if kind is not None:
        query = query.filter(kind=kind)
    if parent_id is not None:
        query = query.filter(parent_id=parent_id)
    return query


async def get_visible(auth: RequestAuth, resource: str, object_id: int | str):
    """One object if the actor may read it; otherwise NOT_FOUND, the same for both cases."""
    key = parse_id(object_id)
    row = await auth.listing(resource).filter(id=key).first()
    if row is None:
        raise NotFound(f"No {resource} with id {key} that you can see.")
    return row
