"""Org units: creating the hierarchy and reading it within scope."""

from __future__ import annotations

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


async def unit_and_person(
    auth: RequestAuth, unit_id: object, person_id: object, argument: str
) -> tuple[OrgUnit, int]:
    """Where a new record is, and whose it is: the caller's own, or the person named
    (``argument``), both found in the caller's scope (NOT_FOUND otherwise)."""
    unit = await auth.get_visible("OrgUnit", unit_id, "unitId")
    if person_id is None:
        return unit, auth.actor.person_id
    return unit, (await auth.get_visible("Person", person_id, argument)).id


UNITS = reads.listing("OrgUnit", "kind", "parent_id")
