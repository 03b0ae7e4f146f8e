from tortoise import migrations
from tortoise.migrations import operations as ops
from models.concerns import ConcernKind, ConcernLevel, ConcernStatus
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS, JSON_LOADS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_role_affiliation')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Concern',
            options={'table': 'concern', 'app': 'models', 'pk_attr': 'id', 'table_description': "A resident's concern or service order, raised in a grid. owner_id is the resident,"},
        ),
        ops.AlterField(
            model_name='Concern',
            name='status',
            field=fields.CharEnumField(default=ConcernStatus.SUBMITTED, db_index=True, description='SUBMITTED: submitted\nACCEPTED: accepted\nREJECTED: rejected\nMERGED: merged\nON_AGENDA: on_agenda\nASSIGNED: assigned\nIN_PROGRESS: in_progress\nRESOLVED: resolved\nCLOSED: closed\nREOPENED: reopened', enum_type=ConcernStatus, max_length=16),
        ),
        ops.AlterField(
            model_name='Concern',
            name='updated_at',
            field=fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='assignee',
            field=fields.ForeignKeyField('models.Person', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_concerns', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Concern',
            name='assignee_name',
            field=fields.CharField(default='', description='Alliance unit or volunteer team', max_length=128),
        ),
        ops.AddField(
            model_name='Concern',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='due_at',
            field=fields.DatetimeField(null=True, db_index=True, description="When the category's due time runs out", auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='duplicate_of',
            field=fields.ForeignKeyField('models.Concern', source_field='duplicate_of_id', null=True, db_constraint=True, to_field='id', related_name='duplicates', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Concern',
            name='kind',
            field=fields.CharEnumField(default=ConcernKind.CONCERN, db_index=True, description='CONCERN: concern\nSERVICE_ORDER: service_order', enum_type=ConcernKind, max_length=16),
        ),
        ops.AddField(
            model_name='Concern',
            name='level',
            field=fields.CharEnumField(default=ConcernLevel.GRID, description='GRID: grid\nCOMMUNITY: community\nSTREET: street', enum_type=ConcernLevel, max_length=16),
        ),
        ops.AddField(
            model_name='Concern',
            name='photos',
            field=fields.JSONField(default=list, description='Photo references from the mini-program', encoder=JSON_DUMPS, decoder=JSON_LOADS),
        ),
        ops.AddField(
            model_name='Concern',
            name='proof',
            field=fields.JSONField(default=list, description='Photo or document references proving the resolution', encoder=JSON_DUMPS, decoder=JSON_LOADS),
        ),
        ops.AddField(
            model_name='Concern',
            name='rating',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Concern',
            name='rating_comment',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='resolution',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Concern',
            name='supervision_count',
            field=fields.IntField(default=0, description='How often the street urged it (督办)'),
        ),
    ]
