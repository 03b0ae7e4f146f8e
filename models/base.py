"""Column conventions shared by the domain tables.

* ``ScopedModel``: a record that knows its scope (``scope_path``, the materialised path of
  its org unit) and, where it has one, its owning person (``owner_id``). The policy's
  relation kinds read these columns; on PostgreSQL every such table gets a
  ``varchar_pattern_ops`` index on ``scope_path`` (see ``models/migrations/indexes.py``).
* ``StatefulModel``: a scoped record with a state machine. ``version`` goes up by one at
  every step, so a step applies only if nobody moved the row since it was read
  (compare-and-set, ``services/workflow.py``).
* ``EventRecord``: one step in a stateful record's history. Every event table has these
  columns and is written by one writer (``services.workflow.record_event``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.people import Person

MODEL = TypeVar("MODEL", bound=Model)


# How a row points at another, by what the link means. The declared type of the field says
# which model it is (``meeting: fields.ForeignKeyRelation[Meeting] = part_of(...)``), and
# ``<name>_id`` is annotated next to it for the type checker.


def part_of(model: str, related_name: str) -> Any:
    """The row belongs to that one and goes with it (a topic of its meeting)."""
    return fields.ForeignKeyField(model, related_name=related_name, on_delete=fields.CASCADE)


def refers_to(model: str, related_name: str, *, null: bool = False) -> Any:
    """The row stands on that one, which cannot be deleted while the row exists (a
    concern's grid, a workstation's court)."""
    if null:
        return fields.ForeignKeyField(model, related_name=related_name, null=True, on_delete=fields.RESTRICT)
    return fields.ForeignKeyField(model, related_name=related_name, on_delete=fields.RESTRICT)


def mentions(model: str, related_name: str) -> Any:
    """The row names that one but outlives it, then naming nothing (the concern a topic
    came from, the mediator of a case)."""
    return fields.ForeignKeyField(model, related_name=related_name, null=True, on_delete=fields.SET_NULL)


def person_ref(related_name: str) -> fields.ForeignKeyNullableRelation[Person]:
    """A person the record names but does not belong to (who recorded it, who decided):
    the record stays when the person is deleted, naming nobody."""
    return mentions("models.Person", related_name)


@overload
def history_of(
    model: type[MODEL] | str, *, null: Literal[False] = False
) -> fields.ForeignKeyRelation[MODEL]: ...
@overload
def history_of(
    model: type[MODEL] | str, *, null: Literal[True]
) -> fields.ForeignKeyNullableRelation[MODEL]: ...
def history_of(
    model: type[MODEL] | str, *, null: bool = False
) -> fields.ForeignKeyRelation[MODEL] | fields.ForeignKeyNullableRelation[MODEL]:
    """An event table's link to the object whose history it is (``.events`` of that object).
    The object's model is the declared type of the field:
    ``concern: fields.ForeignKeyRelation[Concern] = history_of("models.Concern")``."""
    if null:
        return fields.ForeignKeyField(model, related_name="events", null=True, on_delete=fields.CASCADE)
    return fields.ForeignKeyField(model, related_name="events", null=False, on_delete=fields.CASCADE)


class Row(Model):
    """Any table of ours: Tortoise adds the integer primary key ``id`` (declared here once,
    for the type checker)."""

    id: int

    class Meta:
        abstract = True


class ScopedModel(Row):
    """A record that knows its scope (and, where it has one, its owning person)."""

    scope_path = fields.CharField(
        max_length=255, db_index=True, description="Materialised path of the owning org unit"
    )
    owner_id = fields.IntField(null=True, db_index=True, description="Person the record belongs to, if any")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True


class StatefulModel(ScopedModel):
    """A scoped record moved by a declared state machine (``services/workflow.py``)."""

    version = fields.IntField(
        default=0, db_default=0, description="Goes up at every step: the compare-and-set of the workflow core"
    )

    class Meta:
        abstract = True


class EventRecord(ScopedModel):
    """One step of a stateful record: who, when, which action, from which state to which, why.

    ``scope_path``, ``owner_id`` and the link columns of a concrete event table are copied
    from the record it belongs to, so the same people see the event as see the record."""

    actor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    action = fields.CharField(max_length=32, description="The step, e.g. accept, escalated_to_street")
    from_status = fields.CharField(max_length=16, null=True, description="State before (null: created)")
    to_status = fields.CharField(max_length=16, null=True, description="State after")
    note = fields.TextField(default="", description="Why, in the actor's words")

    class Meta:
        abstract = True


async def ensure_scope_indexes(apps: object, schema_editor: object) -> None:
    """A migration step: on PostgreSQL, a ``varchar_pattern_ops`` index on ``scope_path`` of
    every table that has that column, so ``scope_path LIKE '/s/1/c/2/%'`` uses an index
    (PostgreSQL's default collation cannot serve LIKE from a plain B-tree). Idempotent: a
    migration that adds a scoped table ends with ``RunPython(ensure_scope_indexes)``."""
    client = schema_editor.client  # type: ignore[attr-defined]
    if client.capabilities.dialect != "postgres":
        return
    rows = await client.execute_query_dict(
        "SELECT table_name FROM information_schema.columns "
        "WHERE column_name = 'scope_path' AND table_schema = current_schema() ORDER BY table_name"
    )
    for row in rows:
        table = row["table_name"]
        await client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "idx_{table}_scope_pattern" ON "{table}" '
            '("scope_path" varchar_pattern_ops)'
        )
