"""GraphQL over HTTP through the real app: strict request bodies, media types and status
codes, CORS, and the security headers on every response (issue 8, findings 4, 6 and 8)."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.responses import JSONResponse

from app import graphiql
from app.http import create_app
from models.concerns import Concern
from policies.store import PolicyStore
from services.config import Settings, load_settings, parse_origins
from tests.conftest import POLICY_DIR

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON_TYPE = "application/json"
OK_QUERY = "{ __typename }"


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _post(body: str | bytes, content_type: str | None = JSON_TYPE, **headers: str):
    sent = {"Content-Type": content_type} if content_type else {}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return {"content": body.encode() if isinstance(body, str) else body, "headers": sent}


def _json(**params: object) -> str:
    return json.dumps(params)


# (id, HTTP method, request keywords for httpx, expected status, expected code)
BAD_REQUESTS = [
    # the body is not a JSON object
    ("null", "POST", _post("null"), 400, "BAD_REQUEST"),
    ("number", "POST", _post("1"), 400, "BAD_REQUEST"),
    ("string", "POST", _post('"x"'), 400, "BAD_REQUEST"),
    ("true", "POST", _post("true"), 400, "BAD_REQUEST"),
    ("array (no batching)", "POST", _post(json.dumps([{"query": OK_QUERY}])), 400, "BAD_REQUEST"),
    ("empty array", "POST", _post("[]"), 400, "BAD_REQUEST"),
    # an operationName that no GraphQL document could define (never echoed back)
    (
        "operationName a lone surrogate",
        "POST",
        _post('{"query": "{ __typename }", "operationName": "\\ud800"}'),
        400,
        "BAD_REQUEST",
    ),
    (
        "operationName with NUL",
        "POST",
        _post('{"query": "{ __typename }", "operationName": "A\\u0000"}'),
        400,
        "BAD_REQUEST",
    ),
    # the body is not JSON, or not UTF-8 JSON
    ("truncated JSON", "POST", _post('{ "not a JSON'), 400, "BAD_REQUEST"),
    ("empty body", "POST", _post(""), 400, "BAD_REQUEST"),
    ("invalid UTF-8", "POST", _post(b'{"query": "{ __typename }", "x": "\xff\xfe"}'), 400, "BAD_REQUEST"),
    ("UTF-8 surrogate bytes", "POST", _post(b'{"query": "\xed\xa0\x80"}'), 400, "BAD_REQUEST"),
    ("UTF-16", "POST", _post(_json(query=OK_QUERY).encode("utf-16")), 400, "BAD_REQUEST"),
    ("byte-order mark", "POST", _post(b"\xef\xbb\xbf" + _json(query=OK_QUERY).encode()), 400, "BAD_REQUEST"),
    # JSON that Python could not (or should not) take
    (
        "nested 50,000 deep",
        "POST",
        _post('{"query": "{ __typename }", "variables": {"v": ' + _nested(50_000) + "}}"),
        400,
        "BAD_REQUEST",
    ),
    (
        "nested past the limit",
        "POST",
        _post('{"query": "{ __typename }", "variables": {"v": ' + _nested(31) + "}}"),
        400,
        "BAD_REQUEST",
    ),
    (
        "integer of 4,301 digits",
        "POST",
        _post('{"query": "{ __typename }", "variables": {"n": ' + "7" * 4301 + "}}"),
        400,
        "BAD_REQUEST",
    ),
    ("NaN", "POST", _post('{"query": "{ __typename }", "variables": {"n": NaN}}'), 400, "BAD_REQUEST"),
    ("1e999", "POST", _post('{"query": "{ __typename }", "variables": {"n": 1e999}}'), 400, "BAD_REQUEST"),
    # parameters of the wrong type, or missing
    ("query a number", "POST", _post(_json(query=1)), 400, "BAD_REQUEST"),
    ("query an object", "POST", _post(_json(query={"a": 1})), 400, "BAD_REQUEST"),
    ("query an array", "POST", _post(_json(query=[OK_QUERY])), 400, "BAD_REQUEST"),
    ("query false", "POST", _post(_json(query=False)), 400, "BAD_REQUEST"),
    ("variables a string", "POST", _post(_json(query=OK_QUERY, variables="{}")), 400, "BAD_REQUEST"),
    ("variables an array", "POST", _post(_json(query=OK_QUERY, variables=[1])), 400, "BAD_REQUEST"),
    ("variables a number", "POST", _post(_json(query=OK_QUERY, variables=0)), 400, "BAD_REQUEST"),
    ("operationName a number", "POST", _post(_json(query=OK_QUERY, operationName=1)), 400, "BAD_REQUEST"),
    ("operationName an object", "POST", _post(_json(query=OK_QUERY, operationName={})), 400, "BAD_REQUEST"),
    ("operationName an array", "POST", _post(_json(query=OK_QUERY, operationName=["Q"])), 400, "BAD_REQUEST"),
    ("extensions a string", "POST", _post(_json(query=OK_QUERY, extensions="x")), 400, "BAD_REQUEST"),
    ("extensions an array", "POST", _post(_json(query=OK_QUERY, extensions=[])), 400, "BAD_REQUEST"),
    ("missing query", "POST", _post("{}"), 400, "BAD_REQUEST"),
    ("misspelt query", "POST", _post(_json(qeury=OK_QUERY)), 400, "BAD_REQUEST"),
    ("null query", "POST", _post(_json(query=None)), 400, "BAD_REQUEST"),
    (
        "unknown operationName",
        "POST",
        _post(_json(query="query A { __typename }", operationName="B")),
        400,
        "OPERATION_RESOLUTION_FAILURE",
    ),
    # content types other than application/json (UTF-8)
    (
        "no Content-Type",
        "POST",
        _post(_json(query=OK_QUERY), content_type=None),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("text/plain", "POST", _post(_json(query=OK_QUERY), "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (
        "form-urlencoded",
        "POST",
        _post("query=%7B__typename%7D", "application/x-www-form-urlencoded"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("multipart", "POST", _post("--x--", "multipart/form-data; boundary=x"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("application/graphql", "POST", _post(OK_QUERY, "application/graphql"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (
        "json look-alike",
        "POST",
        _post(_json(query=OK_QUERY), "application/jsonx"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "charset latin-1",
        "POST",
        _post(_json(query=OK_QUERY), "application/json; charset=latin-1"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # GET with bad parameters
    ("GET no query", "GET", {"headers": {"Accept": JSON_TYPE}}, 400, "BAD_REQUEST"),
    ("GET variables not JSON", "GET", {"params": {"query": OK_QUERY, "variables": "{x"}}, 400, "BAD_REQUEST"),
    (
        "GET variables an array",
        "GET",
        {"params": {"query": OK_QUERY, "variables": "[1]"}},
        400,
        "BAD_REQUEST",
    ),
    ("GET variables a number", "GET", {"params": {"query": OK_QUERY, "variables": "1"}}, 400, "BAD_REQUEST"),
    (
        "GET extensions a string",
        "GET",
        {"params": {"query": OK_QUERY, "extensions": '"x"'}},
        400,
        "BAD_REQUEST",
    ),
    (
        "GET variables nested 5,000 deep",  # past the decoder's recursion, within URL limits
        "GET",
        {"params": {"query": OK_QUERY, "variables": '{"v": ' + _nested(5_000) + "}"}},
        400,
        "BAD_REQUEST",
    ),
    (
        "GET variables with a huge integer",
        "GET",
        {"params": {"query": OK_QUERY, "variables": '{"n": ' + "7" * 4301 + "}"}},
        400,
        "BAD_REQUEST",
    ),
    (
        "mutation over GET",
        "GET",
        {"params": {"query": 'mutation { revokeMyToken(token: "x") }'}},
        405,
        "METHOD_NOT_ALLOWED",
    ),
    # methods and Accept headers the endpoint cannot serve
    ("PUT", "PUT", _post(_json(query=OK_QUERY)), 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "DELETE", {}, 405, "METHOD_NOT_ALLOWED"),
    ("OPTIONS without CORS", "OPTIONS", {}, 405, "METHOD_NOT_ALLOWED"),
    ("Accept text/plain", "POST", _post(_json(query=OK_QUERY), Accept="text/plain"), 406, "NOT_ACCEPTABLE"),
    (
        "Accept text/html only",
        "GET",
        {"params": {"query": OK_QUERY}, "headers": {"Accept": "text/html"}},
        406,
        "NOT_ACCEPTABLE",
    ),
    (
        "Accept json with q=0",
        "POST",
        _post(_json(query=OK_QUERY), Accept="application/json;q=0"),
        406,
        "NOT_ACCEPTABLE",
    ),
]


@pytest.mark.parametrize(
    ("method", "request_kwargs", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
async def test_a_malformed_request_gets_a_json_4xx_with_a_code(demo, method, request_kwargs, status, code):
    async with demo.client("resident_wang") as client:
        response = await client.request(method, "/graphql", **request_kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] in (JSON_TYPE, GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code
    assert body["errors"][0]["message"]
    assert "Traceback" not in response.text


async def test_a_mutation_over_get_runs_nothing_and_names_post(mutable_demo):
    count = await Concern.all().count()
    grid = mutable_demo.id("units", "fulu_g1")
    query = (
        f'mutation {{ raiseConcern(input: {{unitId: "{grid}", title: "x", category: "other"}}) {{ id }} }}'
    )
    async with mutable_demo.client("resident_wang") as client:
        response = await client.get("/graphql", params={"query": query}, headers={"Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert await Concern.all().count() == count


async def test_head_is_405_naming_get_and_post(demo):
    async with demo.client(None) as client:
        response = await client.head("/graphql", params={"query": OK_QUERY})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_json_nested_up_to_the_limit_is_accepted(demo):
    # body object (1) > variables (2) > "v" nested 30 deep = 32 levels, the default limit
    assert Settings().max_json_depth == 32
    body = '{"query": "{ __typename }", "variables": {"v": ' + _nested(30) + "}}"
    async with demo.client(None) as client:
        response = await client.post("/graphql", **_post(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_the_json_nesting_limit_is_a_setting(settings):
    app = create_app(
        settings.with_overrides(max_json_depth=4), policy_store=PolicyStore(POLICY_DIR), manage_database=False
    )
    async with _client(app) as client:
        ok = await client.post("/graphql", **_post('{"query": "{ __typename }", "variables": {"v": [[]]}}'))
        deep = await client.post(
            "/graphql", **_post('{"query": "{ __typename }", "variables": {"v": [[[]]]}}')
        )
    assert ok.status_code == 200
    assert deep.status_code == 400
    assert "4 levels" in deep.json()["errors"][0]["message"]
    assert load_settings({"BANDENG_MAX_JSON_DEPTH": "7"}).max_json_depth == 7


async def test_null_parameters_and_utf8_are_accepted(demo):
    async with demo.client(None) as client:
        nulls = await client.post(
            "/graphql", **_post(_json(query=OK_QUERY, variables=None, operationName=None, extensions=None))
        )
        utf8 = await client.post(
            "/graphql",
            **_post(_json(query='{ __type(name: "Run🏃Swim") { name } }'), "application/json; charset=UTF-8"),
        )
        get = await client.get(
            "/graphql", params={"query": OK_QUERY, "variables": "null", "extensions": '{"a": 1}'}
        )
    assert nulls.status_code == 200 and nulls.json() == {"data": {"__typename": "Query"}}
    assert utf8.status_code == 200 and utf8.json() == {"data": {"__type": None}}
    assert get.status_code == 200 and get.json() == {"data": {"__typename": "Query"}}


# --- media types and status codes --------------------------------------------------------

PARSE_ERROR = {"query": "{"}
VALIDATION_ERROR = {"query": "{ noSuchField }"}
BAD_VARIABLES = {"query": "query ($n: String!) { __type(name: $n) { name } }", "variables": {"n": None}}
SUCCESS = {"query": OK_QUERY}
FIELD_ERROR = {"query": "{ me { name } }"}  # no token: UNAUTHENTICATED at the field, execution ran

MATRIX = [
    # (id, request, expected status, expected code (None: no error), data expected)
    ("parse error", PARSE_ERROR, 400, "GRAPHQL_PARSE_FAILED", False),
    ("validation error", VALIDATION_ERROR, 400, "GRAPHQL_VALIDATION_FAILED", False),
    ("bad variables", BAD_VARIABLES, 400, "BAD_USER_INPUT", False),
    ("missing variable", {"query": BAD_VARIABLES["query"]}, 400, "BAD_USER_INPUT", False),
    (
        "unused variable (a document error)",
        {"query": "query ($n: String) { __typename }"},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        False,
    ),
    (
        "undefined variable (a document error)",
        {"query": "{ __type(name: $n) { name } }"},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        False,
    ),
    (
        "two operations, no operationName",
        {"query": "query A { __typename } query B { __typename }"},
        400,
        "OPERATION_RESOLUTION_FAILURE",
        False,
    ),
    ("success", SUCCESS, 200, None, True),
    ("field error", FIELD_ERROR, 200, "UNAUTHENTICATED", True),
]


@pytest.mark.parametrize(
    ("payload", "status", "code", "has_data"), [pytest.param(*c[1:], id=c[0]) for c in MATRIX]
)
async def test_graphql_response_json_has_the_spec_status_codes(demo, payload, status, code, has_data):
    async with demo.client(None) as client:
        response = await client.post(
            "/graphql", **_post(json.dumps(payload), Accept=f"{GRAPHQL_RESPONSE}, {JSON_TYPE};q=0.9")
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert ("data" in body) is has_data
    if code is None:
        assert body == {"data": {"__typename": "Query"}}
    else:
        assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize("accept", [JSON_TYPE, None, "*/*", "application/*"])
@pytest.mark.parametrize(
    ("payload", "status", "code", "has_data"), [pytest.param(*c[1:], id=c[0]) for c in MATRIX]
)
async def test_application_json_answers_200_with_data_as_before(
    demo, accept, payload, status, code, has_data
):
    headers = {"Accept": accept} if accept else {}
    async with demo.client(None) as client:
        response = await client.post("/graphql", **_post(json.dumps(payload), **headers))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert "data" in body
    if code is None:
        assert body == {"data": {"__typename": "Query"}}
    else:
        assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON_TYPE}", GRAPHQL_RESPONSE),
        (f"{JSON_TYPE}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{JSON_TYPE}, {GRAPHQL_RESPONSE};q=0.5", JSON_TYPE),
        (f"{GRAPHQL_RESPONSE};q=0.1, */*", JSON_TYPE),
        (f"{GRAPHQL_RESPONSE}, */*;q=0.1", GRAPHQL_RESPONSE),
        ("text/html, */*;q=0.8", JSON_TYPE),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{JSON_TYPE};q=0, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_accept_negotiation(demo, accept, expected):
    async with demo.client(None) as client:
        response = await client.post("/graphql", **_post(json.dumps(SUCCESS), Accept=accept))
    assert response.status_code == 200
    assert response.headers["content-type"] == expected


async def test_get_answers_with_the_negotiated_type(demo):
    async with demo.client(None) as client:
        ok = await client.get("/graphql", params=SUCCESS, headers={"Accept": GRAPHQL_RESPONSE})
        invalid = await client.get("/graphql", params=VALIDATION_ERROR, headers={"Accept": GRAPHQL_RESPONSE})
    assert (ok.status_code, ok.headers["content-type"]) == (200, GRAPHQL_RESPONSE)
    assert (invalid.status_code, invalid.headers["content-type"]) == (400, GRAPHQL_RESPONSE)
    assert "data" not in invalid.json()


async def test_a_request_limit_is_a_4xx_without_data(demo):
    huge = "{ me { " + "name " * 3001 + "} }"
    async with demo.client("resident_wang") as client:
        response = await client.post("/graphql", **_post(_json(query=huge), Accept=GRAPHQL_RESPONSE))
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_data_with_a_token_is_200_in_both_types(demo):
    for accept in (GRAPHQL_RESPONSE, JSON_TYPE):
        async with demo.client("resident_wang") as client:
            response = await client.post("/graphql", **_post(_json(query="{ me { name } }"), Accept=accept))
        assert response.status_code == 200
        assert response.headers["content-type"] == accept
        assert response.json() == {"data": {"me": {"name": "王秀英"}}}


# --- CORS --------------------------------------------------------------------------------

ALLOWED = "https://app.example.org"
OTHER = "https://evil.example.net"


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test"
    )


@pytest.fixture(scope="module")
def cors_app(settings):
    return create_app(
        settings.with_overrides(cors_origins=(ALLOWED,)),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )


def _preflight(origin: str) -> dict:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_preflight_from_an_allowed_origin_is_answered(cors_app):
    async with _client(cors_app) as client:
        response = await client.options("/graphql", headers=_preflight(ALLOWED))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert {m.strip() for m in response.headers["access-control-allow-methods"].split(",")} == {"GET", "POST"}
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_preflight_from_another_origin_gets_no_allow_origin(cors_app, app):
    for application in (cors_app, app):  # the allow-list, and the default (empty) one
        async with _client(application) as client:
            response = await client.options("/graphql", headers=_preflight(OTHER))
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers
        assert response.json()["errors"][0]["extensions"]["code"] == "CORS_NOT_ALLOWED"
        assert "origin" in response.json()["errors"][0]["message"]


async def test_a_preflight_for_another_method_or_header_is_refused(cors_app):
    async with _client(cors_app) as client:
        method = await client.options(
            "/graphql", headers={**_preflight(ALLOWED), "Access-Control-Request-Method": "DELETE"}
        )
        header = await client.options(
            "/graphql", headers={**_preflight(ALLOWED), "Access-Control-Request-Headers": "x-secret"}
        )
    assert method.status_code == 400 and "method" in method.json()["errors"][0]["message"]
    assert header.status_code == 400 and "headers" in header.json()["errors"][0]["message"]


async def test_a_cross_origin_request_is_readable_only_from_an_allowed_origin(cors_app, demo):
    async with _client(cors_app) as client:
        allowed = await client.post("/graphql", **_post(_json(query=OK_QUERY), Origin=ALLOWED))
        other = await client.post("/graphql", **_post(_json(query=OK_QUERY), Origin=OTHER))
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert other.status_code == 200  # CORS is enforced by the browser; the answer is the same


async def test_the_default_allows_no_cross_origin_reads(app, demo):
    assert Settings().cors_origins == ()
    async with _client(app) as client:
        response = await client.post("/graphql", **_post(_json(query=OK_QUERY), Origin=ALLOWED))
    assert "access-control-allow-origin" not in response.headers


def test_the_origin_setting_is_parsed_and_checked():
    assert load_settings({}).cors_origins == ()
    assert load_settings({"BANDENG_CORS_ORIGINS": ""}).cors_origins == ()
    assert load_settings(
        {"BANDENG_CORS_ORIGINS": " https://A.example.org , http://localhost:5173 "}
    ).cors_origins == (
        "https://a.example.org",
        "http://localhost:5173",
    )
    assert parse_origins("*") == ("*",)
    for bad in (
        "https://app.example.org/",
        "app.example.org",
        "ftp://x.org",
        "https://x.org/path",
        "https://",
    ):
        with pytest.raises(ValueError, match="BANDENG_CORS_ORIGINS"):
            parse_origins(bad)


# --- security headers --------------------------------------------------------------------

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_secure(response: httpx.Response) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)
    assert "content-security-policy" in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


ROUTES = [
    # (id, method, path, request keywords, expected status, cache-control no-store)
    ("graphql POST", "POST", "/graphql", _post(_json(query=OK_QUERY)), 200, True),
    ("graphql GET", "GET", "/graphql", {"params": {"query": OK_QUERY}}, 200, True),
    ("GraphiQL page", "GET", "/graphql", {"headers": {"Accept": "text/html"}}, 200, True),
    ("static asset", "GET", f"{graphiql.STATIC_URL}/graphiql-3.8.3.min.js", {}, 200, False),
    ("healthz", "GET", "/healthz", {}, 200, True),
    ("readyz", "GET", "/readyz", {}, 200, True),
    ("unknown path (404)", "GET", "/nope", {}, 404, False),
    ("unknown asset (404)", "GET", f"{graphiql.STATIC_URL}/nope.js", {}, 404, False),
    ("graphql error (400)", "POST", "/graphql", _post("null"), 400, True),
    ("method (405)", "PATCH", "/graphql", {}, 405, True),
    ("accept (406)", "POST", "/graphql", _post(_json(query=OK_QUERY), Accept="text/plain"), 406, True),
    ("too large (413)", "POST", "/graphql", _post(_json(query="#" + "x" * 300_000)), 413, True),
    ("media type (415)", "POST", "/graphql", _post(_json(query=OK_QUERY), "text/plain"), 415, True),
]


@pytest.mark.parametrize(
    ("method", "path", "request_kwargs", "status", "no_store"),
    [pytest.param(*r[1:], id=r[0]) for r in ROUTES],
)
async def test_every_response_has_the_security_headers(demo, method, path, request_kwargs, status, no_store):
    async with demo.client(None) as client:
        response = await client.request(method, path, **request_kwargs)
    assert response.status_code == status, response.text
    _assert_secure(response)
    assert (response.headers.get("cache-control") == "no-store") is no_store
    if status >= 400:
        assert response.json()["errors"][0]["extensions"]["code"]


async def test_graphiql_keeps_its_own_content_security_policy(demo):
    async with demo.client(None) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.headers["content-security-policy"] == graphiql.content_security_policy(page.text)
    assert len(page.headers.get_list("content-security-policy")) == 1


async def test_an_unexpected_error_is_a_json_500_with_the_headers(settings):
    app = create_app(settings, policy_store=PolicyStore(POLICY_DIR), manage_database=False)

    async def boom(request) -> JSONResponse:
        raise RuntimeError("secret detail")

    app.router.add_route("/boom", boom)
    async with _client(app) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret detail" not in response.text
    _assert_secure(response)
