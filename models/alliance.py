"""Party-building alliance units (党建联盟单位): organisations allied with a street or
community that take on tasks (inspect and repair a wall, send engineers)."""

from tortoise import fields

from models.base import ScopedModel


class AllianceUnit(ScopedModel):
    """An organisation allied with a street or community, scope_path is that unit's path."""

    name = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=32, description="state_company, institute, school, hospital ...")
    unit = fields.ForeignKeyField("models.OrgUnit", related_name="alliance_units", on_delete=fields.RESTRICT)
    contact = fields.CharField(max_length=128, default="")

    class Meta:
        table = "alliance_unit"
