"""The audit log: every mutation and every denied request, with the policy version."""

from tortoise import fields

from models.base import Row


class AuditRecord(Row):
    """Who did (or was refused) what, on which object, under which policy version."""

    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_id = fields.IntField(null=True, db_index=True, description="Person behind the token, if any")
    token_id = fields.IntField(null=True)
    operation = fields.CharField(max_length=16, description="query or mutation")
    field = fields.CharField(max_length=64, description="Root field, e.g. raiseConcern")
    resource = fields.CharField(max_length=32, null=True, db_index=True)
    action = fields.CharField(max_length=16, null=True)
    object_id = fields.CharField(max_length=32, null=True, db_index=True)
    decision = fields.CharField(max_length=8, description="allow or deny")
    code = fields.CharField(max_length=32, null=True, description="Error code when refused or failed")
    policy_version = fields.CharField(max_length=16)
    scope_path = fields.CharField(max_length=255, default="", description="Scope of the object, when known")
    owner_id = fields.IntField(null=True, description="The acting person (for the policy's own relation)")

    class Meta:
        table = "audit_record"
