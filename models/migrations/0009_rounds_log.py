"""The grid worker's rounds log (网格员走访/巡查日志)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.rounds import RoundKind, RoundStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from models.base import ensure_scope_indexes

class Migration(migrations.Migration):
    dependencies = [('models', '0008_workflow_core')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GridRound',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('version', fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit', fields.ForeignKeyField('models.OrgUnit', source_field='unit_id', db_constraint=True, to_field='id', related_name='rounds', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='VISIT: visit\nPATROL: patrol', enum_type=RoundKind, max_length=16)),
                ('walked_at', fields.DatetimeField(db_index=True, description='When the visit or patrol took place', auto_now=False, auto_now_add=False)),
                ('place', fields.CharField(default='', description='Household or route, e.g. 3 号楼 2 单元', max_length=200)),
                ('resident', fields.ForeignKeyField('models.Person', source_field='resident_id', null=True, db_constraint=True, to_field='id', related_name='rounds_visited', on_delete=OnDelete.SET_NULL)),
                ('findings', fields.TextField(default='', description='What the worker found', unique=False)),
                ('status', fields.CharEnumField(default=RoundStatus.RECORDED, description='RECORDED: recorded\nFOLLOWED_UP: followed_up', enum_type=RoundStatus, max_length=16)),
                ('concern', fields.ForeignKeyField('models.Concern', source_field='concern_id', null=True, db_constraint=True, to_field='id', related_name='rounds', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'grid_round', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One round of a grid worker in their grid: scope_path is the grid, owner_id the worker.'},
            bases=['StatefulModel'],
        ),
        ops.CreateModel(
            name='GridRoundEvent',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(description='The step, e.g. accept, escalated_to_street', max_length=32)),
                ('from_status', fields.CharField(null=True, description='State before (null: created)', max_length=16)),
                ('to_status', fields.CharField(null=True, description='State after', max_length=16)),
                ('note', fields.TextField(default='', description="Why, in the actor's words", unique=False)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('round', fields.ForeignKeyField('models.GridRound', source_field='round_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'grid_round_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One step of a round: recorded, followed up.'},
            bases=['EventRecord'],
        ),
        ops.RunPython(ensure_scope_indexes, reverse_code=ops.RunPython.noop),
    ]
