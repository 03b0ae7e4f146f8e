"""Operations (issue 8, finding 8): rate limits, production mode, trusted documents.

Through the HTTP app (ASGI). The real server (limits, drain) is in tests/test_server.py."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from app.cli import main as cli_main
from app.http import create_app
from policies.store import PolicyStore
from schema.trusted import document_hash
from tests.conftest import POLICY_DIR, error_codes

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BANDENG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ME = "{ me { name } }"
SECRET = "a-test-secret-that-is-not-the-development-one"


@pytest.fixture(autouse=True)
async def close_apps():
    """Apps built by a test release their rate-limit store (Redis connections) after it."""
    yield
    while BUILT:
        await BUILT.pop().state.rate_limits.close()


BUILT: list = []


def make_app(settings, **overrides):
    app = create_app(
        settings.with_overrides(watch_policy=False, **overrides),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )
    BUILT.append(app)
    return app


def client(app, token: str | None = None, address: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 4711)),
        base_url="http://test",
        headers=headers,
    )


async def post(c: httpx.AsyncClient, query: str = ME, **extra) -> httpx.Response:
    return await c.post("/graphql", json={"query": query, **extra})


# --- rate limits ------------------------------------------------------------------------------


def require_redis() -> None:
    """The Redis tests need a Redis (like PostgreSQL, it is never skipped): say so clearly."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}); set BANDENG_TEST_REDIS_URL")
    finally:
        client.close()


def limited(settings, backend: str, **overrides):
    """Settings with small limits on ``backend`` ("memory" or "redis", own key prefix)."""
    if backend == "redis":
        require_redis()
    values = dict(
        rate_limit_token_rate=0.1,
        rate_limit_token_burst=3,
        rate_limit_address_rate=0,
        rate_limit_address_burst=1,
        redis_url=REDIS_URL if backend == "redis" else "",
        rate_limit_prefix=f"bandeng:test:{uuid.uuid4().hex}:",
    )
    values.update(overrides)
    return values


BACKENDS = ["memory", "redis"]


def assert_rate_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert error_codes(body) == ["RATE_LIMITED"]
    assert body["errors"][0]["extensions"]["retryAfter"] == retry_after


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_token_over_its_limit_gets_429_and_another_token_is_unaffected(demo, settings, backend):
    app = make_app(settings, **limited(settings, backend))
    async with client(app, demo.tokens["resident_wang"]) as wang, client(app, demo.tokens["admin"]) as admin:
        for _ in range(3):  # the burst
            response = await post(wang)
            assert response.status_code == 200 and response.json()["data"]["me"]["name"]
        # 0.1 token per second: the next one is ~10 s away
        assert_rate_limited(await post(wang), retry_after=10)
        assert (await post(admin)).status_code == 200
        # health and readiness are never limited
        assert (await wang.get("/healthz")).status_code == 200
        assert (await wang.get("/readyz")).status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
async def test_unauthenticated_callers_are_limited_per_address(demo, settings, backend):
    app = make_app(
        settings,
        **limited(
            settings, backend, rate_limit_token_rate=0, rate_limit_address_rate=1, rate_limit_address_burst=2
        ),
    )
    async with client(app, address="198.51.100.7") as first, client(app, address="198.51.100.8") as other:
        assert [(await post(first, "{ __typename }")).status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(await post(first, "{ __typename }"), retry_after=1)
        assert (await post(other, "{ __typename }")).status_code == 200


async def test_two_instances_share_one_redis_bucket(demo, settings):
    values = limited(settings, "redis")
    one, two = make_app(settings, **values), make_app(settings, **values)
    token = demo.tokens["resident_wang"]
    async with client(one, token) as a, client(two, token) as b:
        statuses = [(await post(c)).status_code for c in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]
    # the in-process store shares nothing: the same traffic is served
    values = limited(settings, "memory")
    one, two = make_app(settings, **values), make_app(settings, **values)
    async with client(one, token) as a, client(two, token) as b:
        statuses = [(await post(c)).status_code for c in (a, b, a, b)]
    assert statuses == [200, 200, 200, 200]


async def test_an_unreachable_redis_fails_open_with_a_warning(demo, settings, caplog):
    app = make_app(settings, **limited(settings, "redis", redis_url="redis://127.0.0.1:1/0"))
    with caplog.at_level(logging.WARNING, logger="bandeng.ratelimit"):
        async with client(app, demo.tokens["resident_wang"]) as wang:
            statuses = [(await post(wang)).status_code for _ in range(5)]
    assert statuses == [200] * 5  # over the burst of 3, yet served: the limiter is off
    warnings = [r for r in caplog.records if r.name == "bandeng.ratelimit"]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()


async def test_a_failing_store_is_left_alone_for_a_while(settings):
    """A Redis that hangs would cost every request its timeout: after a failure the
    limiter serves without asking the store for RETRY_AFTER_FAILURE seconds."""
    from starlette.responses import PlainTextResponse

    from app.ratelimit import RateLimit

    class Hanging:
        calls = 0

        async def take(self, buckets):
            Hanging.calls += 1
            raise TimeoutError("no answer in 0.5 s")

    limiter = RateLimit(
        PlainTextResponse("ok"), settings.with_overrides(rate_limit_address_rate=1), Hanging()
    )
    async with client(limiter) as c:
        assert [(await c.get("/")).status_code for _ in range(5)] == [200] * 5
    assert Hanging.calls == 1


async def test_x_forwarded_for_counts_only_from_trusted_proxies(demo, settings):
    values = limited(
        settings, "memory", rate_limit_token_rate=0, rate_limit_address_rate=0.1, rate_limit_address_burst=1
    )

    async def statuses(app) -> list[int]:
        found = []
        for forwarded in ("203.0.113.1", "203.0.113.2"):
            async with client(app, address="10.0.0.2", **{"X-Forwarded-For": forwarded}) as c:
                found.append((await post(c, "{ __typename }")).status_code)
        return found

    # behind a trusted proxy each forwarded client has its own bucket
    assert await statuses(make_app(settings, trusted_proxies="10.0.0.0/8", **values)) == [200, 200]
    # from an untrusted peer the header is ignored: both requests are the peer's
    assert await statuses(make_app(settings, **values)) == [200, 429]


# --- production mode --------------------------------------------------------------------------

PRODUCTION = {"env": "production", "secret": SECRET}
INTROSPECT = "{ __schema { queryType { name } } }"


async def test_introspection_is_off_in_production_unless_switched_on(demo, settings):
    async with client(make_app(settings, **PRODUCTION)) as c:
        body = (await post(c, INTROSPECT)).json()
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"} and body["data"] is None
    assert "introspection" in body["errors"][0]["message"]
    async with client(make_app(settings, **PRODUCTION, introspection=True)) as c:
        assert (await post(c, INTROSPECT)).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    async with client(make_app(settings)) as c:  # development
        assert (await post(c, INTROSPECT)).json()["data"]["__schema"]["queryType"]["name"] == "Query"
    async with client(make_app(settings, introspection=False)) as c:
        assert set(error_codes((await post(c, INTROSPECT)).json())) == {"GRAPHQL_VALIDATION_FAILED"}


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ councilz { totalCount } }", {}),  # field
        ("{ concerns(statuz: SUBMITTED) { totalCount } }", {}),  # argument
        ("query($x: ConcernStatuz) { concerns(status: $x) { totalCount } }", {}),  # type
        ("query($x: ConcernStatus) { concerns(status: $x) { totalCount } }", {"x": "SUBMITED"}),  # value
    ],
)
async def test_field_suggestions_are_hidden_in_production(demo, settings, query, variables):
    async with client(make_app(settings), demo.tokens["admin"]) as c:
        answer = (await post(c, query, variables=variables)).json()
    development = [e["message"] for e in answer["errors"]]
    async with client(make_app(settings, **PRODUCTION), demo.tokens["admin"]) as c:
        production = (await post(c, query, variables=variables)).json()
    assert any("Did you mean" in message for message in development)
    assert [e["message"] for e in production["errors"]] == [m.split(" Did you mean")[0] for m in development]
    assert error_codes(production) == error_codes(answer) and None not in error_codes(answer)
    async with client(make_app(settings, **PRODUCTION, field_suggestions=True), demo.tokens["admin"]) as c:
        assert [
            e["message"] for e in (await post(c, query, variables=variables)).json()["errors"]
        ] == development


async def test_graphiql_is_served_in_development_only(settings):
    page = {"Accept": "text/html"}
    async with client(make_app(settings), **page) as c:
        response = await c.get("/graphql")
        assert response.status_code == 200 and "graphiql" in response.text.lower()
    async with client(make_app(settings, **PRODUCTION), **page) as c:
        assert (await c.get("/graphql")).status_code == 404
    async with client(make_app(settings, **PRODUCTION, graphiql=True), **page) as c:
        assert (await c.get("/graphql")).status_code == 200


def test_production_refuses_the_development_secret(settings):
    with pytest.raises(ValueError, match="BANDENG_SECRET"):
        make_app(settings, env="production")
    make_app(settings, env="production", secret=SECRET)  # given a secret, it builds
    make_app(settings)  # development accepts the development secret


def serve_refusal(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")}
    # If the refusal failed, the server would run until the timeout: the test fails either way.
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_in_production_refuses_the_development_secret_and_demo(tmp_path):
    database = {"BANDENG_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3"}
    done = serve_refusal({**database, "BANDENG_ENV": "production"})
    assert done.returncode == 2 and "BANDENG_SECRET" in done.stderr
    done = serve_refusal({**database, "BANDENG_ENV": "production", "BANDENG_SECRET": SECRET}, "--demo")
    assert done.returncode == 2 and "--demo" in done.stderr and "BANDENG_ENV" in done.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # refused before touching the database


def test_serve_in_production_refuses_a_database_that_holds_the_demo(tmp_path):
    """The demo seeded into a database (`bandeng seed`, or `serve --demo` earlier) is refused
    in production, naming what was found and the setting."""
    database = {"BANDENG_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")}
    seeded = subprocess.run(
        [sys.executable, "-m", "app.cli", "seed"],
        cwd=REPO,
        env={**clean, **database},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    done = serve_refusal({**database, "BANDENG_ENV": "production", "BANDENG_SECRET": SECRET})
    assert done.returncode == 2, done.stderr
    assert "demo data" in done.stderr and "BANDENG_DATABASE_URL" in done.stderr
    assert "people" in done.stderr


async def test_demo_traces_are_found_in_the_demo_and_not_in_an_empty_database(empty_database):
    from app import seed

    assert await seed.demo_traces() == []  # empty_database: nothing seeded yet
    await seed.seed_demo()
    assert await seed.demo_traces() == [f"the demo's {len(seed.PEOPLE)} people"]


# --- trusted documents ------------------------------------------------------------------------

REGISTERED = "query Me { me { name } }"
MUTATION = 'mutation { raiseConcern(input: {unitId: "1", title: "x", category: "other"}) { id } }'


@pytest.fixture
def manifest(tmp_path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({document_hash(REGISTERED): REGISTERED}), encoding="utf-8")
    return path


async def test_trusted_documents_run_only_registered_documents(demo, settings, manifest):
    app = make_app(settings, **PRODUCTION, trusted_documents=manifest)
    digest = document_hash(REGISTERED)
    expected = {"data": {"me": {"name": demo.world.people["resident_wang"].name}}}
    async with client(app, demo.tokens["resident_wang"]) as c:
        by_id = await c.post("/graphql", json={"documentId": f"sha256:{digest}"})
        assert by_id.json() == expected
        assert (await c.post("/graphql", json={"documentId": digest})).json() == expected
        assert (await c.get("/graphql", params={"documentId": f"sha256:{digest}"})).json() == expected
        apq = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
        assert (await c.post("/graphql", json=apq)).json() == expected
        # the registered text itself runs; any other text does not
        assert (await post(c, REGISTERED)).json() == expected
        for text in (ME, REGISTERED + " ", MUTATION, INTROSPECT):
            body = (await post(c, text)).json()
            assert error_codes(body) == ["PERSISTED_QUERY_REQUIRED"] and body["data"] is None, text
        # unknown ids, and a query that is not the named document
        unknown = await c.post("/graphql", json={"documentId": "sha256:" + "0" * 64})
        assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        mismatch = await c.post("/graphql", json={"documentId": f"sha256:{digest}", "query": MUTATION})
        assert error_codes(mismatch.json()) == ["PERSISTED_QUERY_REQUIRED"]
    # without a manifest, free text runs (development and production alike)
    for values in ({}, PRODUCTION):
        async with client(make_app(settings, **values), demo.tokens["resident_wang"]) as c:
            assert (await post(c, ME)).json() == expected


def test_a_manifest_entry_that_is_not_its_documents_hash_is_refused(settings, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0" * 64: REGISTERED}), encoding="utf-8")
    with pytest.raises(ValueError, match="not the SHA-256"):
        make_app(settings, trusted_documents=path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        make_app(settings, trusted_documents=path)


async def test_documents_hash_prints_a_manifest_the_server_accepts(demo, settings, tmp_path, capsys):
    (tmp_path / "me.graphql").write_text(REGISTERED + "\n", encoding="utf-8")
    (tmp_path / "typename.graphql").write_text("{ __typename }", encoding="utf-8")
    assert (
        cli_main(["documents", "hash", str(tmp_path / "me.graphql"), str(tmp_path / "typename.graphql")]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        document_hash(REGISTERED + "\n"): REGISTERED + "\n",
        document_hash("{ __typename }"): "{ __typename }",
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(printed), encoding="utf-8")
    async with client(make_app(settings, trusted_documents=path)) as c:
        response = await c.post("/graphql", json={"documentId": "sha256:" + document_hash("{ __typename }")})
        assert response.json() == {"data": {"__typename": "Query"}}
    (tmp_path / "broken.graphql").write_text("{ me {", encoding="utf-8")
    assert cli_main(["documents", "hash", str(tmp_path / "broken.graphql")]) == 1
    assert "broken.graphql" in capsys.readouterr().err
