"""What an operator measures: Prometheus metrics (``prometheus-client``) and the record of
the request being served.

Every HTTP request gets a ``RequestRecord`` (``app/observe.py`` sets it for the request's
context): its id, and what the layers below learn while serving it, the GraphQL operation,
the outcome code, the actor, the resources the policy denied. When the request ends the
record is counted once (``finish``) and written as one log line. Code below the HTTP
layer notes things in it through the functions here (``note_denial``, ``note_actor``,
``note_operation``, ``note_code``), each a context-variable read and an attribute write:
nothing here may cost a request more than a few microseconds.

The metrics (names are part of the operations contract, docs/operations.md):

| name | type | labels |
| --- | --- | --- |
| ``bandeng_requests_total`` | counter | ``operation``, ``code`` |
| ``bandeng_request_duration_seconds`` | histogram | ``operation`` |
| ``bandeng_authz_denials_total`` | counter | ``resource`` |
| ``bandeng_db_pool_connections`` | gauge | ``state`` (``size``, ``idle``, ``max``) |
| ``bandeng_policy_info`` | info | ``version`` |
| ``bandeng_subscriptions_open`` | gauge | |
| ``bandeng_webhook_deliveries_total`` | counter | ``outcome`` (``delivered``, ``failed``) |

Subscriptions and webhooks (issue 10's other parts) report through
``subscription_opened``/``subscription_closed`` and ``webhook_attempt``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

# The operation label of a request that named no GraphQL operation (refused before its
# document was read, or not a GraphQL request), and of an operation without a name.
NO_OPERATION = "-"
ANONYMOUS = "anonymous"
# Operation names are chosen by clients: at most this many distinct ones become labels
# (the first seen), the rest are counted as OTHER, so that a client cannot grow the
# number of series without bound.
OPERATION_LABELS_KEPT = 200
OTHER = "other"
OK = "OK"

REQUESTS = Counter(
    "bandeng_requests",
    "HTTP requests served, by GraphQL operation name and outcome code (the first error's "
    "extensions.code, or OK).",
    ("operation", "code"),
)
DURATION = Histogram(
    "bandeng_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by GraphQL operation name.",
    ("operation",),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DENIALS = Counter(
    "bandeng_authz_denials",
    "Requests in which the policy denied something of a resource: a FORBIDDEN answer, or a "
    "guarded field (Person.contact, ...) answered null. Counted once per request and resource.",
    ("resource",),
)
SUBSCRIPTIONS_OPEN = Gauge("bandeng_subscriptions_open", "GraphQL subscriptions open on this instance.")
WEBHOOK_DELIVERIES = Counter(
    "bandeng_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered (2xx) or failed (anything else, "
    "including timeouts and refused connections).",
    ("outcome",),
)


@dataclass(slots=True)
class RequestRecord:
    """What is learnt about one request while it is served (never a token, never personal
    data: the actor is its person id)."""

    request_id: str
    operation: str = NO_OPERATION
    code: str | None = None
    actor_id: int | None = None
    denials: set[str] = field(default_factory=set)


CURRENT: ContextVar[RequestRecord | None] = ContextVar("bandeng_request", default=None)


def current() -> RequestRecord | None:
    return CURRENT.get()


def note_denial(resource: str) -> None:
    """The policy denied something of ``resource`` in the current request."""
    record = CURRENT.get()
    if record is not None:
        record.denials.add(resource)


def note_actor(person_id: int) -> None:
    record = CURRENT.get()
    if record is not None:
        record.actor_id = person_id


def note_code(code: str) -> None:
    """The request's outcome: the first code noted wins (the first error's)."""
    record = CURRENT.get()
    if record is not None and record.code is None:
        record.code = code


_operations: set[str] = set()
_operations_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """The label for a GraphQL operation name (from a parsed document, never raw input)."""
    if not name:
        return ANONYMOUS
    if name in _operations:
        return name
    with _operations_lock:
        if len(_operations) >= OPERATION_LABELS_KEPT:
            return OTHER
        _operations.add(name)
    return name


def note_operation(name: str | None) -> None:
    record = CURRENT.get()
    if record is not None:
        record.operation = operation_label(name)


# The labelled children in use, by their label values: ``labels()`` costs a few
# microseconds per call (argument checks, a lock), a dict lookup a tenth of one.
_requests: dict[tuple[str, str], Any] = {}
_durations: dict[str, Any] = {}


def finish(record: RequestRecord, seconds: float) -> None:
    """Count a request that has been answered."""
    key = (record.operation, record.code or OK)
    counter = _requests.get(key)
    if counter is None:
        counter = _requests[key] = REQUESTS.labels(*key)
    counter.inc()
    histogram = _durations.get(record.operation)
    if histogram is None:
        histogram = _durations[record.operation] = DURATION.labels(record.operation)
    histogram.observe(seconds)
    for resource in record.denials:
        DENIALS.labels(resource).inc()


# --- for the other parts of the service (subscriptions, webhooks) ------------------------


def subscription_opened() -> None:
    SUBSCRIPTIONS_OPEN.inc()


def subscription_closed() -> None:
    SUBSCRIPTIONS_OPEN.dec()


def webhook_attempt(delivered: bool) -> None:
    """One delivery attempt of a webhook event: ``delivered`` when the endpoint answered 2xx."""
    WEBHOOK_DELIVERIES.labels("delivered" if delivered else "failed").inc()


# --- read when scraped: the policy in force, the database pool ---------------------------


class _State(Collector):
    """Values read at scrape time from the running application (set by ``watch``)."""

    def __init__(self) -> None:
        self.policy_version: Callable[[], str] | None = None
        self.pool: Callable[[], object | None] | None = None

    def describe(self) -> list:
        return []  # collected afresh at each scrape (the pool may not exist yet)

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        if self.policy_version is not None:
            info = InfoMetricFamily("bandeng_policy", "The policy version in force on this instance.")
            info.add_metric([], {"version": self.policy_version()})
            yield info
        pool = self.pool() if self.pool is not None else None
        if pool is not None:
            gauge = GaugeMetricFamily(
                "bandeng_db_pool_connections",
                "PostgreSQL connections of this instance's pool: open (size), idle, and the maximum.",
                labels=("state",),
            )
            gauge.add_metric(["size"], pool.get_size())  # type: ignore[attr-defined]
            gauge.add_metric(["idle"], pool.get_idle_size())  # type: ignore[attr-defined]
            gauge.add_metric(["max"], pool.get_max_size())  # type: ignore[attr-defined]
            yield gauge


STATE = _State()
REGISTRY.register(STATE)


def watch(policy_version: Callable[[], str], pool: Callable[[], object | None]) -> None:
    """Report the running application's policy version and database pool (the last
    application built in this process wins)."""
    STATE.policy_version = policy_version
    STATE.pool = pool


def database_pool() -> object | None:
    """The asyncpg pool of Tortoise's default connection (None on SQLite, or not open)."""
    from tortoise import connections

    try:
        client = connections.get("default")
    except Exception:  # no Tortoise context yet (before the lifespan, in a tool)
        return None
    return getattr(client, "_pool", None)
