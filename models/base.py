"""Shared columns of scoped records."""

from tortoise import fields
from tortoise.models import Model


class ScopedModel(Model):
    """A record that knows its scope (and, where it has one, its owning person)."""

    scope_path = fields.CharField(
        max_length=255, db_index=True, description="Materialised path of the owning org unit"
    )
    owner_id = fields.IntField(null=True, db_index=True, description="Person the record belongs to, if any")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True
