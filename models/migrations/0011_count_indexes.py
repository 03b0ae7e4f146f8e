"""Indexes that keep bounded counts bounded (docs/operations.md, "Counts at scale").

Statistics count a scope's concerns (and mediation cases) created, resolved or closed in a
period, reading at most ``BANDENG_EXACT_COUNT_LIMIT`` rows per figure. Without an index on
the period's column the database finds those rows by scanning the scope (3M rows for a
street), so the limit would bound the answer but not the work. Open concerns by due time
(overdue) get a partial index: the statistics count those due earlier today.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = [
    ("concern", "created_at"),
    ("concern", "resolved_at"),
    ("concern", "closed_at"),
    ("mediation_case", "created_at"),
]


OPEN = "('submitted', 'accepted', 'on_agenda', 'assigned', 'in_progress', 'reopened')"


async def create_indexes(apps, schema_editor) -> None:
    for table, column in INDEXES:
        await schema_editor.client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "idx_{table}_{column}" ON "{table}" ("{column}")'
        )
    await schema_editor.client.execute_script(
        f'CREATE INDEX IF NOT EXISTS "idx_concern_open_due" ON "concern" ("due_at") WHERE "status" IN {OPEN}'
    )


async def drop_indexes(apps, schema_editor) -> None:
    for table, column in INDEXES:
        await schema_editor.client.execute_script(f'DROP INDEX IF EXISTS "idx_{table}_{column}"')
    await schema_editor.client.execute_script('DROP INDEX IF EXISTS "idx_concern_open_due"')


class Migration(migrations.Migration):
    dependencies = [("models", "0010_identity_notify")]

    operations = [ops.RunPython(create_indexes, reverse_code=drop_indexes)]
