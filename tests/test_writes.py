"""The hot writes (issue 9): how many SQL statements a raised concern and a concern step
cost, through the GraphQL API, and that the fewer statements still stand or fall
together, also when many clients write at once.

Statements are counted on Tortoise's ``tortoise.db_client`` log (BEGIN and COMMIT are not
logged), as the difference from ``{ __typename }`` sent with the same token just before:
that difference is the mutation's own work, whatever the caller's identity costs.
"""

from __future__ import annotations

import asyncio

from models.audit import AuditRecord
from models.concerns import Concern, ConcernEvent
from services import audit
from tests.conftest import Demo, QueryCounter, error_codes, gql, is_postgres

RAISE = """mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id status } }"""
ACCEPT = (
    "mutation($input: ConcernStepInput!) { acceptConcern(input: $input) { __typename "
    "... on Concern { status } } }"
)


def _raise_input(demo: Demo, title: str) -> dict:
    return {"unitId": demo.id("units", "fulu_g1"), "title": title, "category": "safety", "location": "3-2"}


async def _statements(client, document: str, variables: dict) -> tuple[dict, list[str]]:
    """The body, and the statements beyond those of ``{ __typename }`` (the identity's)."""
    with QueryCounter() as baseline:
        assert await gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}
    with QueryCounter() as counter:
        body = await gql(client, document, variables)
    identity = len(baseline.statements)
    assert _kinds(counter.statements[:identity]) == _kinds(baseline.statements), counter.statements
    return body, counter.statements[identity:]


def _kinds(statements: list[str]) -> list[str]:
    """Each statement as its verb and its first table: ``SELECT org_unit``."""
    kinds = []
    for text in statements:
        words = text.replace('"', " ").replace("(", " ( ").split()
        verb = words[0].upper()
        if verb == "WITH":  # WITH w0 AS (INSERT INTO a ...) INSERT INTO b ...
            tables = [words[i + 2] for i, w in enumerate(words) if w.upper() == "INSERT"]
            kinds.append("INSERT " + "+".join(tables))
        elif verb == "SELECT" and "pg_notify" in words:  # the event bus, after the commit
            kinds.append("NOTIFY")
        elif verb == "SELECT":
            kinds.append("SELECT " + words[words.index("FROM") + 1])
        elif verb == "INSERT":
            kinds.append("INSERT " + words[2])
        else:
            kinds.append(f"{verb} {words[1]}")
    return kinds


async def test_raising_a_concern_costs_three_statements_on_postgres(mutable_demo):
    """The grid (read in the caller's scope), the concern (its INSERT returns it), then its
    first event and the audit record in one statement (two on SQLite, which has no
    data-modifying WITH); on PostgreSQL the event bus's NOTIFY follows the commit
    (services/bus.py: the other instances' subscribers)."""
    demo = mutable_demo
    async with demo.client("resident_wang") as client:
        await gql(client, "{ __typename }")  # the caller's identity, whatever it costs, is warm
        body, statements = await _statements(
            client, RAISE, {"input": _raise_input(demo, "楼道灯坏了 statements")}
        )
    assert not body.get("errors"), body
    expected = ["SELECT org_unit", "INSERT concern"]
    if is_postgres():
        expected += ["INSERT concern_event+audit_record", "NOTIFY"]
    else:
        expected += ["INSERT concern_event", "INSERT audit_record"]
    assert _kinds(statements) == expected, statements
    concern_id = int(body["data"]["raiseConcern"]["id"])
    events = await ConcernEvent.filter(concern_id=concern_id).values_list("action", "to_status")
    assert events == [("submitted", "submitted")]
    record = await AuditRecord.filter(field="raiseConcern", object_id=str(concern_id)).get()
    assert (record.decision, record.code, record.scope_path) == (
        "allow",
        None,
        (await Concern.get(id=concern_id)).scope_path,
    )


async def test_a_concern_step_costs_three_statements_on_postgres(mutable_demo):
    """The concern (read in scope), the compare-and-set UPDATE returning the row as changed
    (no read after it), then the event and the audit record in one statement."""
    demo = mutable_demo
    concern_id = demo.id("concerns", "ebikes")
    async with demo.client("grid_worker_chen") as client:
        await gql(client, "{ __typename }")
        body, statements = await _statements(client, ACCEPT, {"input": {"concernId": concern_id}})
    assert body["data"]["acceptConcern"] == {"__typename": "Concern", "status": "ACCEPTED"}, body
    expected = ["SELECT concern", "UPDATE concern"]
    if is_postgres():
        expected += ["INSERT concern_event+audit_record", "NOTIFY"]
    else:
        expected += ["INSERT concern_event", "INSERT audit_record"]
    assert _kinds(statements) == expected, statements
    concern = await Concern.get(id=int(concern_id))
    assert (concern.status, concern.version) == ("accepted", demo.world.concerns["ebikes"].version + 1)
    last = await ConcernEvent.filter(concern_id=concern.id).order_by("-id").first()
    assert (last.action, last.from_status, last.to_status) == ("accept", "submitted", "accepted")


async def test_an_audit_record_the_database_refuses_takes_the_concern_and_its_event_back(
    mutable_demo, monkeypatch
):
    """The event and the audit record share one statement (PostgreSQL) or one transaction
    (SQLite) with the concern: when the database refuses the record (a NOT NULL column
    left empty), nothing of the raise is stored."""
    demo = mutable_demo
    before = (await Concern.all().count(), await ConcernEvent.all().count(), await AuditRecord.all().count())
    real_values = audit._values

    def broken(entry):
        values = real_values(entry)
        if entry.code is None:  # the change's own record, not the failure's
            values["operation"] = None
        return values

    monkeypatch.setattr(audit, "_values", broken)
    async with demo.client("resident_wang") as client:
        body = await gql(client, RAISE, {"input": _raise_input(demo, "refused record")})
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert await Concern.filter(title="refused record").count() == 0
    after = (await Concern.all().count(), await ConcernEvent.all().count(), await AuditRecord.all().count())
    assert after[:2] == before[:2]
    assert after[2] == before[2] + 1  # the failed attempt's own record, written after the rollback


async def test_racing_raises_store_each_concern_once_with_its_event_and_record(mutable_demo):
    """N clients raise at once: every acknowledged concern is stored once, with exactly one
    `submitted` event and one audit record naming it; nothing is stored unacknowledged."""
    demo = mutable_demo
    n = 24
    clients = [demo.client("resident_wang") for _ in range(4)]
    try:
        bodies = await asyncio.gather(
            *(
                gql(clients[i % len(clients)], RAISE, {"input": _raise_input(demo, f"race-{i:02d}")})
                for i in range(n)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    assert all(not body.get("errors") for body in bodies), [b for b in bodies if b.get("errors")]
    ids = sorted(int(body["data"]["raiseConcern"]["id"]) for body in bodies)
    assert len(set(ids)) == n
    stored = await Concern.filter(title__startswith="race-").order_by("id").values_list("id", "title")
    assert [i for i, _ in stored] == ids
    assert sorted(t for _, t in stored) == [f"race-{i:02d}" for i in range(n)]
    events = await ConcernEvent.filter(concern_id__in=ids).values_list("concern_id", "action")
    assert sorted(events) == [(i, "submitted") for i in ids]
    records = await AuditRecord.filter(field="raiseConcern", object_id__in=[str(i) for i in ids]).values_list(
        "object_id", flat=True
    )
    assert sorted(int(r) for r in records) == ids
