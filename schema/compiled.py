"""Compiled reads: a query whose every field is declared runs from a plan, not field by field.

graphql-core completes a value per field per row, over ORM objects (issue 9: ~46 ms of
CPU for 100 councils with 10 meetings each, 16x PostGraphile). Most of what a client
reads is declared already: a field without a resolver is a column of the row, ``one``,
``many`` and ``reference`` name a relation of ``services.reads``, a root ``listing`` or
``lookup`` names its authorized read, and the few computed fields say how they are read
(``schema.types.READ``). From those declarations an operation becomes a plan, once per
(document, operation):

- per object type selected, the fields to read (the columns, the relations' keys, the
  facts a field rule needs) and how each answer value is made (the GraphQL type's own
  ``serialize``);
- per request, the plan binds the caller: the same ``RequestAuth`` (one
  ``Authorizer.plan()`` per resource and request) filters every read, exactly as the
  root lists, loaders and lookups of the reference executor do, by calling the same
  functions (``listing_query``, ``paginate``, ``services.reads``' filters);
- one SQL statement per relation and nesting level (relations to the same resource at
  one level share it, as the DataLoaders do), reading plain rows (dicts, no model
  objects), and the answer is built directly.

Anything the plan does not know falls back to the reference executor for the whole
operation: mutations and subscriptions, introspection, ``@skip``/``@include``,
interfaces and unions, fields with resolvers of their own (``overdue``,
``availableActions`` ...), guarded relations. So does any error: a root field that would
answer FORBIDDEN, NOT_FOUND, BAD_USER_INPUT or UNAUTHENTICATED is executed again by the
reference executor, so errors, paths, codes and partial nulls are its own, by
construction. Reads have no side effects, so running one again changes nothing.

``BANDENG_COMPILED_READS``: ``on`` (default), ``off``, or ``verify`` (the tests): run
both, answer with the compiled result, and record any difference from the reference
executor's (``MISMATCHES``), which fails the test that caused it.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_enum_type,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types.arguments import convert_arguments

from policies.resources import RESOURCES
from schema.types import (
    READ,
    Attribute,
    Children,
    Derived,
    FromContext,
    Guarded,
    Node,
    Reference,
    Related,
    RootList,
    RootLookup,
    listing_query,
    nested_page_size,
)
from services import reads
from services.authz import models_by_name
from services.ids import parse_id
from services.pagination import DEFAULT_PAGE_SIZE, Page, PageQuery, paginate

log = logging.getLogger("bandeng.compiled")

BACKREF = "strawberry-definition"  # where Strawberry keeps its definition on graphql-core's objects

# ``verify`` mode: the differences found (the tests fail on any), and whether the
# reference executor is running as the check (tests/conftest.py's statement counter
# leaves those statements out: they are not the request's).
MISMATCHES: list[dict[str, Any]] = []
CHECKING: contextvars.ContextVar[bool] = contextvars.ContextVar("bandeng_compiled_checking", default=False)


# How queries ran, since the process started (the tests read it; so can a metric):
# "compiled", "fell_back" (an error: the reference executor answered) or "not_plannable".
STATS: Counter[str] = Counter()


class NotPlannable(Exception):
    """The operation needs the reference executor (the message says why, for the logs)."""


# ---------------------------------------------------------------------------- the plan


@dataclass
class Request:
    """What one execution binds: the caller, the settings, the coerced variables."""

    context: Any
    variables: Any  # graphql-core's VariableValues
    schema: Any  # the Strawberry schema (argument conversion)

    @property
    def auth(self) -> Any:
        return self.context.auth

    def arguments(self, where: FieldRef) -> dict[str, Any]:
        """A field's arguments as its resolver would receive them (Python values); without
        variables they are the document's literals, converted once."""
        constant = not self.variables.coerced
        if constant and where.literal:
            return dict(where.literal)
        raw = get_argument_values(where.definition, where.node, self.variables)
        values = convert_arguments(
            raw,
            where.strawberry.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )
        if constant:
            where.literal.update(values)
        return values


@dataclass(frozen=True)
class FieldRef:
    """A selected field: graphql-core's definition and node, and Strawberry's field."""

    definition: GraphQLField
    node: FieldNode
    strawberry: Any
    parent: str  # the parent type's name
    # its arguments once converted, when the operation has no variables (the literals)
    literal: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


# An answer value from a row and the request's state (the nested rows, by field).
Emit = Callable[[Any, dict], Any]


@dataclass(eq=False)
class RelatedField:
    key: str
    relation: reads.One
    plan: ObjectPlan
    reference: bool = False  # only the id


@dataclass(eq=False)
class ChildrenField:
    key: str
    relation: reads.Many | reads.Through
    plan: ObjectPlan
    where: FieldRef


@dataclass(eq=False)
class ObjectPlan:
    """How the rows of one object type at one place of the query are read and shown."""

    type_name: str
    resource: str | None  # None: a plain object (``Me``), not a stored row
    names: set[str] = field(default_factory=lambda: {"id"})
    emitters: list[tuple[str, Emit]] = field(default_factory=list)
    related: list[RelatedField] = field(default_factory=list)
    children: list[ChildrenField] = field(default_factory=list)

    _emit: Callable[[Any, dict], dict] | None = None

    def emit(self, row: Any, state: dict) -> dict:
        return self.generated()(row, state)

    def json_fields(self) -> tuple[tuple[str, str, Any], ...] | None:
        """When PostgreSQL can write every field of this plan's answer exactly as the
        answer function would (text, ids, ``__typename``, enums, UTC timestamps, integers
        and booleans: ``reads.json_value``), the fields as (key, kind, column or type
        name, and the enum's answers); None otherwise."""
        found: list[tuple[str, str, Any]] = []
        for key, emit in self.emitters:
            inline = getattr(emit, "inline", None)
            typename = getattr(emit, "typename", None)
            json = getattr(emit, "json", None)
            if typename is not None:
                found.append((key, "typename", typename))
            elif inline is not None and inline[2]:
                found.append((key, "id", inline[0]))
            elif inline is not None and inline[1] is None:
                found.append((key, "text", inline[0]))
            elif inline is not None and json is not None:
                found.append((key, json[0], inline[0] if json[1] is None else (inline[0], json[1])))
            else:
                return None
        return tuple(found)

    def generated(self) -> Callable[[Any, dict], dict]:
        """The plan's answer-building function (made once the plan is complete)."""
        emit = self._emit
        if emit is None:
            emit = self._emit = self._generate()
        return emit

    def _generate(self) -> Callable[[Any, dict], dict]:
        """One function per plan that builds the answer object of a row as one
        expression: columns read inline, nested objects and lists as nested dict displays
        and comprehensions (no call per nested row), anything else through its emitter."""
        namespace: dict[str, Any] = {}
        body = self._expression("row", namespace, itertools.count())
        source = f"def emit(row, state):\n    return {body}\n"
        exec(source, namespace)  # names are generated; keys and columns are quoted by repr
        return namespace["emit"]  # type: ignore[no-any-return]

    def _expression(self, var: str, namespace: dict[str, Any], counter: Iterator[int]) -> str:
        items = []
        for key, emit in self.emitters:
            n = next(counter)
            inline = getattr(emit, "inline", None)
            related: RelatedField | None = getattr(emit, "related", None)
            children: ChildrenField | None = getattr(emit, "children", None)
            if inline is not None:
                column, serialize, as_id = inline
                namespace[f"s{n}"] = serialize
                if as_id:
                    value = f"(None if (v{n} := {var}[{column!r}]) is None else s{n}(str(v{n})))"
                elif serialize is None:
                    value = f"{var}[{column!r}]"
                else:
                    value = f"(None if (v{n} := {var}[{column!r}]) is None else s{n}(v{n}))"
            elif related is not None:
                namespace[f"k{n}"] = related
                namespace[f"j{n}"] = (JSON, related)
                found = f"(r{n} := state[k{n}].get({var}[{related.relation.column!r}]))"
                shown = (
                    f"str(r{n}['id'])"
                    if related.reference
                    else related.plan._expression(f"r{n}", namespace, counter)
                )
                value = (
                    f"(state[j{n}].get({var}['id']) if j{n} in state "
                    f"else (None if {found} is None else {shown}))"
                )
            elif children is not None:
                namespace[f"k{n}"] = children
                namespace[f"j{n}"] = (JSON, children)
                namespace["EMPTY"] = EMPTY
                shown = children.plan._expression(f"c{n}", namespace, counter)
                value = (
                    f"(state[j{n}].get({var}['id'], EMPTY) if j{n} in state "
                    f"else [{shown} for c{n} in state[k{n}].get({var}['id'], ())])"
                )
            else:
                namespace[f"e{n}"] = emit
                value = f"e{n}({var}, state)"
            items.append(f"{key!r}: {value}")
        return "{" + ", ".join(items) + "}"


def _serializer(gtype: Any) -> Callable[[Any], Any]:
    """The GraphQL type's own serialisation of a leaf value (or a list of them)."""
    nullable = gtype.of_type if isinstance(gtype, GraphQLNonNull) else gtype
    if isinstance(nullable, GraphQLList):
        item = _serializer(nullable.of_type)
        return lambda v: [None if x is None else item(x) for x in v]
    named = get_named_type(gtype)
    if is_enum_type(named):
        wrapped = getattr(named, "wrapped_cls", None)
        if wrapped is not None:
            names = {
                member: name
                for name, value in named.values.items()  # type: ignore[attr-defined]
                for member in wrapped
                if member.value == value.value
            }
            return lambda v: names[v] if v in names else named.serialize(v)  # type: ignore[attr-defined]
    if named.name in ("String", "ID"):
        return lambda v: v if type(v) is str else named.serialize(v)  # type: ignore[attr-defined]
    return named.serialize  # type: ignore[attr-defined, no-any-return]


def _converted(
    convert: Callable[[Any], Any], serialize: Callable[[Any], Any], gtype: Any
) -> tuple[Callable[[Any], Any], tuple[str, Any] | None]:
    """``serialize(convert(value))``, the same answer sooner for the two common columns:
    an enum (its members' answers computed once) and a timestamp that comes aware from
    the driver (the model's conversion then only moves it to the default zone). Also how
    PostgreSQL can write that answer itself (``reads.json_value``), or None."""
    kind, detail = reads.conversion(convert)
    if kind == "enum":
        answers = {member.value: serialize(member) for member in detail}
        exact = all(isinstance(k, str) and isinstance(v, str) for k, v in answers.items())
        return (lambda v: answers[v] if v in answers else serialize(convert(v))), (
            "enum",
            tuple(answers.items()),
        ) if exact else None
    if kind == "aware":
        iso = get_named_type(gtype).name == "DateTime" and reads.is_utc(detail)
        return (
            lambda v: (
                serialize(v.astimezone(detail))
                if type(v) is datetime and v.tzinfo is not None
                else serialize(convert(v))
            )
        ), ("utc_iso", None) if iso else None
    return (lambda v: serialize(convert(v))), None


def _leaf(
    name: str, gtype: Any, as_id: bool, convert: Callable[[Any], Any] | None, text: bool = False
) -> Emit:
    """A column: the database's value, as the model holds it (``convert``), as the
    ``Node`` type fills it (ids as text), serialised by the GraphQL type. ``text``: the
    column holds text and the type is a String (serialising it changes nothing)."""
    serialize = _serializer(gtype)
    json: tuple[str, Any] | None = None
    if as_id:
        emit = lambda row, state: None if (v := row[name]) is None else serialize(str(v))  # noqa: E731
    elif convert is not None:
        emit = lambda row, state: None if (v := row[name]) is None else serialize(convert(v))  # noqa: E731
        serialize, json = _converted(convert, serialize, gtype)
    else:
        emit = lambda row, state: None if (v := row[name]) is None else serialize(v)  # noqa: E731
        if get_named_type(gtype).name in ("Int", "Boolean") and not isinstance(
            gtype.of_type if isinstance(gtype, GraphQLNonNull) else gtype, GraphQLList
        ):
            json = ("plain", None)  # an int or a boolean: the same JSON from either side
    emit.inline = (name, None if text and not as_id else serialize, as_id)  # type: ignore[attr-defined]
    emit.json = json  # type: ignore[attr-defined]
    return emit


class _Attributes:
    """A plain row seen as an object, its values converted as the model's (``Facts.of``)."""

    __slots__ = ("converters", "row")

    def __init__(self, row: Any, converters: dict[str, Callable[[Any], Any] | None]):
        self.row = row
        self.converters = converters

    def __getattr__(self, name: str) -> Any:
        value = self.row[name]
        convert = self.converters.get(name)
        return value if value is None or convert is None else convert(value)


class Compiler:
    """Plans for one schema, cached per (document text, operation name)."""

    def __init__(self, schema: Any, size: int = 512):
        self.schema = schema
        self.graphql: GraphQLSchema = schema._schema
        self.size = size
        self._plans: OrderedDict[tuple[str, str | None], OperationPlan | str] = OrderedDict()
        # Documents that went through the whole pipeline without variables (parsing,
        # validation, limits, strict input, trusted documents: all depend on the document
        # only) and were answered by their plan: the HTTP layer may answer them again
        # straight from the plan (``app/http.py``, ``BandengGraphQL.fast``).
        self._proven: OrderedDict[tuple[str, str | None], tuple[OperationPlan, Any]] = OrderedDict()

    def prove(self, query: str, operation_name: str | None, plan: OperationPlan, variables: Any) -> None:
        key = (query, operation_name)
        self._proven[key] = (plan, variables)
        self._proven.move_to_end(key)
        if len(self._proven) > self.size:
            self._proven.popitem(last=False)

    def proven(self, query: str, operation_name: str | None) -> tuple[OperationPlan, Any] | None:
        return self._proven.get((query, operation_name))

    async def execute(self, plan: OperationPlan, variables: Any, context: Any) -> dict[str, Any]:
        """The data of a plan for the request's ``context`` (any error is raised: the caller
        then asks the reference executor)."""
        async with reads.one_connection():
            data = await Execution(Request(context, variables, self.schema)).run(plan)
        STATS["compiled"] += 1
        return data

    def plan(self, query: str, document: DocumentNode, operation_name: str | None) -> OperationPlan | str:
        """The plan of the operation, or why there is none (cached either way)."""
        key = (query, operation_name)
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
            return found
        try:
            found = OperationBuilder(self.graphql, document, operation_name).build()
        except NotPlannable as exc:
            found = str(exc)
        self._plans[key] = found
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return found


# Root fields
@dataclass(eq=False)  # hashed by identity: a key of ``_PAGES``
class RootListField:
    key: str
    declared: RootList
    where: FieldRef
    parts: list[tuple[str, Any]]  # Connection: (key, part)
    node_plans: list[ObjectPlan]
    # its nested relations read inside the page's statement (PostgreSQL), by the nested
    # lists' page sizes; None: they cannot be (see ``_foldable``)
    folds: dict[tuple[int, ...], list[Fold]] = field(default_factory=dict)
    foldable: bool | None = None


@dataclass
class RootLookupField:
    key: str
    declared: RootLookup
    where: FieldRef
    plan: ObjectPlan


@dataclass
class FromContextField:
    key: str
    where: FieldRef
    plan: ObjectPlan


@dataclass
class TypenameField:
    key: str
    value: str


RootField = RootListField | RootLookupField | FromContextField | TypenameField


@dataclass
class OperationPlan:
    operation: OperationDefinitionNode
    fields: list[RootField]


class OperationBuilder:
    def __init__(self, graphql: GraphQLSchema, document: DocumentNode, operation_name: str | None):
        self.graphql = graphql
        self.document = document
        self.operation_name = operation_name
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def build(self) -> OperationPlan:
        operation = get_operation_ast(self.document, self.operation_name)
        if operation is None:
            raise NotPlannable("no such operation")
        if operation.operation != OperationType.QUERY:
            raise NotPlannable(f"a {operation.operation.value}")
        if operation.directives:
            raise NotPlannable("directives")
        root = self.graphql.query_type
        assert root is not None
        fields: list[RootField] = []
        for key, nodes in self.collect(root, [operation.selection_set]).items():
            fields.append(self.root_field(root, key, nodes))
        return OperationPlan(operation, fields)

    # -- selections

    def collect(
        self, gtype: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """graphql-core's field collection: response keys in order, nodes merged."""
        found: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if selection.directives:
                    raise NotPlannable("directives")
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    found.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if selection.type_condition is None or self.applies(
                        selection.type_condition.name.value, gtype
                    ):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments.get(name)
                    if fragment is not None and self.applies(fragment.type_condition.name.value, gtype):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        return found

    def applies(self, condition: str, gtype: GraphQLObjectType) -> bool:
        if condition == gtype.name:
            return True
        target = self.graphql.get_type(condition)
        if target is None or is_object_type(target):
            return False
        return self.graphql.is_sub_type(target, gtype)  # type: ignore[arg-type]

    def definition(self, gtype: GraphQLObjectType, nodes: list[FieldNode]) -> FieldRef:
        name = nodes[0].name.value
        definition = gtype.fields.get(name)
        if definition is None:
            raise NotPlannable(f"unknown field {gtype.name}.{name}")
        strawberry_field = (definition.extensions or {}).get(BACKREF)
        if strawberry_field is None:
            raise NotPlannable(f"{gtype.name}.{name} is not a Strawberry field")
        return FieldRef(definition, nodes[0], strawberry_field, gtype.name)

    def object_type(self, gtype: Any, where: str) -> GraphQLObjectType:
        named = get_named_type(gtype)
        if not is_object_type(named):
            raise NotPlannable(f"{where} is abstract")
        return named  # type: ignore[return-value]

    def sub_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return [n.selection_set for n in nodes if n.selection_set is not None]

    # -- root fields

    def root_field(self, root: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> RootField:
        if nodes[0].name.value == "__typename":
            return TypenameField(key, root.name)
        if nodes[0].name.value.startswith("__"):
            raise NotPlannable("introspection")
        where = self.definition(root, nodes)
        declared = where.strawberry.metadata.get(READ)
        if isinstance(declared, RootList):
            return self.root_list(key, declared, where, nodes)
        if isinstance(declared, RootLookup):
            gtype = self.object_type(where.definition.type, key)
            return RootLookupField(key, declared, where, self.object_plan(gtype, self.sub_selections(nodes)))
        if isinstance(declared, FromContext):
            gtype = self.object_type(where.definition.type, key)
            return FromContextField(key, where, self.object_plan(gtype, self.sub_selections(nodes)))
        raise NotPlannable(f"{root.name}.{nodes[0].name.value} has a resolver")

    def root_list(
        self, key: str, declared: RootList, where: FieldRef, nodes: list[FieldNode]
    ) -> RootListField:
        connection = self.object_type(where.definition.type, key)
        parts: list[tuple[str, Any]] = []
        node_plans: list[ObjectPlan] = []
        for part_key, part_nodes in self.collect(connection, self.sub_selections(nodes)).items():
            name = part_nodes[0].name.value
            if name == "__typename":
                parts.append((part_key, ("typename", connection.name)))
            elif name in ("totalCount", "totalCountIsEstimate"):
                parts.append((part_key, (name, None)))
            elif name == "nodes":
                node_type = self.object_type(connection.fields["nodes"].type, "nodes")
                plan = self.object_plan(node_type, self.sub_selections(part_nodes))
                node_plans.append(plan)
                parts.append((part_key, ("nodes", plan)))
            elif name == "pageInfo":
                info_type = self.object_type(connection.fields["pageInfo"].type, "pageInfo")
                keys = []
                for info_key, info_nodes in self.collect(info_type, self.sub_selections(part_nodes)).items():
                    info_name = info_nodes[0].name.value
                    keys.append((info_key, info_name))
                parts.append((part_key, ("pageInfo", (info_type.name, keys))))
            elif name == "edges":
                edge_type = self.object_type(connection.fields["edges"].type, "edges")
                edge_parts: list[tuple[str, Any]] = []
                for edge_key, edge_nodes in self.collect(edge_type, self.sub_selections(part_nodes)).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "node":
                        node_type = self.object_type(edge_type.fields["node"].type, "node")
                        plan = self.object_plan(node_type, self.sub_selections(edge_nodes))
                        node_plans.append(plan)
                        edge_parts.append((edge_key, ("node", plan)))
                    elif edge_name in ("cursor", "__typename"):
                        edge_parts.append((edge_key, (edge_name, edge_type.name)))
                    else:
                        raise NotPlannable(f"edges.{edge_name}")
                parts.append((part_key, ("edges", edge_parts)))
            else:
                raise NotPlannable(f"connection field {name}")
        return RootListField(key, declared, where, parts, node_plans)

    # -- objects

    def object_plan(self, gtype: GraphQLObjectType, selection_sets: list[SelectionSetNode]) -> ObjectPlan:
        definition = (gtype.extensions or {}).get(BACKREF)
        origin = getattr(definition, "origin", None)
        stored = isinstance(origin, type) and issubclass(origin, Node)
        resource = origin.__name__ if stored else None  # type: ignore[union-attr]
        if stored and resource not in RESOURCES:
            raise NotPlannable(f"{gtype.name} is not a stored resource")
        plan = ObjectPlan(gtype.name, resource, names={"id"} if stored else set())
        model = models_by_name()[resource] if stored else None

        def convert(name: str) -> Callable[[Any], Any] | None:
            return None if model is None else reads.converter(model, name)

        for key, nodes in self.collect(gtype, selection_sets).items():
            name = nodes[0].name.value
            if name == "__typename":
                type_name = gtype.name
                typename = lambda row, state, t=type_name: t  # noqa: E731
                typename.typename = type_name  # type: ignore[attr-defined]
                plan.emitters.append((key, typename))
                continue
            where = self.definition(gtype, nodes)
            sfield = where.strawberry
            declared = sfield.metadata.get(READ)
            gfield_type = where.definition.type
            if sfield.base_resolver is None and declared is None:
                if not is_leaf_type(get_named_type(gfield_type)):
                    raise NotPlannable(f"{gtype.name}.{name} is an object without a declaration")
                attribute = sfield.python_name
                plan.names.add(attribute)
                as_id = stored and get_named_type(gfield_type).name == "ID"
                text = get_named_type(gfield_type).name == "String" and _is_text(model, attribute)
                plan.emitters.append((key, _leaf(attribute, gfield_type, as_id, convert(attribute), text)))
            elif isinstance(declared, Attribute) and stored:
                plan.names.add(declared.name)
                text = get_named_type(gfield_type).name == "String" and _is_text(model, declared.name)
                plan.emitters.append(
                    (key, _leaf(declared.name, gfield_type, False, convert(declared.name), text))
                )
            elif isinstance(declared, Guarded) and stored:
                plan.names.add(declared.name)
                facts = RESOURCES[declared.resource]
                columns = [c for c in (facts.scope_column, facts.owner_column, *facts.links.values()) if c]
                plan.names.update(columns)
                converters = {c: convert(c) for c in [*columns, declared.name]}
                plan.emitters.append((key, self.guarded(declared, gfield_type, converters)))
            elif isinstance(declared, Derived) and stored:
                columns = declared.columns or tuple(model._meta.fields_db_projection)  # type: ignore[union-attr]
                plan.names.update(columns)
                plan.emitters.append((key, _derived(declared, gfield_type, {c: convert(c) for c in columns})))
            elif isinstance(declared, Related | Reference) and stored:
                relation = reads.relation(resource, declared.relation)  # type: ignore[arg-type]
                if not isinstance(relation, reads.One) or relation.guard is not None:
                    raise NotPlannable(f"{gtype.name}.{name} is a guarded relation")
                plan.names.add(relation.column)
                if isinstance(declared, Reference):
                    target = ObjectPlan(relation.resource, relation.resource)
                    related = RelatedField(key, relation, target, reference=True)
                else:
                    target_type = self.object_type(gfield_type, name)
                    target = self.object_plan(target_type, self.sub_selections(nodes))
                    related = RelatedField(key, relation, target)
                plan.emitters.append((key, _related(related)))
                plan.related.append(related)
            elif isinstance(declared, Children) and stored:
                relation_many = reads.relation(resource, declared.relation)  # type: ignore[arg-type]
                assert not isinstance(relation_many, reads.One)
                target_type = self.object_type(gfield_type, name)
                target = self.object_plan(target_type, self.sub_selections(nodes))
                children = ChildrenField(key, relation_many, target, where)
                plan.children.append(children)
                plan.emitters.append((key, _children(children)))
            else:
                raise NotPlannable(f"{gtype.name}.{name} has a resolver")
        return plan

    @staticmethod
    def guarded(declared: Guarded, gtype: Any, converters: dict[str, Callable[[Any], Any] | None]) -> Emit:
        """A field rule (``Person.phone`` under ``Person.contact``): the same
        ``may_read_field`` as the resolver, on the plain row's facts."""
        serialize = _serializer(gtype)
        name, resource = declared.name, declared.resource

        def emit(row: Any, state: dict) -> Any:
            seen = _Attributes(row, converters)
            if not state[AUTH].may_read_field(resource, seen):
                return None
            value = getattr(seen, name)
            return None if value is None else serialize(value)

        return emit


def _derived(declared: Derived, gtype: Any, converters: dict[str, Callable[[Any], Any] | None]) -> Emit:
    """A computed field: the resolver's own function on the row's values (as the model
    holds them) and the caller."""
    serialize, function = _serializer(gtype), declared.function

    def emit(row: Any, state: dict) -> Any:
        value = function(_Attributes(row, converters), state[AUTH])
        return None if value is None else serialize(value)

    return emit


def _is_text(model: Any, name: str) -> bool:
    """The model's field ``name`` holds text (a char or text column, never null-converted)."""
    if model is None or name not in model._meta.fields_map:
        return False
    found = model._meta.fields_map[name]
    return getattr(found, "field_type", None) is str and reads.converter(model, name) is None


def _related(related: RelatedField) -> Emit:
    """A nested object (or its id): generated inline into its parent's answer function."""

    def emit(row: Any, state: dict) -> Any:
        value = state[related].get(row[related.relation.column])
        if value is None:
            return None
        return str(value["id"]) if related.reference else related.plan.emit(value, state)

    emit.related = related  # type: ignore[attr-defined]
    return emit


def _children(children: ChildrenField) -> Emit:
    """A nested list: generated inline into its parent's answer function."""

    def emit(row: Any, state: dict) -> Any:
        return [children.plan.emit(v, state) for v in state[children].get(row["id"], ())]

    emit.children = children  # type: ignore[attr-defined]
    return emit


# ---------------------------------------------------------------------------- execution


@dataclass(eq=False)
class Fold:
    """A nested relation read inside its parent's statement (``reads.Nested``): where its
    rows go in the state (``field``), how each column of a row is decoded, its own folds."""

    field: RelatedField | ChildrenField
    nested: reads.Nested
    decoders: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    inner: list[Fold]


def _relation_fields(plan: ObjectPlan) -> list[RelatedField | ChildrenField]:
    return [*plan.related, *plan.children]


def _foldable(plan: ObjectPlan) -> bool:
    """Every relation below ``plan`` can be read inside its parent's statement: lists by
    a key (not through a link table), and only columns that JSON carries back exactly."""
    for relation_field in _relation_fields(plan):
        target = relation_field.plan
        if isinstance(relation_field, ChildrenField) and not isinstance(relation_field.relation, reads.Many):
            return False
        model = models_by_name()[relation_field.relation.resource]
        if any(reads.json_encoding(model, name) is None for name in target.names):
            return False
        if not _foldable(target):
            return False
    return True


def _sizes(plan: ObjectPlan, request: Request, settings: Any) -> list[int]:
    """The page size of each nested list below ``plan``, in the order ``_folds`` walks them."""
    found: list[int] = []
    for relation_field in _relation_fields(plan):
        if isinstance(relation_field, ChildrenField):
            found.append(nested_page_size(settings, request.arguments(relation_field.where).get("first")))
        found += _sizes(relation_field.plan, request, settings)
    return found


def _folds(plan: ObjectPlan, sizes: Iterator[int], root: bool) -> list[Fold]:
    """The folds of ``plan``'s relations (sizes taken in ``_sizes``'s order). A root
    row's list of leaves only is built by PostgreSQL as the answer's JSON."""
    found = []
    for relation_field in _relation_fields(plan):
        target, relation = relation_field.plan, relation_field.relation
        model = models_by_name()[relation.resource]
        names = tuple(sorted(target.names))
        encodings = tuple(reads.json_encoding(model, name) or "" for name in names)
        if isinstance(relation_field, ChildrenField):
            assert isinstance(relation, reads.Many)
            first = next(sizes)
            inner = _folds(target, sizes, False)
            json_fields = target.json_fields() if root and not inner else None
            nested = reads.Nested(
                relation.resource,
                True,
                relation.column,
                names,
                encodings,
                tuple(f.nested for f in inner),
                relation.order,
                first,
                json_fields,
            )
        else:
            inner = _folds(target, sizes, False)
            reference = isinstance(relation_field, RelatedField) and relation_field.reference
            json_fields = target.json_fields() if root and not inner and not reference else None
            nested = reads.Nested(
                relation.resource,
                False,
                relation.column,
                names,
                encodings,
                tuple(f.nested for f in inner),
                fields=json_fields,
            )
        decoders = tuple(
            (name, reads.DECODERS[encoding]) for name, encoding in zip(names, encodings, strict=True)
        )
        found.append(Fold(relation_field, nested, decoders, inner))
    return found


AUTH = "auth"  # the request's RequestAuth, in the state
JSON = "json"  # (JSON, children field): its lists built by PostgreSQL, by parent id
EMPTY = orjson.Fragment(b"[]")
# Root pages' statements, by (field, caller, policy, arguments): see ``root_list``.
_PAGES: OrderedDict[tuple, tuple[reads.Statement, int]] = OrderedDict()
_PAGES_KEPT = 2048


class Execution:
    """One run of a plan for one request. ``state`` holds, per relation field, the rows
    read for it (by id, or by parent id) and the caller's ``RequestAuth``."""

    def __init__(self, request: Request):
        self.request = request
        self.auth = request.auth
        self.settings = request.context.settings
        self.state: dict[Any, Any] = {AUTH: self.auth}

    async def run(self, plan: OperationPlan) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for root in plan.fields:  # one after the other: one connection, in order
            if isinstance(root, TypenameField):
                data[root.key] = root.value
            elif isinstance(root, RootListField):
                data[root.key] = await self.root_list(root)
            elif isinstance(root, RootLookupField):
                data[root.key] = await self.root_lookup(root)
            else:
                data[root.key] = await self.from_context(root)
        return data

    async def root_list(self, root: RootListField) -> dict[str, Any]:
        values = self.request.arguments(root.where)
        first, after = values.pop("first", None), values.pop("after", None)
        read, auth = root.declared.read, self.auth
        names: set[str] = {"id"}
        for plan in root.node_plans:
            names |= plan.names
        columns = tuple(sorted(names))
        folds, sizes = self.folds(root)
        list_name = f"{root.where.parent}.{root.where.node.name.value}"
        counted = any(kind in ("totalCount", "totalCountIsEstimate") for _, (kind, _) in root.parts)
        # The page's statement is kept per (field, caller, policy, arguments) when every
        # filter given is a column's (a function of the caller, e.g. ``overdue``, is not).
        key: tuple | None = None
        if isinstance(read, reads.Listing) and all(
            v is None or not callable(read.filters[k]) for k, v in values.items()
        ):
            nested = None if folds is None else tuple(id(f) for f in folds)
            key = (
                root,
                auth.actor,
                auth.authorizer.version,
                tuple(sorted(values.items())),
                first,
                after,
                nested,
            )
            try:
                hash(key)
            except TypeError:
                key = None
        kept = _PAGES.get(key) if key is not None else None
        if kept is not None:
            _PAGES.move_to_end(key)
            statement, size = kept
            rows = await statement.run()
            query = await listing_query(read, root.declared.ids, auth, values) if counted else None
            page = Page(
                list_name, root.declared.newest_first, rows[:size], len(rows) > size, after is not None, query
            )  # type: ignore[arg-type]
        else:
            query = await listing_query(read, root.declared.ids, auth, values)
            built: list[reads.Statement] = []

            async def fetch(page_query: PageQuery) -> list[Any]:
                if folds is None:
                    built.append(reads.page_statement(page_query, columns))
                else:
                    built.append(
                        reads.folded_page_statement(auth, page_query, columns, [f.nested for f in folds])
                    )
                return await built[0].run()

            page = await paginate(
                query,
                list_name=list_name,
                first=first,
                after=after,
                max_page_size=self.settings.max_page_size,
                newest_first=root.declared.newest_first,
                fetch=fetch,
                exact_count_limit=self.settings.exact_count_limit,
            )
            if key is not None:
                _PAGES[key] = (reads.inlined(built[0]), DEFAULT_PAGE_SIZE if first is None else first)
                if len(_PAGES) > _PAGES_KEPT:
                    _PAGES.popitem(last=False)
        if folds is None:
            for plan in root.node_plans:
                await self.load(plan, page.rows)
        else:
            self.unfold(folds, page.rows)
        state = self.state
        answer: dict[str, Any] = {}
        for key, (kind, detail) in root.parts:
            if kind == "typename":
                answer[key] = detail
            elif kind == "totalCount":
                answer[key] = (await page.total_count()).value
            elif kind == "totalCountIsEstimate":
                answer[key] = not (await page.total_count()).exact
            elif kind == "nodes":
                answer[key] = [detail.emit(row, state) for row in page.rows]
            elif kind == "pageInfo":
                answer[key] = self.page_info(page, *detail)
            else:
                answer[key] = self.edges(page, detail)
        return answer

    def folds(self, root: RootListField) -> tuple[list[Fold] | None, tuple[int, ...]]:
        """The nested relations of a root page read inside its statement, or None (they
        are read one statement per level: SQLite, a link table, a column JSON would not
        carry back exactly, or no relation at all)."""
        if root.foldable is None:
            root.foldable = (
                reads.builds_json()
                and any(_relation_fields(plan) for plan in root.node_plans)
                and all(_foldable(plan) for plan in root.node_plans)
            )
        if not root.foldable:
            return None, ()
        sizes: list[int] = []
        for plan in root.node_plans:
            sizes += _sizes(plan, self.request, self.settings)
        key = tuple(sizes)
        found = root.folds.get(key)
        if found is None:
            taken = iter(sizes)
            found = [fold for plan in root.node_plans for fold in _folds(plan, taken, True)]
            if len(root.folds) < 64:  # page sizes a client chose: a bound, not a policy
                root.folds[key] = found
        return found, key

    def unfold(self, folds: list[Fold], rows: list[Any]) -> None:
        """The nested rows of the page's rows (their ``_f<i>`` columns) into the state."""
        state = self.state
        for i, fold in enumerate(folds):
            column = f"_f{i}"
            if fold.nested.fields is not None:
                lists = state[(JSON, fold.field)] = {}
                for row in rows:
                    if (text := row[column]) is not None:
                        lists[row["id"]] = orjson.Fragment(text)
                continue
            self.prepare(fold)
            for row in rows:
                text = row[column]
                self.take(fold, None if text is None else orjson.loads(text), row)

    def prepare(self, fold: Fold) -> None:
        self.state[fold.field] = {}
        for inner in fold.inner:
            self.prepare(inner)

    def take(self, fold: Fold, value: Any, parent: Any) -> None:
        found = self.state[fold.field]
        if fold.nested.many:
            found[parent["id"]] = [self.row_of(fold, item) for item in value or ()]
        elif value is not None:
            row = self.row_of(fold, value)
            found[row["id"]] = row

    def row_of(self, fold: Fold, values: list[Any]) -> dict[str, Any]:
        row = {
            name: value if decode is None or value is None else decode(value)
            for (name, decode), value in zip(fold.decoders, values, strict=False)
        }
        width = len(fold.decoders)
        for j, inner in enumerate(fold.inner):
            self.take(inner, values[width + j], row)
        return row

    @staticmethod
    def page_info(page: Page, type_name: str, keys: list[tuple[str, str]]) -> dict[str, Any]:
        values = {
            "hasNextPage": page.has_next_page,
            "hasPreviousPage": page.has_previous_page,
            "startCursor": page.start_cursor,
            "endCursor": page.end_cursor,
            "__typename": type_name,
        }
        return {key: values[name] for key, name in keys}

    def edges(self, page: Page, parts: list[tuple[str, Any]]) -> list[dict]:
        answer = []
        for row in page.rows:
            edge: dict[str, Any] = {}
            for key, (kind, detail) in parts:
                if kind == "cursor":
                    edge[key] = page.cursor(row)
                elif kind == "__typename":
                    edge[key] = detail
                else:
                    edge[key] = detail.emit(row, self.state)
            answer.append(edge)
        return answer

    async def root_lookup(self, root: RootLookupField) -> dict[str, Any]:
        values = self.request.arguments(root.where)
        key = parse_id(values["id"], "id")
        query = self.auth.listing(root.declared.resource).filter(id=key)
        rows = await reads.raw_rows(query, tuple(sorted(root.plan.names)))
        if not rows:
            raise LookupError("not found: the reference executor answers NOT_FOUND")
        await self.load(root.plan, rows)
        return root.plan.emit(rows[0], self.state)

    async def from_context(self, root: FromContextField) -> dict[str, Any] | None:
        resolver = root.where.strawberry.base_resolver
        value = resolver.wrapped_func(None, _Info(self.request.context))
        if value is None:
            return None
        return root.plan.emit({name: getattr(value, name) for name in root.plan.names}, self.state)

    # -- nested levels

    async def load(self, plan: ObjectPlan, rows: list[Any]) -> None:
        """Read the relations of ``rows`` (one statement per resource or relation), then theirs."""
        if not rows:
            return
        state = self.state
        # To one object: every relation to the same resource at this level in one statement.
        by_resource: dict[str, list[RelatedField]] = defaultdict(list)
        for related in plan.related:
            by_resource[related.relation.resource].append(related)
        for resource, group in by_resource.items():
            keys = {row[r.relation.column] for r in group for row in rows} - {None}
            names: set[str] = {"id"}
            for r in group:
                names |= r.plan.names
            found = (
                await reads.raw_by_ids(self.auth, resource, list(keys), tuple(sorted(names))) if keys else {}
            )
            for r in group:
                state[r] = found
                if not r.reference:
                    await self.load(r.plan, list(found.values()))
        # To many: one statement per (resource, key, order, page size), as the DataLoaders.
        batches: dict[tuple, list[ChildrenField]] = defaultdict(list)
        sizes: dict[ChildrenField, int] = {}
        for children in plan.children:
            first = nested_page_size(self.settings, self.request.arguments(children.where).get("first"))
            sizes[children] = first
            relation = children.relation
            if isinstance(relation, reads.Through):
                batches[(relation, first)].append(children)
            else:
                batches[(relation.resource, relation.column, relation.order, first)].append(children)
        parent_ids = [row["id"] for row in rows]
        for group in batches.values():
            relation, first = group[0].relation, sizes[group[0]]
            names = {"id"}
            for children in group:
                names |= children.plan.names
            grouped: dict[int, list[Any]]
            if isinstance(relation, reads.Through):
                linked = await reads.linked_ids_by_parent(self.auth, relation, parent_ids, first)
                wanted = {i for ids in linked.values() for i in ids}
                found = (
                    await reads.raw_by_ids(self.auth, relation.resource, list(wanted), tuple(sorted(names)))
                    if wanted
                    else {}
                )
                grouped = {p: [found[i] for i in ids if i in found] for p, ids in linked.items()}
            elif (
                len(group) == 1
                and (fields := group[0].plan.json_fields()) is not None
                and reads.builds_json()
            ):
                # Leaves only (text, ids): PostgreSQL builds each parent's list as JSON,
                # embedded in the answer as it is (orjson.Fragment), no row in Python.
                lists = await reads.json_children_of(
                    self.auth, relation.resource, relation.column, parent_ids, relation.order, first, fields
                )
                state[(JSON, group[0])] = {parent: orjson.Fragment(text) for parent, text in lists.items()}
                continue
            else:
                names.add(relation.column)
                grouped = await reads.raw_children_of(
                    self.auth,
                    relation.resource,
                    relation.column,
                    parent_ids,
                    relation.order,
                    first,
                    tuple(sorted(names)),
                )
            level = [row for rows_of_parent in grouped.values() for row in rows_of_parent]
            for children in group:
                state[children] = grouped
                await self.load(children.plan, level)


@dataclass
class _Info:
    """What a ``FromContext`` resolver reads of ``info``."""

    context: Any


class CompiledReads(SchemaExtension):
    """Runs a plannable query from its plan (after authentication, before the executor)."""

    def __init__(self, compiler: Compiler, mode: str):
        self.compiler = compiler
        self.mode = mode

    async def on_execute(self) -> Iterator[None]:  # type: ignore[override]
        ec = self.execution_context
        compiled = None
        # An extension before this one may have answered already (StrictInput's refusal).
        if (
            self.mode != "off"
            and ec.graphql_document is not None
            and ec.query is not None
            and ec.result is None
        ):
            compiled = await self.run(ec)
        if compiled is None:
            yield
            return
        if self.mode == "verify":
            token = CHECKING.set(True)
            try:
                yield  # the reference executor runs (its result is the check)
            finally:
                CHECKING.reset(token)
            reference = ec.result
            self.compare(ec, compiled, reference)
            ec.result = compiled
            return
        ec.result = compiled
        yield

    async def run(self, ec: Any) -> ExecutionResult | None:
        plan = self.compiler.plan(ec.query, ec.graphql_document, ec.operation_name)
        if isinstance(plan, str):
            STATS["not_plannable"] += 1
            log.debug("not plannable (%s): %s", plan, ec.query)
            return None
        variables = get_variable_values(
            self.compiler.graphql, plan.operation.variable_definitions or (), ec.variables or {}
        )
        if isinstance(variables, list):
            return None  # variable errors: the reference executor reports them
        try:
            data = await self.compiler.execute(plan, variables, ec.context)
        except Exception as exc:  # an error: the reference executor answers it, exactly
            log.debug("compiled read fell back: %r", exc)
            STATS["fell_back"] += 1
            return None
        if not ec.variables:
            # under the name the request gave (None for a named query sent without one):
            # the fast path looks the plan up by the request's own operationName
            self.compiler.prove(ec.query, getattr(ec, "_provided_operation_name", None), plan, variables)
        return ExecutionResult(data=data)

    def compare(self, ec: Any, compiled: ExecutionResult, reference: Any) -> None:
        # through orjson (it embeds the lists PostgreSQL built), then read back
        mine = json.dumps(json.loads(orjson.dumps({"data": compiled.data})), sort_keys=False)
        errors = getattr(reference, "errors", None)
        theirs = json.dumps({"data": getattr(reference, "data", None)}, sort_keys=False, default=str)
        if errors or mine != theirs:
            MISMATCHES.append(
                {
                    "query": ec.query,
                    "variables": ec.variables,
                    "compiled": compiled.data,
                    "reference": getattr(reference, "data", None),
                    "errors": [str(e) for e in errors or ()],
                }
            )
            log.error("compiled read differs from the reference executor: %s", ec.query)
