"""People, their role assignments and their API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Row, ScopedModel, part_of, refers_to

if TYPE_CHECKING:
    from models.org import OrgUnit


class Person(ScopedModel):
    """A resident, worker or official. scope_path is the unit they live or work in,
    owner_id is their own id, so the own relation reads "this is me"."""

    name = fields.CharField(max_length=64)
    phone = fields.CharField(max_length=32, null=True)
    address = fields.CharField(max_length=255, null=True)
    home_unit: fields.ForeignKeyNullableRelation[OrgUnit] = refers_to("models.OrgUnit", "people", null=True)
    home_unit_id: int | None

    class Meta:
        table = "person"


class RoleAssignment(Row):
    """Person P holds role R in the scope of org unit U (a Casbin g line in data)."""

    person: fields.ForeignKeyRelation[Person] = part_of("models.Person", "assignments")
    person_id: int
    role = fields.CharField(max_length=32)
    unit: fields.ForeignKeyNullableRelation[OrgUnit] = refers_to("models.OrgUnit", "assignments", null=True)
    unit_id: int | None
    scope_path = fields.CharField(max_length=255, description="Path of the unit, empty for the global scope")
    affiliation_kind = fields.CharField(
        max_length=32, null=True, description="Organisation acted for: workstation, court, alliance_unit"
    )
    affiliation_id = fields.IntField(null=True, description="Id of that organisation")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "role_assignment"
        unique_together = (("person", "role", "scope_path"),)


class ApiToken(Row):
    """A bearer token. Only its SHA-256 is stored, revoking sets revoked_at."""

    person: fields.ForeignKeyRelation[Person] = part_of("models.Person", "tokens")
    person_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    label = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
