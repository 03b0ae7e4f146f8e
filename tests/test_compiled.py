"""The compiled read path (schema/compiled.py) against the reference executor (issue 9).

The whole suite runs with ``BANDENG_COMPILED_READS=verify`` (tests/conftest.py): every
query a test sends that the compiled path can plan is answered by it and executed again
by graphql-core over the ORM, and any difference in the JSON (data, errors, paths, codes)
fails that test. This module adds the queries the suite does not send: every GraphQL
example in README.md and docs/, and random queries generated from the schema, each as
every demo role; and it counts the SQL statements of the benchmark's shapes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schema import compiled
from tests.conftest import ROLES, SCHEMA, Demo, gql, is_postgres
from tests.test_identity_cache import running

ROOT = Path(__file__).resolve().parent.parent


def _stats() -> dict[str, int]:
    return dict(compiled.STATS)


def _compiled_since(before: dict[str, int]) -> int:
    return compiled.STATS["compiled"] - before.get("compiled", 0)


async def _as_every_role(demo: Demo, query: str, variables: dict | None = None) -> list[dict]:
    answers = []
    for role in ROLES:
        async with demo.client(role) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code < 500, (role, query, response.text)
        answers.append(response.json())
    return answers


# ------------------------------------------------------------------ docs and README


def _examples() -> list[str]:
    """The query operations among the GraphQL examples of README.md and docs/ (mutations
    are never planned: they go to the reference executor by definition)."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```(?:graphql)?\n(.*?)```", path.read_text(), flags=re.S):
            text = block.strip()
            for document in _documents(text):
                found.append(document)
    return found


def _documents(text: str) -> list[str]:
    try:
        parsed = graphql.parse(text)
    except graphql.GraphQLError:
        # A block of several one-line examples (or not GraphQL at all): try line by line.
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            return []
        return [d for line in lines for d in _documents(line)]
    operations = [d for d in parsed.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    if not operations or any(op.operation != graphql.OperationType.QUERY for op in operations):
        return []
    if graphql.validate(SCHEMA, parsed):
        return []  # an example for another schema or with a placeholder
    return [text] if len(operations) == 1 else []


EXAMPLES = _examples()


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) >= 5, EXAMPLES


@pytest.mark.parametrize("query", EXAMPLES, ids=[str(i) for i in range(len(EXAMPLES))])
async def test_docs_examples_answer_the_same_compiled(demo, query):
    await _as_every_role(demo, query)  # the autouse fixture fails on a difference


async def test_most_docs_examples_are_compiled(demo):
    before = _stats()
    for query in EXAMPLES:
        await _as_every_role(demo, query)
    # Most examples are plannable and some roles may read them.
    assert _compiled_since(before) >= len(EXAMPLES), compiled.STATS


# ------------------------------------------------------------------ random queries

QUERY_TYPE = SCHEMA.query_type
assert QUERY_TYPE is not None
ALIASES = ("a", "b", "c")


def _unwrap(type_: Any) -> Any:
    return graphql.get_named_type(type_)


def _is_list(type_: Any) -> bool:
    nullable = type_.of_type if isinstance(type_, graphql.GraphQLNonNull) else type_
    return isinstance(nullable, graphql.GraphQLList)


def _argument_value(draw: st.DrawFn, name: str, type_: Any) -> str | None:
    named = _unwrap(type_)
    required = isinstance(type_, graphql.GraphQLNonNull)
    if not required and draw(st.integers(0, 3)) > 0:
        return None
    if name == "first":
        return str(draw(st.sampled_from([0, 1, 2, 3, 5, 20, 100, 101, -1])))
    if name == "after":
        return json.dumps(draw(st.sampled_from(["", "YzI6UXVlcnkuY29uY2VybnM6ZGVzYzo3", "nope"])))
    if isinstance(named, graphql.GraphQLEnumType):
        return draw(st.sampled_from(sorted(named.values)))
    if named.name == "ID":
        return json.dumps(str(draw(st.integers(1, 40))))
    if named.name == "Int":
        return str(draw(st.integers(0, 5)))
    if named.name == "Boolean":
        return draw(st.sampled_from(["true", "false"]))
    if named.name == "String":
        return json.dumps(draw(st.sampled_from(["", "议", "a", "Concern", "%", "_"])))
    if named.name in ("Date", "DateTime") and not required:
        return None
    if required:
        raise _Skip
    return None


class _Skip(Exception):
    """A field whose required argument this generator does not make."""


def _arguments(draw: st.DrawFn, field: Any) -> str:
    given_ = []
    for name, argument in field.args.items():
        value = _argument_value(draw, name, argument.type)
        if value is not None:
            given_.append(f"{name}: {value}")
    return f"({', '.join(given_)})" if given_ else ""


def _selection(draw: st.DrawFn, type_: Any, depth: int) -> str:
    """A random selection set on ``type_`` (object, interface or union)."""
    if isinstance(type_, graphql.GraphQLUnionType):
        member = draw(st.sampled_from(type_.types))
        return f"{{ __typename ... on {member.name} {_selection(draw, member, depth)} }}"
    fields = dict(type_.fields)
    names = sorted(fields)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=min(5, len(names)), unique=True))
    parts = []
    for name in chosen:
        field = fields[name]
        target = _unwrap(field.type)
        try:
            arguments = _arguments(draw, field)
        except _Skip:
            continue
        alias = f"{draw(st.sampled_from(ALIASES))}_{name}: " if draw(st.integers(0, 5)) == 0 else ""
        if graphql.is_leaf_type(target):
            parts.append(f"{alias}{name}{arguments}")
        elif depth > 0:
            parts.append(f"{alias}{name}{arguments} {_selection(draw, target, depth - 1)}")
    if draw(st.integers(0, 6)) == 0:
        parts.append("__typename")
    if not parts:
        parts.append("__typename")
    body = " ".join(parts)
    if draw(st.integers(0, 7)) == 0 and isinstance(type_, graphql.GraphQLObjectType):
        return f"{{ ... on {type_.name} {{ {body} }} }}"
    return f"{{ {body} }}"


@st.composite
def random_queries(draw: st.DrawFn) -> str:
    """1-2 root fields of Query with random selections (3 levels at most) and arguments."""
    names = sorted(n for n in QUERY_TYPE.fields if n not in ("explain", "explainAccess"))
    roots = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    parts = []
    for name in roots:
        field = QUERY_TYPE.fields[name]
        try:
            arguments = _arguments(draw, field)
        except _Skip:
            continue
        target = _unwrap(field.type)
        if graphql.is_leaf_type(target):
            parts.append(f"{name}{arguments}")
        else:
            parts.append(f"{name}{arguments} {_selection(draw, target, 3)}")
    return "{ " + (" ".join(parts) or "__typename") + " }"


RANDOM = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SEEN: dict[str, int] = {"queries": 0, "valid": 0}


@RANDOM
@given(query=random_queries())
async def test_random_queries_answer_the_same_compiled(demo, query):
    """1,000 random queries, each as every demo role: the compiled answer is the reference's
    (the autouse fixture fails on a difference)."""
    SEEN["queries"] += 1
    if not graphql.validate(SCHEMA, graphql.parse(query)):
        SEEN["valid"] += 1
    await _as_every_role(demo, query)


async def test_random_queries_reach_the_compiled_path(demo):
    """The generator is not vacuous: most of its valid queries are planned and answered
    by the compiled path for some role."""
    before = _stats()
    examples = []

    @settings(RANDOM, max_examples=100)
    @given(query=random_queries())
    def collect(query: str) -> None:
        examples.append(query)

    collect()
    for query in examples:
        await _as_every_role(demo, query)
    assert _compiled_since(before) >= 100, compiled.STATS


# ------------------------------------------------------------------ SQL statements

W1 = "{ councils(first: 100) { nodes { name meetings { title } } } }"
W2 = "{ concerns(first: 20) { nodes { title status raisedBy { name } events { kind toStatus createdAt } } } }"
W3 = "{ me { name } }"


@pytest.mark.parametrize(
    ("role", "query", "depth", "on_postgres"),
    [
        ("street_official_xu", W1, 2, 1),
        ("grid_worker_chen", W2, 2, 1),
        ("resident_wang", W3, 0, 0),
        (
            "secretary_zhang",
            "{ concerns(first: 5) { totalCount nodes { title unit { name parent { name } } } } }",
            3,
            1,  # a first page with no next page is its own count
        ),
    ],
)
async def test_statements_per_read_at_most_depth_plus_one(
    demo, settings, count_queries, role, query, depth, on_postgres
):
    """One statement per nesting level (relations to one resource at one level share it),
    plus one (a count), the caller's identity included once it is cached (PostgreSQL, with
    the app's lifespan running its listener): at any page size. SQLite keeps no identity
    cache (services/identity_cache.py), so there the lookup is one statement more."""
    async with running(settings) as app:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {demo.tokens[role]}"},
        ) as client:
            first = await gql(client, query)  # warms the identity cache and the plan
            assert "errors" not in first, first
            before = _stats()
            with count_queries() as counter:
                again = await gql(client, query)
        cached = app.state.identity_cache.enabled
    assert again == first
    assert _compiled_since(before) >= 1, compiled.STATS
    assert cached == is_postgres()
    # totalCount on PostgreSQL asks the planner first, then counts at most
    # BANDENG_EXACT_COUNT_LIMIT rows: two statements (docs/operations.md, "Counts at scale").
    count = 1 if is_postgres() and "totalCount" in query else 0
    assert counter.count <= depth + 1 + count + (0 if cached else 1), counter.statements
    if is_postgres():
        # a page and its nested relations in one statement (schema/compiled.py, "folds"),
        # plus the count's two
        assert counter.count == on_postgres, counter.statements


async def test_statements_do_not_grow_with_the_page(demo, count_queries):
    async with demo.client("street_official_xu") as client:
        counts = []
        for size in (1, 20, 50):  # 50 x 50 is within the cost limit
            query = (
                f"{{ concerns(first: {size}) {{ nodes {{ title events(first: {size}) {{ action }} }} }} }}"
            )
            await gql(client, query)
            with count_queries() as counter:
                await gql(client, query)
            counts.append(counter.count)
    assert len(set(counts)) == 1, counts


async def test_an_error_is_the_reference_executors(demo):
    """A root field that fails (no token, out of scope, bad page size) is answered by the
    reference executor: same errors, paths and codes (checked in verify mode), and the
    compiled path counts it as fallen back."""
    before = _stats()
    async with demo.client(None) as client:
        body = await gql(client, W3)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with demo.client("resident_wang") as client:
        body = await gql(client, '{ concern(id: "999999") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        body = await gql(client, "{ concerns(first: 1000) { nodes { title } } }")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert compiled.STATS["fell_back"] - before.get("fell_back", 0) == 3


async def test_a_kept_page_statement_holds_its_values_as_exact_literals(mutable_demo):
    """A root page's statement is kept per caller and arguments; on PostgreSQL its values
    are then written into its text (no parameters, so its plan is reused). Text that could
    end or bend a literal (quotes, backslashes, ``$1``, LIKE's wildcards) matches exactly
    what it matches as a parameter, and the second answer is the first."""
    from models.concerns import Concern

    demo = mutable_demo
    tricky = "it's \\ $1 %_ ''; DROP TABLE concern; --"
    concern = await Concern.filter(scope_path__startswith="/").first()
    assert concern is not None
    await Concern.filter(id=concern.id).update(title=f"a {tricky} b")
    query = "query { concerns(first: 5, search: " + json.dumps(tricky) + ") { nodes { id title } } }"
    async with demo.client("street_official_xu") as client:
        answers = [await gql(client, query) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["data"]["concerns"]["nodes"] == [{"id": str(concern.id), "title": f"a {tricky} b"}]
    kept = [
        statement
        for statement, _ in compiled._PAGES.values()
        if "DROP TABLE" in statement.sql + "".join(map(str, statement.params))
    ]
    assert kept, "the page's statement was kept"
    if is_postgres():
        assert all(statement.params == () for statement in kept)
    assert await Concern.all().count() > 1  # the table is still there


async def test_lists_written_by_postgres_are_the_answer_functions(mutable_demo, count_queries):
    """A root row's list of leaves is written as JSON by PostgreSQL (enums by their
    answers, timestamps as Python's ``isoformat()`` in UTC, microseconds only when not
    zero): the same text the answer function writes, checked here against the stored
    values (and against the reference executor by verify mode)."""
    from datetime import UTC, datetime

    from models.concerns import ConcernEvent

    demo = mutable_demo
    events = list(await ConcernEvent.all().order_by("id").limit(3))
    assert len(events) == 3
    moments = [
        datetime(2026, 3, 1, 8, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 8, 0, 1, 5, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
    ]
    for event, moment in zip(events, moments, strict=True):
        await ConcernEvent.filter(id=event.id).update(created_at=moment)
    query = "{ concerns(first: 50) { nodes { id events(first: 50) { id kind toStatus createdAt } } } }"
    async with demo.client("street_official_xu") as client:
        await gql(client, query)
        with count_queries() as counter:
            body = await gql(client, query)
    written = {e["id"]: e for n in body["data"]["concerns"]["nodes"] for e in n["events"]}
    for event, moment in zip(events, moments, strict=True):
        assert written[str(event.id)]["createdAt"] == moment.isoformat()
        assert written[str(event.id)]["kind"] == event.action
    if is_postgres():  # one statement for the page and its lists (and the caller's identity)
        (page,) = [sql for sql in counter.statements if '"_f0"' in sql]
        assert "to_char(" in page and "CASE" in page, page


@pytest.mark.parametrize("operation_name", [None, "Councils"])
async def test_a_named_query_takes_the_fast_path_with_or_without_its_name(demo, operation_name):
    """The plan is kept under the operationName the request gave, so a named query sent
    without one is answered from its plan the second time too."""
    query = "query Councils { councils(first: 2) { nodes { name } } }"
    body = {"query": query} if operation_name is None else {"query": query, "operationName": operation_name}
    async with demo.client("street_official_xu") as client:
        first = (await client.post("/graphql", json=body)).json()
        before = compiled.STATS["fast"]
        again = (await client.post("/graphql", json=body)).json()
    assert again == first and "errors" not in first
    assert compiled.STATS["fast"] == before + 1
