from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_audit_log')]

    initial = False

    operations = [
        ops.AddField(
            model_name='RoleAssignment',
            name='affiliation_id',
            field=fields.IntField(null=True, description='Id of that organisation'),
        ),
        ops.AddField(
            model_name='RoleAssignment',
            name='affiliation_kind',
            field=fields.CharField(null=True, description='Organisation acted for: workstation, court, alliance_unit', max_length=32),
        ),
    ]
