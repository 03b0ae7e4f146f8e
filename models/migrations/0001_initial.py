from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from models.concerns import ConcernStatus
from models.councils import MeetingStatus
from models.org import UnitKind


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="OrgUnit",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="STREET: street\nCOMMUNITY: community\nVILLAGE: village\nGRID: grid",
                        enum_type=UnitKind,
                        max_length=16,
                    ),
                ),
                ("name", fields.CharField(max_length=128)),
                (
                    "parent",
                    fields.ForeignKeyField(
                        "models.OrgUnit",
                        source_field="parent_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="children",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("path", fields.CharField(unique=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "org_unit",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A street, community, village or grid, path is its materialised path.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Council",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=128)),
                ("description", fields.TextField(default="", unique=False)),
                (
                    "unit",
                    fields.ForeignKeyField(
                        "models.OrgUnit",
                        source_field="unit_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="councils",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
            ],
            options={
                "table": "council",
                "app": "models",
                "pk_attr": "id",
                "table_description": 'A "little stool" council belonging to a community or village.',
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="Person",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=64)),
                ("phone", fields.CharField(null=True, max_length=32)),
                ("address", fields.CharField(null=True, max_length=255)),
                (
                    "home_unit",
                    fields.ForeignKeyField(
                        "models.OrgUnit",
                        source_field="home_unit_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="people",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
            ],
            options={
                "table": "person",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A resident, worker or official. scope_path is the unit they live or work in,",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="ApiToken",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("label", fields.CharField(default="", max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "api_token",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A bearer token. Only its SHA-256 is stored, revoking sets revoked_at.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Concern",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "unit",
                    fields.ForeignKeyField(
                        "models.OrgUnit",
                        source_field="unit_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="concerns",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "raised_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="raised_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="concerns",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "recorded_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="recorded_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="recorded_concerns",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                ("category", fields.CharField(db_index=True, max_length=32)),
                ("location", fields.CharField(default="", max_length=200)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ConcernStatus.SUBMITTED,
                        description="SUBMITTED: submitted\nACCEPTED: accepted\nRESOLVED: resolved\nCLOSED: closed",
                        enum_type=ConcernStatus,
                        max_length=16,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "concern",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A resident's request or complaint, scoped to their grid, owner_id is the resident.",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="ConcernEvent",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "concern",
                    fields.ForeignKeyField(
                        "models.Concern",
                        source_field="concern_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="actor_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="concern_events",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("kind", fields.CharField(max_length=32)),
                ("from_status", fields.CharField(null=True, max_length=16)),
                ("to_status", fields.CharField(null=True, max_length=16)),
                ("note", fields.TextField(default="", unique=False)),
            ],
            options={
                "table": "concern_event",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One step in a concern's history: who, when, from, to, note.",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="Meeting",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "council",
                    fields.ForeignKeyField(
                        "models.Council",
                        source_field="council_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="meetings",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                ("starts_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("place", fields.CharField(default="", max_length=200)),
                (
                    "status",
                    fields.CharEnumField(
                        default=MeetingStatus.SCHEDULED,
                        description="SCHEDULED: scheduled\nHELD: held\nCANCELLED: cancelled",
                        enum_type=MeetingStatus,
                        max_length=16,
                    ),
                ),
                (
                    "scheduled_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="scheduled_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="scheduled_meetings",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "meeting",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One sitting of a council: a time, a place, topics and attendees.",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="AgendaTopic",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "models.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="topics",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                (
                    "concern",
                    fields.ForeignKeyField(
                        "models.Concern",
                        source_field="concern_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="topics",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "raised_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="raised_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="raised_topics",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "agenda_topic",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A topic on a meeting's agenda, raised by a resident or from a concern.",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="Attendance",
            fields=[
                (
                    "scope_path",
                    fields.CharField(
                        db_index=True, description="Materialised path of the owning org unit", max_length=255
                    ),
                ),
                (
                    "owner_id",
                    fields.IntField(
                        null=True, db_index=True, description="Person the record belongs to, if any"
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "models.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attendance",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attendance",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("capacity", fields.CharField(default="resident", max_length=32)),
                ("present", fields.BooleanField(default=True)),
                (
                    "recorded_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="recorded_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="recorded_attendance",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "attendance",
                "app": "models",
                "unique_together": (("meeting", "person"),),
                "pk_attr": "id",
                "table_description": "A person's attendance at a meeting, owner_id is the attendee.",
            },
            bases=["ScopedModel"],
        ),
        ops.CreateModel(
            name="RoleAssignment",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="assignments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("role", fields.CharField(max_length=32)),
                (
                    "unit",
                    fields.ForeignKeyField(
                        "models.OrgUnit",
                        source_field="unit_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="assignments",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "scope_path",
                    fields.CharField(
                        description="Path of the unit, empty for the global scope", max_length=255
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "role_assignment",
                "app": "models",
                "unique_together": (("person", "role", "scope_path"),),
                "pk_attr": "id",
                "table_description": "Person P holds role R in the scope of org unit U (a Casbin g line in data).",
            },
            bases=["Model"],
        ),
    ]
