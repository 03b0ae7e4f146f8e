from tortoise import migrations
from tortoise.migrations import operations as ops
from models.councils import MeetingStatus, TopicStatus
from models.councils import TaskOwnerKind, TaskStatus, VoteChoice, VoteStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class AlterFieldStateOnly(ops.AlterField):
    """Meeting.status gains the values drafted, closed and reviewed: only the field's
    description (its list of values) changes, the column stays a varchar(16) on both
    databases. Tortoise's SQLite editor would rebuild the table for it, and dropping the
    old meeting table cascades to agenda topics and attendance and loses its indexes, so
    this change is recorded in the migration state only."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0005_concern_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AllianceUnit',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=128)),
                ('kind', fields.CharField(description='state_company, institute, school, hospital ...', max_length=32)),
                ('unit', fields.ForeignKeyField('models.OrgUnit', source_field='unit_id', db_constraint=True, to_field='id', related_name='alliance_units', on_delete=OnDelete.RESTRICT)),
                ('contact', fields.CharField(default='', max_length=128)),
            ],
            options={'table': 'alliance_unit', 'app': 'models', 'pk_attr': 'id', 'table_description': "An organisation allied with a street or community, scope_path is that unit's path."},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='MeetingUnit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('models.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='present_units', on_delete=OnDelete.CASCADE)),
                ('alliance_unit', fields.ForeignKeyField('models.AllianceUnit', source_field='alliance_unit_id', db_constraint=True, to_field='id', related_name='meetings_attended', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'meeting_alliance_unit', 'app': 'models', 'unique_together': (('meeting', 'alliance_unit'),), 'pk_attr': 'id', 'table_description': 'An alliance unit present at a meeting (recorded when the meeting is closed).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Rating',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('models.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='ratings', on_delete=OnDelete.CASCADE)),
                ('score', fields.SmallIntField()),
                ('comment', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'rating', 'app': 'models', 'unique_together': (('meeting', 'owner_id'),), 'pk_attr': 'id', 'table_description': "A resident's rating (1-5) of a meeting's outcome, owner_id is the rater."},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('topic', fields.ForeignKeyField('models.AgendaTopic', source_field='topic_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.SET_NULL)),
                ('concern_id', fields.IntField(null=True, db_index=True, description='The concern this task comes from')),
                ('owner_kind', fields.CharEnumField(description='PERSON: person\nALLIANCE_UNIT: alliance_unit\nVOLUNTEER: volunteer', enum_type=TaskOwnerKind, max_length=16)),
                ('owner_person', fields.ForeignKeyField('models.Person', source_field='owner_person_id', null=True, db_constraint=True, to_field='id', related_name='tasks_owned', on_delete=OnDelete.SET_NULL)),
                ('alliance_unit', fields.ForeignKeyField('models.AllianceUnit', source_field='alliance_unit_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.RESTRICT)),
                ('volunteer_name', fields.CharField(default='', max_length=64)),
                ('due_on', fields.DateField(db_index=True)),
                ('status', fields.CharEnumField(default=TaskStatus.OPEN, description='OPEN: open\nDONE: done', enum_type=TaskStatus, max_length=16)),
                ('result', fields.TextField(default='', unique=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('assigned_by', fields.ForeignKeyField('models.Person', source_field='assigned_by_id', null=True, db_constraint=True, to_field='id', related_name='tasks_assigned', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'task', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Work that a decision (or a concern) gives to a person, an alliance unit or a volunteer.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='TaskEvent',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('alliance_unit_id', fields.IntField(null=True, db_index=True)),
                ('owner_person_id', fields.IntField(null=True)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='task_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'task_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One transition of a task, alliance_unit_id is copied from the task.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='Vote',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('topic', fields.ForeignKeyField('models.AgendaTopic', source_field='topic_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.CASCADE)),
                ('question', fields.CharField(max_length=200)),
                ('threshold_choice', fields.CharEnumField(description='FOR: for\nAGAINST: against\nABSTAIN: abstain', enum_type=VoteChoice, max_length=16)),
                ('threshold_percent', fields.SmallIntField(description='Met when more than this share chose the choice')),
                ('consequence', fields.CharField(default='', max_length=200)),
                ('status', fields.CharEnumField(default=VoteStatus.OPEN, description='OPEN: open\nCLOSED: closed', enum_type=VoteStatus, max_length=16)),
                ('for_count', fields.IntField(default=0)),
                ('against_count', fields.IntField(default=0)),
                ('abstain_count', fields.IntField(default=0)),
                ('threshold_met', fields.BooleanField(null=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'vote', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An anonymous vote on a topic with a threshold rule. Only tallies are stored.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='MeetingEvent',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('models.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('topic', fields.ForeignKeyField('models.AgendaTopic', source_field='topic_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('vote', fields.ForeignKeyField('models.Vote', source_field='vote_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='meeting_events', on_delete=OnDelete.SET_NULL)),
                ('subject', fields.CharField(description='meeting, topic or vote', max_length=16)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'meeting_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One transition of a meeting, of one of its topics or of one of its votes.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='VoteParticipation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('vote', fields.ForeignKeyField('models.Vote', source_field='vote_id', db_constraint=True, to_field='id', related_name='participations', on_delete=OnDelete.CASCADE)),
                ('voter_id', fields.IntField()),
            ],
            options={'table': 'vote_participation', 'app': 'models', 'unique_together': (('vote', 'voter_id'),), 'pk_attr': 'id', 'table_description': 'Who has voted, only to refuse a second ballot. Never linked to a choice.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AgendaTopic',
            name='decided_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='AgendaTopic',
            name='decision',
            field=fields.TextField(default='', description='The decision recorded for the topic', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='AgendaTopic',
            name='status',
            field=fields.CharEnumField(default=TopicStatus.PROPOSED, description='PROPOSED: proposed\nACCEPTED: accepted\nDISCUSSED: discussed\nDECIDED: decided\nDEFERRED: deferred', db_default='proposed', enum_type=TopicStatus, max_length=16),
        ),
        AlterFieldStateOnly(
            model_name='Meeting',
            name='status',
            field=fields.CharEnumField(default=MeetingStatus.SCHEDULED, description='SCHEDULED: scheduled\nHELD: held\nCANCELLED: cancelled\nDRAFTED: drafted\nCLOSED: closed\nREVIEWED: reviewed', enum_type=MeetingStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Meeting',
            name='attendance_count',
            field=fields.IntField(null=True, description='Head count of people present'),
        ),
        ops.AddField(
            model_name='Meeting',
            name='minutes',
            field=fields.TextField(default='', description='Minutes recorded when the meeting closed', db_default='', unique=False),
        ),
    ]
