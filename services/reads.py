"""Nested reads: the relations of each resource, and batched, authorized loading.

A resource's relations come from its model's foreign keys, declared once there: a
foreign key ``Concern.unit`` is the relation ``unit`` of ``Concern`` (to one
``OrgUnit``), and its ``related_name`` the relation back (``OrgUnit.concerns``, to
many). Relations that are not foreign keys (a case's applicant is its ``owner_id``), or
that want another order than by id, are declared by their domain with ``relations()``.
The GraphQL layer names a relation, never a column. Every batch goes through the same
visibility filter as the root lists (one SQL statement per batch), so a nested field
never shows a row that the list would hide.

A nested list returns at most ``first`` rows per parent: one statement per batch ranks
each parent's visible children (``ROW_NUMBER() OVER (PARTITION BY parent ...)``) and
keeps the first ``first`` of each, so the parents of one level cost one statement
together, whatever their number.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import json
import re
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from tortoise import connections, fields, timezone
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.expressions import RawSQL, Subquery
from tortoise.fields.data import CharEnumFieldInstance
from tortoise.queryset import QuerySet

from services.authz import RequestAuth, models_by_name
from services.pagination import PageQuery, parameterized, renumber


@dataclass(frozen=True)
class One:
    """To one object of ``resource`` whose id is in ``column``; ``guard`` names a field
    resource that must allow it (``Rating.author``), else it reads as null."""

    resource: str
    column: str
    guard: str | None = None


@dataclass(frozen=True)
class Many:
    """To the objects of ``resource`` whose ``column`` holds this object's id, by ``order``."""

    resource: str
    column: str
    order: str = "id"


@dataclass(frozen=True)
class Through:
    """To the objects of ``resource`` named by rows of the link model ``link``: its
    ``column`` holds this object's id, its ``target`` the other's; by ``order`` (a column
    of the link)."""

    resource: str
    link: str
    column: str
    target: str
    order: str = "id"


RELATIONS: dict[tuple[str, str], One | Many | Through] = {}


def relations(resource: str, **declared: One | Many | Through) -> None:
    """Declare relations of ``resource`` (each domain does so for its own resources)."""
    for name, relation in declared.items():
        assert (resource, name) not in RELATIONS, f"{resource}.{name} is declared twice"
        RELATIONS[(resource, name)] = relation


class Loader(Protocol):
    async def load(self, key: int) -> Any: ...

    async def load_many(self, keys: Sequence[int]) -> list[Any]: ...


class Loaders(Protocol):
    """The request's batching loaders (built by the GraphQL layer)."""

    auth: RequestAuth

    def by_id(self, resource: str) -> Loader: ...

    def children(self, resource: str, parent_field: str, order: str, first: int) -> Loader: ...

    def linked(self, relation: Through, first: int) -> Loader: ...


@functools.cache
def _from_foreign_keys() -> dict[tuple[str, str], One | Many]:
    found: dict[tuple[str, str], One | Many] = {}
    for resource, model in models_by_name().items():
        for name in model._meta.fk_fields:
            field = model._meta.fields_map[name]
            target = field.model_name.rpartition(".")[2]  # type: ignore[attr-defined]
            column = field.source_field or f"{name}_id"
            found[(resource, name)] = One(target, column)
            if field.related_name:  # type: ignore[attr-defined]
                found[(target, field.related_name)] = Many(resource, column)  # type: ignore[attr-defined]
    return found


def relation(resource: str, name: str) -> One | Many | Through:
    """A relation of ``resource``: declared by its domain, or a foreign key of its model."""
    declared = RELATIONS.get((resource, name))
    return declared if declared is not None else _from_foreign_keys()[(resource, name)]


def target_of(resource: str, column: str) -> str | None:
    """The resource whose ids ``resource``'s ``column`` holds (``Concern.unit_id`` ->
    ``OrgUnit``), by its relations to one object; None for a column naming nothing."""
    return _targets().get((resource, column))


@functools.cache
def _targets() -> dict[tuple[str, str], str]:
    links = {**_from_foreign_keys(), **RELATIONS}
    return {
        (resource, relation.column): relation.resource
        for (resource, _), relation in links.items()
        if isinstance(relation, One) and relation.guard is None
    }


def _relation(row: Any, name: str) -> One | Many | Through:
    return relation(type(row).__name__, name)


async def related(loaders: Loaders, row: Any, name: str) -> Any:
    """The object ``row``'s relation ``name`` points at, or None (none, or not visible)."""
    relation = _relation(row, name)
    assert isinstance(relation, One), name
    if relation.guard is not None and not loaders.auth.may_read_field(relation.guard, row):
        return None
    key = getattr(row, relation.column)
    return None if key is None else await loaders.by_id(relation.resource).load(key)


async def children(loaders: Loaders, row: Any, name: str, first: int) -> list[Any]:
    """The first ``first`` visible objects of ``row``'s relation ``name``."""
    relation = _relation(row, name)
    if isinstance(relation, Through):
        ids = await loaders.linked(relation, first).load(row.id)
        found = await loaders.by_id(relation.resource).load_many(ids)
        return [r for r in found if r is not None]
    assert isinstance(relation, Many), name
    return await loaders.children(relation.resource, relation.column, relation.order, first).load(row.id)


async def by_ids(auth: RequestAuth, resource: str, ids: Sequence[int]) -> list[Any]:
    """Objects for ``ids`` in order; ``None`` where missing or not visible."""
    rows = await auth.visible(resource).filter(id__in=list(set(ids)))
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


def _column(model: Any, name: str) -> str:
    """The column of ``model``'s field ``name``."""
    found = model._meta.fields_map[name]
    return str(found.source_field or found.model_field_name)


def _ranked(
    query: QuerySet[Any], parent_field: str, order: str, first: int, columns: str
) -> tuple[str, list]:
    """The SQL of the first ``first`` rows of ``query`` for each value of ``parent_field``
    by ``order`` (a field, ``-`` for descending; ties by id), selecting ``columns``."""
    model = query.model
    table = model._meta.db_table
    terms = ", ".join(
        f'"{table}"."{_column(model, key.lstrip("-"))}" {"DESC" if key.startswith("-") else "ASC"}'
        for key in _order_terms(order)
    )
    window = f'ROW_NUMBER() OVER (PARTITION BY "{table}"."{_column(model, parent_field)}" ORDER BY {terms})'
    ranked = query.annotate(_rank=RawSQL(window))
    # Tortoise's Subquery builds the query on its connection; the rank is kept outside it
    # (SQL allows no window function in WHERE). ``first`` is an int, never client text.
    built: Any = Subquery(ranked).as_("ranked")  # the query builder (typed as a Selectable)
    inner, params = built.get_parameterized_sql()
    sql = f'SELECT {columns} FROM ({inner}) AS "ranked" WHERE "_rank" <= {int(first)} ORDER BY "_rank"'
    return sql, params


async def first_per_parent(query: QuerySet[Any], parent_field: str, order: str, first: int) -> list[Any]:
    """The first ``first`` rows of ``query`` for each value of ``parent_field`` by
    ``order`` (a field, ``-`` for descending; ties by id), in one statement."""
    sql, params = _ranked(query, parent_field, order, first, "*")
    model, db = query.model, query._choose_db()
    return await db.executor_class(model=model, db=db).execute_select(sql, params)


def _grouped(rows: list[Any], parent_field: str, parent_ids: Sequence[int]) -> list[list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent_field)].append(row)
    return [grouped.get(i, []) for i in parent_ids]


async def children_of(
    auth: RequestAuth, resource: str, parent_field: str, parent_ids: Sequence[int], order: str, first: int
) -> list[list[Any]]:
    """The first ``first`` visible children of each parent, by ``parent_field`` (e.g.
    ``council_id``), in one statement."""
    if first <= 0:
        return [[] for _ in parent_ids]
    query = auth.visible(resource).filter(**{f"{parent_field}__in": list(set(parent_ids))})
    return _grouped(await first_per_parent(query, parent_field, order, first), parent_field, parent_ids)


async def linked_ids(
    auth: RequestAuth, relation: Through, parent_ids: Sequence[int], first: int
) -> list[list[int]]:
    """For each parent, the ids of its first ``first`` linked objects the caller may see."""
    if first <= 0:
        return [[] for _ in parent_ids]
    visible = Subquery(auth.visible(relation.resource).values("id"))
    query = models_by_name()[relation.link].filter(
        **{f"{relation.column}__in": list(set(parent_ids)), f"{relation.target}__in": visible}
    )
    links = _grouped(
        await first_per_parent(query, relation.column, relation.order, first), relation.column, parent_ids
    )
    return [[getattr(link, relation.target) for link in group] for group in links]


# A filter that is a function: of the query (the visible rows of the listing's resource),
# the value given and the caller, e.g. ``_overdue(query: QuerySet[Concern], overdue: bool, auth)``.
Narrow = Callable[[QuerySet[Any], Any, RequestAuth], QuerySet[Any]]
# A filter: a column lookup, a lookup and a conversion of the value, or a function.
Filter = str | tuple[str, Callable[[Any], Any]] | Narrow


@dataclass(frozen=True)
class Listing:
    """A root list of a resource, declared: the filters a caller may give. A filter is a
    column lookup (``"name__icontains"``), a lookup and a conversion of the value
    (``("starts_at__gte", to_utc)``), or a function of the query, the value and the
    caller. The list is always the caller's visible rows (``RequestAuth.listing``);
    a filter left out (``None``) is not applied.

    A column filter on a column that names another resource's rows (``unit_id`` of a
    concern, see ``target_of``) only matches when the caller may read the object named:
    filtering by an object the caller cannot see answers exactly as filtering by one
    that does not exist (an empty list), in the same one SQL statement."""

    resource: str
    filters: Mapping[str, Filter] = field(default_factory=dict)

    def __call__(self, auth: RequestAuth, **values: Any) -> QuerySet[Any]:
        query = auth.listing(self.resource)
        for name, value in values.items():
            how = self.filters[name]
            if value is None:
                continue
            if isinstance(how, str):
                query = query.filter(**{how: value})
                target = target_of(self.resource, how)
                if target is not None:
                    readable = auth.visible(target).filter(id=value).values("id")
                    query = query.filter(**{f"{how}__in": Subquery(readable)})
            elif isinstance(how, tuple):
                query = query.filter(**{how[0]: how[1](value)})
            else:
                query = how(query, value, auth)
        return query


def listing(resource: str, *columns: str, **filters: Filter) -> Listing:
    """``Listing(resource, ...)``: each name in ``columns`` filters the column of that name."""
    return Listing(resource, {**{column: column for column in columns}, **filters})


# ------------------------------------------------------------------ plain rows
# The compiled read path (``schema/compiled.py``) reads the same rows through the same
# filters as above, as plain dicts of the named fields (no model objects): each value is
# what the model's attribute would hold (Tortoise's own ``to_python_value``).


def converter(resource_model: Any, name: str) -> Callable[[Any], Any] | None:
    """How the database's value of field ``name`` becomes the model attribute's value
    (Tortoise's ``to_python_value``), or None where it is the same (a native type)."""
    native = {field for _, field, *_ in resource_model._meta.db_native_fields}
    return None if name in native else resource_model._meta.fields_map[name].to_python_value


def conversion(convert: Callable[[Any], Any]) -> tuple[str, Any]:
    """What a ``converter`` does, where a shortcut gives the same value: ("enum", the
    enum class) for an enum column; ("aware", the default zone) for a timestamp column,
    whose aware value is moved to that zone; ("", None) otherwise."""
    found = getattr(convert, "__self__", None)
    if isinstance(found, CharEnumFieldInstance):
        return "enum", found.enum_type
    if isinstance(found, fields.DatetimeField) and timezone.get_use_tz():
        return "aware", timezone.get_default_timezone()
    return "", None


def is_utc(zone: Any) -> bool:
    """``zone`` is UTC (the offset is always zero)."""
    return zone is UTC or getattr(zone, "key", None) == "UTC" or str(zone) == "UTC"


def json_value(alias: str, kind: str, value: Any) -> str:
    """PostgreSQL's expression of one answer field of a row of ``alias``, exactly as the
    compiled path's answer function writes it (``schema.compiled.ObjectPlan.json_fields``):
    "typename" (the name), "id" (the column as text), "text" and "plain" (the column as
    it is: text, an integer, a boolean), "enum" (the column mapped to the enum's answers),
    "utc_iso" (a timestamp as Python's ``isoformat()`` in UTC: microseconds only when
    not zero)."""
    if kind == "typename":
        return _quote_text(value)
    if kind == "enum":
        column, answers = value
        cases = " ".join(f"WHEN {_quote_text(raw)} THEN {_quote_text(answer)}" for raw, answer in answers)
        return f'CASE "{alias}"."{column}" {cases} END'
    column = f'"{alias}"."{value}"'
    if kind == "id":
        return f"{column}::text"
    if kind == "utc_iso":
        utc = f"({column} AT TIME ZONE 'UTC')"
        micro = f"(extract(microseconds from {utc})::bigint % 1000000)"
        return (
            f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN {micro} = 0 "
            f"THEN '' ELSE '.' || lpad({micro}::text, 6, '0') END || '+00:00'"
        )
    return column


# One pooled connection for the statements of one request (``one_connection``), on
# PostgreSQL outside a transaction; otherwise each statement goes through Tortoise's client.
class _Pinned:
    """The request's connection, taken from the pool at its first statement (a request
    that needs none, ``{ me { name } }``, takes none)."""

    def __init__(self, db: Any):
        self.db = db
        self.holder: Any = None
        self.connection: Any = None

    async def get(self) -> Any:
        if self.connection is None:
            self.holder = self.db.acquire_connection()
            self.connection = await self.holder.__aenter__()
        return self.connection

    async def release(self) -> None:
        if self.holder is not None:
            holder, self.holder, self.connection = self.holder, None, None
            await holder.__aexit__(None, None, None)


_PINNED: contextvars.ContextVar[_Pinned | None] = contextvars.ContextVar("bandeng_pinned", default=None)


@contextlib.asynccontextmanager
async def one_connection() -> AsyncIterator[None]:
    """The plain-row reads inside run on one pooled connection, taken once (PostgreSQL;
    inside a transaction, or on SQLite, the client's own connection already is one)."""
    db = connections.get("default")
    if (
        _PINNED.get() is not None
        or not isinstance(db, AsyncpgDBClient)
        or isinstance(db, TransactionalDBClient)
    ):
        yield
        return
    pinned = _Pinned(db)
    token = _PINNED.set(pinned)
    try:
        yield
    finally:
        _PINNED.reset(token)
        await pinned.release()


async def _execute(db: Any, sql: str, params: list[Any]) -> list[Any]:
    pinned = _PINNED.get()
    if pinned is not None and pinned.db is db:
        connection = await pinned.get()
        db.log.debug("%s: %s", sql, params)  # logged as Tortoise logs its own statements
        return list(await connection.fetch(sql, *params))
    _, rows = await db.execute_query(sql, params)
    return list(rows)


@dataclass(frozen=True)
class Statement:
    """A built statement: run it again with ``run`` (no query building)."""

    sql: str
    params: tuple[Any, ...]
    connection: str  # its name: the client is looked up when it runs (clients are replaced)

    async def run(self) -> list[Any]:
        return await _execute(connections.get(self.connection), self.sql, list(self.params))


# A root page's statement is kept per caller and arguments (``schema/compiled.py``), so
# on PostgreSQL its values can be written into its text: a statement without parameters
# is planned once per connection and its plan reused (PostgreSQL never re-plans a
# prepared statement that has no parameters, whatever ``plan_cache_mode`` says), where
# with parameters it is planned on every run (``force_custom_plan``, see
# services/config.py): 0.2-0.3 ms of the database's time per request (bench/peer.py's W1
# and W2). Only values with an exact literal are written (integers, booleans, text
# without NUL, aware timestamps); any other leaves the statement as it was. Text is a
# standard SQL string (quotes doubled; ``standard_conforming_strings`` is on for every
# session, services/config.py), so no value can end the literal.


def _literal(value: Any) -> str | None:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return None if "\x00" in value else "'" + str.replace(value, "'", "''") + "'"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"'{value.isoformat()}'::timestamptz"
    return None


def inlined(statement: Statement) -> Statement:
    """``statement`` with its values written as literals (PostgreSQL), when all can be."""
    if not statement.params or connections.get(statement.connection).capabilities.dialect != "postgres":
        return statement
    literals = [_literal(value) for value in statement.params]
    if any(literal is None for literal in literals):
        return statement
    sql = re.sub(r"\$(\d+)", lambda m: literals[int(m.group(1)) - 1] or "", statement.sql)
    return Statement(sql, (), statement.connection)


def statement(query: QuerySet[Any], names: tuple[str, ...]) -> Statement:
    """The SQL that reads the fields ``names`` of ``query``'s rows."""
    db, sql, params = parameterized(query.values(*names))
    return Statement(sql, tuple(params), db.connection_name)


def page_statement(page: PageQuery, names: tuple[str, ...]) -> Statement:
    """The SQL that reads the fields ``names`` of a page's rows (``PageQuery.sql``)."""
    db, sql, params = page.sql(names)
    return Statement(sql, tuple(params), db.connection_name)


async def raw_rows(query: QuerySet[Any], names: tuple[str, ...]) -> list[Any]:
    """The rows of ``query`` with the fields ``names``, as the driver returns them
    (mappings by field name; values not converted: see ``converter``)."""
    return await statement(query, names).run()


# The nested statements' SQL, built once per (statement, caller's grants) and reused with
# other parent ids: Tortoise builds it with one placeholder id (``_ANY``), whose ``IN ($n)``
# becomes ``= ANY($n)`` (PostgreSQL, one array) or ``IN (SELECT value FROM json_each(?))``
# (SQLite, one JSON array). The grants are the whole input of the visibility condition
# (``Plan.condition``), so the same grants mean the same SQL.
_ANY = -7_236_541_009  # an id no row has
_STATEMENTS: OrderedDict[tuple, tuple[str, list, int]] = OrderedDict()
_STATEMENTS_KEPT = 2048


def _statement(
    key: tuple, build: Callable[[], tuple[str, list]], column: str | None, dialect: str
) -> tuple[str, list, int]:
    """The cached statement ``key``: its SQL, its parameters, where the ids go. ``build``
    makes it with ``_ANY`` in ``column``'s ``IN`` list, rewritten here to take one array;
    with ``column`` None the built statement takes the array already (``_per_parent``)."""
    found = _STATEMENTS.get(key)
    if found is not None:
        _STATEMENTS.move_to_end(key)
        return found
    sql, params = build()
    position = params.index(_ANY)
    if column is None:
        pass
    elif dialect == "postgres":
        old, new = f'"{column}" IN (${position + 1})', f'"{column}" = ANY(${position + 1})'
        assert sql.count(old) == 1, sql
        sql = sql.replace(old, new)
    else:
        marks = [i for i, char in enumerate(sql) if char == "?"]
        at = marks[position]
        assert sql[at - len(f'"{column}" IN (') : at] == f'"{column}" IN (', sql
        sql = sql[:at] + "SELECT value FROM json_each(?)" + sql[at + 1 :]
    found = (sql, list(params), position)
    _STATEMENTS[key] = found
    if len(_STATEMENTS) > _STATEMENTS_KEPT:
        _STATEMENTS.popitem(last=False)
    return found


def _with_ids(statement: tuple[str, list, int], ids: Sequence[int], dialect: str) -> tuple[str, list]:
    sql, params, position = statement
    bound = list(params)
    unique = sorted(set(ids))
    bound[position] = unique if dialect == "postgres" else json.dumps(unique)
    return sql, bound


def _order_terms(order: str) -> list[str]:
    """A relation's order as fields, ties by id (``-`` for descending)."""
    return [order, "id"] if order not in ("id", "-id") else [order]


def _per_parent(
    visible: QuerySet[Any], parent_field: str, order: str, first: int, names: tuple[str, ...]
) -> tuple[str, list, str]:
    """PostgreSQL: one parent's first ``first`` visible rows as a subquery of the parent
    ``"parent"."id"``, and ``unnest`` of the parents' ids (one array parameter, ``_ANY``
    until bound): an index scan per parent on its key, only the columns asked for, the
    page size as a literal (a prepared ``LIMIT $n`` gets a generic plan that can be
    several times slower)."""
    query = visible.filter(**{parent_field: _ANY}).order_by(*_order_terms(order)).values(*names)
    _, sql, params = parameterized(query)
    position = params.index(_ANY)
    column = _column(visible.model, parent_field)
    old = f'"{column}"=${position + 1}'
    assert sql.count(old) == 1, sql
    page = sql.replace(old, f'"{column}"="parent"."id"') + f" LIMIT {int(first)}"
    return page, params, f'unnest(${position + 1}::bigint[]) AS "parent"("id")'


def builds_json() -> bool:
    """Whether the database builds nested JSON lists for the compiled path (PostgreSQL)."""
    return connections.get("default").capabilities.dialect == "postgres"


async def json_children_of(
    auth: RequestAuth,
    resource: str,
    parent_field: str,
    parent_ids: Sequence[int],
    order: str,
    first: int,
    fields: tuple[tuple[str, str, Any], ...],
) -> dict[int, str]:
    """PostgreSQL: for each parent id, the JSON array of its first ``first`` visible
    children (as ``raw_children_of``), each an object of ``fields`` ((key, "text" or "id",
    column) or (key, "typename", name)), built by the database in one statement."""
    if first <= 0 or not parent_ids:
        return {}
    db = models_by_name()[resource]._meta.db
    key = ("json_children", resource, auth.plan(resource).grants, parent_field, order, first, fields)

    def build() -> tuple[str, list]:
        terms = _order_terms(order)
        columns = {
            value[0] if kind == "enum" else value for _, kind, value in fields if kind != "typename"
        } | {t.lstrip("-") for t in terms}
        page, params, parents = _per_parent(
            auth.visible(resource), parent_field, order, first, tuple(sorted(columns))
        )
        pairs = ", ".join(
            f"{_quote_text(name)}, {json_value('page', kind, value)}" for name, kind, value in fields
        )
        ordering = ", ".join(
            f'"page"."{t.lstrip("-")}" {"DESC" if t.startswith("-") else "ASC"}' for t in terms
        )
        sql = (
            f'SELECT "parent"."id" AS "parent", (SELECT json_agg(json_build_object({pairs}) ORDER BY {ordering}) '
            f'FROM ({page}) AS "page")::text AS "json" FROM {parents}'
        )
        return sql, params

    sql, params = _with_ids(_statement(key, build, None, "postgres"), parent_ids, "postgres")
    return {row["parent"]: row["json"] for row in await _execute(db, sql, params) if row["json"] is not None}


# ------------------------------------------------------------- nested in one statement
# On PostgreSQL a root page and its nested relations can be read by ONE statement: each
# relation is a subquery of its parent's row (the same visibility filter, key and page
# size as the statements above), whose rows come back as JSON arrays of their columns
# (``json_build_array``), decoded in Python into the same plain rows the separate
# statements would have returned. A nested list made of text and ids only is built by
# PostgreSQL as the answer's JSON itself (``json_build_object``), as ``json_children_of``.
# Only columns whose JSON form converts back exactly are read this way: integers, text,
# booleans, timestamps (as microseconds since 1970, whatever the session's time zone)
# and dates (as days since 2000-01-01).

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_ZERO = date(2000, 1, 1)
_INT_FIELDS = (fields.IntField, fields.BooleanField)  # BigInt, SmallInt: subclasses of IntField
_TEXT_FIELDS = (fields.CharField, fields.TextField)  # CharEnumField: a CharField


def json_encoding(model: Any, name: str) -> str | None:
    """How field ``name`` of ``model`` travels in a nested JSON array: "plain", "datetime",
    "date"; None when its JSON form would not convert back exactly (floats, JSON)."""
    found = model._meta.fields_map.get(name)
    if isinstance(found, (*_INT_FIELDS, *_TEXT_FIELDS)):
        return "plain"
    if isinstance(found, fields.DatetimeField):
        return "datetime"
    if isinstance(found, fields.DateField):
        return "date"
    return None


def _decode_datetime(value: Any) -> Any:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _decode_date(value: Any) -> Any:
    return None if value is None else _DATE_ZERO + timedelta(days=value)


DECODERS: dict[str, Callable[[Any], Any] | None] = {
    "plain": None,
    "datetime": _decode_datetime,
    "date": _decode_date,
}


def _encoded(alias: str, name: str, encoding: str) -> str:
    column = f'"{alias}"."{name}"'
    if encoding == "datetime":
        return f"(extract(epoch from {column}) * 1000000)::bigint"
    if encoding == "date":
        return f"({column} - DATE '2000-01-01')"
    return column


@dataclass(frozen=True)
class Nested:
    """A relation read inside its parent's statement. ``many``: the first ``first``
    visible rows of ``resource`` whose ``column`` holds the parent's id, by ``order``;
    otherwise the visible row whose id is in the parent's ``column``. Each row is a JSON
    array: ``names`` (as ``encodings`` say), then each of ``nested``'s value. With
    ``fields`` ((key, "text" or "id", column) or (key, "typename", name)) a list is
    built as the answer's JSON objects instead (a root page's lists of leaves)."""

    resource: str
    many: bool
    column: str
    names: tuple[str, ...]
    encodings: tuple[str, ...]
    nested: tuple[Nested, ...] = ()
    order: str = "id"
    first: int = 0
    fields: tuple[tuple[str, str, Any], ...] | None = None


def _bound_to(sql: str, params: list[Any], position: int, expression: str) -> tuple[str, list[Any]]:
    """``sql`` with its parameter ``$position`` (used once) replaced by ``expression``,
    the later parameters renumbered down by one."""
    pattern = re.compile(rf"\${position}(?!\d)")
    assert len(pattern.findall(sql)) == 1, sql
    sql = pattern.sub(lambda m: expression, sql)
    sql = re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) - (int(m.group(1)) > position)}", sql)
    return sql, params[: position - 1] + params[position:]


def nested_sql(auth: RequestAuth, nested: Nested, outer: str, counter: Any, params: list[Any]) -> str:
    """The subquery (a JSON value) of ``nested`` for the row ``outer`` (an alias); its
    parameters are appended to ``params``."""
    alias = f"n{next(counter)}"
    visible = auth.visible(nested.resource)
    selected = set(nested.names)
    if nested.many:
        terms = _order_terms(nested.order)
        selected |= {t.lstrip("-") for t in terms}
        query = visible.filter(**{nested.column: _ANY}).order_by(*terms).values(*sorted(selected))
        link = f'"{outer}"."id"'
    else:
        query = visible.filter(id=_ANY).values(*sorted(selected))
        link = f'"{outer}"."{nested.column}"'
    _, sql, own = parameterized(query)
    sql, own = _bound_to(sql, own, own.index(_ANY) + 1, link)
    if nested.many:
        sql += f" LIMIT {int(nested.first)}"
    sql = renumber(sql, len(params))
    params.extend(own)
    if nested.fields is not None:
        pairs = ", ".join(
            f"{_quote_text(key)}, {json_value(alias, kind, value)}" for key, kind, value in nested.fields
        )
        value = f"json_build_object({pairs})"
    else:
        parts = [_encoded(alias, n, e) for n, e in zip(nested.names, nested.encodings, strict=True)]
        parts += [nested_sql(auth, inner, alias, counter, params) for inner in nested.nested]
        value = f"json_build_array({', '.join(parts)})"
    if not nested.many:
        return f'(SELECT {value} FROM ({sql}) AS "{alias}")'
    ordering = ", ".join(
        f'"{alias}"."{t.lstrip("-")}" {"DESC" if t.startswith("-") else "ASC"}'
        for t in _order_terms(nested.order)
    )
    return f'(SELECT json_agg({value} ORDER BY {ordering}) FROM ({sql}) AS "{alias}")'


def folded_page_statement(
    auth: RequestAuth, page: PageQuery, names: tuple[str, ...], folds: Sequence[Nested]
) -> Statement:
    """A root page with its nested relations (``Nested``) in one statement (PostgreSQL):
    the page's columns ``names``, then one column ``_f<i>`` per fold (JSON as text)."""
    db, sql, params = page.sql(names)
    params = list(params)
    counter = itertools.count(1)
    columns = [
        f'({nested_sql(auth, fold, "n0", counter, params)})::text AS "_f{i}"' for i, fold in enumerate(folds)
    ]
    order = "DESC" if page.newest_first else "ASC"
    folded = f'SELECT "n0".*, {", ".join(columns)} FROM ({sql}) AS "n0" ORDER BY "n0"."id" {order}'
    return Statement(folded, tuple(params), db.connection_name)


def _quote_text(text: str) -> str:
    """A SQL string literal (for keys and type names: GraphQL names, never client text)."""
    return "'" + text.replace("'", "''") + "'"


async def raw_by_ids(
    auth: RequestAuth, resource: str, ids: Sequence[int], names: tuple[str, ...]
) -> dict[int, Any]:
    """Visible rows of ``resource`` with these ids (as ``by_ids``), by id: one cached statement."""
    db = models_by_name()[resource]._meta.db
    dialect = db.capabilities.dialect
    key = ("by_ids", resource, auth.plan(resource).grants, names, dialect)

    def build() -> tuple[str, list]:
        _, sql, params = parameterized(auth.visible(resource).filter(id__in=[_ANY]).values(*names))
        return sql, params

    sql, params = _with_ids(_statement(key, build, "id", dialect), ids, dialect)
    return {row["id"]: row for row in await _execute(db, sql, params)}


async def raw_children_of(
    auth: RequestAuth,
    resource: str,
    parent_field: str,
    parent_ids: Sequence[int],
    order: str,
    first: int,
    names: tuple[str, ...],
) -> dict[int, list[Any]]:
    """The first ``first`` visible children of each parent (as ``children_of``), by parent
    id, in one cached statement; ``names`` includes ``parent_field``."""
    if first <= 0 or not parent_ids:
        return {}
    model = models_by_name()[resource]
    db = model._meta.db
    dialect = db.capabilities.dialect
    key = ("children", resource, auth.plan(resource).grants, parent_field, order, first, names, dialect)

    def build() -> tuple[str, list]:
        if dialect == "postgres":
            page, params, parents = _per_parent(auth.visible(resource), parent_field, order, first, names)
            return f'SELECT "page".* FROM {parents} CROSS JOIN LATERAL ({page}) AS "page"', params
        query = auth.visible(resource).filter(**{f"{parent_field}__in": [_ANY]})
        columns = ", ".join(f'"{_column(model, name)}" AS "{name}"' for name in names)
        sql, params = _ranked(query, parent_field, order, first, columns)
        return sql, list(params)

    # On PostgreSQL the lateral join takes the parents' ids as its array already.
    column = None if dialect == "postgres" else _column(model, parent_field)
    sql, params = _with_ids(_statement(key, build, column, dialect), parent_ids, dialect)
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in await _execute(db, sql, params):
        grouped[row[parent_field]].append(row)
    return grouped


async def linked_ids_by_parent(
    auth: RequestAuth, relation: Through, parent_ids: Sequence[int], first: int
) -> dict[int, list[int]]:
    """For each parent id, the ids of its first ``first`` linked objects the caller may see."""
    if first <= 0 or not parent_ids:
        return {}
    found = await linked_ids(auth, relation, list(parent_ids), first)
    return dict(zip(parent_ids, found, strict=True))
