"""How a GraphQL object type is made from a stored row, once for every type.

A type lists its fields with their descriptions and subclasses ``Node``: ``from_row``
fills every plain field from the row's attribute of the same name (ids as strings), so
a new column never leaks by itself and no type writes its own converter. Nested
objects and lists are declared by name with ``one`` and ``many``; which
column leads where is declared below the schema layer (``services.reads.RELATIONS``),
and every nested read goes through the caller's policy-filtered loaders.
"""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import strawberry
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.lazy_type import StrawberryLazyReference

from schema.context import Info
from schema.input_limits import text_argument
from services import reads
from services.config import Settings
from services.errors import BadUserInput
from services.ids import camel, parse_id
from services.pagination import MAX_CURSOR_LENGTH


@strawberry.type
class Node:
    """A GraphQL type backed by one stored row (kept private: ``row``)."""

    row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Any:
        plan = _PLANS.get(cls)
        if plan is None:
            plan = _PLANS[cls] = _plan(cls)
        values = {}
        for name, convert in plan:
            value = getattr(row, name)
            values[name] = value if value is None or convert is None else convert(value)
        return cls(**values, row=row)

    @classmethod
    def optional(cls, row: Any) -> Any:
        return None if row is None else cls.from_row(row)

    @classmethod
    def many(cls, rows: Iterable[Any]) -> list[Any]:
        return [cls.from_row(row) for row in rows]


# How the compiled read path (``schema/compiled.py``) reads a field, declared with the
# field itself: ``field.metadata[READ]``. A field without a resolver is the row's
# attribute of the same name; every other field declares one of these, or is read by
# the reference executor only.
READ = "read"


@dataclass(frozen=True)
class Attribute:
    """The row's attribute ``name`` (another name for a column, e.g. ``ConcernEvent.kind``)."""

    name: str


@dataclass(frozen=True)
class Guarded:
    """The row's attribute ``name`` when the field resource ``resource`` allows the row
    (``Person.phone`` under ``Person.contact``), else null."""

    resource: str
    name: str


@dataclass(frozen=True)
class Derived:
    """A value computed from the row and the caller by ``function(row, auth)``: the very
    function the field's resolver calls. ``columns``: the row's fields it reads (None:
    every column); a field it reads that is not listed makes the compiled path fall back
    to the reference executor, never answer differently."""

    function: Callable[[Any, Any], Any]
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FromContext:
    """A root field whose resolver reads only the request's context (``me``: the caller's
    identity, no SQL); the compiled path calls it and reads its plain fields."""


@dataclass(frozen=True)
class Related:
    """``one(relation)``: the object the relation points at, when visible."""

    relation: str


@dataclass(frozen=True)
class Children:
    """``many(relation)``: the first ``first`` visible objects of the relation, per parent."""

    relation: str


@dataclass(frozen=True)
class Reference:
    """``reference(relation)``: the id of the object the relation points at, when visible."""

    relation: str


@dataclass(frozen=True)
class RootList:
    """``listing(...)``: a root list of ``read`` (a ``services.reads.Listing``)."""

    read: Any
    ids: frozenset[str]
    newest_first: bool


@dataclass(frozen=True)
class RootLookup:
    """``lookup(resource, ...)``: one visible object by id."""

    resource: str


# A field that shows another object (or its id, or its name) names the relation it
# reads through in its metadata: ``field.metadata[REVEALS]`` (tests/test_denormalised_fields.py
# requires it of every field that names or counts another resource's rows).
REVEALS = "reveals"

# Per type, once: which row attributes fill which fields, and how (ids as strings, lists copied).
_PLANS: dict[type, list[tuple[str, Any]]] = {}


def _plan(cls: type) -> list[tuple[str, Any]]:
    plan = []
    for f in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if f.base_resolver is not None or f.python_name == "row":
            continue
        kind = f.type.of_type if isinstance(f.type, StrawberryOptional) else f.type
        convert = (lambda v: strawberry.ID(str(v))) if kind is strawberry.ID else None
        if isinstance(kind, StrawberryList):
            convert = list
        plan.append((f.python_name, convert))
    return plan


def node_class(type_: Any) -> Any:
    """The class behind a (possibly lazy) annotation."""
    if typing.get_origin(type_) is Annotated:
        target, *metadata = typing.get_args(type_)
        for meta in metadata:
            if isinstance(meta, StrawberryLazyReference):
                return meta.resolve_forward_ref(target).resolve_type()
        return target
    return type_


def one(name: str, type_: Any, description: str) -> Any:
    """A nested object, by the relation ``name`` of the row's resource; null when there is
    none or the caller may not see it."""

    target = functools.cache(lambda: node_class(type_))

    async def resolve(root: Node, info: Info) -> Any:
        row = await reads.related(info.context.loaders, root.row, name)
        return None if row is None else target().from_row(row)

    resolve.__annotations__ = {"root": Node, "info": Info, "return": Optional[type_]}  # noqa: UP045
    return strawberry.field(
        resolver=resolve, description=description, metadata={REVEALS: name, READ: Related(name)}
    )


def reference(name: str, description: str) -> Any:
    """The id of the object the relation ``name`` points at, as a plain ``ID``: null when
    there is none or the caller may not read it, by the same loader (and so the same read
    rule, batched) as ``one(name, ...)``."""

    async def resolve(root: Node, info: Info) -> strawberry.ID | None:
        row = await reads.related(info.context.loaders, root.row, name)
        return None if row is None else strawberry.ID(str(row.id))

    resolve.__annotations__ = {"root": Node, "info": Info, "return": Optional[strawberry.ID]}  # noqa: UP045
    return strawberry.field(
        resolver=resolve, description=description, metadata={REVEALS: name, READ: Reference(name)}
    )


def shown_with(name: str, attribute: str, type_: Any, description: str) -> Any:
    """A value the row keeps that names or describes the object of the relation ``name``
    (a denormalised name): shown when the row names no such object (then it is the row's
    own text, e.g. a team without an account) or when the caller may read the object;
    null otherwise."""

    async def resolve(root: Node, info: Info) -> Any:
        relation = reads.relation(type(root.row).__name__, name)
        assert isinstance(relation, reads.One), name
        if getattr(root.row, relation.column) is not None:
            if await reads.related(info.context.loaders, root.row, name) is None:
                return None
        return getattr(root.row, attribute)

    resolve.__annotations__ = {"root": Node, "info": Info, "return": Optional[type_]}  # noqa: UP045
    return strawberry.field(resolver=resolve, description=description, metadata={REVEALS: name})


NESTED_PAGE_SIZE = 20  # rows of a nested list when ``first`` is not given
MAX_PAGE_SIZE = Settings().max_page_size  # for descriptions: the default of BANDENG_MAX_PAGE_SIZE


def bounded(description: str, root: str | None = None) -> str:
    """A nested list's description, stating its bound (and the root list that pages
    through all of its rows, if any)."""
    text = f"{description} At most `first` per parent (default {NESTED_PAGE_SIZE}, maximum {MAX_PAGE_SIZE})"
    return text + (f"; {root} pages through all of them." if root else ".")


FirstNested = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many to return (default {NESTED_PAGE_SIZE}, maximum {MAX_PAGE_SIZE}; "
        "BAD_USER_INPUT beyond)."
    ),
]


def page_size(info: Info, first: int | None) -> int:
    """A nested list's ``first``, checked against the page-size limit."""
    return nested_page_size(info.context.settings, first)


def nested_page_size(settings: Settings, first: int | None) -> int:
    size = NESTED_PAGE_SIZE if first is None else first
    maximum = settings.max_page_size
    if not 0 <= size <= maximum:
        raise BadUserInput(f"`first` must be between 0 and {maximum}, got {size}.", argument="first")
    return size


def many(name: str, type_: Any, description: str, *, root: str | None = None) -> Any:
    """A nested list, by the relation ``name``: the first ``first`` rows the caller may see
    (per parent, batched: one statement per level). ``root`` names the root list that pages
    through all of them, e.g. ``"`meetings(councilId:)`"``."""

    target = functools.cache(lambda: node_class(type_))

    async def resolve(root: Node, info: Info, first: int | None = NESTED_PAGE_SIZE) -> Any:
        rows = await reads.children(info.context.loaders, root.row, name, page_size(info, first))
        return target().many(rows)

    resolve.__annotations__ = {"root": Node, "info": Info, "first": FirstNested, "return": list[type_]}
    return strawberry.field(
        resolver=resolve,
        description=bounded(description, root),
        metadata={REVEALS: name, READ: Children(name)},
    )


def lazy(name: str, module: str) -> Any:
    """A type defined in another schema module (or later in this one)."""
    return Annotated[name, strawberry.lazy(module)]


def enum_type(python_enum: type[enum.Enum], description: str) -> Any:
    """A model's enum as a GraphQL enum (once per enum)."""
    return strawberry.enum(python_enum, description=description)


# ------------------------------------------------------------------ root fields, commands

First = Annotated[int | None, strawberry.argument(description="Page size (default 20).")]
After = Annotated[
    str | None,
    text_argument(
        "Cursor to continue after: an `endCursor` of this same list (another list's is refused).",
        MAX_CURSOR_LENGTH,
    ),
]


def optional_id(value: strawberry.ID | None, argument: str) -> int | None:
    return None if value is None else parse_id(value, argument)


def lookup(resource: str, type_: Any, noun: str) -> Any:
    """A root lookup by id: the object, or NOT_FOUND whether it is missing or out of scope."""

    target = functools.cache(lambda: node_class(type_))

    async def resolve(info: Info, id: strawberry.ID) -> Any:
        return target().from_row(await info.context.auth.get_visible(resource, id))

    # Set here, not in the signature: annotations are strings under ``from __future__``,
    # and ``type_`` is this call's local.
    resolve.__annotations__ = {
        "info": Info,
        "id": Annotated[strawberry.ID, strawberry.argument(description=f"Identifier of the {noun}.")],
        "return": Optional[type_],  # noqa: UP045
    }
    return strawberry.field(
        resolver=resolve,
        description=f"One {noun}; NOT_FOUND if it does not exist or is out of scope.",
        metadata={READ: RootLookup(resource)},
    )


def listing(type_: Any, read: Any, description: str, *, newest_first: bool = True, **filters: Any) -> Any:
    """A root list: ``read(auth, **filters)`` (an authorized query, see ``services``),
    paged with ``first``/``after``. ``filters`` name the arguments: ``name=(type,
    description)``, each optional, and ``name=(str, description, max_length)`` for text;
    an ``ID`` argument is parsed as an id."""
    from schema.pagination import Connection, connection

    arguments = {name: _filter_argument(name, *spec) for name, spec in filters.items()}
    ids = {name for name, (kind, *_) in filters.items() if kind is strawberry.ID}

    async def resolve(self: Any, info: Info, **values: Any) -> Any:
        first, after = values.pop("first", None), values.pop("after", None)
        query = await listing_query(read, ids, info.context.auth, values)
        return await connection(info, query, first, after, type_.from_row, newest_first=newest_first)

    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
    ]
    annotations: dict[str, Any] = {"info": Info, **arguments, "first": First, "after": After}
    for name in (*arguments, "first", "after"):
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotations[name]
            )
        )
    annotations["return"] = Optional[Connection[type_]]  # noqa: UP045
    resolve.__signature__ = inspect.Signature(parameters, return_annotation=annotations["return"])  # type: ignore[attr-defined]
    resolve.__annotations__ = annotations
    return strawberry.field(
        resolver=resolve,
        description=description,
        metadata={READ: RootList(read, frozenset(ids), newest_first)},
    )


async def listing_query(read: Any, ids: Iterable[str], auth: Any, values: dict[str, Any]) -> Any:
    """The authorized query of a root list for its filters' values (ids parsed)."""
    values = {k: optional_id(v, camel(k)) if k in ids else v for k, v in values.items()}
    query = read(auth, **values)
    if inspect.iscoroutine(query):  # a read that looks something up first (people by unit)
        query = await query
    return query


def _filter_argument(name: str, kind: Any, description: str, max_length: int | None = None) -> Any:
    """One filter of a listing; text declares its maximum length (``schema.input_limits``)."""
    if kind is str:
        if max_length is None:
            raise TypeError(f"The text filter `{name}` needs a maximum length: (str, description, n).")
        return Annotated[kind | None, text_argument(description, max_length)]
    return Annotated[kind | None, strawberry.argument(description=description)]


def mirror(cls: Any, source: Any) -> Any:
    """``cls`` (a plain GraphQL type) filled from ``source``'s attributes of the same names,
    nested lists of GraphQL types included: the figures and reports the services compute
    are shown without a converter per type."""
    values = {}
    for f in cls.__strawberry_definition__.fields:
        value = getattr(source, f.python_name)
        item = getattr(f.type, "of_type", None)
        if value is not None and hasattr(item, "__strawberry_definition__"):
            value = [mirror(item, v) for v in value]
        values[f.python_name] = value
    return cls(**values)
