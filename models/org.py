"""The org hierarchy: street (街道) → community (社区) / village (村) → grid (网格)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields

from models.base import Row, refers_to


class UnitKind(StrEnum):
    STREET = "street"
    COMMUNITY = "community"
    VILLAGE = "village"
    GRID = "grid"


# One letter per kind in the materialised path: /s/1/c/4/g/9.
PATH_LETTER = {
    UnitKind.STREET: "s",
    UnitKind.COMMUNITY: "c",
    UnitKind.VILLAGE: "v",
    UnitKind.GRID: "g",
}
ALLOWED_PARENT: dict[UnitKind, tuple[UnitKind | None, ...]] = {
    UnitKind.STREET: (None,),
    UnitKind.COMMUNITY: (UnitKind.STREET,),
    UnitKind.VILLAGE: (UnitKind.STREET,),
    UnitKind.GRID: (UnitKind.COMMUNITY, UnitKind.VILLAGE),
}


class OrgUnit(Row):
    """A street, community, village or grid, path is its materialised path."""

    kind = fields.CharEnumField(UnitKind, max_length=16)
    name = fields.CharField(max_length=128)
    parent: fields.ForeignKeyNullableRelation[OrgUnit] = refers_to("models.OrgUnit", "children", null=True)
    parent_id: int | None
    path = fields.CharField(max_length=255, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_unit"
        ordering = ["path"]

    @property
    def scope_path(self) -> str:
        """Org units are scoped by their own path."""
        return self.path

    @property
    def owner_id(self) -> None:
        return None
