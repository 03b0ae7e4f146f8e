"""OpenTelemetry traces, optional: ``pip install -e '.[otel]'`` and ``BANDENG_TRACING=otlp``
(or ``console``). Off by default, and this module imports nothing of OpenTelemetry until
it is switched on, so the service runs without the extra.

When on: one span per HTTP request (``app/observe.py``), named ``graphql <operation>``,
with the request id, the operation, the outcome code and the HTTP status; on PostgreSQL
one child span per SQL statement (``opentelemetry-instrumentation-asyncpg``: the
statement's text, never its parameters). The exporter is configured by OpenTelemetry's own
environment variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ...).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from services import metrics

log = logging.getLogger("bandeng.tracing")

# The tracer when tracing is on (``configure``); None otherwise: the request path then
# costs one comparison.
TRACER: Any = None
_instrumented_asyncpg = False


class TracingUnavailable(RuntimeError):
    pass


def configure(mode: str, *, exporter: Any = None) -> None:
    """Switch tracing on (``otlp``, ``console``) or off. ``exporter`` replaces the one
    ``mode`` names (the tests give an in-memory one)."""
    global TRACER, _instrumented_asyncpg
    if mode == "off" and exporter is None:
        TRACER = None
        if _instrumented_asyncpg:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

            AsyncPGInstrumentor().uninstrument()
            _instrumented_asyncpg = False
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as exc:
        raise TracingUnavailable(
            f"BANDENG_TRACING={mode} needs OpenTelemetry: pip install 'bandeng[otel]' ({exc})"
        ) from exc
    if exporter is not None:
        processor: Any = SimpleSpanProcessor(exporter)
    elif mode == "console":
        processor = SimpleSpanProcessor(ConsoleSpanExporter())
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    service = os.environ.get("OTEL_SERVICE_NAME") or "bandeng"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    TRACER = provider.get_tracer("bandeng")
    if not _instrumented_asyncpg:
        try:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        except ImportError:  # pragma: no cover - part of the extra
            log.warning("no SQL spans: opentelemetry-instrumentation-asyncpg is not installed")
        else:
            AsyncPGInstrumentor().instrument(tracer_provider=provider)
            _instrumented_asyncpg = True


def request_span(scope: dict) -> Any:
    """A span for one HTTP request, current until ``end_request_span``."""
    from opentelemetry import context, trace

    span = TRACER.start_span(
        f"{scope['method']} {scope['path']}",
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
    )
    token = context.attach(trace.set_span_in_context(span))
    return span, token


def end_request_span(handle: Any, record: metrics.RequestRecord, status: int) -> None:
    from opentelemetry import context

    span, token = handle
    if record.operation != metrics.NO_OPERATION:
        span.update_name(f"graphql {record.operation}")
        span.set_attribute("graphql.operation.name", record.operation)
    span.set_attribute("bandeng.request_id", record.request_id)
    span.set_attribute("bandeng.code", record.code or metrics.OK)
    span.set_attribute("http.response.status_code", status)
    if record.actor_id is not None:
        span.set_attribute("enduser.id", str(record.actor_id))
    span.end()
    context.detach(token)
