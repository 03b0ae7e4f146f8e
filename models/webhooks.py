"""Signed webhooks for partner units (a court first): endpoints, the outbox, deliveries
and every attempt (``services/webhooks.py`` says how they are used).

Endpoints, deliveries and attempts lie in the global scope (``scope_path`` ``""``) and
belong to the person behind the endpoint's token (``owner_id``), so the policy's ``own``
lets a partner account read its own log and ``any`` lets an admin read all of them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Row, ScopedModel, part_of, person_ref

if TYPE_CHECKING:
    from models.people import ApiToken


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; replay it to try again


class WebhookEndpoint(ScopedModel):
    """Where the events of one partner API token are POSTed (the slice the token may
    read), signed with ``secret``."""

    token: fields.ForeignKeyRelation[ApiToken] = part_of("models.ApiToken", "webhooks")
    token_id: int
    url = fields.CharField(max_length=2000, description="Where events are POSTed (http or https)")
    secret = fields.CharField(
        max_length=200, description="HMAC-SHA256 key of the signatures, shown once and never read back"
    )
    description = fields.CharField(max_length=200, default="")
    active = fields.BooleanField(default=True, description="False: nothing is queued or sent")
    registered_by = person_ref("registered_webhooks")
    registered_by_id: int | None

    class Meta:
        table = "webhook_endpoint"


class WebhookOutbox(Row):
    """An event waiting to be fanned out to the endpoints that may read it. Written by a
    trigger in the event's own transaction (migration 0015), deleted when fanned out."""

    source = fields.CharField(max_length=32, description="The event table's resource, e.g. MediationEvent")
    event_id = fields.IntField(description="The event row's id")

    class Meta:
        table = "webhook_outbox"


class WebhookDelivery(ScopedModel):
    """One event for one endpoint: the body as it is (and was) sent, and where it stands."""

    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = part_of("models.WebhookEndpoint", "deliveries")
    endpoint_id: int
    source = fields.CharField(max_length=32)
    event_id = fields.IntField(description="The event row's id (with source)")
    event_type = fields.CharField(max_length=64, description="e.g. referral_accept")
    body = fields.TextField(description="The JSON POSTed, byte for byte (UTF-8)")
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempt_count = fields.IntField(default=0, description="Attempts made so far")
    next_attempt_at = fields.DatetimeField(null=True, db_index=True, description="When pending: the next try")
    claimed_until = fields.DatetimeField(null=True, description="An instance is sending it until then")
    claim = fields.CharField(max_length=32, null=True, description="Which claim holds it")
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(default="")
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("endpoint", "source", "event_id"),)


class WebhookAttempt(ScopedModel):
    """One POST of a delivery: when, how long, what the receiver answered."""

    delivery: fields.ForeignKeyRelation[WebhookDelivery] = part_of("models.WebhookDelivery", "attempts")
    delivery_id: int
    number = fields.IntField(description="1 for the first attempt, then 2, 3 ... (replays go on counting)")
    status_code = fields.IntField(null=True, description="The HTTP status of the answer, null: none")
    error = fields.TextField(default="", description="Why it failed: timeout, connection refused, HTTP 500")
    duration_ms = fields.IntField(description="From sending to the answer (or the failure)")
    next_retry_at = fields.DatetimeField(null=True, description="When the next attempt is due, if any")

    class Meta:
        table = "webhook_attempt"
