"""Published policy versions, and a notification to every instance when one is stored.

``policy_version`` keeps each folder published with ``bandeng policy publish`` (every file,
its checksum, who, when, why). A trigger runs ``pg_notify('bandeng_policy', <number>)`` in
the publishing transaction (delivered at its commit, whoever inserted the row), so every
instance following the database (``BANDENG_POLICY_SOURCE=database``) swaps at once; the
instances also poll, in case a notification was missed. SQLite has no ``NOTIFY``: there
the poll alone applies.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

FUNCTION = """
CREATE OR REPLACE FUNCTION bandeng_policy_published() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bandeng_policy', NEW.number::text);
    RETURN NULL;
END
$$
"""
TRIGGER = "bandeng_policy_published"


async def create_trigger(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(FUNCTION)
    await client.execute_script(f'DROP TRIGGER IF EXISTS "{TRIGGER}" ON "policy_version"')
    await client.execute_script(
        f'CREATE TRIGGER "{TRIGGER}" AFTER INSERT ON "policy_version" FOR EACH ROW '
        "EXECUTE FUNCTION bandeng_policy_published()"
    )


async def drop_trigger(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(f'DROP TRIGGER IF EXISTS "{TRIGGER}" ON "policy_version"')
    await client.execute_script("DROP FUNCTION IF EXISTS bandeng_policy_published()")


class Migration(migrations.Migration):
    dependencies = [('models', '0013_scope_order_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PolicyVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.IntField(unique=True, description='1, 2, 3 ... in the order of publication')),
                ('checksum', fields.CharField(description='The policy version hash of model.conf and policy.csv (as /readyz reports it)', max_length=16)),
                ('files', fields.JSONField(description='Each file of the folder by its path: model.conf, policy.csv, tests/*.yaml')),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('published_by', fields.CharField(description='Who published it (--by, or the system user)', max_length=128)),
                ('note', fields.TextField(default='', description="Why, in the publisher's words", unique=False)),
                ('copied_from', fields.IntField(null=True, description='The version a rollback published again')),
            ],
            options={'table': 'policy_version', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One published policy folder, exactly as it was checked.'},
            bases=['Row'],
        ),
        ops.RunPython(create_trigger, reverse_code=drop_trigger),
    ]
