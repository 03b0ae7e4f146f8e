"""Query limits through the HTTP app: depth, aliases, directives, estimated cost, the
fragment DAG measured in linear time, unknown fragments, and nested lists bounded by
``first`` per parent (docs/operations.md, "limits")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    get_introspection_query,
    get_named_type,
    is_composite_type,
    parse,
)

from models.councils import Meeting
from schema import limits
from schema.root import build_schema
from services.config import Settings
from tests.conftest import error_codes, gql, is_postgres

FAN_OUT = "{councils{nodes{meetings{council{meetings{council{meetings{council{meetings{id}}}}}}}}}}"
LIMIT_CODES = {"QUERY_TOO_DEEP", "TOO_MANY_ALIASES", "TOO_MANY_DIRECTIVES", "QUERY_TOO_COSTLY"}


def fragment_dag(size: int, leaf: str) -> str:
    """Fragments F0..F(size-1), each spreading the next twice: 2**(size-1) expansions."""
    parts = ["query Dag { ...F0 }"]
    for i in range(size - 1):
        parts.append(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}")
    parts.append(f"fragment F{size - 1} on Query {{ {leaf} }}")
    return "\n".join(parts)


# ------------------------------------------------------------------------- the fan-out


async def test_the_fan_out_query_is_refused_before_any_sql_statement(demo, count_queries):
    """The 130-byte reproducer of issue 8 is refused, with and without a token, and no
    statement reaches the database (the token is not even looked up)."""
    for who in ("resident_wang", None):
        async with demo.client(who) as client:
            with count_queries() as counter:
                body = await gql(client, FAN_OUT)
        assert body["data"] is None
        assert set(error_codes(body)) == {"QUERY_TOO_DEEP", "QUERY_TOO_COSTLY"}, body
        costly = next(e for e in body["errors"] if e["extensions"]["code"] == "QUERY_TOO_COSTLY")
        assert costly["extensions"]["limit"] == 5000
        # councils 20, meetings 20 each, council 1 each ... multiplied down the tree
        assert costly["extensions"]["cost"] == 20 + 400 + 400 + 8000 + 8000 + 160000 + 160000 + 3200000
        assert f"{costly['extensions']['cost']} rows" in costly["message"]
        assert "the limit is 5000" in costly["message"]
        assert counter.count == 0, counter.statements


async def test_the_w1_listing_of_councils_with_their_meetings_stays_allowed(demo):
    async with demo.client("street_official_xu") as client:
        body = await gql(client, "{ councils(first: 100) { nodes { name meetings { title } } } }")
    assert "errors" not in body, body
    assert body["data"]["councils"]["nodes"]


# ------------------------------------------------------------------------- fragments


@pytest.fixture
def measures(monkeypatch) -> list[limits.Measure]:
    """Every measure taken during the test, with its fragment visits."""
    taken: list[limits.Measure] = []
    monkeypatch.setattr(limits, "OBSERVER", taken.append)
    return taken


async def test_the_fragment_dag_is_measured_once_per_fragment(demo, count_queries, measures):
    """40 fragments that each spread the next twice: 2**39 expansions, but each fragment is
    measured once; the estimated cost (one `me` row per expansion) is refused."""
    async with demo.client(None) as client:
        with count_queries() as counter:
            body = await gql(client, fragment_dag(40, "me { name }"))
    assert error_codes(body) == ["QUERY_TOO_COSTLY"]
    assert body["errors"][0]["extensions"]["cost"] == 2**39
    assert counter.count == 0
    [measure] = measures
    assert measure.visits == {f"F{i}": 1 for i in range(40)}


async def test_a_fragment_dag_within_the_limits_runs(demo, measures):
    """The same shape with a free leaf (`__typename`) is within every limit and runs."""
    async with demo.client(None) as client:
        body = await gql(client, fragment_dag(40, "__typename"))
    assert body == {"data": {"__typename": "Query"}}
    [measure] = measures
    assert measure.visits == {f"F{i}": 1 for i in range(40)}


async def test_an_unknown_fragment_is_an_ordinary_validation_error(demo):
    async with demo.client(None) as client:
        body = await gql(client, "{ ...Nope }")
    assert body["data"] is None
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Unknown fragment 'Nope'" in body["errors"][0]["message"]


async def test_cyclic_fragments_are_a_validation_error(demo):
    query = "{ ...A } fragment A on Query { ...B } fragment B on Query { me { name } ...A }"
    async with demo.client("resident_wang") as client:
        body = await gql(client, query)
    assert body["data"] is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert any("Cannot spread fragment 'A' within itself" in e["message"] for e in body["errors"])


def test_the_measure_neither_loops_nor_crashes_on_invalid_documents():
    """graphql-core reports these; the measure itself, given them anyway, still answers."""
    schema = build_schema(Settings())._schema
    check = limits.Limits.of(Settings()).check
    assert check(schema, parse("{ ...Nope }")) == []
    cyclic = parse("{ ...A } fragment A on Query { me { name } ...B } fragment B on Query { ...A ...A }")
    assert check(schema, cyclic) == []
    assert check(schema, parse("{ nothing { here } me { unknown { deeper } } }")) == []


# ------------------------------------------------------------------------- boundaries


def _parents(levels: int) -> str:
    """orgUnits > nodes > parent x levels > name: 3 + levels fields deep."""
    return "{ orgUnits(first: 1) { nodes { " + "parent { " * levels + "name" + " }" * levels + " } } }"


async def test_depth_is_allowed_up_to_the_limit(demo):
    async with demo.client("street_official_xu") as client:
        at_limit = await gql(client, _parents(5))
        over = await gql(client, _parents(6))
    assert "errors" not in at_limit, at_limit
    assert error_codes(over) == ["QUERY_TOO_DEEP"]
    assert over["errors"][0]["extensions"] == {"code": "QUERY_TOO_DEEP", "depth": 9, "limit": 8}
    assert "9 levels deep; the limit is 8" in over["errors"][0]["message"]


async def test_aliases_are_allowed_up_to_the_limit(demo):
    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(n)) + " }"

    async with demo.client("resident_wang") as client:
        at_limit = await gql(client, aliased(15))
        over = await gql(client, aliased(16))
    assert "errors" not in at_limit, at_limit
    assert over["errors"][0]["extensions"] == {"code": "TOO_MANY_ALIASES", "aliases": 16, "limit": 15}
    assert "16 aliases; the limit is 15" in over["errors"][0]["message"]


async def test_directives_are_allowed_up_to_the_limit(demo):
    def skips(n: int) -> str:
        return "{ me { " + " ".join(["name @skip(if: false)"] * n) + " } }"

    async with demo.client("resident_wang") as client:
        at_limit = await gql(client, skips(50))
        over = await gql(client, skips(51))
    assert "errors" not in at_limit, at_limit
    assert over["errors"][0]["extensions"] == {"code": "TOO_MANY_DIRECTIVES", "directives": 51, "limit": 50}
    assert "51 directives; the limit is 50" in over["errors"][0]["message"]


async def test_three_hundred_skips_are_refused(demo, count_queries):
    """300 `@skip` (the issue's reproducer) within the token limit: 10 in a fragment spread
    30 times count 300, as they would run."""
    query = (
        "{ me { " + " ".join(["...D"] * 30) + " } } "
        "fragment D on Me { " + " ".join(["name @skip(if: false)"] * 10) + " }"
    )
    async with demo.client("resident_wang") as client:
        with count_queries() as counter:
            body = await gql(client, query)
    assert body["errors"][0]["extensions"] == {"code": "TOO_MANY_DIRECTIVES", "directives": 300, "limit": 50}
    assert counter.count == 0


COST = "query Cost($n: Int) { councils(first: 50) { nodes { meetings(first: $n) { id } } } }"


async def test_cost_is_allowed_up_to_the_limit(demo):
    """councils 50 + meetings 50 x n: n = 99 costs exactly 5000, n = 100 costs 5050; an
    extra `me` (one row) tips the 5000 over. Variables count with the request's value,
    and the declared default when absent."""
    async with demo.client("street_official_xu") as client:
        at_limit = await gql(client, COST, {"n": 99})
        over = await gql(client, COST, {"n": 100})
        one_more = await gql(client, COST.replace("{ councils", "{ me { name } councils"), {"n": 99})
        default_at_limit = await gql(client, COST.replace("$n: Int", "$n: Int = 99"))
        default_over = await gql(client, COST.replace("$n: Int", "$n: Int = 100"))
    assert "errors" not in at_limit, at_limit
    assert "errors" not in default_at_limit, default_at_limit
    assert over["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 5050, "limit": 5000}
    assert one_more["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 5001, "limit": 5000}
    assert error_codes(default_over) == ["QUERY_TOO_COSTLY"]


async def test_introspection_counts_for_nothing(demo):
    """GraphiQL's introspection query (deep `ofType` chains) passes every limit."""
    async with demo.client(None) as client:
        body = await gql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body, body["errors"]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


# ------------------------------------------------------------------------- nested first


async def test_nested_first_applies_per_parent_in_one_statement_per_level(mutable_demo, count_queries):
    """Two councils with 25 meetings more each: `first` bounds each council's list, not the
    level's, and the statements stay one per level whatever `first` is."""
    for key in ("fulu", "xinqing"):
        council = mutable_demo.world.councils[key]
        for i in range(25):
            await Meeting.create(
                council=council,
                scope_path=council.scope_path,
                title=f"加开议事 {i}",
                starts_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i),
                place="活动室",
            )
    query = "query($n: Int) { councils(first: 10) { nodes { name meetings(first: $n) { title } } } }"
    counts = {}
    async with mutable_demo.client("street_official_xu") as client:
        for n in (3, None, 100):
            with count_queries() as counter:
                body = await gql(client, query, {"n": n} if n else {})
            assert "errors" not in body, body
            counts[n] = counter.count
            sizes = {c["name"]: len(c["meetings"]) for c in body["data"]["councils"]["nodes"]}
            busy = {name: size for name, size in sizes.items() if "福禄巷" in name or "新青村" in name}
            assert len(busy) == 2, sizes
            expected = {3: 3, None: 20}.get(n)
            if expected is not None:
                assert set(busy.values()) == {expected}, sizes
            else:  # all of them: 25 added plus the demo's own
                assert min(busy.values()) > 25
        # first 10 by start time: the earliest of each council, the same as the root list's
        first = await gql(client, "{ councils(first: 10) { nodes { meetings(first: 1) { startsAt } } } }")
    # the token with its roles (one statement, none when cached), the councils page, one
    # statement for every council's meetings; on PostgreSQL the page and its meetings are
    # one statement (schema/compiled.py, "folds")
    assert counts == dict.fromkeys((3, None, 100), 2 if is_postgres() else 3)
    assert all(len(c["meetings"]) <= 1 for c in first["data"]["councils"]["nodes"])


async def test_nested_first_out_of_range_is_bad_user_input(demo):
    async with demo.client("street_official_xu") as client:
        over = await gql(client, "{ councils(first: 1) { nodes { meetings(first: 101) { id } } } }")
        negative = await gql(client, "{ councils(first: 1) { nodes { meetings(first: -1) { id } } } }")
        roles = await gql(client, "{ me { roles(first: 1000) { role } } }")
    for body in (over, negative, roles):
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["argument"] == "first"
        assert "between 0 and 100" in body["errors"][0]["message"]


async def test_link_table_lists_are_bounded_and_batched(demo, count_queries):
    """presentUnits and communities go through link tables: bounded by `first` too, and
    one statement for the links of a level plus one for the objects."""
    async with demo.client("street_official_xu") as client:
        with count_queries() as counter:
            body = await gql(
                client,
                "{ meetings(first: 20) { nodes { title presentUnits(first: 1) { name } } } }",
            )
        stations = await gql(client, "{ workstations { nodes { name communities(first: 1) { name } } } }")
    assert "errors" not in body, body
    assert "errors" not in stations, stations
    present = [m["presentUnits"] for m in body["data"]["meetings"]["nodes"]]
    assert any(present) and all(len(p) <= 1 for p in present)
    assert all(len(s["communities"]) <= 1 for s in stations["data"]["workstations"]["nodes"])
    # the token with its roles, the meetings page, the links, the units
    assert counter.count == 4, counter.statements


def test_every_list_of_objects_is_bounded():
    """Every field that returns a list of objects takes `first`, declares a fixed cap, or
    is the page of a connection; its description states the bound."""
    schema = build_schema(Settings())._schema
    unbounded = []
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not hasattr(type_, "fields") or not is_composite_type(type_):
            continue
        for name, field in type_.fields.items():
            inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if not isinstance(inner, GraphQLList) or not is_composite_type(get_named_type(inner)):
                continue
            if type_.name.endswith("Connection"):
                continue  # nodes / edges: the page itself, bounded by the connection's `first`
            definition = field.extensions["strawberry-definition"]
            if "first" in field.args:
                assert "maximum 100" in (field.description or ""), (type_.name, name)
            elif limits.CAP in (definition.metadata or {}):
                assert str(definition.metadata[limits.CAP]) in (field.description or ""), (type_.name, name)
            else:
                unbounded.append(f"{type_.name}.{name}")
    assert unbounded == []


async def test_validation_stays_cached_and_the_limits_see_each_requests_variables(demo):
    """The validation cache hits on a repeated document (its rules are graphql-core's own,
    the same classes every time), while the cost follows each request's variables."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(256)
    async with demo.client("street_official_xu") as client:
        await gql(client, COST, {"n": 1})
        hits = cache.cache_info().hits
        allowed = await gql(client, COST, {"n": 2})
        refused = await gql(client, COST, {"n": 100})
    assert cache.cache_info().hits == hits + 2
    assert "errors" not in allowed, allowed
    assert error_codes(refused) == ["QUERY_TOO_COSTLY"]
