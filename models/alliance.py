"""Party-building alliance units (党建联盟单位): organisations allied with a street or
community that take on tasks (inspect and repair a wall, send engineers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from models.base import ScopedModel, refers_to

if TYPE_CHECKING:
    from models.org import OrgUnit


class AllianceUnit(ScopedModel):
    """An organisation allied with a street or community, scope_path is that unit's path."""

    name = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=32, description="state_company, institute, school, hospital ...")
    unit: fields.ForeignKeyRelation[OrgUnit] = refers_to("models.OrgUnit", "alliance_units")
    unit_id: int
    contact = fields.CharField(max_length=128, default="")

    class Meta:
        table = "alliance_unit"
