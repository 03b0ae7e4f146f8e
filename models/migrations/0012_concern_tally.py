"""Per-scope, per-day tallies of concerns, kept by triggers (docs/operations.md, "Counts at
scale").

``concern_tally`` holds, for every scope and every scope above it (``""`` is everything),
per UTC day: concerns raised (``created_at``, per category), resolved (``resolved_at``),
closed (``closed_at`` of a closed one, with the seconds from raising to closing), and open
with a due time (``due_at``); those three with category ``""`` (no figure splits them). Triggers on ``concern`` subtract a row's old contribution
and add its new one, in the transaction of the write, whatever made it (the workflow, a
bulk fix, a test fixture); the statistics read the tallies instead of the concerns. The
migration fills them from the concerns already there.

``RECOUNT[dialect]`` is the tallies computed from the concerns alone (the backfill, and
what tests compare the kept tallies with).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

OPEN = "('submitted', 'accepted', 'on_agenda', 'assigned', 'in_progress', 'reopened')"

# --- PostgreSQL: one function gives a row's contributions (every scope above it included)
PG_CONTRIBUTIONS = f"""
CREATE OR REPLACE FUNCTION concern_tally_of(
  path varchar, cat varchar, st varchar, created timestamptz, resolved timestamptz,
  closed timestamptz, due timestamptz, sign integer
) RETURNS TABLE (scope_path varchar, measure varchar, day date, category varchar, n bigint, seconds double precision)
LANGUAGE sql IMMUTABLE AS $$
  SELECT a.path, m.measure, m.day, CASE WHEN m.measure = 'raised' THEN cat ELSE '' END::varchar,
         sign::bigint, sign * m.seconds
  FROM (
    SELECT array_to_string(parts[1:k], '/')::varchar AS path
    FROM (SELECT string_to_array(path, '/') AS parts) AS s,
         generate_series(1, coalesce(array_length(parts, 1), 1), 2) AS k
  ) AS a
  CROSS JOIN (VALUES
    ('raised'::varchar, (created AT TIME ZONE 'UTC')::date, 0::float8),
    ('resolved', (resolved AT TIME ZONE 'UTC')::date, 0),
    ('closed', CASE WHEN st = 'closed' THEN (closed AT TIME ZONE 'UTC')::date END,
               coalesce(EXTRACT(EPOCH FROM (closed - created))::float8, 0)),
    ('open_due', CASE WHEN st IN {OPEN} THEN (due AT TIME ZONE 'UTC')::date END, 0)
  ) AS m (measure, day, seconds)
  WHERE m.day IS NOT NULL
$$;
"""
PG_TRIGGER = """
CREATE OR REPLACE FUNCTION concern_tally_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO concern_tally AS t (scope_path, measure, day, category, n, seconds)
  SELECT c.scope_path, c.measure, c.day, c.category, sum(c.n), sum(c.seconds)
  FROM (
    SELECT * FROM concern_tally_of(OLD.scope_path, OLD.category, OLD.status, OLD.created_at,
                                   OLD.resolved_at, OLD.closed_at, OLD.due_at, -1)
    WHERE TG_OP <> 'INSERT'
    UNION ALL
    SELECT * FROM concern_tally_of(NEW.scope_path, NEW.category, NEW.status, NEW.created_at,
                                   NEW.resolved_at, NEW.closed_at, NEW.due_at, 1)
    WHERE TG_OP <> 'DELETE'
  ) AS c
  GROUP BY 1, 2, 3, 4
  HAVING sum(c.n) <> 0 OR sum(c.seconds) <> 0
  ORDER BY 1, 2, 3, 4  -- one lock order for every writer
  ON CONFLICT (scope_path, measure, day, category)
  DO UPDATE SET n = t.n + excluded.n, seconds = t.seconds + excluded.seconds;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS concern_tally_insert_delete ON concern;
CREATE TRIGGER concern_tally_insert_delete AFTER INSERT OR DELETE ON concern
  FOR EACH ROW EXECUTE FUNCTION concern_tally_keep();
DROP TRIGGER IF EXISTS concern_tally_update ON concern;
CREATE TRIGGER concern_tally_update AFTER UPDATE ON concern FOR EACH ROW
  WHEN (OLD.scope_path IS DISTINCT FROM NEW.scope_path OR OLD.category IS DISTINCT FROM NEW.category
        OR OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
        OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
        OR OLD.due_at IS DISTINCT FROM NEW.due_at)
  EXECUTE FUNCTION concern_tally_keep();
"""
PG_RECOUNT = """
SELECT t.scope_path, t.measure, t.day, t.category, sum(t.n) AS n, sum(t.seconds) AS seconds
FROM concern AS c
CROSS JOIN LATERAL concern_tally_of(c.scope_path, c.category, c.status, c.created_at,
                                    c.resolved_at, c.closed_at, c.due_at, 1) AS t
GROUP BY 1, 2, 3, 4
"""


# --- SQLite (development and tests): no CTE in a trigger, so a row's scopes are the org
# units whose path is it or above it, and "" (everything).
def _sqlite_rows(row: str, sign: int) -> str:
    return f"""
SELECT a.path AS scope_path, m.measure AS measure, m.day AS day,
       CASE WHEN m.measure = 'raised' THEN {row}.category ELSE '' END AS category,
       {sign} AS n, {sign} * m.seconds AS seconds
FROM (SELECT path FROM org_unit
      WHERE path = {row}.scope_path OR substr({row}.scope_path, 1, length(path) + 1) = path || '/'
      UNION SELECT '') AS a,
     (SELECT 'raised' AS measure, date({row}.created_at) AS day, 0.0 AS seconds
      UNION ALL SELECT 'resolved', date({row}.resolved_at), 0.0 WHERE {row}.resolved_at IS NOT NULL
      UNION ALL SELECT 'closed', date({row}.closed_at),
             (julianday({row}.closed_at) - julianday({row}.created_at)) * 86400.0
        WHERE {row}.status = 'closed' AND {row}.closed_at IS NOT NULL
      UNION ALL SELECT 'open_due', date({row}.due_at), 0.0
        WHERE {row}.status IN {OPEN} AND {row}.due_at IS NOT NULL) AS m
WHERE m.day IS NOT NULL"""


def _sqlite_keep(rows: str) -> str:
    return f"""
  INSERT INTO concern_tally (scope_path, measure, day, category, n, seconds)
  SELECT scope_path, measure, day, category, sum(n), sum(seconds) FROM ({rows}) AS c
  GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 OR sum(seconds) <> 0
  ON CONFLICT (scope_path, measure, day, category)
  DO UPDATE SET n = n + excluded.n, seconds = seconds + excluded.seconds;"""


SQLITE_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}"
    for c in ("scope_path", "category", "status", "created_at", "resolved_at", "closed_at", "due_at")
)
SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS concern_tally_insert",
    "DROP TRIGGER IF EXISTS concern_tally_update",
    "DROP TRIGGER IF EXISTS concern_tally_delete",
    f"CREATE TRIGGER concern_tally_insert AFTER INSERT ON concern BEGIN {_sqlite_keep(_sqlite_rows('NEW', 1))} END",
    f"CREATE TRIGGER concern_tally_update AFTER UPDATE ON concern WHEN {SQLITE_CHANGED} BEGIN "
    f"{_sqlite_keep(_sqlite_rows('OLD', -1) + ' UNION ALL ' + _sqlite_rows('NEW', 1))} END",
    f"CREATE TRIGGER concern_tally_delete AFTER DELETE ON concern BEGIN {_sqlite_keep(_sqlite_rows('OLD', -1))} END",
]
SQLITE_RECOUNT = f"""
SELECT a.path AS scope_path, m.measure, m.day, m.category, sum(m.n) AS n, sum(m.seconds) AS seconds
FROM (
  SELECT scope_path, category, 'raised' AS measure, date(created_at) AS day, 1 AS n, 0.0 AS seconds
  FROM concern
  UNION ALL SELECT scope_path, '', 'resolved', date(resolved_at), 1, 0.0
  FROM concern WHERE resolved_at IS NOT NULL
  UNION ALL SELECT scope_path, '', 'closed', date(closed_at), 1,
         (julianday(closed_at) - julianday(created_at)) * 86400.0
  FROM concern WHERE status = 'closed' AND closed_at IS NOT NULL
  UNION ALL SELECT scope_path, '', 'open_due', date(due_at), 1, 0.0
  FROM concern WHERE status IN {OPEN} AND due_at IS NOT NULL
) AS m
JOIN (SELECT path FROM org_unit UNION SELECT '') AS a
  ON a.path = '' OR a.path = m.scope_path OR substr(m.scope_path, 1, length(a.path) + 1) = a.path || '/'
WHERE m.day IS NOT NULL
GROUP BY 1, 2, 3, 4
"""

RECOUNT = {"postgres": PG_RECOUNT, "sqlite": SQLITE_RECOUNT}
FILL = "INSERT INTO concern_tally (scope_path, measure, day, category, n, seconds) "
# a scope's rows side by side in the table (few pages to read), then statistics for the planner
ORDERED = " ORDER BY 1, 2, 3, 4"



async def keep_tallies(apps, schema_editor) -> None:
    client = schema_editor.client
    dialect = client.capabilities.dialect
    if dialect == "postgres":
        await client.execute_script(PG_CONTRIBUTIONS)
        await client.execute_script(PG_TRIGGER)
    else:
        for statement in SQLITE_TRIGGERS:
            await client.execute_script(statement)
    await client.execute_script("DELETE FROM concern_tally")
    await client.execute_script(FILL + RECOUNT[dialect] + ORDERED)
    await client.execute_script("ANALYZE concern_tally")


async def drop_tallies(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "DROP TRIGGER IF EXISTS concern_tally_insert_delete ON concern;"
            "DROP TRIGGER IF EXISTS concern_tally_update ON concern;"
            "DROP FUNCTION IF EXISTS concern_tally_keep(); DROP FUNCTION IF EXISTS concern_tally_of"
            "(varchar, varchar, varchar, timestamptz, timestamptz, timestamptz, timestamptz, integer)"
        )
    else:
        for statement in SQLITE_TRIGGERS[:3]:
            await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0011_count_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConcernTally',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope_path', fields.CharField(description='A scope and everything below it', max_length=255)),
                ('measure', fields.CharField(description='raised, resolved, closed or open_due', max_length=16)),
                ('day', fields.DateField(description='UTC day of created_at, resolved_at, closed_at or due_at')),
                ('category', fields.CharField(max_length=32)),
                ('n', fields.BigIntField(default=0)),
                ('seconds', fields.FloatField(default=0, description='closed: sum of seconds from raising to closing')),
            ],
            options={'table': 'concern_tally', 'app': 'models', 'unique_together': (('scope_path', 'measure', 'day', 'category'),), 'pk_attr': 'id', 'table_description': 'How many concerns were raised, resolved, closed, or are open and due, per scope,'},
            bases=['Model'],
        ),
        ops.RunPython(keep_tallies, reverse_code=drop_tallies),
    ]
