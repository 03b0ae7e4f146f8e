"""The operator's view (issue 10): /metrics, request ids, structured logs, the CLI's log
level, traces."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.http import create_app
from policies.store import PolicyStore
from schema import compiled
from services import logs, metrics, tracing
from tests.conftest import POLICY_DIR, error_codes, is_postgres

ROOT = Path(__file__).resolve().parent.parent


def client_for(app, token: str | None = None, **headers: str) -> httpx.AsyncClient:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)


async def scrape(app, headers: dict | None = None) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    async with client_for(app) as c:
        response = await c.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def requests(samples: dict, operation: str, code: str) -> float:
    return samples.get(("bandeng_requests_total", (("code", code), ("operation", operation))), 0.0)


def denials(samples: dict, resource: str) -> float:
    return samples.get(("bandeng_authz_denials_total", (("resource", resource),)), 0.0)


# --- /metrics --------------------------------------------------------------------------------


async def test_requests_are_counted_by_operation_and_outcome_code(demo):
    before = await scrape(demo.app)
    async with demo.client("resident_wang") as c:
        for _ in range(3):
            ok = await c.post("/graphql", json={"query": "query MetricsMe { me { name } }"})
            assert ok.status_code == 200 and "errors" not in ok.json()
        forbidden = (
            await c.post("/graphql", json={"query": "query MetricsAudit { auditLog { totalCount } }"})
        ).json()
        assert error_codes(forbidden) == ["FORBIDDEN"]
        anonymous = (await c.post("/graphql", json={"query": "{ me { name } }"})).json()
        assert "errors" not in anonymous
        broken = (await c.post("/graphql", json={"query": "query MetricsBroken { me { "})).json()
        assert error_codes(broken) == ["GRAPHQL_PARSE_FAILED"]
        not_json = await c.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        assert not_json.status_code == 400
    async with demo.client(None) as c:
        nobody = (await c.post("/graphql", json={"query": "query MetricsMe { me { name } }"})).json()
        assert error_codes(nobody) == ["UNAUTHENTICATED"]
    after = await scrape(demo.app)

    def delta(operation: str, code: str) -> float:
        return requests(after, operation, code) - requests(before, operation, code)

    assert delta("MetricsMe", "OK") == 3
    assert delta("MetricsMe", "UNAUTHENTICATED") == 1
    assert delta("MetricsAudit", "FORBIDDEN") == 1
    assert delta("anonymous", "OK") >= 1
    # a document that does not parse names no operation (its name is not believed)
    assert delta("-", "GRAPHQL_PARSE_FAILED") == 1
    assert delta("MetricsBroken", "GRAPHQL_PARSE_FAILED") == 0
    assert delta("-", "BAD_REQUEST") == 1
    histogram = ("bandeng_request_duration_seconds_count", (("operation", "MetricsMe"),))
    assert after[histogram] - before.get(histogram, 0) == 4
    assert denials(after, "AuditRecord") - denials(before, "AuditRecord") == 1
    assert after[("bandeng_policy_info", (("version", demo.app.state.policy_store.current.version),))] == 1
    assert ("bandeng_subscriptions_open", ()) in after
    if is_postgres():
        assert after[("bandeng_db_pool_connections", (("state", "max"),))] >= 1
    else:
        assert not any(name == "bandeng_db_pool_connections" for name, _ in after)


async def test_the_fast_path_is_counted(demo):
    # (with operationName: a named document sent without it is proven under its name, and
    # looked up under None, so it never takes the fast path; reported, left to schema/compiled.py)
    query = {"query": "query MetricsFast { me { name } }", "operationName": "MetricsFast"}
    async with demo.client("grid_worker_chen") as c:
        await c.post("/graphql", json=query)  # planned and proven
        before = await scrape(demo.app)
        fast_before = compiled.STATS["fast"]
        for _ in range(5):
            assert "errors" not in (await c.post("/graphql", json=query)).json()
    assert compiled.STATS["fast"] - fast_before == 5
    assert requests(await scrape(demo.app), "MetricsFast", "OK") - requests(before, "MetricsFast", "OK") == 5


async def test_a_field_denial_is_counted_by_its_resource_once_per_request(demo):
    # The street official sees the street's concerns but not residents' phone numbers.
    query = {"query": "query MetricsPhones { concerns(first: 10) { nodes { raisedBy { name phone } } } }"}
    before = await scrape(demo.app)
    async with demo.client("street_official_xu") as c:
        body = (await c.post("/graphql", json=query)).json()
    people = [n["raisedBy"] for n in body["data"]["concerns"]["nodes"] if n["raisedBy"]]
    assert len(people) > 1 and all(p["phone"] is None for p in people)
    after = await scrape(demo.app)
    assert denials(after, "Person.contact") - denials(before, "Person.contact") == 1
    # the grid worker may read them: no denial
    async with demo.client("grid_worker_chen") as c:
        body = (await c.post("/graphql", json=query)).json()
    assert any(n["raisedBy"] and n["raisedBy"]["phone"] for n in body["data"]["concerns"]["nodes"])
    assert denials(await scrape(demo.app), "Person.contact") == denials(after, "Person.contact")


async def test_a_forbidden_mutation_is_counted_as_a_denial(mutable_demo):
    demo = mutable_demo
    before = await scrape(demo.app)
    async with demo.client("resident_wang") as c:
        body = (
            await c.post(
                "/graphql",
                json={
                    "query": "mutation MetricsEscalate($id: ID!) { escalateConcern(input: {concernId: $id}) { __typename } }",
                    "variables": {"id": demo.id("concerns", next(iter(demo.world.concerns)))},
                },
            )
        ).json()
    codes = error_codes(body)
    assert codes and codes[0] in ("FORBIDDEN", "NOT_FOUND")
    after = await scrape(demo.app)
    assert requests(after, "MetricsEscalate", codes[0]) - requests(before, "MetricsEscalate", codes[0]) == 1
    # FORBIDDEN, or NOT_FOUND for a concern that exists out of reach: a denial either way
    assert denials(after, "Concern") - denials(before, "Concern") == 1


async def test_an_object_out_of_reach_is_a_denial_but_a_missing_one_is_not(demo):
    # the resident's community's neighbour: a concern of another grid (NOT_FOUND to them)
    query = "query MetricsConcern($id: ID!) { concern(id: $id) { title } }"
    mine = {
        c.id for c in demo.world.concerns.values() if c.raised_by_id == demo.world.people["resident_wang"].id
    }
    foreign = next(str(c.id) for c in demo.world.concerns.values() if c.id not in mine)
    async with demo.client("resident_wang") as c:
        before = await scrape(demo.app)
        out_of_reach = (await c.post("/graphql", json={"query": query, "variables": {"id": foreign}})).json()
        missing = (await c.post("/graphql", json={"query": query, "variables": {"id": "999999"}})).json()
    assert error_codes(out_of_reach) == error_codes(missing) == ["NOT_FOUND"]  # the same answer
    after = await scrape(demo.app)
    assert denials(after, "Concern") - denials(before, "Concern") == 1  # the operator sees which


def app_with(settings, **overrides):
    return create_app(
        settings.with_overrides(**overrides), policy_store=PolicyStore(POLICY_DIR), manage_database=False
    )


async def test_metrics_access_is_configurable(settings):
    secret = "s" * 40
    production = {"env": "production", "secret": "x" * 40}
    cases = [
        ({}, {}, 200),  # development: open
        ({"metrics": "off"}, {}, 404),
        ({**production}, {}, 404),  # production without a token: not served
        ({**production, "metrics": "open"}, {}, 200),
        ({**production, "metrics_token": secret}, {}, 401),
        ({**production, "metrics_token": secret}, {"Authorization": "Bearer nope"}, 401),
        ({**production, "metrics_token": secret}, {"Authorization": f"Bearer {secret}"}, 200),
        ({"metrics_token": secret}, {}, 401),  # a token set is always asked
    ]
    for overrides, headers, status in cases:
        async with client_for(app_with(settings, **overrides)) as c:
            response = await c.get("/metrics", headers=headers)
        assert response.status_code == status, (overrides, headers, response.text)
        if status == 401:
            assert error_codes(response.json()) == ["UNAUTHENTICATED"]
            assert response.headers["www-authenticate"] == "Bearer"


# --- request ids and logs ------------------------------------------------------------------


@pytest.fixture
def captured_logs():
    """The JSON lines every logger writes at DEBUG, as ``bandeng serve`` would (services.logs)."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in _TOUCHED})
    disabled = {n: logging.getLogger(n).disabled for n in logs.SILENCED}
    stream = io.StringIO()
    logs.configure("DEBUG", "json", stream=stream)
    try:
        # the server's lines (not those of the tests' own HTTP client)
        yield lambda: [
            line
            for line in map(json.loads, stream.getvalue().splitlines())
            if not line["logger"].startswith(("httpx", "httpcore"))
        ]
    finally:
        for handler in list(root.handlers):
            if handler not in saved[1]:
                root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
        for name, value in disabled.items():
            logging.getLogger(name).disabled = value


_TOUCHED = (*logs.QUIET_BELOW_WARNING, *logs.NEVER_DEBUG)


async def test_request_ids_in_the_response_and_on_every_log_line(demo, captured_logs):
    async with demo.client("resident_wang") as c:
        mine = await c.post("/graphql", json={"query": "{ me { name } }"})
        given = await c.post(
            "/graphql", json={"query": "{ nope }"}, headers={"X-Request-ID": "lb-7f3a.2:1=ok"}
        )
        insane = await c.post(
            "/graphql", json={"query": "{ me { name } }"}, headers={"X-Request-ID": "a b\nfake"}
        )
        too_long = await c.post(
            "/graphql", json={"query": "{ me { name } }"}, headers={"X-Request-ID": "a" * 129}
        )
    assert given.headers["x-request-id"] == "lb-7f3a.2:1=ok"
    ids = [r.headers["x-request-id"] for r in (mine, insane, too_long)]
    assert len(set(ids)) == 3 and all(i and " " not in i and len(i) <= 128 for i in ids)
    lines = captured_logs()
    assert lines, "nothing logged"
    for line in lines:
        assert line.get("request_id") in {*ids, "lb-7f3a.2:1=ok"}, line
    requests_logged = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in requests_logged] == [ids[0], "lb-7f3a.2:1=ok", ids[1], ids[2]]
    first = requests_logged[0]
    assert first["logger"] == "bandeng.request" and first["level"] == "info"
    assert first["status"] == 200 and first["code"] == "OK" and first["path"] == "/graphql"
    assert first["operation"] == "anonymous" and first["actor_id"] == demo.world.people["resident_wang"].id
    assert first["duration_ms"] > 0
    assert requests_logged[1]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # a refusal and a 404 are logged and carry their id too
    async with demo.client(None) as c:
        missing = await c.get("/nowhere")
    last = captured_logs()[-1]
    assert last["event"] == "request" and last["status"] == 404 and last["code"] == "NOT_FOUND"
    assert last["request_id"] == missing.headers["x-request-id"]


async def test_no_token_or_personal_data_in_the_logs(mutable_demo, captured_logs):
    demo = mutable_demo
    phone, name = "13912345678", demo.world.people["resident_wang"].name
    token = demo.tokens["resident_wang"]
    grid = demo.id("units", "fulu_g1")
    async with demo.client("resident_wang") as c:
        raised = await c.post(
            "/graphql",
            json={
                "query": "mutation Raise($input: RaiseConcernInput!) { raiseConcern(input: $input) { id raisedBy { name phone } } }",
                "variables": {
                    "input": {
                        "unitId": grid,
                        "title": f"楼道漏水 请联系 {phone}",
                        "category": "other",
                        "location": f"{name}家 电话{phone}",
                    }
                },
            },
        )
        assert "errors" not in raised.json(), raised.text
        # a refusal and a bad input, which are logged and audited
        await c.post("/graphql", json={"query": "{ auditLog { totalCount } }"})
        await c.post(
            "/graphql",
            json={
                "query": "mutation Bad($input: RaiseConcernInput!) { raiseConcern(input: $input) { id } }",
                "variables": {"input": {"unitId": "x" + phone, "title": name, "category": "other"}},
            },
        )
    async with demo.client("grid_worker_chen") as c:  # reads phone numbers
        read = await c.post(
            "/graphql", json={"query": "{ concerns(first: 50) { nodes { raisedBy { name phone } } } }"}
        )
        assert phone not in read.text and demo.world.people["resident_wang"].phone in read.text
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in captured_logs())
    assert text.count('"event": "request"') == 4
    for secret in (token, token[4:20], phone, demo.world.people["resident_wang"].phone, name):
        assert secret not in text, secret


async def test_an_unexpected_error_is_logged_once_with_its_request_id(settings, captured_logs):
    app = app_with(settings)

    async def boom(request):
        raise RuntimeError("the detail stays in the log")

    app.router.add_route("/boom", boom)
    async with client_for(app) as c:  # the app's exception is not raised to the client
        response = await c.get("/boom")
    assert response.status_code == 500 and "detail" not in response.text
    request_id = response.headers["x-request-id"]
    lines = captured_logs()
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == 1 and errors[0]["request_id"] == request_id
    assert "the detail stays in the log" in errors[0]["exc"]
    assert lines[-1]["event"] == "request" and lines[-1]["code"] == "INTERNAL_SERVER_ERROR"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_honours_the_log_level(tmp_path):
    url = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    quiet = run_cli("migrate", BANDENG_DATABASE_URL=url, BANDENG_LOG_LEVEL="WARNING")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", quiet.stderr
    assert "database is up to date" in quiet.stdout
    # INFO: our lines, and no Tortoise start-up or shut-down chatter
    info = run_cli("migrate", BANDENG_DATABASE_URL=url, BANDENG_LOG_LEVEL="INFO", BANDENG_LOG_FORMAT="json")
    assert info.returncode == 0, info.stderr
    assert "Tortoise-ORM" not in info.stderr
    for line in info.stderr.splitlines():
        assert json.loads(line)["level"] in ("info", "warning")
    bad = run_cli("migrate", BANDENG_DATABASE_URL=url, BANDENG_LOG_LEVEL="LOUD")
    assert bad.returncode != 0 and "BANDENG_LOG_LEVEL" in bad.stderr


# --- traces ----------------------------------------------------------------------------------


def test_tracing_is_importable_and_off_without_opentelemetry():
    code = (
        "import sys\n"
        "for name in ('opentelemetry', 'opentelemetry.sdk', 'opentelemetry.trace'): sys.modules[name] = None\n"
        "import app.http, services.tracing as t\n"
        "t.configure('off'); assert t.TRACER is None\n"
        "try:\n    t.configure('otlp')\nexcept t.TracingUnavailable as e:\n    print('unavailable:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "unavailable: BANDENG_TRACING=otlp needs OpenTelemetry" in done.stdout


async def test_a_span_per_request_with_its_operation_and_code(demo):
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.configure("otlp", exporter=exporter)
    try:
        async with demo.client("secretary_zhang") as c:
            ok = await c.post(
                "/graphql", json={"query": "query TracedCouncils { councils(first: 2) { nodes { name } } }"}
            )
            denied = await c.post("/graphql", json={"query": "query TracedAudit { auditLog { totalCount } }"})
    finally:
        tracing.configure("off")
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    councils = by_name["graphql TracedCouncils"]
    assert councils.attributes["bandeng.code"] == "OK"
    assert councils.attributes["bandeng.request_id"] == ok.headers["x-request-id"]
    assert councils.attributes["http.response.status_code"] == 200
    assert by_name["graphql TracedAudit"].attributes["bandeng.code"] in ("FORBIDDEN", "OK")
    assert by_name["graphql TracedAudit"].attributes["bandeng.request_id"] == denied.headers["x-request-id"]
    if is_postgres():  # one child span per SQL statement (asyncpg's instrumentation)
        children = [s for s in spans if s.parent is not None and s.parent.span_id == councils.context.span_id]
        assert children and all(s.attributes.get("db.system") == "postgresql" for s in children)


def test_metric_names_for_the_other_parts():
    """The names subscriptions and webhooks report through (docs/operations.md)."""
    before = metrics.SUBSCRIPTIONS_OPEN._value.get()
    metrics.subscription_opened()
    metrics.subscription_opened()
    metrics.subscription_closed()
    assert metrics.SUBSCRIPTIONS_OPEN._value.get() == before + 1
    metrics.subscription_closed()
    delivered = metrics.WEBHOOK_DELIVERIES.labels("delivered")._value.get()
    metrics.webhook_attempt(True)
    metrics.webhook_attempt(False)
    assert metrics.WEBHOOK_DELIVERIES.labels("delivered")._value.get() == delivered + 1
    assert metrics.WEBHOOK_DELIVERIES.labels("failed")._value.get() >= 1
