"""Strict input: what a client may send in a string, checked once per request before any SQL.

Every ``String`` argument and input field declares its maximum length in one place,
``text_argument`` / ``text_field`` (or ``Input(max_length=...)`` for the declared workflow
inputs): the declaration writes the sentence into the SDL description and stores the
number in the field's metadata, which ``StrictInput`` reads. Every ``ID`` is an id:
canonical decimal (``services.ids.ID_RULE``). No string anywhere may hold a NUL or a lone
surrogate. A refusal is ``BAD_USER_INPUT`` naming the argument and the limit, never
echoing the value: ``category``; within a mutation's ``input``, the field by its path
there, as the services name it too (``description``, ``parties[0].name``).

The check walks the operation that is about to run (its fragments once each; the list of
its arguments is kept per parsed document), literal values and variable values alike,
nested input objects and lists included; nothing is hooked per field, so reads pay
nothing per resolved value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.pyutils import Undefined
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from services.errors import BadUserInput
from services.ids import MAX_ID, bad_id, is_canonical_id, text_problem

MAX_LENGTH = "bandeng.max_length"  # metadata key of a declared limit
BACKREF = "strawberry-definition"  # where Strawberry keeps a GraphQL definition's source


def describe_limit(description: str, max_length: int, *, each: bool = False) -> str:
    """The SDL sentence of a limit, after the field's own description."""
    return f"{description.rstrip()} {'Each at' if each else 'At'} most {max_length} characters."


def text_argument(description: str, max_length: int, *, each: bool = False) -> Any:
    """A ``String`` argument (or list of them) of at most ``max_length`` characters."""
    return strawberry.argument(
        description=describe_limit(description, max_length, each=each), metadata={MAX_LENGTH: max_length}
    )


def text_field(description: str, max_length: int, *, each: bool = False, **field: Any) -> Any:
    """A ``String`` input field (or list of them) of at most ``max_length`` characters."""
    return strawberry.field(
        description=describe_limit(description, max_length, each=each),
        metadata={**field.pop("metadata", {}), MAX_LENGTH: max_length},
        **field,
    )


def declared_limit(definition: Any) -> int | None:
    """The limit declared for a GraphQL argument or input field (None: none declared)."""
    source = (definition.extensions or {}).get(BACKREF)
    metadata = getattr(source, "metadata", None) or {}
    return metadata.get(MAX_LENGTH)


# ------------------------------------------------------------------------------ checking


def check_text(value: str, name: str, limit: int | None, is_id: bool) -> None:
    """One string against the rules of the position it is sent to."""
    problem = text_problem(value)
    if problem:
        raise BadUserInput(f"`{name}` {problem}.", argument=name)
    if is_id:
        if not is_canonical_id(value):
            raise bad_id(name)
    elif limit is not None and len(value) > limit:
        raise BadUserInput(
            f"`{name}` is longer than {limit} characters ({len(value)} given).",
            argument=name,
            maxLength=limit,
        )


def check_value(value: Any, type_: Any, name: str, limit: int | None) -> None:
    """``value`` (plain JSON-like data, variables substituted) sent where ``type_`` is expected."""
    if value is None or value is Undefined:
        return
    type_ = get_nullable_type(type_)
    if is_list_type(type_):
        if isinstance(value, list):
            for index, item in enumerate(value):
                check_value(item, type_.of_type, f"{name}[{index}]", limit)
        else:  # a single value stands for a list of one
            check_value(value, type_.of_type, name, limit)
        return
    if is_input_object_type(type_) and isinstance(value, dict):
        for key, item in value.items():
            field = type_.fields.get(key) if isinstance(key, str) else None
            if field is None:  # unknown: graphql-core refuses it by name; the name must be printable
                scan(key, name or "input")
                scan(item, f"{name}.{key}" if name else key)
            else:
                check_value(item, field.type, f"{name}.{key}" if name else key, declared_limit(field))
        return
    is_id = get_named_type(type_).name == "ID"
    if isinstance(value, str):
        check_text(value, name, limit, is_id)
    elif is_id and isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value <= MAX_ID:
            raise bad_id(name)
    else:
        scan(value, name)  # of another type (refused by graphql-core later), maybe with strings inside


def scan(value: Any, name: str) -> None:
    """NUL and lone surrogates anywhere in ``value`` (dict keys included)."""
    if isinstance(value, str):
        check_text(value, name, None, False)
    elif isinstance(value, list):
        for item in value:
            scan(item, name)
    elif isinstance(value, dict):
        for key, item in value.items():
            scan(key, name)
            scan(item, name)


@dataclass(frozen=True)
class _Site:
    """One argument of the operation: where it is written and what it is declared as."""

    node: ArgumentNode
    type: Any
    limit: int | None


def _sites(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> list[_Site]:
    """Every argument of the operation and of the fragments it uses (each fragment once,
    however often it is spread: linear in the document). Validation has passed, so every
    field, argument and fragment named exists."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: set[str] = set()
    sites: list[_Site] = []
    pending: list[tuple[SelectionSetNode, Any]] = [
        (operation.selection_set, schema.get_root_type(operation.operation))
    ]
    while pending:
        selection_set, parent = pending.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = _field(schema, parent, selection.name.value)
                if field is None:
                    continue
                for argument in selection.arguments or ():
                    definition = field.args.get(argument.name.value)
                    if definition is not None:
                        sites.append(_Site(argument, definition.type, declared_limit(definition)))
                if selection.selection_set is not None:
                    pending.append((selection.selection_set, get_named_type(field.type)))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                pending.append(
                    (selection.selection_set, schema.get_type(condition.name.value) if condition else parent)
                )
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(
                        (fragment.selection_set, schema.get_type(fragment.type_condition.name.value))
                    )
    return sites


def _field(schema: GraphQLSchema, parent: Any, name: str) -> Any:
    """The definition of field ``name`` of ``parent`` (introspection fields included)."""
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef
    if name == "__typename":
        return TypeNameMetaFieldDef
    return getattr(parent, "fields", {}).get(name)


# (schema, document, operation name) -> the operation's arguments; the documents come from
# the parser cache, so a repeated query is planned once.
_PLANS: OrderedDict[tuple[int, int, str | None], tuple[GraphQLSchema, DocumentNode, list[_Site]]] = (
    OrderedDict()
)
_PLANS_SIZE = 256


def _plan(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, name: str | None
) -> list[_Site]:
    key = (id(schema), id(document), name)
    cached = _PLANS.get(key)
    if cached is not None and cached[0] is schema and cached[1] is document:
        _PLANS.move_to_end(key)
        return cached[2]
    sites = _sites(schema, document, operation)
    _PLANS[key] = (schema, document, sites)
    if len(_PLANS) > _PLANS_SIZE:
        _PLANS.popitem(last=False)
    return sites


def check_operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> GraphQLError | None:
    """The first input of the operation to run that breaks the rules, as a GraphQL error."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None  # graphql-core says which operation is missing
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        key = definition.variable.name.value
        if key in variables:
            values[key] = variables[key]
        elif definition.default_value is not None:
            values[key] = value_from_ast_untyped(definition.default_value)
    for site in _plan(schema, document, operation, operation_name):
        value = value_from_ast_untyped(site.node.value, values)
        name = site.node.name.value
        if name == "input" and isinstance(value, dict):
            name = ""  # a mutation's one `input`: its fields go by their own names, as the services name them
        try:
            check_value(value, site.type, name, site.limit)
        except BadUserInput as refused:
            return GraphQLError(refused.message, site.node, original_error=refused)
    try:
        for key, value in variables.items():  # what no argument received (unused, or mistyped)
            scan(key, "variables")  # a name that is not text is not echoed
            scan(value, f"${key}")
    except BadUserInput as refused:
        return GraphQLError(refused.message, original_error=refused)
    return None


class StrictInput(SchemaExtension):
    """Refuses the operation, before it runs, when an input breaks the rules above."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            variables = context.variables if isinstance(context.variables, Mapping) else {}
            error = check_operation(
                context.schema._schema, context.graphql_document, context.operation_name, variables
            )
            if error is not None:
                context.result = ExecutionResult(data=None, errors=[error])
        yield
