"""The audit log: written once per request, read by admins through the policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from models.audit import AuditRecord
from services.authz import RequestAuth
from services.times import to_utc

log = logging.getLogger("bandeng.audit")

# Refusals: the request was denied by authentication or by the policy.
DENIED_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"}


@dataclass
class AuditEntry:
    operation: str
    field: str
    decision: str
    policy_version: str
    actor_id: int | None = None
    token_id: int | None = None
    resource: str | None = None
    action: str | None = None
    object_id: str | None = None
    code: str | None = None
    scope_path: str = ""


def _fitted(entry: AuditEntry) -> dict:
    """The entry's values cut to their columns' lengths: a long list of refused fields or
    an overlong id sent by the client must not cost the record."""
    values = dict(entry.__dict__)
    for name, value in values.items():
        limit = getattr(AuditRecord._meta.fields_map.get(name), "max_length", None)
        if isinstance(value, str) and limit and len(value) > limit:
            values[name] = value[: limit - 1] + "…"
    return values


async def write(entries: list[AuditEntry]) -> None:
    """Store the entries of one request in one statement; a failure is logged, never raised
    (the request's own outcome has already been decided)."""
    if not entries:
        return
    try:
        await AuditRecord.bulk_create(
            [AuditRecord(**_fitted(entry), owner_id=entry.actor_id) for entry in entries]
        )
    except Exception:
        log.exception("could not write %d audit record(s): %s", len(entries), entries)


def visible_records(
    auth: RequestAuth,
    *,
    actor_id: int | None = None,
    resource: str | None = None,
    object_id: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    query = auth.listing("AuditRecord")
    if actor_id is not None:
        query = query.filter(actor_id=actor_id)
    if resource is not None:
        query = query.filter(resource=resource)
    if object_id is not None:
        query = query.filter(object_id=object_id)
    if decision is not None:
        query = query.filter(decision=decision)
    if since is not None:
        query = query.filter(at__gte=to_utc(since))
    if until is not None:
        query = query.filter(at__lt=to_utc(until))
    return query
