"""Published policies (``bandeng policy publish``): the policy every instance follows when
``BANDENG_POLICY_SOURCE=database``."""

from tortoise import fields

from models.base import Row


class PolicyVersion(Row):
    """One published policy folder, exactly as it was checked.

    A row is never changed once stored: a rollback publishes an older one again, under a
    new number."""

    number = fields.IntField(unique=True, description="1, 2, 3 ... in the order of publication")
    checksum = fields.CharField(
        max_length=16,
        description="The policy version hash of model.conf and policy.csv (as /readyz reports it)",
    )
    files: fields.JSONField[dict[str, str]] = fields.JSONField(
        description="Each file of the folder by its path: model.conf, policy.csv, tests/*.yaml"
    )
    published_at = fields.DatetimeField(auto_now_add=True)
    published_by = fields.CharField(max_length=128, description="Who published it (--by, or the system user)")
    note = fields.TextField(default="", description="Why, in the publisher's words")
    copied_from = fields.IntField(null=True, description="The version a rollback published again")

    class Meta:
        table = "policy_version"
