"""Query limits checked before execution: depth, aliases, directives and estimated cost.

One pass over the operation measures the four figures. Each fragment definition is
measured once, in dependency order, and its figures are reused at every spread (so
fragments that spread each other twice cost linear, not exponential, time); a spread of
an unknown fragment or one inside a cycle counts for nothing (graphql-core's own rules
report those). The walk uses an explicit stack, so deep nesting cannot exhaust Python's
recursion limit.

The cost is the number of rows the query can touch: a connection counts its ``first``
(default page size 20), a nested list its ``first`` (its declared default) or its fixed
cap, a single object one row; each is multiplied by the rows of its parents. Scalars and
the connection structure (``nodes``, ``edges``, ``pageInfo``) are free. An argument
given as a variable counts with the request's value (its declared default when absent,
the maximum when it is not a number). Introspection fields (``__schema``, ``__type``,
``__typename``) count for neither depth nor cost.

The check runs in ``QueryLimits.on_validate`` after graphql-core's validation (cached by
``ValidationCache``), with the request's variables, and refuses the request before the
resolvers run (so before any SQL statement).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_composite_type,
)
from strawberry.extensions import SchemaExtension

from services.config import Settings
from services.pagination import DEFAULT_PAGE_SIZE

# Fields whose list size is fixed by the domain declare it as strawberry metadata:
# ``strawberry.field(..., metadata={CAP: 6})``.
CAP = "bandeng.cap"

# Called with each finished ``Measure`` when set (tests read ``visits`` from it to prove
# that each fragment is measured once per request, not once per spread).
OBSERVER: Callable[[Measure], None] | None = None


@dataclass(frozen=True)
class Figures:
    """What one operation (or one fragment, from its own top level) amounts to."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    cost: int = 0


def _is_structural(type_name: str) -> bool:
    """Types of the connection's structure: they hold the page, they touch no rows."""
    return type_name.endswith(("Connection", "Edge")) or type_name == "PageInfo"


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class Measure:
    """Measures operations of one document against one schema and the request's variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        max_page_size: int,
    ):
        self.schema = schema
        self.max_page_size = max_page_size
        self.variables = dict(variables or {})
        self.variable_defaults: dict[str, Any] = {}
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
        self.memo: dict[str, Figures] = {}
        self.visits: Counter[str] = Counter()  # fragment name -> times its selection was walked

    # ------------------------------------------------------------------ sizes of lists

    def _size(self, value: Any, default: int) -> int:
        """Rows a ``first`` argument asks for, within [0, max page size] (a larger value is
        refused by the resolver with BAD_USER_INPUT, so it never touches more)."""
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                value = self.variables[name]
            else:
                value = self.variable_defaults.get(name)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int):
                return self.max_page_size
            return max(0, min(value, self.max_page_size))
        if value is None or isinstance(value, NullValueNode):
            return default
        if isinstance(value, IntValueNode):
            return max(0, min(int(value.value), self.max_page_size))
        return self.max_page_size  # a wrong literal: validation refuses it anyway

    def _rows(self, node: FieldNode, parent: GraphQLNamedType, field: Any) -> int | None:
        """Rows this field touches per parent row; None for a leaf or the connection's structure."""
        named = get_named_type(field.type)
        if not is_composite_type(named) or _is_structural(parent.name) or named.name == "PageInfo":
            return None
        given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        if named.name.endswith("Connection"):
            return self._size(given, DEFAULT_PAGE_SIZE)
        if not _is_list(field.type):
            return 1
        if "first" in field.args:
            declared = field.args["first"].default_value
            default = declared if isinstance(declared, int) else DEFAULT_PAGE_SIZE
            return self._size(given, default)
        definition = (field.extensions or {}).get("strawberry-definition")
        cap = (getattr(definition, "metadata", None) or {}).get(CAP)
        return cap if isinstance(cap, int) else self.max_page_size

    # ------------------------------------------------------------------ the walk

    def _spreads(self, selection_set: SelectionSetNode) -> Iterator[str]:
        """Names of the fragments spread anywhere in ``selection_set``."""
        stack = [selection_set]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FragmentSpreadNode):
                    yield selection.name.value
                elif selection.selection_set is not None:  # a field or an inline fragment
                    stack.append(selection.selection_set)

    def _fragment_order(self) -> list[str]:
        """Fragment names, each after the fragments it spreads (cycles are cut where found)."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: being visited, 2: done
        for root in self.fragments:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(list(self._spreads(self.fragments[root].selection_set))))]
            while stack:
                name, children = stack[-1]
                for child in children:
                    if child in self.fragments and child not in state:
                        state[child] = 1
                        stack.append((child, iter(list(self._spreads(self.fragments[child].selection_set)))))
                        break
                else:
                    stack.pop()
                    state[name] = 2
                    order.append(name)
        return order

    def _walk(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> Figures:
        """Figures of a selection set seen from its own top level (depth 1, one parent row)."""
        depth = aliases = directives = cost = 0
        # (selection set, its type, depth of its fields, rows of the parent)
        stack: list[tuple[SelectionSetNode, GraphQLNamedType | None, int, int]] = [
            (selection_set, parent, 1, 1)
        ]
        while stack:
            current, type_, level, rows = stack.pop()
            for selection in current.selections:
                directives += len(selection.directives or ())
                if isinstance(selection, FragmentSpreadNode):
                    known = self.memo.get(selection.name.value)
                    if known is not None:  # unknown or cyclic: reported by graphql-core's rules
                        depth = max(depth, level - 1 + known.depth)
                        aliases += known.aliases
                        directives += known.directives
                        cost += rows * known.cost
                    continue
                if isinstance(selection, InlineFragmentNode):
                    inner = type_
                    if selection.type_condition is not None:
                        inner = self.schema.get_type(selection.type_condition.name.value)
                    stack.append((selection.selection_set, inner, level, rows))
                    continue
                assert isinstance(selection, FieldNode)
                if selection.alias is not None:
                    aliases += 1
                name = selection.name.value
                if name.startswith("__"):
                    continue  # introspection: neither depth nor cost
                depth = max(depth, level)
                if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
                    continue  # a union's fields are selected in inline fragments
                field = type_.fields.get(name)
                if field is None:
                    continue  # unknown field: graphql-core's rules report it
                per_parent = self._rows(selection, type_, field)
                below = rows
                if per_parent is not None:
                    cost += rows * per_parent
                    below = rows * per_parent
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, get_named_type(field.type), level + 1, below))
        return Figures(depth, aliases, directives, cost)

    def fragments_first(self) -> None:
        """Measure every fragment once, each after those it spreads."""
        for name in self._fragment_order():
            definition = self.fragments[name]
            self.visits[name] += 1
            type_ = self.schema.get_type(definition.type_condition.name.value)
            self.memo[name] = self._walk(definition.selection_set, type_)

    def operation(self, operation: OperationDefinitionNode) -> Figures:
        """The figures of one operation (fragments measured first)."""
        self.variable_defaults = {
            d.variable.name.value: _literal(d.default_value) for d in operation.variable_definitions or ()
        }
        self.fragments_first()
        root = self.schema.get_root_type(operation.operation)
        figures = self._walk(operation.selection_set, root)
        if OBSERVER is not None:
            OBSERVER(self)
        return Figures(
            figures.depth, figures.aliases, figures.directives + len(operation.directives or ()), figures.cost
        )


def _literal(value: Any) -> Any:
    if isinstance(value, IntValueNode):
        return int(value.value)
    return None if value is None or isinstance(value, NullValueNode) else value


@dataclass(frozen=True)
class Limits:
    """The limits in force (from ``Settings``)."""

    depth: int
    aliases: int
    directives: int
    cost: int
    max_page_size: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            depth=settings.max_query_depth,
            aliases=settings.max_aliases,
            directives=settings.max_directives,
            cost=settings.max_query_cost,
            max_page_size=settings.max_page_size,
        )

    def check(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> list[GraphQLError]:
        """An error per limit the operation exceeds (none when it is within all of them)."""
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return []  # strawberry reports the missing or ambiguous operation
        figures = Measure(schema, document, variables, self.max_page_size).operation(operation)
        errors = []
        for code, noun, figure, limit, what in (
            ("QUERY_TOO_DEEP", "depth", figures.depth, self.depth, "nests fields {figure} levels deep"),
            ("TOO_MANY_ALIASES", "aliases", figures.aliases, self.aliases, "uses {figure} aliases"),
            (
                "TOO_MANY_DIRECTIVES",
                "directives",
                figures.directives,
                self.directives,
                "uses {figure} directives",
            ),
            (
                "QUERY_TOO_COSTLY",
                "cost",
                figures.cost,
                self.cost,
                "has an estimated cost of {figure} rows (page sizes multiplied down the tree)",
            ),
        ):
            if figure > limit:
                errors.append(
                    GraphQLError(
                        f"The operation {what.format(figure=figure)}; the limit is {limit}. "
                        "Ask for less (smaller `first`, fewer nested lists) or split the query.",
                        nodes=[operation],
                        extensions={"code": code, noun: figure, "limit": limit},
                    )
                )
        return errors


class QueryLimits(SchemaExtension):
    """Refuses an operation over a limit, after validation and before execution.

    Listed after ``ValidationCache``: that extension validates (cached) first; when it is
    absent, this one validates. Then, on a valid document, the limits are checked with
    the request's variables (which a cached validation rule could not see)."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        from strawberry.schema.schema import validate_document

        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            if context.pre_execution_errors is None:
                context.pre_execution_errors = validate_document(
                    context.schema._schema, document, context.validation_rules
                )
            if not context.pre_execution_errors:
                context.pre_execution_errors = _unnamed_choice(
                    document,
                    context._provided_operation_name,  # the client's, not the guess
                )
            if not context.pre_execution_errors:
                context.pre_execution_errors = self.limits.check(
                    context.schema._schema, document, context.variables, context.operation_name
                )
        yield


def _unnamed_choice(document: Any, operation_name: str | None) -> list[GraphQLError]:
    """A document of several operations needs ``operationName`` (GraphQL's "GetOperation":
    Strawberry would otherwise run the first one)."""
    if operation_name is not None:
        return []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) <= 1:
        return []
    return [
        GraphQLError(
            f"The document holds {len(operations)} operations: name the one to run in `operationName`.",
            extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
        )
    ]
