"""Identity changes notify every service instance (PostgreSQL; nothing on SQLite).

Each instance caches the actor behind a bearer token (``services.identity_cache``) and
must drop it the moment a token is revoked or a role changes, whoever makes the change:
a service, the ``bandeng token revoke`` command in another process, a bulk insert, an
operator in psql. So the database itself announces it: triggers on ``role_assignment``,
``api_token`` and ``person`` call ``pg_notify('bandeng_identity', <person id>)`` in the
writing transaction (delivered at its commit, dropped with its rollback, duplicates
within one transaction merged by PostgreSQL), and ``TRUNCATE`` of any of them notifies
``*``. Token inserts do not notify (unknown tokens are never cached); token and person
updates notify only when a column the actor is built from changes (not ``last_used_at``).

SQLite has no ``NOTIFY``; the service does not cache identities there.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

FUNCTION = """
CREATE OR REPLACE FUNCTION bandeng_identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('bandeng_identity', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'person' THEN
        PERFORM pg_notify('bandeng_identity', OLD.id::text);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('bandeng_identity', OLD.person_id::text);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM pg_notify('bandeng_identity', NEW.person_id::text);
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = {
    "bandeng_identity_role_assignment": (
        "AFTER INSERT OR UPDATE OR DELETE ON role_assignment FOR EACH ROW"
    ),
    "bandeng_identity_api_token_update": (
        "AFTER UPDATE ON api_token FOR EACH ROW WHEN ("
        "OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.token_hash IS DISTINCT FROM NEW.token_hash"
        " OR OLD.person_id IS DISTINCT FROM NEW.person_id)"
    ),
    "bandeng_identity_api_token_delete": "AFTER DELETE ON api_token FOR EACH ROW",
    "bandeng_identity_person_update": (
        "AFTER UPDATE ON person FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.id <> NEW.id)"
    ),
    "bandeng_identity_person_delete": "AFTER DELETE ON person FOR EACH ROW",
    "bandeng_identity_truncate_role_assignment": "AFTER TRUNCATE ON role_assignment FOR EACH STATEMENT",
    "bandeng_identity_truncate_api_token": "AFTER TRUNCATE ON api_token FOR EACH STATEMENT",
    "bandeng_identity_truncate_person": "AFTER TRUNCATE ON person FOR EACH STATEMENT",
}


def _table(definition: str) -> str:
    return definition.split(" ON ", 1)[1].split()[0]


async def create_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(FUNCTION)
    for name, definition in TRIGGERS.items():
        await client.execute_script(f'DROP TRIGGER IF EXISTS "{name}" ON "{_table(definition)}"')
        await client.execute_script(
            f'CREATE TRIGGER "{name}" {definition} EXECUTE FUNCTION bandeng_identity_changed()'
        )


async def drop_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for name, definition in TRIGGERS.items():
        await client.execute_script(f'DROP TRIGGER IF EXISTS "{name}" ON "{_table(definition)}"')
    await client.execute_script("DROP FUNCTION IF EXISTS bandeng_identity_changed()")


class Migration(migrations.Migration):
    dependencies = [("models", "0009_rounds_log")]

    operations = [ops.RunPython(create_triggers, reverse_code=drop_triggers)]
