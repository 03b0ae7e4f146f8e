"""Strict input (issue 8, finding 4): declared text limits, NUL and lone surrogates, canonical
ids and cursors bound to their list, each refused with BAD_USER_INPUT naming the argument,
before any SQL touches the data and with nothing written."""

from __future__ import annotations

import base64
import json
import re

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, get_named_type

from models.audit import AuditRecord
from models.concerns import Concern, ConcernEvent
from models.mediation import MediationCase
from schema.input_limits import declared_limit
from schema.root import build_schema
from services.pagination import encode_cursor
from tests.conftest import error_codes

RAISE = "mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id description location } }"
OPEN_CASE = "mutation($input: OpenMediationCaseInput!) { openMediationCase(input: $input) { id } }"


async def post(client, query: str, variables: dict | None = None) -> dict:
    """POST with the body encoded here (ASCII escapes), so lone surrogates travel as JSON allows."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


def refusal(body: dict, argument: str) -> dict:
    """The one error of ``body``: BAD_USER_INPUT naming ``argument``, no data (a cursor is
    refused by its list, which answers null)."""
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    error = body["errors"][0]
    assert error["extensions"]["argument"] == argument, error
    data = body.get("data")
    assert data is None or (argument == "after" and set(data.values()) == {None}), body
    return error


async def written() -> tuple[int, ...]:
    return (
        await Concern.all().count(),
        await ConcernEvent.all().count(),
        await MediationCase.all().count(),
    )


def touches_data(statements: list[str]) -> list[str]:
    """SQL other than the token lookup and the caller's role assignments."""
    return [s for s in statements if '"api_token"' not in s and '"role_assignment"' not in s]


# ------------------------------------------------------------------------- declarations


def test_every_text_argument_and_input_field_declares_its_limit():
    """A new String argument or input field cannot escape: it needs a declared maximum length,
    and its SDL description states it. Every ID is checked as an id by its type."""
    schema = build_schema()._schema
    found, missing = 0, []
    for type_ in schema.type_map.values():
        places = []
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            places = [
                (f"{type_.name}.{f}({a})", arg)
                for f, field in type_.fields.items()
                for a, arg in field.args.items()
            ]
        elif isinstance(type_, GraphQLInputObjectType):
            places = [(f"{type_.name}.{f}", field) for f, field in type_.fields.items()]
        for where, definition in places:
            if get_named_type(definition.type).name != "String":
                continue
            found += 1
            limit = declared_limit(definition)
            if limit is None or not re.search(
                rf"\bat most {limit} characters\.$", definition.description or "", re.I
            ):
                missing.append(where)
    assert found > 50
    assert missing == []


# --------------------------------------------------------------------------- over-long


@pytest.mark.parametrize(
    ("who", "field", "argument", "limit"),
    [
        ("secretary_zhang", "concerns", "category", 32),
        ("secretary_zhang", "concerns", "search", 200),
        ("admin", "auditLog", "resource", 32),
        ("admin", "auditLog", "objectId", 32),
        ("admin", "auditLog", "decision", 8),
        ("street_official_xu", "allianceUnits", "kind", 32),
    ],
)
async def test_over_long_filters_are_refused_before_any_sql(demo, count_queries, who, field, argument, limit):
    value = "长" * (limit + 1)
    query = f"query($v: String) {{ {field}({argument}: $v) {{ totalCount }} }}"
    async with demo.client(who) as client:
        with count_queries() as sql:
            body = await post(client, query, {"v": value})
        error = refusal(body, argument)
        assert str(limit) in error["message"] and error["extensions"]["maxLength"] == limit
        assert value not in json.dumps(body, ensure_ascii=False)
        assert touches_data(sql.statements) == []
        # At the limit: an ordinary filter (no rows match, nothing refused).
        body = await post(client, query, {"v": "长" * limit})
        assert "errors" not in body, body
        assert body["data"][field]["totalCount"] == 0
        # The same limit for a literal.
        body = await post(client, f'{{ {field}({argument}: "{"x" * (limit + 1)}") {{ totalCount }} }}')
        refusal(body, argument)


async def test_description_has_a_limit_and_location_is_refused_not_cut(mutable_demo):
    d = mutable_demo
    base = {"unitId": d.id("units", "fulu_g1"), "title": "路灯", "category": "infrastructure"}
    before = await written()
    async with d.client("grid_worker_chen") as client:
        for change, argument in [
            ({"description": "d" * 2001}, "description"),
            ({"location": "l" * 201}, "location"),
        ]:
            body = await post(client, RAISE, {"input": {**base, **change}})
            assert str(2001 - 1 if argument == "description" else 200) in refusal(body, argument)["message"]
        assert await written() == before
        body = await post(
            client, RAISE, {"input": {**base, "description": "d" * 2000, "location": "l" * 200}}
        )
    assert "errors" not in body, body
    stored = await Concern.get(id=int(body["data"]["raiseConcern"]["id"]))
    assert (len(stored.description), len(stored.location)) == (2000, 200)


# ---------------------------------------------------------------- NUL and lone surrogates


BAD_TEXT = [("a\u0000b", "NUL"), ("a\ud800b", "U+D800"), ("\udfff", "U+DFFF")]


@pytest.mark.parametrize(("value", "named"), BAD_TEXT)
async def test_nul_and_lone_surrogates_in_query_arguments(demo, count_queries, value, named):
    async with demo.client("secretary_zhang") as client:
        with count_queries() as sql:
            body = await post(
                client, "query($c: String) { concerns(category: $c) { totalCount } }", {"c": value}
            )
        assert named in refusal(body, "category")["message"]
        assert touches_data(sql.statements) == []
        # a variable that no argument receives is refused too, by its name
        body = await post(client, "{ concerns { totalCount } }", {"unused": value})
        refusal(body, "$unused")
        refusal(await post(client, "{ concerns { totalCount } }", {value: 1}), "variables")
        # a string sent where an enum goes (graphql-core would echo it in its message)
        body = await post(
            client, "query($s: ConcernStatus) { concerns(status: $s) { totalCount } }", {"s": value}
        )
        refusal(body, "status")


async def test_nul_in_a_literal_argument(demo):
    async with demo.client("secretary_zhang") as client:
        body = await post(client, '{ concerns(search: "a\\u0000b") { totalCount } }')
    assert "NUL" in refusal(body, "search")["message"]


@pytest.mark.parametrize(("value", "named"), BAD_TEXT)
async def test_nul_and_lone_surrogates_in_mutation_inputs_write_nothing(demo, value, named):
    d = demo
    concern = {"unitId": d.id("units", "fulu_g1"), "title": "路灯", "category": "infrastructure"}
    case = {
        "unitId": d.id("units", "fulu_g1"),
        "mediatorId": "1",
        "title": "噪音",
        "category": "DAILY_LIFE",
        "parties": [{"name": "甲"}, {"name": "乙"}],
    }
    before, mark = await written(), await AuditRecord.all().order_by("-id").first()
    async with d.client("grid_worker_chen") as client:
        for query, payload, argument in [
            (RAISE, {**concern, "title": value}, "title"),
            (RAISE, {**concern, "description": value}, "description"),
            (RAISE, {**concern, "photos": ["p1", value]}, "photos[1]"),
            (
                OPEN_CASE,
                {**case, "parties": [{"name": "甲"}, {"name": "乙", "phone": value}]},
                "parties[1].phone",
            ),
        ]:
            assert named in refusal(await post(client, query, {"input": payload}), argument)["message"]
        # the same in a literal nested input object (NUL only: GraphQL has no lone-surrogate escape)
        if value.startswith("a\u0000"):
            literal = (
                f'mutation {{ raiseConcern(input: {{unitId: "{concern["unitId"]}", title: "路灯", '
                f'category: "infrastructure", location: "a\\u0000b"}}) {{ id }} }}'
            )
            refusal(await post(client, literal), "location")
    assert await written() == before
    # Each refused mutation is in the audit log as refused input, without the value.
    records = await AuditRecord.filter(id__gt=mark.id if mark else 0).order_by("id")
    expected = ["raiseConcern"] * 3 + ["openMediationCase"] + ["raiseConcern"] * (len(records) - 4)
    assert [r.field for r in records] == expected and len(records) in (4, 5)
    assert {(r.decision, r.code, r.object_id) for r in records} == {("allow", "BAD_USER_INPUT", None)}


# ------------------------------------------------------------------------------------ ids

BAD_IDS = [" 1", "1 ", "1_0", "١", "01", "+1", "-1", "1.0", "", "0", "0x1", "2147483648", "1\n"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_ids_are_canonical_decimal(demo, bad):
    d = demo
    before = await written()
    async with d.client("secretary_zhang") as client:
        error = refusal(await post(client, "query($id: ID!) { concern(id: $id) { id } }", {"id": bad}), "id")
        assert "decimal" in error["message"]
        refusal(
            await post(client, "query($u: ID) { concerns(unitId: $u) { totalCount } }", {"u": bad}), "unitId"
        )
        body = await post(
            client,
            RAISE,
            {"input": {"unitId": bad, "title": "路灯", "category": "infrastructure"}},
        )
        refusal(body, "unitId")
        body = await post(
            client,
            "mutation($input: TransitionMeetingInput!) { transitionMeeting(input: $input) { __typename } }",
            {"input": {"meetingId": "1", "action": "CLOSE", "allianceUnitIds": ["2", bad]}},
        )
        refusal(body, "allianceUnitIds[1]")
    assert await written() == before


async def test_canonical_ids_and_integer_ids_still_work(demo):
    concern = demo.id("concerns", next(iter(demo.world.concerns)))
    async with demo.client("admin") as client:
        for query, variables in [
            (f'{{ person(id: "{demo.id("people", "admin")}") {{ id }} }}', None),
            (f"{{ person(id: {demo.id('people', 'admin')}) {{ id }} }}", None),
            ("query($id: ID!) { person(id: $id) { id } }", {"id": int(demo.id("people", "admin"))}),
        ]:
            body = await post(client, query, variables)
            assert "errors" not in body, body
    async with demo.client("secretary_zhang") as client:
        body = await post(client, "query($id: ID!) { concern(id: $id) { id } }", {"id": concern})
    assert body["data"]["concern"]["id"] == concern


async def test_an_integer_id_out_of_range_is_refused(demo):
    async with demo.client("admin") as client:
        refusal(await post(client, "query($id: ID!) { person(id: $id) { id } }", {"id": 2**31}), "id")
        refusal(await post(client, "query($id: ID!) { person(id: $id) { id } }", {"id": 0}), "id")


# -------------------------------------------------------------------------------- cursors


async def test_cursors_are_bound_to_their_list_and_order(demo):
    page = "query($after: String) { %s(first: 2, after: $after) { nodes { id } pageInfo { endCursor } } }"
    async with demo.client("secretary_zhang") as client:
        first = (await post(client, page % "concerns"))["data"]["concerns"]
        cursor = first["pageInfo"]["endCursor"]
        # a valid cursor still pages: the next rows, older than the first page's
        second = (await post(client, page % "concerns", {"after": cursor}))["data"]["concerns"]
        ids = [int(n["id"]) for n in first["nodes"] + second["nodes"]]
        assert len(second["nodes"]) == 2 and ids == sorted(ids, reverse=True) and len(set(ids)) == 4
        # a filter does not change the list: the cursor still works with one
        body = await post(
            client,
            "query($after: String) { concerns(first: 2, after: $after, kind: CONCERN) { totalCount } }",
            {"after": cursor},
        )
        assert "errors" not in body, body

        # another list's cursor
        error = refusal(await post(client, page % "meetings", {"after": cursor}), "after")
        assert "another list" in error["message"]
        other = (await post(client, page % "orgUnits"))["data"]["orgUnits"]["pageInfo"]["endCursor"]
        refusal(await post(client, page % "concerns", {"after": other}), "after")
        # the same list in another order
        last_id = int(first["nodes"][-1]["id"])
        error = refusal(
            await post(client, page % "concerns", {"after": encode_cursor("Query.concerns", False, last_id)}),
            "after",
        )
        assert "another order" in error["message"]
        # the old format (the id alone), and things that are no cursor at all
        old = base64.urlsafe_b64encode(f"c1:{last_id}".encode()).decode().rstrip("=")
        assert (
            "older format"
            in refusal(await post(client, page % "concerns", {"after": old}), "after")["message"]
        )
        noncanonical = base64.urlsafe_b64encode(b"c2:Query.concerns:desc:01").decode()
        for junk in ["", "x", "YWJj", noncanonical, "\u00e9" * 10]:
            refusal(await post(client, page % "concerns", {"after": junk}), "after")
        refusal(await post(client, page % "concerns", {"after": "c" * 201}), "after")


async def test_arguments_inside_fragments_and_introspection_are_checked(demo):
    long = "x" * 33
    documents = {
        f'query {{ ...A }} fragment A on Query {{ ...B }} fragment B on Query {{ concerns(category: "{long}") {{ totalCount }} }}': "category",
        f'{{ ... on Query {{ concerns {{ nodes {{ id }} }} allianceUnits(kind: "{long}") {{ totalCount }} }} }}': "kind",
        '{ __type(name: "Concern\\u0000") { name } }': "name",
    }
    async with demo.client("secretary_zhang") as client:
        for document, argument in documents.items():
            refusal(await post(client, document), argument)
