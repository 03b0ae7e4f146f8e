"""The audit log: every mutation and every denied request, with the policy version.

A mutation's record is written *inside* the transaction of the change it records
(``record_change``, called by the workflow core and by every command), so a change
never stands without its record and a record never without its change. Refusals and
failures change nothing; their records are written when the request ends (``write``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

from models.audit import AuditRecord
from services import reads, rows
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
    written: bool = False  # stored with its change (not a column)


_COLUMNS = tuple(f.name for f in fields(AuditEntry) if f.name != "written")
# The text columns' lengths, to cut values to.
_LIMITS = {
    name: limit
    for name in _COLUMNS
    if (limit := getattr(AuditRecord._meta.fields_map.get(name), "max_length", None))
}

# The entry of the mutation being resolved (mutations run one after another).
_current: ContextVar[AuditEntry | None] = ContextVar("bandeng_audit_entry", default=None)


@contextmanager
def recording(entry: AuditEntry) -> Iterator[AuditEntry]:
    """Make ``entry`` the record of the mutation running inside the block."""
    token = _current.set(entry)
    try:
        yield entry
    finally:
        _current.reset(token)


def _values(entry: AuditEntry) -> dict[str, Any]:
    """The record's columns, cut to their lengths: a long list of refused fields or an
    overlong id sent by the client must not cost the record."""
    values: dict[str, Any] = {name: getattr(entry, name) for name in _COLUMNS}
    for name, limit in _LIMITS.items():
        value = values[name]
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[: limit - 1] + "…"
    values["owner_id"] = entry.actor_id
    return values


def _row(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(**_values(entry))


async def record_change(row: Any | None = None, also: rows.Rows = ()) -> AuditEntry | None:
    """Inside a change's transaction: store the running mutation's record (allowed), naming
    the object changed, together with ``also`` (rows the change still has to write, such
    as its event: one statement on PostgreSQL). A failure raises, so the change is rolled
    back with it. The caller marks the entry ``written`` once the transaction has
    committed."""
    entry = _current.get()
    if entry is None or entry.written:
        await rows.insert(also)
        return None
    if row is not None:
        entry.object_id = str(row.id)
        entry.scope_path = getattr(row, "scope_path", "") or ""
    await rows.insert([*also, (AuditRecord, _values(entry))])
    return entry


async def write(entries: list[AuditEntry]) -> None:
    """Store the records of one request that no change stored (refusals, failures) in one
    statement; a failure is logged, never raised (the outcome is already decided)."""
    pending = [entry for entry in entries if not entry.written]
    if not pending:
        return
    try:
        await AuditRecord.bulk_create([_row(entry) for entry in pending])
    except Exception:
        log.exception("could not write %d audit record(s): %s", len(pending), pending)
    else:
        for entry in pending:
            entry.written = True


# The person behind a record's token (a plain column: the record outlives the person).
reads.relations("AuditRecord", actor=reads.One("Person", "actor_id"))

RECORDS = reads.listing(
    "AuditRecord",
    "actor_id",
    "resource",
    "object_id",
    "decision",
    since=("at__gte", to_utc),
    until=("at__lt", to_utc),
)
