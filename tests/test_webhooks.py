"""Signed webhooks for partner units, delivered to a local receiver only (a Starlette app
served by uvicorn on a free port of 127.0.0.1, in this test's event loop).

What is shown: the signature verifies; a receiver that answers 500 twice then 200 gets
three attempts, all in the delivery log (readable by the admin and by the partner's own
token, not by another partner); replay sends the same body again; a slow receiver delays
neither another endpoint nor requests; each token's endpoint gets exactly its own slice
(a court's endpoint only its workstations' referrals, both ways) with the field rules of
reads (``MediationCase.parties``); events committed while no worker runs are delivered
later, a failed fan-out loses nothing, two workers never send one attempt twice; bad
registrations are refused and write nothing. Registration per role is in the permission
matrix (tests/test_permission_matrix.py). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import defaultdict

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.mediation import MediationEvent
from models.people import ApiToken
from models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOutbox
from services import identity, webhooks
from services.webhooks import WebhookWorker
from tests.conftest import Demo, error_codes, gql


class Receiver:
    """A partner's receiver: records every POST by path; ``/flaky`` answers 500 twice
    then 200, ``/slow`` answers only once ``release`` is set, anything else 200."""

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[dict[str, str], bytes]]] = defaultdict(list)
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.app = Starlette(routes=[Route("/{name}", self.receive, methods=["POST"])])
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None

    async def receive(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.posts[name].append((dict(request.headers), await request.body()))
        self.arrived.set()
        if name == "flaky" and len(self.posts[name]) <= 2:
            return Response("busy", status_code=500)
        if name == "slow":
            await self.release.wait()
        return Response("ok")

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(500):
            if self.server.started:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the receiver did not start")

    def url(self, name: str) -> str:
        assert self.server is not None
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/{name}"

    async def stop(self) -> None:
        self.release.set()
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await self.task


@pytest.fixture
async def receiver():
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
def worker_settings(settings):
    return settings.with_overrides(
        webhook_retry_base=0.01, webhook_retry_max=0.05, webhook_timeout=2.0, webhook_max_attempts=5
    )


def make_worker(demo: Demo, settings) -> WebhookWorker:
    worker = WebhookWorker(settings, lambda: demo.app.state.policy_store.current)
    worker.open()
    return worker


async def token_id(demo: Demo, key: str) -> str:
    row = await ApiToken.get(token_hash=identity.hash_token(demo.tokens[key]))
    return str(row.id)


REGISTER = """mutation($input: RegisterWebhookInput!) {
  registerWebhook(input: $input) { id secret endpoint { id url active tokenId } } }"""
DECIDE = """mutation($input: DecideReferralInput!) {
  decideReferral(input: $input) { __typename ... on Referral { id status } } }"""
LOG = """query($endpoint: ID) { webhookDeliveries(endpointId: $endpoint, first: 50) {
  totalCount nodes { id eventId eventType status attemptCount lastStatusCode lastError
    attempts { number statusCode error durationMs nextRetryAt } } } }"""
REPLAY = """mutation($input: ReplayWebhookInput!) {
  replayWebhookDeliveries(input: $input) { id replayed } }"""


async def register(demo: Demo, key: str, url: str, **extra) -> dict:
    async with demo.client("admin") as admin:
        body = await gql(
            admin, REGISTER, {"input": {"tokenId": await token_id(demo, key), "url": url, **extra}}
        )
    assert "errors" not in body, body
    return body["data"]["registerWebhook"]


async def accept(demo: Demo, judge: str, referral: str) -> None:
    async with demo.client(judge) as client:
        body = await gql(
            client, DECIDE, {"input": {"referralId": demo.id("referrals", referral), "action": "ACCEPT"}}
        )
    assert body["data"]["decideReferral"]["status"] == "ACCEPTED", body


async def deliver(worker: WebhookWorker, until=lambda: True, rounds: int = 100) -> None:
    """Rounds of the worker (fan-out, dispatch, wait for the POSTs) until ``until()``."""
    for _ in range(rounds):
        await worker.tick()
        await worker.settle()
        if until():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not delivered in time")


def payloads(receiver: Receiver, name: str) -> list[dict]:
    return [json.loads(body) for _, body in receiver.posts[name]]


# ------------------------------------------------------------------------ the signature


async def test_an_event_reaches_the_court_signed(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    registered = await register(demo, "court_district", receiver.url("court"))
    assert registered["secret"].startswith("whsec_") and registered["endpoint"]["active"] is True
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: len(receiver.posts["court"]) == 1)
    finally:
        await worker.close()

    ((headers, body),) = receiver.posts["court"]
    secret = registered["secret"]
    timestamp, signature = headers["x-bandeng-timestamp"], headers["x-bandeng-signature"]
    assert webhooks.verify(secret, timestamp, signature, body)
    assert not webhooks.verify("whsec_another", timestamp, signature, body)
    assert not webhooks.verify(secret, timestamp, signature, body + b" ")
    assert not webhooks.verify(secret, str(int(timestamp) - 600), signature, body)  # too old
    assert headers["x-bandeng-event"] == "referral_accept"
    assert headers["content-type"] == "application/json"

    payload = json.loads(body)
    event = await MediationEvent.get(id=int(payload["event"]["id"]))
    assert (event.action, event.referral_id) == ("referral_accept", demo.world.referrals["crack"].id)
    assert payload["event"]["type"] == "referral_accept" and payload["event"]["toStatus"] == "accepted"
    assert payload["referral"]["status"] == "accepted"
    assert payload["mediationCase"]["id"] == demo.id("cases", "crack")
    # the court's token may read the case but not its parties (MediationCase.parties)
    assert payload["mediationCase"]["parties"] is None
    assert headers["x-bandeng-delivery"] == str((await WebhookDelivery.get(endpoint_id=registered["id"])).id)


async def test_field_rules_apply_to_the_payload(mutable_demo, receiver, worker_settings):
    """A workstation judge's token may read the parties of the cases referred there."""
    demo = mutable_demo
    await register(demo, "judge_he", receiver.url("judge"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: len(receiver.posts["judge"]) == 1)
    finally:
        await worker.close()
    (payload,) = payloads(receiver, "judge")
    parties = payload["mediationCase"]["parties"]
    assert parties and {"name", "role", "phone", "idNumber"} <= set(parties[0])


# ---------------------------------------------------------------------------- the slice


async def test_each_court_gets_its_own_workstations_referrals_only(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("district"))
    await register(demo, "court_kuangshan", receiver.url("kuangshan"))
    await accept(demo, "judge_he", "crack")  # 福禄巷北 workstation: court district
    await accept(demo, "judge_qian", "site")  # 杜集 workstation: court kuangshan
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: receiver.posts["district"] and receiver.posts["kuangshan"])
        await deliver(worker, rounds=2)  # nothing else comes
    finally:
        await worker.close()
    district = [(p["event"]["type"], p["mediationCase"]["id"]) for p in payloads(receiver, "district")]
    kuangshan = [(p["event"]["type"], p["mediationCase"]["id"]) for p in payloads(receiver, "kuangshan")]
    assert district == [("referral_accept", demo.id("cases", "crack"))]
    assert kuangshan == [("referral_accept", demo.id("cases", "site"))]


async def test_a_token_that_reads_no_cases_gets_nothing(mutable_demo, receiver, worker_settings):
    """Any token may have an endpoint; what is sent is what it may read (here nothing)."""
    demo = mutable_demo
    registered = await register(demo, "alliance_staff_dizhi", receiver.url("staff"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, rounds=2)
    finally:
        await worker.close()
    assert receiver.posts["staff"] == []
    assert await WebhookDelivery.filter(endpoint_id=registered["id"]).count() == 0
    assert await WebhookOutbox.all().count() == 0  # fanned out (to nobody)


async def test_a_revoked_token_gets_nothing(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("court"))
    await identity.revoke_token(demo.tokens["court_district"])
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, rounds=2)
    finally:
        await worker.close()
    assert receiver.posts["court"] == []


# --------------------------------------------------------------- retries, log, replay


async def test_retries_with_backoff_and_the_log_shows_every_attempt(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    registered = await register(demo, "court_district", receiver.url("flaky"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: len(receiver.posts["flaky"]) == 3)
        await deliver(worker, rounds=2)  # and no fourth
    finally:
        await worker.close()
    bodies = [body for _, body in receiver.posts["flaky"]]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same bytes every time

    for reader in ("admin", "court_district"):
        async with demo.client(reader) as client:
            body = await gql(client, LOG, {"endpoint": registered["id"]})
        assert "errors" not in body, body
        (delivery,) = body["data"]["webhookDeliveries"]["nodes"]
        assert (delivery["status"], delivery["attemptCount"], delivery["lastStatusCode"]) == (
            "DELIVERED",
            3,
            200,
        )
        attempts = delivery["attempts"]
        assert [(a["number"], a["statusCode"], a["error"]) for a in attempts] == [
            (1, 500, "HTTP 500"),
            (2, 500, "HTTP 500"),
            (3, 200, ""),
        ]
        assert [a["nextRetryAt"] is not None for a in attempts] == [True, True, False]
        assert all(a["durationMs"] >= 0 for a in attempts)
    # another partner sees none of it, and a role without the rule is refused
    async with demo.client("court_kuangshan") as other:
        body = await gql(other, LOG, {"endpoint": registered["id"]})
    assert body["data"]["webhookDeliveries"]["totalCount"] == 0
    async with demo.client("judge_he") as judge:
        body = await gql(judge, LOG, {"endpoint": registered["id"]})
    assert error_codes(body) == ["FORBIDDEN"]


async def test_a_receiver_that_never_answers_well_ends_failed(mutable_demo, worker_settings):
    demo = mutable_demo
    registered = await register(demo, "court_district", "http://127.0.0.1:9/nothing-listens-here")
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings.with_overrides(webhook_max_attempts=3))
    try:
        for _ in range(60):
            await worker.tick()
            await worker.settle()
            if await WebhookDelivery.filter(status="failed").exists():
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.close()
    delivery = await WebhookDelivery.get(endpoint_id=registered["id"])
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 3, None)
    attempts = await WebhookAttempt.filter(delivery_id=delivery.id).order_by("number")
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and a.error for a in attempts)
    assert attempts[-1].next_retry_at is None


async def test_replay_one_delivery_and_all_since_an_event(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    registered = await register(demo, "court_district", receiver.url("court"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: len(receiver.posts["court"]) == 1)
        delivery = await WebhookDelivery.get(endpoint_id=registered["id"])

        # the partner's own token replays one delivery: the same body, attempt 2
        async with demo.client("court_district") as court:
            body = await gql(
                court, REPLAY, {"input": {"endpointId": registered["id"], "deliveryId": str(delivery.id)}}
            )
        assert body["data"]["replayWebhookDeliveries"]["replayed"] == 1, body
        await deliver(worker, lambda: len(receiver.posts["court"]) == 2)
        assert receiver.posts["court"][0][1] == receiver.posts["court"][1][1]
        assert [
            a.number for a in await WebhookAttempt.filter(delivery_id=delivery.id).order_by("number")
        ] == [
            1,
            2,
        ]

        # everything since the court's first event it may read: earlier events of its cases
        # (from before the endpoint existed) get deliveries of their own, the known one again
        first = await MediationEvent.filter(court_id=demo.world.courts["district"].id).order_by("id").first()
        visible = await MediationEvent.filter(
            court_id=demo.world.courts["district"].id, id__gte=first.id
        ).count()
        async with demo.client("admin") as admin:
            body = await gql(
                admin, REPLAY, {"input": {"endpointId": registered["id"], "sinceEventId": str(first.id)}}
            )
        assert body["data"]["replayWebhookDeliveries"]["replayed"] == visible, body
        await deliver(worker, lambda: len(receiver.posts["court"]) == 2 + visible)
    finally:
        await worker.close()
    sent = {p["event"]["id"] for p in payloads(receiver, "court")}
    assert len(sent) == visible
    # another partner cannot replay it (it cannot see it)
    async with demo.client("court_kuangshan") as other:
        body = await gql(other, REPLAY, {"input": {"endpointId": registered["id"], "sinceEventId": "1"}})
    assert error_codes(body) == ["NOT_FOUND"]


# ---------------------------------------------------------------- nothing blocks anything


async def test_a_slow_receiver_delays_nothing_else(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("slow"))
    await register(demo, "judge_he", receiver.url("fast"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings)
    try:
        await worker.tick()  # both POSTs start; the slow one hangs
        for _ in range(200):
            if receiver.posts["fast"] and receiver.posts["slow"]:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        fast = await WebhookDelivery.get(endpoint__url=receiver.url("fast"))
        assert fast.status == "delivered"
        slow = await WebhookDelivery.get(endpoint__url=receiver.url("slow"))
        assert slow.status == "pending" and slow.claim is not None  # still being sent
        # requests are answered meanwhile, writes included
        async with demo.client("judge_he") as judge:
            body = await gql(judge, "{ me { name } }")
        assert body["data"]["me"]["name"]
        await accept(demo, "judge_qian", "site")
        # and a new round goes on without waiting for the slow POST
        await worker.tick()
        assert len(worker.tasks) == 1
    finally:
        receiver.release.set()
        await worker.settle()
        await worker.close()
    assert (await WebhookDelivery.get(endpoint__url=receiver.url("slow"))).status == "delivered"


async def test_a_receiver_slower_than_the_timeout_fails_that_attempt(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    registered = await register(demo, "court_district", receiver.url("slow"))
    await accept(demo, "judge_he", "crack")
    worker = make_worker(demo, worker_settings.with_overrides(webhook_timeout=0.2))
    try:
        await worker.tick()
        await worker.settle()
    finally:
        await worker.close()
    (attempt,) = await WebhookAttempt.all()
    assert attempt.status_code is None and attempt.error == "no answer within 0.2 s"
    assert (await WebhookDelivery.get(endpoint_id=registered["id"])).status == "pending"


# --------------------------------------------------------------------- durable, race-free


async def test_events_committed_while_no_worker_runs_are_delivered_later(
    mutable_demo, receiver, worker_settings
):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("court"))
    await accept(demo, "judge_he", "crack")  # committed; the process "dies" before any delivery
    assert await WebhookOutbox.all().count() == 1
    worker = make_worker(demo, worker_settings)  # the next process
    try:
        await deliver(worker, lambda: len(receiver.posts["court"]) == 1)
    finally:
        await worker.close()
    assert await WebhookOutbox.all().count() == 0


async def test_a_failed_fan_out_loses_nothing(mutable_demo, receiver, worker_settings, monkeypatch):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("court"))
    await accept(demo, "judge_he", "crack")

    async def broken(auth, events):
        raise RuntimeError("the process dies here")

    real = webhooks.bodies
    monkeypatch.setattr(webhooks, "bodies", broken)
    with pytest.raises(RuntimeError):
        await webhooks.fan_out(demo.app.state.policy_store.current)
    assert await WebhookOutbox.all().count() == 1
    assert await WebhookDelivery.filter(endpoint__active=True).count() == 0
    monkeypatch.setattr(webhooks, "bodies", real)
    worker = make_worker(demo, worker_settings)
    try:
        await deliver(worker, lambda: len(receiver.posts["court"]) == 1)
    finally:
        await worker.close()


async def test_two_workers_never_send_one_attempt_twice(mutable_demo, receiver, worker_settings):
    demo = mutable_demo
    await register(demo, "court_district", receiver.url("court"))
    await register(demo, "judge_he", receiver.url("judge"))
    await accept(demo, "judge_he", "crack")
    first, second = make_worker(demo, worker_settings), make_worker(demo, worker_settings)
    try:
        for _ in range(5):
            await asyncio.gather(first.tick(), second.tick())
            await asyncio.gather(first.settle(), second.settle())
    finally:
        await first.close()
        await second.close()
    assert len(receiver.posts["court"]) == 1 and len(receiver.posts["judge"]) == 1
    assert await WebhookAttempt.all().count() == 2
    assert await WebhookDelivery.filter(status="delivered").count() == 2


async def test_without_an_active_endpoint_nothing_is_queued(mutable_demo):
    """The seeded court endpoint is paused: the outbox stays empty, so a database without
    webhooks writes nothing more per step (and the paused endpoint's queued deliveries
    are not sent)."""
    demo = mutable_demo
    assert not await WebhookEndpoint.filter(active=True).exists()
    await accept(demo, "judge_he", "crack")
    assert await WebhookOutbox.all().count() == 0


# ------------------------------------------------------------------------- registration


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        ({"url": "ftp://court.example/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "http://["}, "url"),
        ({"url": "http://court.example:99999/x"}, "url"),
        ({"secret": "short"}, "secret"),
        ({"secret": "has a space in it, sixteen+"}, "secret"),
    ],
)
async def test_bad_registrations_are_refused_and_write_nothing(demo, override, argument):
    before = await WebhookEndpoint.all().count()
    variables = {"input": {"tokenId": await token_id(demo, "court_district"), "url": "https://a.example/h"}}
    variables["input"].update(override)
    async with demo.client("admin") as admin:
        body = await gql(admin, REGISTER, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["argument"] == argument
    assert await WebhookEndpoint.all().count() == before


async def test_a_given_secret_is_kept_and_an_unknown_token_is_not_found(mutable_demo):
    demo = mutable_demo
    registered = await register(demo, "court_district", "https://a.example/h", secret="s" * 20)
    assert registered["secret"] == "s" * 20
    async with demo.client("admin") as admin:
        body = await gql(admin, REGISTER, {"input": {"tokenId": "987654", "url": "https://a.example/h"}})
    assert error_codes(body) == ["NOT_FOUND"]
    # a role that may not register learns nothing about tokens
    async with demo.client("court_district") as court:
        body = await gql(court, REGISTER, {"input": {"tokenId": "987654", "url": "https://a.example/h"}})
    assert error_codes(body) == ["FORBIDDEN"]
    # the secret is never read back
    async with demo.client("admin") as admin:
        body = await gql(admin, "{ webhookEndpoints { nodes { id url } } }")
    assert "s" * 20 not in json.dumps(body)


def test_the_signature_scheme():
    body = b'{"event":{"id":"1"}}'
    signature = webhooks.sign("whsec_x", 1700000000, body)
    assert signature == "v1=" + hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.verify("whsec_x", "1700000000", signature, body, now=1700000100)
    assert not webhooks.verify("whsec_x", "1700000000", signature, body, now=1700000400)
    assert not webhooks.verify("whsec_x", "soon", signature, body, now=1700000000)


def test_counters_for_metrics():
    assert set(webhooks.counters()) == {"attempts", "delivered", "failed_attempts", "failed", "queued"}


async def test_the_app_lifespan_runs_the_worker(mutable_demo, receiver, settings):
    """End to end: the worker is the app's background task; a step answered through the
    API reaches the receiver without anyone calling the worker."""
    from app.http import create_app
    from policies.store import PolicyStore
    from tests.conftest import POLICY_DIR

    demo = mutable_demo
    await register(demo, "court_district", receiver.url("court"))
    app = create_app(
        settings.with_overrides(watch_policy=False, webhook_poll_interval=0.05),
        policy_store=PolicyStore(POLICY_DIR),
        manage_database=False,
    )
    async with app.router.lifespan_context(app):
        await accept(Demo(demo.world, demo.tokens, app), "judge_he", "crack")
        for _ in range(200):
            if receiver.posts["court"]:
                break
            await asyncio.sleep(0.02)
    assert [p["event"]["type"] for p in payloads(receiver, "court")] == ["referral_accept"]
