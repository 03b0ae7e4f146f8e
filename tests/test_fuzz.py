"""Fuzzing the whole committed schema through the HTTP app (issue 8): valid queries and
mutations (``hypothesis-graphql``), documents with one schema violation, garbage and
mangled documents, and random JSON variables shaped like each argument's type (NUL, lone
surrogates, odd ids and over-long text included), sent by several roles. Whatever comes
in, the answer is never an HTTP 5xx nor an ``INTERNAL_SERVER_ERROR``.

Deterministic (``derandomize``) and CI-sized; like ``test_authz_property``, Hypothesis
drives the ``async def`` tests on the session event loop (pytest-asyncio wraps them). The
mutations run on ``mutable_demo``: the demo world is seeded again after each test.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from functools import cache
from typing import Any

import graphql
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from tests.conftest import ROLES, SCHEMA, Demo

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    # The fixtures (the app, the demo world) are meant to be shared by the examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ----------------------------------------------------------------------------- strategies


def _string_node(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.StringValueNode]:
    return strategy.map(lambda value: graphql.StringValueNode(value=value))


CUSTOM_SCALARS = {
    # Mostly ids of demo rows (so the resolvers run), as strings or ints; one in 20 not an id.
    "ID": st.sampled_from(["string"] * 17 + ["int", "int", "junk"]).flatmap(
        lambda kind: (
            _string_node(st.text(max_size=4))
            if kind == "junk"
            else st.integers(1, 60).map(
                lambda n: (
                    graphql.IntValueNode(value=str(n))
                    if kind == "int"
                    else graphql.StringValueNode(value=str(n))
                )
            )
        )
    ),
    "Date": _string_node(st.dates().map(str) | st.text(max_size=12)),
    "DateTime": _string_node(
        st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda d: d.isoformat())
        | st.text(max_size=12)
    ),
}

# Any character, lone surrogates and NUL included (JSON carries them as \u escapes).
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0xFFFF, exclude_categories=())
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=12),
    st.sampled_from(["", " 1", "1_0", "\u0661", "01", "+1", "1.0", "-1", "2147483648", "\u0000", "\ud800"]),
    st.integers(1, 40).map(str),
    st.integers(1, 4).map(lambda n: "长" * (10**n)),  # over most declared limits
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def json_for(type_: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON shaped like ``type_`` (often valid, sometimes not, sometimes anything)."""
    if isinstance(type_, graphql.GraphQLNonNull):
        return json_for(type_.of_type, depth)
    anything = JSON if depth < 2 else st.none()
    if isinstance(type_, graphql.GraphQLList):
        item = json_for(type_.of_type, depth + 1)
        return st.lists(item, max_size=3) | item | st.none()
    if isinstance(type_, graphql.GraphQLInputObjectType):
        if depth > 2:
            return st.none()
        fields = {name: json_for(field.type, depth + 1) for name, field in type_.fields.items()}
        return st.fixed_dictionaries({}, optional=fields) | anything
    if isinstance(type_, graphql.GraphQLEnumType):
        return st.sampled_from(list(type_.values)) | TEXT
    shaped = {
        "String": TEXT,
        "ID": TEXT | st.integers(-1, 2**32),
        "Int": st.integers(-(2**33), 2**33),
        "Float": st.floats(allow_nan=False, allow_infinity=False),
        "Boolean": st.booleans(),
        "Date": st.dates().map(str) | TEXT,
        "DateTime": st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda d: d.isoformat()) | TEXT,
    }[type_.name]
    return st.one_of(shaped, st.none(), anything)


def _selection(type_: Any) -> str:
    return " { __typename }" if graphql.is_composite_type(graphql.get_named_type(type_)) else ""


@cache
def _argument_sites() -> list[tuple[str, str, str, Any]]:
    """(operation, root field, argument, its type) for every argument of a root field."""
    sites = []
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        for name, field in root.fields.items():
            for argument, definition in field.args.items():
                sites.append((operation, name, argument, definition.type))
    return sites


@st.composite
def variable_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """One root field whose argument comes in a variable holding random JSON of its shape."""
    operation, name, argument, type_ = draw(st.sampled_from(_argument_sites()))
    field = (SCHEMA.query_type if operation == "query" else SCHEMA.mutation_type).fields[name]
    document = f"{operation}($v: {type_}) {{ {name}({argument}: $v){_selection(field.type)} }}"
    return document, {"v": draw(json_for(type_))}


def mangled(documents: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid document with a piece cut out and random text put in its place."""

    @st.composite
    def cut(draw: st.DrawFn) -> str:
        document = draw(documents)
        start = draw(st.integers(0, len(document)))
        end = draw(st.integers(start, min(len(document), start + 20)))
        return document[:start] + draw(st.text(ANY_CHAR, max_size=8)) + document[end:]

    return cut()


# Valid documents mostly without NUL in their strings, so that most of them reach the
# resolvers (NUL and the other refusals are covered by the mangled ones and the variables).
VALID = from_schema(SCHEMA, custom_scalars=CUSTOM_SCALARS, allow_x00=False)
NEGATIVE = from_schema(SCHEMA, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE)
DOCUMENTS = st.one_of(
    VALID,
    VALID,
    from_schema(SCHEMA, custom_scalars=CUSTOM_SCALARS),
    NEGATIVE,
    mangled(VALID),
    st.text(ANY_CHAR, max_size=60),
    st.sampled_from(["", "{", "}", "{ ...Nope }", "query { __typename }", "subscription { x }"]),
)

# --------------------------------------------------------------------------------- checks


# Operation names: none, a missing one, odd text, a lone surrogate (once a 500: the
# plain-text refusal could not encode it), any text.
OPERATION_NAMES = (
    st.none() | st.sampled_from(["", "Nope", "\u0000", "\ud800", "长" * 300]) | st.text(ANY_CHAR, max_size=8)
)


async def send(
    demo: Demo, role: str | None, document: str, variables: Any, caplog, operation_name: str | None = None
) -> None:
    """POST the request as ``role``; fail with the request, the answer and the logged traceback
    when the service answers 5xx or INTERNAL_SERVER_ERROR."""
    caplog.clear()
    request = {"query": document, "variables": variables}
    if operation_name is not None:
        request["operationName"] = operation_name
    body = json.dumps(request).encode()  # \u escapes for lone surrogates
    async with demo.client(role) as client:
        response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    codes: list[Any] = []
    if response.headers.get("content-type", "").startswith("application/"):
        answer = response.json()
        codes = [(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []]

    if response.status_code >= 500 or "INTERNAL_SERVER_ERROR" in codes:
        text = logging.Formatter()
        logged = "\n".join(text.format(r) for r in caplog.records if r.levelno >= logging.ERROR)
        raise AssertionError(
            f"role={role!r}\ndocument={document!r}\nvariables={variables!r}\n"
            f"status={response.status_code}\nanswer={response.text[:2000]}\nlogged:\n{logged}"
        )


@settings(FUZZ, max_examples=300)
@given(role=st.sampled_from(ROLES), document=DOCUMENTS)
async def test_fuzz_documents(mutable_demo, caplog, role, document):
    await send(mutable_demo, role, document, {}, caplog)


@settings(FUZZ, max_examples=200)
@given(role=st.sampled_from(ROLES), request=variable_requests(), operation_name=OPERATION_NAMES)
async def test_fuzz_variables(mutable_demo, caplog, role, request, operation_name):
    document, variables = request
    await send(mutable_demo, role, document, variables, caplog, operation_name)
