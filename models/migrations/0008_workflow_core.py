"""The workflow core: a version column on every stateful table (compare-and-set), one
column shape for every event table (``kind`` becomes ``action``), a CLOSED state for cases
filed in court, and the scope_path pattern index on every scoped table (PostgreSQL)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.mediation import CaseStatus
from tortoise import fields
from models.base import ensure_scope_indexes

class Migration(migrations.Migration):
    dependencies = [('models', '0007_mediation')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AgendaTopic',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AddField(
            model_name='Concern',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AlterField(
            model_name='ConcernEvent',
            name='from_status',
            field=fields.CharField(null=True, description='State before (null: created)', max_length=16),
        ),
        ops.AlterField(
            model_name='ConcernEvent',
            name='note',
            field=fields.TextField(default='', description="Why, in the actor's words", unique=False),
        ),
        ops.AlterField(
            model_name='ConcernEvent',
            name='to_status',
            field=fields.CharField(null=True, description='State after', max_length=16),
        ),
        ops.RenameField(model_name='ConcernEvent', old_name='kind', new_name='action'),
        ops.AlterField(
            model_name='ConcernEvent',
            name='action',
            field=fields.CharField(description='The step, e.g. accept, escalated_to_street', max_length=32),
        ),
        ops.AlterField(
            model_name='MediationCase',
            name='status',
            field=fields.CharEnumField(default=CaseStatus.OPEN, db_index=True, description='OPEN: open\nIN_MEDIATION: in_mediation\nSETTLED: settled\nFAILED: failed\nESCALATED: escalated\nREFERRED: referred\nCLOSED: closed', enum_type=CaseStatus, max_length=16),
        ),
        ops.AddField(
            model_name='MediationCase',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AlterModelOptions(
            name='MediationEvent',
            options={'table': 'mediation_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One step in a case's history (its referrals included), with the case's link columns."},
        ),
        ops.AlterField(
            model_name='MediationEvent',
            name='from_status',
            field=fields.CharField(null=True, description='State before (null: created)', max_length=16),
        ),
        ops.AlterField(
            model_name='MediationEvent',
            name='note',
            field=fields.TextField(default='', description="Why, in the actor's words", unique=False),
        ),
        ops.AlterField(
            model_name='MediationEvent',
            name='to_status',
            field=fields.CharField(null=True, description='State after', max_length=16),
        ),
        ops.RenameField(model_name='MediationEvent', old_name='kind', new_name='action'),
        ops.AlterField(
            model_name='MediationEvent',
            name='action',
            field=fields.CharField(description='The step, e.g. accept, escalated_to_street', max_length=32),
        ),
        ops.AddField(
            model_name='Meeting',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AlterModelOptions(
            name='MeetingEvent',
            options={'table': 'meeting_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One step of a meeting, of one of its topics or of one of its votes.'},
        ),
        ops.AlterField(
            model_name='MeetingEvent',
            name='action',
            field=fields.CharField(description='The step, e.g. accept, escalated_to_street', max_length=32),
        ),
        ops.AlterField(
            model_name='MeetingEvent',
            name='from_status',
            field=fields.CharField(null=True, description='State before (null: created)', max_length=16),
        ),
        ops.AlterField(
            model_name='MeetingEvent',
            name='note',
            field=fields.TextField(default='', description="Why, in the actor's words", unique=False),
        ),
        ops.AlterField(
            model_name='MeetingEvent',
            name='to_status',
            field=fields.CharField(null=True, description='State after', max_length=16),
        ),
        ops.AddField(
            model_name='Referral',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AddField(
            model_name='Task',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        ops.AlterModelOptions(
            name='TaskEvent',
            options={'table': 'task_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One step of a task; the link columns are copied from the task.'},
        ),
        ops.AlterField(
            model_name='TaskEvent',
            name='action',
            field=fields.CharField(description='The step, e.g. accept, escalated_to_street', max_length=32),
        ),
        ops.AlterField(
            model_name='TaskEvent',
            name='from_status',
            field=fields.CharField(null=True, description='State before (null: created)', max_length=16),
        ),
        ops.AlterField(
            model_name='TaskEvent',
            name='note',
            field=fields.TextField(default='', description="Why, in the actor's words", unique=False),
        ),
        ops.AlterField(
            model_name='TaskEvent',
            name='to_status',
            field=fields.CharField(null=True, description='State after', max_length=16),
        ),
        ops.AddField(
            model_name='Vote',
            name='version',
            field=fields.IntField(default=0, description='Goes up at every step: the compare-and-set of the workflow core', db_default=0),
        ),
        # Every scoped table (tasks, votes, cases ... too) gets its scope_path pattern index.
        ops.RunPython(ensure_scope_indexes, reverse_code=ops.RunPython.noop),
    ]
