"""The HTTP/GraphQL surface: errors, limits, tokens, health, and query counts."""

from __future__ import annotations

import logging

import httpx
import pytest
from tortoise import connections

from models.concerns import Concern, ConcernEvent
from models.councils import AgendaTopic, Meeting
from models.people import ApiToken
from services import identity
from tests.conftest import QueryCounter, error_codes, gql, is_postgres

# Page sizes chosen to stay within the query cost limit (docs/operations.md): about 4,200 rows.
NESTED = """
{ councils(first: 5) { totalCount nodes { name
    unit { name parent { name } }
    meetings(first: 30) { title council { name }
      topics(first: 4) { title raisedBy { name } concern { title events(first: 1) { kind actor { name } } } }
      attendance(first: 2) { capacity person { name phone homeUnit { name } } } } } } }
"""


async def _count(client, query) -> tuple[int, dict]:
    with QueryCounter() as counter:
        body = await gql(client, query)
    assert "errors" not in body, body
    return counter.count, body


async def test_sql_statements_depend_on_depth_not_rows(mutable_demo):
    """Adding rows at every level leaves the number of SQL statements unchanged."""
    async with mutable_demo.client("street_official_xu") as client:
        before, body = await _count(client, NESTED)
        councils = body["data"]["councils"]["nodes"]
        rows_before = sum(len(c["meetings"]) for c in councils)

        council = mutable_demo.world.councils["fulu"]
        person = mutable_demo.world.people["resident_li"]
        for i in range(15):
            meeting = await Meeting.create(
                council=council,
                scope_path=council.scope_path,
                title=f"加开议事 {i}",
                starts_at="2026-12-01T10:00:00+00:00",
                place="活动室",
            )
            for j in range(4):
                await AgendaTopic.create(
                    meeting=meeting,
                    scope_path=council.scope_path,
                    owner_id=person.id,
                    title=f"议题 {i}-{j}",
                    raised_by=person,
                    concern=mutable_demo.world.concerns["ebikes"],
                )
        after, body = await _count(client, NESTED)
        councils = body["data"]["councils"]["nodes"]
        assert sum(len(c["meetings"]) for c in councils) == rows_before + 15
    # token with its assignments, councils page + count, then at most one statement per
    # nested field (12 in NESTED), whatever the number of rows. Loaders of one
    # table at different levels may share a batch, so the count can be lower
    # (it varies with timing on PostgreSQL); it can never be higher.
    nested_fields = (
        12  # unit parent meetings council topics raisedBy concern events actor attendance person homeUnit
    )
    # the count is 2 statements on PostgreSQL: the planner's estimate, then the bounded
    # count (docs/operations.md, "Counts at scale")
    count = 2 if is_postgres() else 1
    assert before <= 1 + 1 + count + nested_fields
    assert after <= 1 + 1 + count + nested_fields


async def test_malformed_query_is_a_parse_error(demo):
    async with demo.client("resident_wang") as client:
        body = await gql(client, "{ me { name ")
    assert body["data"] is None
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_unknown_field_is_a_validation_error(demo):
    async with demo.client("resident_wang") as client:
        body = await gql(client, "{ me { salary } }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_wrong_variable_type_is_bad_user_input(demo):
    async with demo.client("resident_wang") as client:
        body = await gql(client, "query($n: Int) { concerns(first: $n) { totalCount } }", {"n": "many"})
    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("first", [-1, 101])
async def test_page_size_is_bounded(demo, first):
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, "query($n: Int) { concerns(first: $n) { totalCount } }", {"n": first})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == "first"


async def test_pages_follow_cursors_without_overlap(demo):
    query = "query($after: String) { concerns(first: 2, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
    seen, after = [], None
    async with demo.client("street_official_xu") as client:
        while True:
            page = (await gql(client, query, {"after": after}))["data"]["concerns"]
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] == 6  # 5 concerns and a service order


async def test_unexpected_errors_are_masked_and_logged(demo, monkeypatch, caplog):
    from services.authz import RequestAuth

    def explode(*args, **kwargs):
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    monkeypatch.setattr(RequestAuth, "listing", explode)
    with caplog.at_level(logging.ERROR, logger="bandeng.errors"):
        async with demo.client("secretary_zhang") as client:
            body = await gql(client, "{ concerns { totalCount } me { name } }")
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert "hunter2" not in str(body)
    assert body["data"]["me"]["name"] == "张卫东"  # sibling root fields still answer
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_database_down_during_a_query_says_so(demo, monkeypatch):
    from services.authz import RequestAuth

    def down(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(RequestAuth, "listing", down)
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, "{ concerns { totalCount } }")
    assert error_codes(body) == ["SERVICE_UNAVAILABLE"]


async def test_database_down_at_authentication_is_not_a_bad_token(demo, monkeypatch):
    async def down(token_hash):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(identity, "lookup", down)
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, "{ me { name } }")
    assert error_codes(body) == ["SERVICE_UNAVAILABLE"]


async def test_readiness_reports_policy_and_database(demo, monkeypatch):
    async with demo.client(None) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert len(ready.json()["policy"]["version"]) == 12

        class Dead:
            async def execute_query(self, *args):
                raise ConnectionRefusedError("no database")

        monkeypatch.setattr(connections, "get", lambda name: Dead())
        down = await client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"


# ------------------------------------------------------------------ authentication


async def test_schema_is_public_everything_else_needs_a_token(demo):
    async with demo.client(None) as client:
        body = await gql(client, "{ __schema { queryType { name } } }")
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"
        body = await gql(client, "{ me { name } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert "Bearer" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "header", ["Basic abc", "Bearer", "Bearer    ", "bdg_nonsense", "Bearer bdg_not-a-real-token"]
)
async def test_bad_authorization_headers(demo, header):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=demo.app),
        base_url="http://test",
        headers={"Authorization": header},
    ) as client:
        body = await gql(client, "{ me { name } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_revoked_token_stops_working(mutable_demo):
    person = mutable_demo.world.people["resident_li"]
    token = await identity.issue_token(person.id, "phone")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mutable_demo.app), base_url="http://test", headers=headers
    ) as client:
        assert (await gql(client, "{ me { name } }"))["data"]["me"]["name"] == "李建国"
        assert await identity.revoke_token(token)
        body = await gql(client, "{ me { name } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert "revoked" in body["errors"][0]["message"]


async def test_tokens_are_stored_hashed(mutable_demo):
    token = await identity.issue_token(mutable_demo.world.people["resident_li"].id)
    stored = await ApiToken.all().values_list("token_hash", flat=True)
    assert token not in stored
    assert identity.hash_token(token) in stored


async def test_me_lists_every_role_of_a_person(demo):
    async with demo.client("judge_he") as client:
        me = (await gql(client, "{ me { name policyVersion roles { role scopePath unit { name } } } }"))[
            "data"
        ]["me"]
    assert {(r["role"], r["unit"]["name"]) for r in me["roles"]} == {
        ("judge", "福禄巷北社区"),
        ("judge", "新青村"),
    }
    assert len(me["policyVersion"]) == 12


# ------------------------------------------------------------------------- limits


async def test_query_depth_is_limited(demo):
    deep = "{ orgUnits { nodes { " + "parent { " * 12 + "name" + " }" * 12 + " } } }"
    async with demo.client("admin") as client:
        body = await gql(client, deep)
    assert body["data"] is None
    assert error_codes(body) == ["QUERY_TOO_DEEP"]
    assert "15 levels deep; the limit is 8" in body["errors"][0]["message"]


async def test_aliases_are_limited(demo):
    many = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(31)) + " }"
    async with demo.client("admin") as client:
        body = await gql(client, many)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"]


async def test_tokens_in_a_document_are_limited(demo):
    huge = "{ me { " + "name " * 3001 + "} }"
    async with demo.client("admin") as client:
        body = await gql(client, huge)
    assert body["data"] is None
    assert "token" in body["errors"][0]["message"].lower()


async def test_mutations_over_get_are_refused(mutable_demo):
    count = await Concern.all().count()
    async with mutable_demo.client("resident_wang") as client:
        grid = mutable_demo.id("units", "fulu_g1")
        query = f'mutation {{ raiseConcern(input: {{unitId: "{grid}", title: "x", category: "other"}}) {{ id }} }}'
        response = await client.get("/graphql", params={"query": query})
    # GraphQL over HTTP: a mutation over GET is 405 (Method Not Allowed), and nothing runs.
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "mutations are not allowed when using GET" in response.text
    assert await Concern.all().count() == count


async def test_queries_over_get_work(demo):
    async with demo.client("resident_wang") as client:
        response = await client.get("/graphql", params={"query": "{ me { name } }"})
    assert response.status_code == 200
    assert response.json()["data"]["me"]["name"] == "王秀英"


async def test_request_body_size_is_capped(demo):
    async with demo.client("resident_wang") as client:
        padding = "#" + "x" * (300 * 1024) + "\n"
        response = await client.post("/graphql", json={"query": padding + "{ me { name } }"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_graphiql_is_served(demo):
    async with demo.client(None) as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_a_mutation_with_bad_input_writes_nothing(mutable_demo):
    concerns, events = await Concern.all().count(), await ConcernEvent.all().count()
    async with mutable_demo.client("resident_wang") as client:
        body = await gql(
            client,
            'mutation($u: ID!) { raiseConcern(input: {unitId: $u, title: "漏水", category: "weather"}) { id } }',
            {"u": mutable_demo.id("units", "fulu_g1")},
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "weather" in body["errors"][0]["message"]
    assert (await Concern.all().count(), await ConcernEvent.all().count()) == (concerns, events)


def test_token_hash_depends_on_the_secret(monkeypatch):
    """Stored hashes are keyed by BANDENG_SECRET: changing it revokes every token."""
    token = "bdg_example"
    first = identity.hash_token(token)
    monkeypatch.setattr(identity, "_secret", lambda: b"another secret")
    assert identity.hash_token(token) != first


@pytest.mark.parametrize(
    ("starts_after", "found"),
    [
        ("2024-04-16T17:00:00+08:00", True),
        ("2024-04-16T17:45:00+08:00", False),
        ("2024-04-16T09:00:00Z", True),
    ],
)
async def test_time_filters_respect_offsets(demo, starts_after, found):
    """The wall council began 2024-04-16 09:30 UTC = 17:30 in Beijing (SQLite compares text)."""
    query = 'query($t: DateTime) { meetings(startsAfter: $t, startsBefore: "2024-05-01T00:00:00Z") { nodes { title } } }'
    async with demo.client("secretary_zhang") as client:
        body = await gql(client, query, {"t": starts_after})
    titles = [m["title"] for m in body["data"]["meetings"]["nodes"]]
    assert ("围墙倾斜隐患议事" in titles) is found
