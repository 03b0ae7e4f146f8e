"""Rows written as plain values: several rows, of several tables, in one statement.

The workflow core's hot writes (a step's event and the mutation's audit record, written
at the end of the step's transaction) need no model objects: nothing reads them back.
Building a Tortoise model per row and a statement per row costs far more Python time
than the database takes to store it, so ``insert`` writes the rows it is given

- on PostgreSQL in ONE statement, whatever the tables: a data-modifying ``WITH`` per
  table but the last (``WITH w0 AS (INSERT INTO a ...) INSERT INTO b ...``), each table's
  rows as one multi-row ``VALUES``;
- on SQLite (no data-modifying ``WITH``) in one multi-row ``INSERT`` per table.

Values go through the fields' own ``to_db_value`` (as Tortoise's executor does), after
the fields' Python defaults and ``auto_now``/``auto_now_add`` times are filled in; the
statement text is cached per (tables, columns, row counts), so asyncpg reuses its
prepared statement.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

from tortoise.fields.data import DatetimeField
from tortoise.models import Model

MODEL = TypeVar("MODEL", bound=Model)
Rows = Sequence[tuple[type[Model], Mapping[str, Any]]]


@functools.cache
def _columns(model: type[Model]) -> tuple[tuple[str, str, Any], ...]:
    """(field name, column, field) of every column an insert writes (the generated key
    aside)."""
    meta = model._meta
    out = []
    for name, column in meta.fields_db_projection.items():
        field = meta.fields_map[name]
        if field.pk and field.generated:
            continue
        out.append((name, column, field))
    return tuple(out)


def _default(field: Any, now: datetime) -> Any:
    if isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add):
        return now
    default = field.default
    return default() if callable(default) else default


# What the fields' ``to_db_value`` get as the instance: not a model, so a ``DatetimeField``
# with ``auto_now`` keeps the time it is given (the step's) instead of taking the clock's.
_NOT_A_MODEL: Any = SimpleNamespace()


def _db_values(model: type[Model], values: Mapping[str, Any], now: datetime) -> list[Any]:
    if not values.keys() <= model._meta.fields_db_projection.keys():
        unknown = set(values) - model._meta.fields_db_projection.keys()
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    return [
        field.to_db_value(values[name] if name in values else _default(field, now), _NOT_A_MODEL)
        for name, _, field in _columns(model)
    ]


@functools.lru_cache(maxsize=256)
def _statements(dialect: str, shape: tuple[tuple[type[Model], int], ...]) -> tuple[str, ...]:
    """The statement(s) inserting ``count`` rows into each model's table, in order."""
    parts: list[str] = []
    number = 0
    for model, count in shape:
        names = ", ".join(f'"{column}"' for _, column, _ in _columns(model))
        rows = []
        for _ in range(count):
            marks = []
            for _ in _columns(model):
                number += 1
                marks.append(f"${number}" if dialect == "postgres" else "?")
            rows.append(f"({', '.join(marks)})")
        parts.append(f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES {", ".join(rows)}')
        if dialect != "postgres":
            number = 0
    if dialect != "postgres" or len(parts) == 1:
        return tuple(parts)
    head = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts[:-1]))
    return (f"WITH {head} {parts[-1]}",)


async def insert(rows: Rows, now: datetime | None = None) -> None:
    """Insert ``rows`` (model, field values): one statement on PostgreSQL, one per table
    on SQLite. Rows of one table keep their order; tables are written in the order they
    first appear."""
    if not rows:
        return
    now = now or datetime.now(UTC)
    grouped: dict[type[Model], list[list[Any]]] = {}
    for model, given in rows:
        grouped.setdefault(model, []).append(_db_values(model, given, now))
    first = next(iter(grouped))
    db = first._meta.db
    dialect = db.capabilities.dialect
    shape = tuple((model, len(values)) for model, values in grouped.items())
    statements = _statements(dialect, shape)
    flat = [[value for row in values for value in row] for values in grouped.values()]
    if len(statements) == 1:
        await db.execute_query(statements[0], [value for values in flat for value in values])
    else:
        for statement, params in zip(statements, flat, strict=True):
            await db.execute_query(statement, params)


@functools.lru_cache(maxsize=512)
def _update_statement(
    dialect: str,
    model: type[Model],
    assigned: tuple[str, ...],
    increments: tuple[str, ...],
    equal: tuple[str, ...],
    within: tuple[str, int] | None,
) -> str:
    projection = model._meta.fields_db_projection
    number = 0

    def mark() -> str:
        nonlocal number
        number += 1
        return f"${number}" if dialect == "postgres" else "?"

    sets = [f'"{projection[name]}" = {mark()}' for name in assigned]
    sets += [f'"{projection[name]}" = "{projection[name]}" + 1' for name in increments]
    where = [f'"{projection[name]}" = {mark()}' for name in equal]
    if within is not None:
        name, count = within
        where.append(f'"{projection[name]}" IN ({", ".join(mark() for _ in range(count))})')
    return f'UPDATE "{model._meta.db_table}" SET {", ".join(sets)} WHERE {" AND ".join(where)} RETURNING *'


async def update(
    model: type[MODEL],
    values: Mapping[str, Any],
    *,
    increments: Sequence[str] = (),
    where: Mapping[str, Any],
    within: tuple[str, Sequence[Any]] | None = None,
) -> MODEL | None:
    """``UPDATE ... SET values, col = col + 1 (increments) WHERE where [AND col IN within]
    RETURNING *``: the row as changed (one statement, no read after), or ``None`` when no
    row matched. ``where`` should name the key: at most one row is expected."""
    unknown = {
        *values,
        *increments,
        *where,
        *(within[:1] if within else ()),
    } - model._meta.fields_db_projection.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    fields = model._meta.fields_map
    params = [fields[name].to_db_value(value, _NOT_A_MODEL) for name, value in values.items()]
    params += [fields[name].to_db_value(value, _NOT_A_MODEL) for name, value in where.items()]
    shape_in = None
    if within is not None:
        name, choices = within
        params += [fields[name].to_db_value(value, _NOT_A_MODEL) for value in choices]
        shape_in = (name, len(choices))
    db = model._meta.db
    statement = _update_statement(
        db.capabilities.dialect, model, tuple(values), tuple(increments), tuple(where), shape_in
    )
    found = await db.execute_query_dict(statement, params)  # execute_query drops RETURNING rows
    if not found:
        return None
    if len(found) > 1:
        raise RuntimeError(f"{model.__name__}: an update meant for one row changed {len(found)}")
    return model._init_from_db(**found[0])


@functools.lru_cache(maxsize=256)
def _insert_returning(dialect: str, model: type[Model]) -> str:
    (statement,) = _statements(dialect, ((model, 1),))
    return statement + " RETURNING *"


async def create(model: type[MODEL], values: Mapping[str, Any], now: datetime | None = None) -> MODEL:
    """Insert one row and return it as stored (``INSERT ... RETURNING *``): the model's
    ``create`` in one statement, without building the object twice."""
    db = model._meta.db
    statement = _insert_returning(db.capabilities.dialect, model)
    (stored,) = await db.execute_query_dict(statement, _db_values(model, values, now or datetime.now(UTC)))
    return model._init_from_db(**stored)


@functools.lru_cache(maxsize=256)
def _by_id(dialect: str, model: type[Model]) -> str:
    mark = "$1" if dialect == "postgres" else "?"
    return f'SELECT * FROM "{model._meta.db_table}" WHERE "{model._meta.db_pk_column}" = {mark}'


async def by_id(model: type[MODEL], key: int) -> MODEL | None:
    """The row with primary key ``key`` (``None`` when there is none), in one cached statement."""
    db = model._meta.db
    found = await db.execute_query_dict(_by_id(db.capabilities.dialect, model), [key])
    return model._init_from_db(**found[0]) if found else None
