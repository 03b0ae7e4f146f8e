"""Signed webhooks for partner units (courts first).

An admin registers an endpoint (a URL and a signing secret) for a partner's API token.
Every event of that token's slice — a step of a mediation case or of a referral that the
token may read — is POSTed to it as JSON, signed, retried with backoff, and every attempt
is recorded; a delivery can be replayed.

**The outbox.** The event rows the workflow core writes in each step's transaction
(``MediationEvent``) are the source. A trigger on the event table (migration 0015) adds
one ``webhook_outbox`` row per event *in that same transaction*, while some endpoint is
active: an event committed is an event queued, whoever wrote it, and a rolled-back step
queues nothing. Why a queue and not a cursor per endpoint over the event ids: ids are
taken when a row is inserted, not when it commits, so a cursor that has moved past id 11
can miss id 10 committed a moment later. Why not delivery rows written in the step's
transaction: which endpoints may read an event is the token's read rule, a per-caller
decision that would put one more lookup per endpoint into every step of every user.

**Fan-out.** A worker claims outbox rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
deletes them and, in the same transaction, creates one ``WebhookDelivery`` per endpoint
whose token may read the event, decided by the same path as a read: the token's
``RequestAuth`` (its actor from ``services.identity.lookup``: a revoked token reads
nothing), ``visible("MediationEvent")``, then the case and referral as that token sees
them, field rules included (``MediationCase.parties`` is null unless the policy grants
it). The body is fixed then, so every attempt and every replay sends the same bytes. A
process that dies during fan-out rolls back: the outbox rows are still there.

**Delivery.** A due delivery is claimed by a conditional update (``claim``,
``claimed_until``: a lease of the POST timeout plus a margin; ``SKIP LOCKED`` spares
PostgreSQL instances from waiting on each other), POSTed outside any transaction with a
timeout, and the result written with the attempt, conditioned on the claim still being
ours. Two instances never send the same attempt; a process that dies mid-POST leaves a
claim that expires and the delivery is sent again (at least once: receivers dedupe by
``event.id``). At most ``webhook_concurrency`` POSTs are in flight per instance, at most
``webhook_per_endpoint`` to one endpoint, so a slow or dead receiver holds two slots and
backs off; everything else goes on. Nothing of this runs inside a request.

**Signature.** ``X-Bandeng-Timestamp: <unix seconds>`` and ``X-Bandeng-Signature:
v1=<hex>``, the HMAC-SHA256 under the endpoint's secret of ``timestamp + "." + body``
(as Stripe and GitHub do); receivers recompute it and reject timestamps older than a few
minutes (``verify``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from tortoise import connections
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.mediation import MediationCase, MediationEvent, Referral
from models.people import ApiToken
from models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOutbox
from policies.authorizer import Authorizer
from policies.relations import Facts
from services import bus, identity, metrics, reads, workflow
from services.authz import RequestAuth
from services.config import Settings
from services.errors import BadUserInput, NotFound
from services.ids import clean_text, parse_id

log = logging.getLogger("bandeng.webhooks")

SIGNATURE_HEADER = "X-Bandeng-Signature"
TIMESTAMP_HEADER = "X-Bandeng-Timestamp"
EVENT_HEADER = "X-Bandeng-Event"
DELIVERY_HEADER = "X-Bandeng-Delivery"
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp (``verify``)
SECRET_PREFIX = "whsec_"
URL_LENGTH = 2000
SECRET_LENGTH = (16, 200)
REPLAY_LIMIT = 1000  # events one replay-since call queues at most (call again from the last)
FAN_OUT_BATCH = 200  # outbox rows per fan-out transaction
CLAIM_MARGIN = 30.0  # seconds a claim outlives the POST timeout

# ------------------------------------------------------------------ counters (metrics)

_COUNTS: dict[str, int] = defaultdict(int)


def counters() -> dict[str, int]:
    """What this process has done so far, for metrics: ``attempts`` (POSTs made),
    ``delivered`` (answered 2xx), ``failed_attempts`` (no answer or not 2xx), ``failed``
    (deliveries that used up their attempts), ``queued`` (deliveries created by fan-out)."""
    return {key: _COUNTS[key] for key in ("attempts", "delivered", "failed_attempts", "failed", "queued")}


# ------------------------------------------------------------------------ signatures


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does: the timestamp is recent and the signature is ours."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


# ------------------------------------------------------------------------------ reads

ENDPOINTS = reads.listing("WebhookEndpoint", "active")
DELIVERIES = reads.listing("WebhookDelivery", "endpoint_id", "status")
reads.relations(
    "WebhookEndpoint",
    deliveries=reads.Many("WebhookDelivery", "endpoint_id"),
)
reads.relations("WebhookDelivery", attempts=reads.Many("WebhookAttempt", "delivery_id", "number"))


# ---------------------------------------------------------------------- registration


def _url(url: str) -> str:
    """An absolute http(s) URL that the HTTP client itself accepts (checked as it will be sent)."""
    url = clean_text(url, "url", URL_LENGTH)
    try:
        parts = urlsplit(url)  # .hostname and .port raise ValueError when malformed
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise BadUserInput("`url` must be an http:// or https:// URL with a host.", argument="url")
    return url


def _secret(secret: str | None) -> str:
    if secret is None:
        return SECRET_PREFIX + secrets.token_urlsafe(32)
    low, high = SECRET_LENGTH
    if not low <= len(secret) <= high or not secret.isascii() or not secret.isprintable() or " " in secret:
        raise BadUserInput(
            f"`secret` must be {low} to {high} printable ASCII characters without spaces.", argument="secret"
        )
    return secret


async def register_endpoint(
    auth: RequestAuth, *, token_id: str, url: str, secret: str | None = None, description: str = ""
) -> WebhookEndpoint:
    """An endpoint for a partner token (``WebhookEndpoint`` create). The returned row's
    ``secret`` is the signing secret in clear: show it once."""
    token = await ApiToken.filter(id=parse_id(token_id, "tokenId"), revoked_at=None).first()
    # Decided before the token's existence is told: a caller who may not register learns nothing.
    auth.require("WebhookEndpoint", "create", Facts("", token.person_id if token else None))
    if token is None:
        raise NotFound(f"No active token with id {token_id}.")
    async with workflow.command() as done:
        return done(await _create_endpoint(token, url, secret, description, auth.actor.person_id))


async def register_endpoint_for_token(
    token: str, url: str, secret: str | None = None, description: str = "", active: bool = True
) -> WebhookEndpoint:
    """The command line's registration (an operator's set-up, like issuing a token; the
    demo seed's too): the endpoint for the token given in clear."""
    row = await ApiToken.filter(token_hash=identity.hash_token(token), revoked_at=None).first()
    if row is None:
        raise NotFound("No active token matches.")
    return await _create_endpoint(row, url, secret, description, None, active)


async def _create_endpoint(
    token: ApiToken,
    url: str,
    secret: str | None,
    description: str,
    registered_by: int | None,
    active: bool = True,
) -> WebhookEndpoint:
    return await WebhookEndpoint.create(
        token_id=token.id,
        scope_path="",
        owner_id=token.person_id,
        url=_url(url),
        secret=_secret(secret),
        description=clean_text(description, "description", 200, required=False),
        registered_by_id=registered_by,
        active=active,
    )


async def set_endpoint_active(auth: RequestAuth, *, endpoint_id: str, active: bool) -> WebhookEndpoint:
    """Pause an endpoint (nothing is queued or sent for it) or resume it (``WebhookEndpoint`` update)."""
    endpoint = await auth.get_visible("WebhookEndpoint", endpoint_id, "endpointId")
    auth.require("WebhookEndpoint", "update", Facts.of(endpoint, "WebhookEndpoint"))
    async with workflow.command() as done:
        await WebhookEndpoint.filter(id=endpoint.id).update(active=active)
        return done(await WebhookEndpoint.get(id=endpoint.id))


@dataclass
class Replay:
    """What a replay queued: ``replayed`` deliveries of ``endpoint`` (``id`` is its id)."""

    id: int
    replayed: int
    endpoint: WebhookEndpoint


async def replay(
    auth: RequestAuth, *, endpoint_id: str, delivery_id: str | None = None, since_event_id: str | None = None
) -> Replay:
    """Send again one delivery, or every event since an event id (that one included) the
    endpoint's token may read now, up to ``REPLAY_LIMIT`` (``WebhookDelivery`` update).
    A delivery is sent again with the body it had; an event never delivered to this
    endpoint (registered later, or not readable then) gets a new delivery. Deliveries
    being sent at this moment are left to finish."""
    endpoint = await auth.get_visible("WebhookEndpoint", endpoint_id, "endpointId")
    auth.require("WebhookDelivery", "update", Facts.of(endpoint, "WebhookEndpoint"))
    if (delivery_id is None) == (since_event_id is None):
        raise BadUserInput("Give either `deliveryId` or `sinceEventId`.", argument="deliveryId")
    now = auth.now()
    async with workflow.command() as done:
        if delivery_id is not None:
            key = parse_id(delivery_id, "deliveryId")
            found = await auth.visible("WebhookDelivery").filter(id=key, endpoint_id=endpoint.id).exists()
            if not found:
                raise NotFound(f"No webhook delivery with id {key} of this endpoint that you can see.")
            count = await _reschedule(endpoint.id, [key], now)
        else:
            since = parse_id(since_event_id, "sinceEventId")
            token_auth = await _token_auth(endpoint, auth.authorizer)
            if token_auth is None:
                raise BadUserInput(
                    "The endpoint's token is revoked: nothing can be sent.", argument="endpointId"
                )
            events = (
                await token_auth.visible("MediationEvent")
                .filter(id__gte=since)
                .order_by("id")
                .limit(REPLAY_LIMIT)
            )
            known = dict(
                await WebhookDelivery.filter(
                    endpoint_id=endpoint.id, source="MediationEvent", event_id__in=[e.id for e in events]
                ).values_list("event_id", "id")
            )
            fresh = [e for e in events if e.id not in known]
            await _create_deliveries(endpoint, token_auth, fresh, now)
            count = len(fresh) + await _reschedule(endpoint.id, list(known.values()), now)
        done(endpoint)
    return Replay(endpoint.id, count, endpoint)


async def _reschedule(endpoint_id: int, delivery_ids: list[int], now: datetime) -> int:
    if not delivery_ids:
        return 0
    return await (
        WebhookDelivery.filter(id__in=delivery_ids, endpoint_id=endpoint_id)
        .filter(Q(claimed_until=None) | Q(claimed_until__lt=now))
        .update(status=DeliveryStatus.PENDING, next_attempt_at=now, claim=None, claimed_until=None)
    )


# ------------------------------------------------------------------- payloads, fan-out


async def _token_auth(endpoint: WebhookEndpoint, authorizer: Authorizer) -> RequestAuth | None:
    """The endpoint's token as a caller (None when revoked or gone): its reads decide."""
    token = await ApiToken.filter(id=endpoint.token_id).first()
    actor = await identity.lookup(token.token_hash) if token is not None else None
    return None if actor is None else RequestAuth(actor, authorizer)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _case_payload(auth: RequestAuth, case: MediationCase) -> dict[str, Any]:
    parties = None
    if auth.may_read_field("MediationCase.parties", case):
        parties = [
            {"name": p.get("name", ""), "role": p.get("role", ""), "phone": p.get("phone", ""),
             "idNumber": p.get("id_number", "")}
            for p in case.parties
        ]  # fmt: skip
    return {
        "id": _id(case.id),
        "title": case.title,
        "description": case.description,
        "category": str(case.category),
        "level": str(case.level),
        "status": str(case.status),
        "outcome": case.outcome,
        "createdAt": _time(case.created_at),
        "updatedAt": _time(case.updated_at),
        "workstationId": _id(case.workstation_id),
        "parties": parties,
    }


def _referral_payload(referral: Referral) -> dict[str, Any]:
    return {
        "id": _id(referral.id),
        "caseId": _id(referral.case_id),
        "status": str(referral.status),
        "returnReason": referral.return_reason,
        "outcome": None if referral.outcome is None else str(referral.outcome),
        "outcomeNote": referral.outcome_note,
        "workstationId": _id(referral.workstation_id),
        "createdAt": _time(referral.created_at),
        "updatedAt": _time(referral.updated_at),
    }


async def bodies(auth: RequestAuth, events: list[MediationEvent]) -> dict[int, bytes]:
    """The JSON body of each event, as ``auth`` (the endpoint's token) may read it: the
    event, the case and the referral it is about (null when the token may not read them)."""
    cases = {c.id: c for c in await auth.visible("MediationCase").filter(id__in={e.case_id for e in events})}
    referral_ids = {e.referral_id for e in events if e.referral_id is not None}
    referrals = (
        {r.id: r for r in await auth.visible("Referral").filter(id__in=referral_ids)} if referral_ids else {}
    )
    out = {}
    for event in events:
        case = cases.get(event.case_id)
        referral = referrals.get(event.referral_id) if event.referral_id is not None else None
        payload = {
            "event": {
                "id": _id(event.id),
                "source": "MediationEvent",
                "type": event.action,
                "resource": "Referral" if event.referral_id is not None else "MediationCase",
                "fromStatus": event.from_status,
                "toStatus": event.to_status,
                "note": event.note,
                "createdAt": _time(event.created_at),
            },
            "mediationCase": None if case is None else _case_payload(auth, case),
            "referral": None if referral is None else _referral_payload(referral),
        }
        out[event.id] = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return out


async def _create_deliveries(
    endpoint: WebhookEndpoint, auth: RequestAuth, events: list[MediationEvent], now: datetime
) -> int:
    if not events:
        return 0
    made = await bodies(auth, events)
    await WebhookDelivery.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint.id,
                scope_path=endpoint.scope_path,
                owner_id=endpoint.owner_id,
                source="MediationEvent",
                event_id=event.id,
                event_type=event.action,
                body=made[event.id].decode(),
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for event in events
        ],
        ignore_conflicts=True,
    )
    _COUNTS["queued"] += len(events)
    return len(events)


def _postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def fan_out(authorizer: Authorizer, batch: int = FAN_OUT_BATCH) -> int:
    """Turn up to ``batch`` outbox rows into deliveries, in one transaction: the rows are
    claimed (skipping those another instance holds), deleted, and each active endpoint
    whose token may read an event gets a delivery of it. Returns the rows taken."""
    now = datetime.now(UTC)
    async with in_transaction():
        query = WebhookOutbox.all().order_by("id").limit(batch)
        if _postgres():
            query = query.select_for_update(skip_locked=True)
        entries = await query
        if not entries:
            return 0
        await WebhookOutbox.filter(id__in=[e.id for e in entries]).delete()
        event_ids = [e.event_id for e in entries if e.source == "MediationEvent"]
        for endpoint in await WebhookEndpoint.filter(active=True).order_by("id"):
            token_auth = await _token_auth(endpoint, authorizer)
            if token_auth is None or not event_ids:
                continue
            events = await token_auth.visible("MediationEvent").filter(id__in=event_ids).order_by("id")
            await _create_deliveries(endpoint, token_auth, list(events), now)
    return len(entries)


# ----------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(settings: Settings, number: int) -> float:
    """Seconds before attempt ``number + 1``: the base doubled per attempt, capped, with
    up to 10% jitter so that retries of many deliveries do not arrive together."""
    delay = min(settings.webhook_retry_base * 2 ** (number - 1), settings.webhook_retry_max)
    return delay * (1 + random.random() / 10)


async def claim_due(
    limit: int, per_endpoint: int, in_flight: Mapping[int, int], lease: float
) -> list[WebhookDelivery]:
    """Claim up to ``limit`` due deliveries of live endpoints, at most ``per_endpoint``
    per endpoint counting those in ``in_flight``: a conditional update (nobody holds
    them, or the holder's lease ran out), after ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""
    if limit <= 0:
        return []
    now = datetime.now(UTC)
    claim = secrets.token_hex(8)
    free = Q(claimed_until=None) | Q(claimed_until__lt=now)
    async with in_transaction():
        live = await WebhookEndpoint.filter(active=True, token__revoked_at=None).values_list("id", flat=True)
        if not live:
            return []
        query = (
            WebhookDelivery.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint_id__in=live
            )
            .filter(free)
            .order_by("next_attempt_at", "id")
            .limit(limit * 4)
        )
        if _postgres():
            query = query.select_for_update(skip_locked=True)
        chosen: list[int] = []
        taken: dict[int, int] = dict(in_flight)
        for row in await query:
            if len(chosen) >= limit:
                break
            if taken.get(row.endpoint_id, 0) >= per_endpoint:
                continue
            taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
            chosen.append(row.id)
        if not chosen:
            return []
        await (
            WebhookDelivery.filter(id__in=chosen, status=DeliveryStatus.PENDING)
            .filter(free)
            .update(claim=claim, claimed_until=now + timedelta(seconds=lease))
        )
    return list(await WebhookDelivery.filter(claim=claim).select_related("endpoint").order_by("id"))


async def post(client: httpx.AsyncClient, delivery: WebhookDelivery, seconds: float) -> Attempt:
    """POST the delivery's body, signed now; never raises for the receiver's faults."""
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Bandeng-Webhooks/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
        EVENT_HEADER: delivery.event_type,
        DELIVERY_HEADER: str(delivery.id),
    }
    started = time.monotonic()
    status, error = None, ""
    try:
        async with asyncio.timeout(seconds):  # the whole exchange, however slowly it trickles
            response = await client.post(endpoint.url, content=body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except TimeoutError:
        error = f"no answer within {seconds:g} s"
    except httpx.TimeoutException:
        error = f"no answer within {seconds:g} s"
    except Exception as exc:  # refused, reset, a TLS failure, a URL the network cannot reach ...
        error = f"{type(exc).__name__}: {exc}"[:500]
    return Attempt(status, error, round((time.monotonic() - started) * 1000))


async def record(settings: Settings, delivery: WebhookDelivery, attempt: Attempt) -> None:
    """The attempt and the delivery's new state, in one transaction; the delivery changes
    only if our claim still holds (the attempt is recorded either way: it was made)."""
    now = datetime.now(UTC)
    number = delivery.attempt_count + 1
    next_at = None
    if attempt.ok:
        status = DeliveryStatus.DELIVERED
    elif number >= settings.webhook_max_attempts:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.PENDING
        next_at = now + timedelta(seconds=backoff(settings, number))
    async with in_transaction():
        changed = await WebhookDelivery.filter(id=delivery.id, claim=delivery.claim).update(
            status=status,
            attempt_count=number,
            next_attempt_at=next_at,
            claim=None,
            claimed_until=None,
            last_status_code=attempt.status_code,
            last_error=attempt.error,
            delivered_at=now if attempt.ok else None,
        )
        await WebhookAttempt.create(
            delivery_id=delivery.id,
            scope_path=delivery.scope_path,
            owner_id=delivery.owner_id,
            number=number,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            next_retry_at=next_at,
            created_at=now,
        )
    if not changed:
        log.warning(
            "webhook delivery %s: claim lost while sending (attempt %s recorded)", delivery.id, number
        )
    _COUNTS["attempts"] += 1
    metrics.webhook_attempt(attempt.ok)
    if attempt.ok:
        _COUNTS["delivered"] += 1
    else:
        _COUNTS["failed_attempts"] += 1
        if status == DeliveryStatus.FAILED:
            _COUNTS["failed"] += 1


_RUNNING: weakref.WeakSet[WebhookWorker] = weakref.WeakSet()


def wake() -> None:
    """Tell this process's workers to look at the outbox now (after a change committed)
    instead of at their next poll; without a running worker, nothing happens."""
    for worker in list(_RUNNING):
        worker.wake()


# The machines whose steps write ``MediationEvent`` rows (the outbox's source): after one
# of their steps commits, the workers look at once; after any other (a concern raised, a
# meeting held) nothing can be waiting, and waking them cost every write two more
# transactions (bench/peer.py: raiseConcern 374/s -> 179/s). A case created by another
# machine's effect is a MediationCase notice too.
SOURCE_RESOURCES = frozenset({"MediationCase", "Referral"})


def _after_commit(notices: list[bus.Notice]) -> None:
    if any(notice.resource in SOURCE_RESOURCES for notice in notices):
        wake()


bus.on_publish(_after_commit)


class WebhookWorker:
    """The delivery worker of one instance, run by the app's lifespan: every
    ``webhook_poll_interval`` (or at once when ``wake`` is called) it fans the outbox out
    and claims due deliveries up to its free slots; each POST runs as its own task."""

    def __init__(
        self,
        settings: Settings,
        authorizer: Callable[[], Authorizer],
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = settings
        self.authorizer = authorizer
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight: dict[int, int] = defaultdict(int)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: fan out, dispatch, wait. On stop, POSTs in flight get the
        timeout to finish; a claim left behind expires and is sent again."""
        self.open()
        _RUNNING.add(self)
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.tick()
                except Exception:  # the database is down, say: try again at the next poll
                    log.exception("webhook worker: a round failed")
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(
                    waits, timeout=self.settings.webhook_poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
                for waiting in waits:
                    waiting.cancel()
        finally:
            _RUNNING.discard(self)
            await self.close()

    def open(self) -> None:
        """The HTTP client of the POSTs (made in the running loop, closed by ``close``)."""
        if self.client is None:
            self.client = httpx.AsyncClient(
                transport=self.transport, timeout=self.settings.webhook_timeout, follow_redirects=False
            )

    async def tick(self) -> None:
        """One round: the whole outbox fanned out, then free slots filled with due deliveries."""
        while await fan_out(self.authorizer()) == FAN_OUT_BATCH:
            pass
        await self.dispatch()

    async def dispatch(self) -> int:
        free = self.settings.webhook_concurrency - len(self.tasks)
        claimed = await claim_due(
            free,
            self.settings.webhook_per_endpoint,
            self.in_flight,
            self.settings.webhook_timeout + CLAIM_MARGIN,
        )
        for delivery in claimed:
            self.in_flight[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(delivery))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claimed)

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            assert self.client is not None, "open() the worker first"
            attempt = await post(self.client, delivery, self.settings.webhook_timeout)
            await record(self.settings, delivery, attempt)
        except Exception:
            log.exception("webhook delivery %s: could not record the attempt", delivery.id)
        finally:
            self.in_flight[delivery.endpoint_id] -= 1
            if self.in_flight[delivery.endpoint_id] <= 0:
                del self.in_flight[delivery.endpoint_id]
            self._wake.set()  # a slot is free

    async def settle(self) -> None:
        """Wait for the POSTs in flight (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def close(self) -> None:
        if self.tasks:
            done, pending = await asyncio.wait(list(self.tasks), timeout=self.settings.webhook_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
