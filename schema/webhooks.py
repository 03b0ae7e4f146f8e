"""Signed webhooks for partner units: endpoints, the delivery log, registration, replay."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import webhooks as models
from schema.input_limits import text_field
from schema.types import Node, enum_type, lazy, listing, many, one
from schema.workflow import command
from services import webhooks as service

DeliveryStatus = enum_type(
    models.DeliveryStatus,
    "Where a delivery stands: pending (waiting for its next attempt), delivered (the receiver "
    "answered 2xx), failed (every attempt failed; replay it to try again).",
)


@strawberry.type(description="One POST of a delivery: when, how long, and what the receiver answered.")
class WebhookAttempt(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the attempt.")
    number: int = strawberry.field(description="1 for the first attempt of the delivery, then 2, 3 ...")
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status; null when it did not answer (timeout, refused)."
    )
    error: str = strawberry.field(
        description="Why it failed (`HTTP 500`, `no answer within 10 s`, ...); empty when delivered."
    )
    duration_ms: int = strawberry.field(description="Milliseconds from sending to the answer or failure.")
    next_retry_at: datetime | None = strawberry.field(description="When the next attempt is due, if any.")
    created_at: datetime = strawberry.field(description="When the attempt ended.")


@strawberry.type(
    description="One event for one endpoint: where its delivery stands. The body itself is only "
    "what the partner's token may read and is not shown here."
)
class WebhookDelivery(Node):
    id: strawberry.ID = strawberry.field(
        description="Identifier of the delivery (the `X-Bandeng-Delivery` header)."
    )
    source: str = strawberry.field(description="The history the event is from, e.g. `MediationEvent`.")
    event_id: strawberry.ID = strawberry.field(
        description="The event's id in that history (`event.id` of the body); replay from it with "
        "`replayWebhookDeliveries(sinceEventId:)`."
    )
    event_type: str = strawberry.field(description="The step, e.g. `referral_accept` (`X-Bandeng-Event`).")
    status: DeliveryStatus = strawberry.field(description="Where it stands.")
    attempt_count: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(description="When pending: the next attempt.")
    last_status_code: int | None = strawberry.field(description="The last answer's HTTP status.")
    last_error: str = strawberry.field(description="Why the last attempt failed; empty when it did not.")
    delivered_at: datetime | None = strawberry.field(description="When the receiver accepted it.")
    created_at: datetime = strawberry.field(description="When it was queued.")
    endpoint = one("endpoint", lazy("WebhookEndpoint", __name__), "The endpoint it is for.")
    attempts = many(
        "attempts",
        WebhookAttempt,
        "Every attempt, in order (`WebhookAttempt` read): the delivery log.",
    )


@strawberry.type(
    description="A receiver of signed webhooks for one partner API token (a court's, first): the "
    "events of the token's own read slice are POSTed to `url`."
)
class WebhookEndpoint(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the endpoint.")
    token_id: strawberry.ID = strawberry.field(
        description="The API token whose reads decide what is sent (`bandeng token issue` prints it)."
    )
    url: str = strawberry.field(description="Where events are POSTed.")
    description: str = strawberry.field(description="What it is for, e.g. 城中区人民法院 案件系统.")
    active: bool = strawberry.field(description="False: paused, nothing is queued or sent.")
    created_at: datetime = strawberry.field(description="When it was registered.")
    deliveries = many(
        "deliveries",
        WebhookDelivery,
        "Its deliveries, oldest first (`WebhookDelivery` read).",
        root="`webhookDeliveries(endpointId:)`",
    )


@strawberry.type(description="A registered endpoint and its signing secret, shown this once.")
class WebhookRegistration(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the endpoint.")
    secret: str = strawberry.field(
        description="The HMAC-SHA256 key of the signatures. Shown only here: store it with the receiver."
    )

    @strawberry.field(description="The endpoint registered.")
    def endpoint(self) -> WebhookEndpoint:
        return WebhookEndpoint.from_row(self.row)


@strawberry.type(description="What a replay queued.")
class WebhookReplay(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the endpoint.")
    replayed: int = strawberry.field(
        description=f"Deliveries queued to be sent again or for the first time (at most {service.REPLAY_LIMIT})."
    )

    @strawberry.field(description="The endpoint.")
    def endpoint(self) -> WebhookEndpoint:
        return WebhookEndpoint.from_row(self.row.endpoint)


@strawberry.type
class WebhookQuery:
    webhook_endpoints = listing(
        WebhookEndpoint,
        service.ENDPOINTS,
        "Webhook endpoints the caller may see (`WebhookEndpoint` read: admins all, a partner "
        "account its own), newest first.",
        active=(bool, "Only active (or only paused) endpoints."),
    )
    webhook_deliveries = listing(
        WebhookDelivery,
        service.DELIVERIES,
        "The delivery log (`WebhookDelivery` read), newest first.",
        endpoint_id=(strawberry.ID, "Only this endpoint's deliveries."),
        status=(DeliveryStatus, "Only deliveries in this state."),
    )


@strawberry.input(description="An endpoint for a partner token.")
class RegisterWebhookInput:
    token_id: strawberry.ID = strawberry.field(description="The partner's API token (its id).")
    url: str = text_field("Where to POST events: http:// or https://.", service.URL_LENGTH)
    secret: str | None = text_field(
        "The signing secret, 16 to 200 printable characters; left out, the service makes one "
        "(`whsec_...`) and shows it once.",
        service.SECRET_LENGTH[1],
        default=None,
    )
    description: str = text_field("What it is for.", 200, default="")


@strawberry.input(description="Pause or resume an endpoint.")
class SetWebhookActiveInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    active: bool = strawberry.field(description="False pauses it: nothing is queued or sent.")


@strawberry.input(description="What to send again: one delivery, or every event since an event id.")
class ReplayWebhookInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    delivery_id: strawberry.ID | None = strawberry.field(
        default=None, description="One delivery of it, sent again with the body it had."
    )
    since_event_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Every event from this id on that the endpoint's token may read now, "
        f"at most {service.REPLAY_LIMIT} (call again from the last one for more).",
    )


@strawberry.type
class WebhookMutation:
    register_webhook = command(
        "registerWebhook", "WebhookEndpoint", "create", service.register_endpoint, RegisterWebhookInput,
        WebhookRegistration,
        "Register an endpoint for a partner token (`WebhookEndpoint` create); the answer holds the "
        "signing secret, shown once.",
    )  # fmt: skip
    set_webhook_active = command(
        "setWebhookActive", "WebhookEndpoint", "update", service.set_endpoint_active, SetWebhookActiveInput,
        WebhookEndpoint, "Pause or resume an endpoint (`WebhookEndpoint` update).",
    )  # fmt: skip
    replay_webhook_deliveries = command(
        "replayWebhookDeliveries", "WebhookDelivery", "update", service.replay, ReplayWebhookInput,
        WebhookReplay,
        "Send one delivery again, or every event since an event id (`WebhookDelivery` update).",
    )  # fmt: skip


QUERIES = (WebhookQuery,)
MUTATIONS = (WebhookMutation,)
