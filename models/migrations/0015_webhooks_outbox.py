"""Signed webhooks (issue 10): endpoints per partner token, the outbox, deliveries and
their attempts.

The outbox is filled by a trigger on each event table that webhooks carry (for now
``mediation_event``: cases and referrals), in the event's own transaction: an event
committed is an event queued, whoever wrote it, and a rolled-back step queues nothing.
The trigger queues only while some endpoint is active, so a database without webhooks
writes nothing more. ``services/webhooks.py`` fans the queue out to deliveries.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.webhooks import DeliveryStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from models.base import ensure_scope_indexes

# event table -> the resource its outbox rows name (frozen here: later sources get their
# own migration)
SOURCES = {"mediation_event": "MediationEvent"}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION webhook_outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM webhook_endpoint WHERE active) THEN
    INSERT INTO webhook_outbox (source, event_id) VALUES (TG_ARGV[0], NEW.id);
  END IF;
  RETURN NULL;
END $$;
"""


async def create_outbox_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    if postgres:
        await client.execute_script(PG_FUNCTION)
    for table, source in SOURCES.items():
        if postgres:
            await client.execute_script(
                f'CREATE TRIGGER webhook_outbox_{table} AFTER INSERT ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION webhook_outbox_enqueue('{source}')"
            )
        else:
            await client.execute_script(
                f'CREATE TRIGGER IF NOT EXISTS webhook_outbox_{table} AFTER INSERT ON "{table}" '
                "WHEN EXISTS (SELECT 1 FROM webhook_endpoint WHERE active) BEGIN "
                f"INSERT INTO webhook_outbox (source, event_id) VALUES ('{source}', NEW.id); END"
            )


async def drop_outbox_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for table in SOURCES:
        on = f' ON "{table}"' if postgres else ""
        await client.execute_script(f"DROP TRIGGER IF EXISTS webhook_outbox_{table}{on}")
    if postgres:
        await client.execute_script("DROP FUNCTION IF EXISTS webhook_outbox_enqueue()")


class Migration(migrations.Migration):
    dependencies = [('models', '0014_multi_policy_versions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('token', fields.ForeignKeyField('models.ApiToken', source_field='token_id', db_constraint=True, to_field='id', related_name='webhooks', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(description='Where events are POSTed (http or https)', max_length=2000)),
                ('secret', fields.CharField(description='HMAC-SHA256 key of the signatures, shown once and never read back', max_length=200)),
                ('description', fields.CharField(default='', max_length=200)),
                ('active', fields.BooleanField(default=True, description='False: nothing is queued or sent')),
                ('registered_by', fields.ForeignKeyField('models.Person', source_field='registered_by_id', null=True, db_constraint=True, to_field='id', related_name='registered_webhooks', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Where the events of one partner API token are POSTed (the slice the token may'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharField(max_length=32)),
                ('event_id', fields.IntField(description="The event row's id (with source)")),
                ('event_type', fields.CharField(description='e.g. referral_accept', max_length=64)),
                ('body', fields.TextField(description='The JSON POSTed, byte for byte (UTF-8)', unique=False)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nDELIVERED: delivered\nFAILED: failed', enum_type=DeliveryStatus, max_length=16)),
                ('attempt_count', fields.IntField(default=0, description='Attempts made so far')),
                ('next_attempt_at', fields.DatetimeField(null=True, db_index=True, description='When pending: the next try', auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, description='An instance is sending it until then', auto_now=False, auto_now_add=False)),
                ('claim', fields.CharField(null=True, description='Which claim holds it', max_length=32)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(default='', unique=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'unique_together': (('endpoint', 'source', 'event_id'),), 'pk_attr': 'id', 'table_description': 'One event for one endpoint: the body as it is (and was) sent, and where it stands.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivery', fields.ForeignKeyField('models.WebhookDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempts', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField(description='1 for the first attempt, then 2, 3 ... (replays go on counting)')),
                ('status_code', fields.IntField(null=True, description="The HTTP status of the answer, null: none")),
                ('error', fields.TextField(default='', description='Why it failed: timeout, connection refused, HTTP 500', unique=False)),
                ('duration_ms', fields.IntField(description='From sending to the answer (or the failure)')),
                ('next_retry_at', fields.DatetimeField(null=True, description='When the next attempt is due, if any', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One POST of a delivery: when, how long, what the receiver answered.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='WebhookOutbox',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(description="The event table's resource, e.g. MediationEvent", max_length=32)),
                ('event_id', fields.IntField(description="The event row's id")),
            ],
            options={'table': 'webhook_outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An event waiting to be fanned out to the endpoints that may read it. Written by a'},
            bases=['Row'],
        ),
        ops.RunPython(create_outbox_triggers, reverse_code=drop_outbox_triggers),
        ops.RunPython(ensure_scope_indexes, reverse_code=ops.RunPython.noop),
    ]
