from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_scope_and_foreign_key_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('actor_id', fields.IntField(null=True, db_index=True, description='Person behind the token, if any')),
                ('token_id', fields.IntField(null=True)),
                ('operation', fields.CharField(description='query or mutation', max_length=16)),
                ('field', fields.CharField(description='Root field, e.g. raiseConcern', max_length=64)),
                ('resource', fields.CharField(null=True, db_index=True, max_length=32)),
                ('action', fields.CharField(null=True, max_length=16)),
                ('object_id', fields.CharField(null=True, db_index=True, max_length=32)),
                ('decision', fields.CharField(description='allow or deny', max_length=8)),
                ('code', fields.CharField(null=True, description='Error code when refused or failed', max_length=32)),
                ('policy_version', fields.CharField(max_length=16)),
                ('scope_path', fields.CharField(default='', description='Scope of the object, when known', max_length=255)),
                ('owner_id', fields.IntField(null=True, description="The acting person (for the policy's own relation)")),
            ],
            options={'table': 'audit_record', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Who did (or was refused) what, on which object, under which policy version.'},
            bases=['Model'],
        ),
    ]
