from tortoise import migrations
from tortoise.migrations import operations as ops
from models.mediation import CaseCategory, CaseStatus, Certification, MediationLevel, ReferralOutcome, ReferralStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_role_affiliation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Court',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=128)),
                ('tribunal', fields.CharField(default='', max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'court', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A court and the tribunal that founded workstations, e.g. 某区人民法院 行政审判庭.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Mediator',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='mediator_roles', on_delete=OnDelete.CASCADE)),
                ('unit', fields.ForeignKeyField('models.OrgUnit', source_field='unit_id', db_constraint=True, to_field='id', related_name='mediators', on_delete=OnDelete.RESTRICT)),
                ('level', fields.CharEnumField(description='GROUP: group\nCOMMUNITY: community\nSTREET: street', enum_type=MediationLevel, max_length=16)),
                ('certification', fields.CharEnumField(default=Certification.STANDARD, description='GOLD: gold\nSTANDARD: standard', enum_type=Certification, max_length=16)),
                ('room', fields.CharField(default='', description='Mediation room (调解室)', max_length=128)),
            ],
            options={'table': 'mediator', 'app': 'models', 'pk_attr': 'id', 'table_description': "A certified mediator working at one level, owner_id is the mediator's person id."},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='MediationCase',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('assignee_id', fields.IntField(null=True, db_index=True, description='Person id of the mediator in charge')),
                ('workstation_id', fields.IntField(null=True, db_index=True, description='Workstation referred to')),
                ('court_id', fields.IntField(null=True, db_index=True, description='Court of that workstation')),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit', fields.ForeignKeyField('models.OrgUnit', source_field='unit_id', db_constraint=True, to_field='id', related_name='mediation_cases', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('category', fields.CharEnumField(db_index=True, description='PROPERTY: property\nDAILY_LIFE: daily_life\nRENOVATION: renovation\nLAND_FOREST: land_forest\nCONSTRUCTION: construction\nOTHER: other', enum_type=CaseCategory, max_length=16)),
                ('level', fields.CharEnumField(description='GROUP: group\nCOMMUNITY: community\nSTREET: street', enum_type=MediationLevel, max_length=16)),
                ('status', fields.CharEnumField(default=CaseStatus.OPEN, db_index=True, description='OPEN: open\nIN_MEDIATION: in_mediation\nSETTLED: settled\nFAILED: failed\nESCALATED: escalated\nREFERRED: referred', enum_type=CaseStatus, max_length=16)),
                ('mediator', fields.ForeignKeyField('models.Mediator', source_field='mediator_id', null=True, db_constraint=True, to_field='id', related_name='cases', on_delete=OnDelete.SET_NULL)),
                ('parties', fields.JSONField(default=list, description='Confidential: names, phones, id numbers', encoder=JSON_DUMPS, decoder=loads)),
                ('outcome', fields.TextField(default='', description='Settlement terms or why mediation failed', unique=False)),
                ('updated_at', fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mediation_case', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A dispute in mediation, scope_path is where the dispute is, owner_id the applicant.'},
            bases=['CaseLinked'],
        ),
        ops.CreateModel(
            name='MediationSession',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('assignee_id', fields.IntField(null=True, db_index=True, description='Person id of the mediator in charge')),
                ('workstation_id', fields.IntField(null=True, db_index=True, description='Workstation referred to')),
                ('court_id', fields.IntField(null=True, db_index=True, description='Court of that workstation')),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('case', fields.ForeignKeyField('models.MediationCase', source_field='case_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('held_on', fields.DateField()),
                ('notes', fields.TextField(default='', unique=False)),
                ('recorded_by', fields.ForeignKeyField('models.Person', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='recorded_sessions', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'mediation_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One mediation session of a case: date and notes.'},
            bases=['CaseLinked'],
        ),
        ops.CreateModel(
            name='Referral',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('assignee_id', fields.IntField(null=True, db_index=True, description='Person id of the mediator in charge')),
                ('workstation_id', fields.IntField(null=True, db_index=True, description='Workstation referred to')),
                ('court_id', fields.IntField(null=True, db_index=True, description='Court of that workstation')),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('case', fields.ForeignKeyField('models.MediationCase', source_field='case_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ReferralStatus.PENDING, description='PENDING: pending\nACCEPTED: accepted\nRETURNED: returned\nCLOSED: closed', enum_type=ReferralStatus, max_length=16)),
                ('return_reason', fields.TextField(default='', unique=False)),
                ('outcome', fields.CharEnumField(null=True, description='GUIDED_SETTLEMENT: guided_settlement\nJUDICIAL_CONFIRMATION: judicial_confirmation\nFILED: filed', enum_type=ReferralOutcome, max_length=32)),
                ('outcome_note', fields.TextField(default='', unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'referral', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A case referred to a workstation (诉调对接): pending, accepted, returned or closed.'},
            bases=['CaseLinked'],
        ),
        ops.CreateModel(
            name='MediationEvent',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('assignee_id', fields.IntField(null=True, db_index=True, description='Person id of the mediator in charge')),
                ('workstation_id', fields.IntField(null=True, db_index=True, description='Workstation referred to')),
                ('court_id', fields.IntField(null=True, db_index=True, description='Court of that workstation')),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('case', fields.ForeignKeyField('models.MediationCase', source_field='case_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('referral', fields.ForeignKeyField('models.Referral', source_field='referral_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='mediation_events', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharField(max_length=32)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(null=True, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'mediation_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One step in a case's history (its referrals included): who, when, from, to, note."},
            bases=['CaseLinked'],
        ),
        ops.CreateModel(
            name='Workstation',
            fields=[
                ('scope_path', fields.CharField(db_index=True, description='Materialised path of the owning org unit', max_length=255)),
                ('owner_id', fields.IntField(null=True, db_index=True, description='Person the record belongs to, if any')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=128)),
                ('court', fields.ForeignKeyField('models.Court', source_field='court_id', db_constraint=True, to_field='id', related_name='workstations', on_delete=OnDelete.RESTRICT)),
                ('officers', fields.IntField(default=0, description='Court officers who founded or staff it')),
                ('founded_on', fields.DateField(null=True)),
            ],
            options={'table': 'workstation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A judge workstation stationed in a street, scope_path is that street.'},
            bases=['ScopedModel'],
        ),
        ops.CreateModel(
            name='WorkstationUnit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workstation', fields.ForeignKeyField('models.Workstation', source_field='workstation_id', db_constraint=True, to_field='id', related_name='served', on_delete=OnDelete.CASCADE)),
                ('unit', fields.ForeignKeyField('models.OrgUnit', source_field='unit_id', db_constraint=True, to_field='id', related_name='workstations', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'workstation_unit', 'app': 'models', 'unique_together': (('workstation', 'unit'),), 'pk_attr': 'id', 'table_description': 'A community or village a workstation serves.'},
            bases=['Model'],
        ),
    ]
