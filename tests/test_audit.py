"""The audit log: one record per mutation field, one per request refused with FORBIDDEN or
UNAUTHENTICATED, none for a successful query; and admins find exactly what they filter for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from models.audit import AuditRecord
from models.concerns import Concern
from tests.conftest import error_codes, gql

RAISE = """mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id } }"""
AUDIT_LOG = """query($actorId: ID, $resource: String, $objectId: String, $decision: String,
                     $since: DateTime, $until: DateTime) {
  auditLog(actorId: $actorId, resource: $resource, objectId: $objectId, decision: $decision,
           since: $since, until: $until, first: 100) {
    totalCount
    nodes { id at actorId operation field resource action objectId decision code policyVersion } } }"""


def concern_input(d, unit: str, title: str = "楼道灯坏了", **extra) -> dict:
    return {"input": {"unitId": d.id("units", unit), "title": title, "category": "infrastructure", **extra}}


async def last_id() -> int:
    row = await AuditRecord.all().order_by("-id").first()
    return row.id if row else 0


async def records_since(mark: int) -> list[AuditRecord]:
    return await AuditRecord.filter(id__gt=mark).order_by("id")


def version(d) -> str:
    return d.app.state.policy_store.current.version


def person(d, key: str) -> int:
    return d.world.people[key].id


# --- what leaves a record ---------------------------------------------------------------


async def test_a_forbidden_query_leaves_exactly_one_record(demo):
    mark = await last_id()
    async with demo.client("resident_wang") as client:
        body = await gql(client, "{ auditLog { totalCount } }")
    assert error_codes(body) == ["FORBIDDEN"]
    [record] = await records_since(mark)
    assert record.actor_id == person(demo, "resident_wang")
    assert record.token_id is not None
    assert (record.operation, record.field) == ("query", "auditLog")
    assert (record.resource, record.action) == ("AuditRecord", "read")
    assert (record.decision, record.code) == ("deny", "FORBIDDEN")
    assert record.object_id is None
    assert record.policy_version == version(demo)


async def test_an_admin_asking_for_concerns_is_refused_and_recorded(demo):
    mark = await last_id()
    async with demo.client("admin") as client:
        body = await gql(client, "{ concerns { totalCount } }")
    assert error_codes(body) == ["FORBIDDEN"]
    [record] = await records_since(mark)
    assert record.actor_id == person(demo, "admin")
    assert (record.resource, record.action, record.decision, record.code) == (
        "Concern",
        "read",
        "deny",
        "FORBIDDEN",
    )
    assert record.policy_version == version(demo)


async def test_a_request_refused_on_several_fields_leaves_one_record(demo):
    mark = await last_id()
    async with demo.client("resident_wang") as client:
        body = await gql(
            client, "{ me { name } auditLog { totalCount } policyStatus { version } people { totalCount } }"
        )
    assert sorted(error_codes(body)) == ["FORBIDDEN", "FORBIDDEN"]
    assert body["data"]["me"] == {"name": "王秀英"}
    [record] = await records_since(mark)
    assert record.field == "auditLog,policyStatus"
    assert (record.decision, record.code) == ("deny", "FORBIDDEN")


async def test_a_request_without_a_token_leaves_one_record_without_actor(demo):
    mark = await last_id()
    async with demo.client(None) as client:
        body = await gql(client, "{ me { name } concerns { totalCount } }")
    assert error_codes(body) == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    [record] = await records_since(mark)
    assert record.actor_id is None and record.token_id is None
    assert (record.operation, record.decision, record.code) == ("query", "deny", "UNAUTHENTICATED")
    assert record.field == "concerns,me"
    assert record.policy_version == version(demo)


async def test_a_revoked_or_unknown_token_is_recorded_as_unauthenticated(demo):
    mark = await last_id()
    async with demo.client(None) as client:
        client.headers["Authorization"] = "Bearer not-a-token"
        body = await gql(client, "{ me { name } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    [record] = await records_since(mark)
    assert (record.actor_id, record.decision, record.code) == (None, "deny", "UNAUTHENTICATED")


async def test_an_alias_does_not_disguise_the_refused_field(demo):
    mark = await last_id()
    async with demo.client("resident_wang") as client:
        body = await gql(client, "{ me: auditLog { totalCount } harmless: policyStatus { version } }")
    assert error_codes(body) == ["FORBIDDEN", "FORBIDDEN"]
    [record] = await records_since(mark)
    assert record.field == "auditLog,policyStatus"


async def test_a_request_refused_on_many_fields_is_still_recorded(demo):
    """The names of every refused field do not fit the column; the record is kept, cut short."""
    fields = ["me", "orgUnits", "people", "councils", "meetings", "concerns", "policyStatus", "auditLog"]
    query = "{ " + " ".join(f"{f} {{ __typename }}" for f in fields) + " }"
    mark = await last_id()
    async with demo.client(None) as client:
        body = await gql(client, query)
    assert error_codes(body) == ["UNAUTHENTICATED"] * len(fields)
    [record] = await records_since(mark)
    assert (record.actor_id, record.decision, record.code) == (None, "deny", "UNAUTHENTICATED")
    assert record.field.startswith("auditLog,concerns,councils,")
    assert len(record.field) <= 64


async def test_a_mutation_with_an_overlong_id_is_recorded(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client("resident_wang") as client:
        body = await gql(client, RAISE, {"input": {"unitId": "7" * 100, "title": "x", "category": "other"}})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    [record] = await records_since(mark)
    assert (record.field, record.decision, record.code) == ("raiseConcern", "allow", "BAD_USER_INPUT")


async def test_a_successful_query_leaves_no_record(demo):
    mark = await last_id()
    async with demo.client("grid_worker_chen") as client:
        body = await gql(
            client, "{ me { policyVersion } concerns { totalCount } people { nodes { name phone } } }"
        )
    assert "errors" not in body
    # A lookup answering NOT_FOUND is not a refusal worth recording either (documented).
    async with demo.client("resident_wang") as client:
        body = await gql(client, '{ concern(id: "999999") { id } }')
    assert error_codes(body) == ["NOT_FOUND"]
    assert await records_since(mark) == []


async def test_a_successful_mutation_leaves_one_allow_record(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client("resident_wang") as client:
        body = await gql(client, RAISE, concern_input(d, "fulu_g1"))
    assert "errors" not in body, body
    concern_id = body["data"]["raiseConcern"]["id"]
    [record] = await records_since(mark)
    assert record.actor_id == person(d, "resident_wang")
    assert (record.operation, record.field) == ("mutation", "raiseConcern")
    assert (record.resource, record.action, record.object_id) == ("Concern", "create", concern_id)
    assert (record.decision, record.code) == ("allow", None)
    assert record.scope_path == d.world.units["fulu_g1"].path
    assert record.policy_version == version(d)


async def test_a_mutation_refused_by_the_policy_leaves_one_deny_record(mutable_demo):
    d = mutable_demo
    concerns = await Concern.all().count()
    mark = await last_id()
    async with d.client("street_official_xu") as client:
        body = await gql(client, RAISE, concern_input(d, "fulu_g1"))
    assert error_codes(body) == ["FORBIDDEN"]
    assert await Concern.all().count() == concerns
    [record] = await records_since(mark)
    assert record.actor_id == person(d, "street_official_xu")
    assert (record.operation, record.field, record.resource, record.action) == (
        "mutation",
        "raiseConcern",
        "Concern",
        "create",
    )
    assert (record.decision, record.code) == ("deny", "FORBIDDEN")
    assert record.policy_version == version(d)
    # No concern was created: the record names none (the grid's id is not a concern's).
    assert record.object_id is None


async def test_a_mutation_without_a_token_leaves_one_deny_record(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client(None) as client:
        body = await gql(client, RAISE, concern_input(d, "fulu_g1"))
    assert error_codes(body) == ["UNAUTHENTICATED"]
    [record] = await records_since(mark)
    assert (record.actor_id, record.operation, record.field) == (None, "mutation", "raiseConcern")
    assert (record.decision, record.code) == ("deny", "UNAUTHENTICATED")


async def test_two_mutation_fields_leave_two_records(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client("resident_wang") as client:
        body = await gql(
            client,
            """mutation($a: RaiseConcernInput!, $b: RaiseConcernInput!, $c: RaiseConcernInput!) {
                 first: raiseConcern(input: $a) { id }
                 elsewhere: raiseConcern(input: $b) { id }
                 second: raiseConcern(input: $c) { id } }""",
            {
                "a": concern_input(d, "fulu_g1", "一")["input"],
                "b": concern_input(d, "fulu_g2", "二")["input"],  # not her grid: NOT_FOUND
                "c": concern_input(d, "fulu_g1", "三")["input"],
            },
        )
    assert error_codes(body) == ["NOT_FOUND"]
    first, second = body["data"]["first"]["id"], body["data"]["second"]["id"]
    records = await records_since(mark)
    assert len(records) == 3
    assert [(r.field, r.decision, r.code) for r in records] == [
        ("raiseConcern", "allow", None),
        ("raiseConcern", "deny", "NOT_FOUND"),
        ("raiseConcern", "allow", None),
    ]
    assert [r.object_id for r in records if r.decision == "allow"] == [first, second]
    assert {r.actor_id for r in records} == {person(d, "resident_wang")}


async def test_two_allowed_mutation_fields_leave_two_records(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client("grid_worker_chen") as client:
        body = await gql(
            client,
            """mutation($a: RaiseConcernInput!, $b: RaiseConcernInput!) {
                 a: raiseConcern(input: $a) { id } b: raiseConcern(input: $b) { id } }""",
            {
                "a": concern_input(d, "fulu_g1", "一", residentId=d.id("people", "resident_li"))["input"],
                "b": concern_input(d, "fulu_g1", "二")["input"],
            },
        )
    assert "errors" not in body, body
    records = await records_since(mark)
    assert [(r.operation, r.decision, r.resource, r.action) for r in records] == [
        ("mutation", "allow", "Concern", "create")
    ] * 2
    assert sorted(r.object_id for r in records) == sorted([body["data"]["a"]["id"], body["data"]["b"]["id"]])


# --- reading the log ----------------------------------------------------------------------


async def _audit_log(client, **filters) -> dict:
    body = await gql(client, AUDIT_LOG, filters)
    assert "errors" not in body, body
    return body["data"]["auditLog"]


def _ids(page: dict) -> list[int]:
    return [int(n["id"]) for n in page["nodes"]]


async def _expect(client, orm_query, **filters) -> list[dict]:
    """The log filtered through the API equals the same filter on the table: the same count,
    and the first page is the newest 100 matching rows."""
    page = await _audit_log(client, **filters)
    assert page["totalCount"] == await orm_query.count()
    assert _ids(page) == [r.id for r in await orm_query.order_by("-id").limit(100)]
    return page["nodes"]


async def test_admins_filter_the_log(mutable_demo):
    d = mutable_demo
    wang, xu, chen = (person(d, k) for k in ("resident_wang", "street_official_xu", "grid_worker_chen"))
    start = datetime.now(UTC)
    mark = await last_id()
    async with d.client("resident_wang") as client:
        await gql(client, "{ auditLog { totalCount } }")  # deny
        raised = await gql(client, RAISE, concern_input(d, "fulu_g1"))  # allow
        await gql(client, RAISE, concern_input(d, "fulu_g2"))  # deny (NOT_FOUND)
    async with d.client("grid_worker_chen") as client:
        recorded = await gql(
            client, RAISE, concern_input(d, "fulu_g1", "水管漏水", residentId=d.id("people", "resident_li"))
        )
    async with d.client("street_official_xu") as client:
        await gql(client, RAISE, concern_input(d, "fulu_g1"))  # deny (FORBIDDEN)
    async with d.client(None) as client:
        await gql(client, "{ me { name } }")  # deny (UNAUTHENTICATED)
    end = datetime.now(UTC)
    ours = await records_since(mark)
    assert len(ours) == 6
    raised_id = raised["data"]["raiseConcern"]["id"]
    recorded_id = recorded["data"]["raiseConcern"]["id"]
    window = AuditRecord.filter(at__gte=start, at__lt=end)
    since, until = start.isoformat(), end.isoformat()

    async with d.client("admin") as admin:
        # by actor: the whole history, and within the window
        await _expect(admin, AuditRecord.filter(actor_id=wang), actorId=str(wang))
        nodes = await _expect(admin, window.filter(actor_id=wang), actorId=str(wang), since=since)
        assert [(n["actorId"], n["decision"], n["code"]) for n in nodes] == [
            (str(wang), "deny", "NOT_FOUND"),
            (str(wang), "allow", None),
            (str(wang), "deny", "FORBIDDEN"),
        ]
        nodes = await _expect(admin, window.filter(actor_id=xu), actorId=str(xu), since=since, until=until)
        assert [(n["field"], n["decision"]) for n in nodes] == [("raiseConcern", "deny")]
        # by object: the concern's one record, whoever acted
        for concern_id, actor in ((raised_id, wang), (recorded_id, chen)):
            nodes = await _expect(
                admin,
                AuditRecord.filter(resource="Concern", object_id=concern_id),
                resource="Concern",
                objectId=concern_id,
            )
            [node] = [n for n in nodes if int(n["id"]) > mark]
            assert (node["actorId"], node["field"], node["action"], node["decision"]) == (
                str(actor),
                "raiseConcern",
                "create",
                "allow",
            )
        await _expect(admin, AuditRecord.filter(resource="AuditRecord"), resource="AuditRecord")
        # by decision
        await _expect(admin, AuditRecord.filter(decision="deny"), decision="deny")
        denied = await _expect(
            admin, window.filter(decision="deny"), decision="deny", since=since, until=until
        )
        assert sorted(n["code"] for n in denied) == ["FORBIDDEN", "FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"]
        allowed = await _expect(
            admin, window.filter(decision="allow"), decision="allow", since=since, until=until
        )
        assert sorted(n["objectId"] for n in allowed) == sorted([raised_id, recorded_id])
        # the time window on its own: exactly our six
        nodes = await _expect(admin, window, since=since, until=until)
        assert sorted(int(n["id"]) for n in nodes) == [r.id for r in ours]
        # nothing matches
        await _expect(admin, AuditRecord.filter(actor_id=999999), actorId="999999")
        await _expect(
            admin, AuditRecord.filter(resource="Concern", object_id="0"), resource="Concern", objectId="0"
        )
        await _expect(admin, window.filter(decision="maybe"), decision="maybe", since=since)


async def test_time_range_bounds_are_since_inclusive_until_exclusive_in_any_offset(mutable_demo):
    d = mutable_demo
    mark = await last_id()
    async with d.client("resident_wang") as client:
        for _ in range(3):
            body = await gql(client, "{ auditLog { totalCount } }")
            assert error_codes(body) == ["FORBIDDEN"]
    first, middle, last = await records_since(mark)
    assert first.at <= middle.at <= last.at
    beijing = timezone(timedelta(hours=8))
    new_york = timezone(timedelta(hours=-5))
    async with d.client("admin") as admin:
        for zone in (UTC, beijing, new_york):
            since, until = middle.at.astimezone(zone).isoformat(), last.at.astimezone(zone).isoformat()
            page = await _audit_log(admin, since=since)
            assert set(_ids(page)) >= {middle.id, last.id}
            assert first.id not in _ids(page) or first.at == middle.at
            page = await _audit_log(admin, since=since, until=until)
            assert middle.id in _ids(page) and last.id not in _ids(page)
            page = await _audit_log(admin, until=until, actorId=str(person(d, "resident_wang")))
            assert first.id in _ids(page) and last.id not in _ids(page)
        # a time without offset is UTC
        naive = middle.at.astimezone(UTC).replace(tzinfo=None).isoformat()
        page = await _audit_log(admin, since=naive, until=last.at.isoformat())
        assert middle.id in _ids(page) and last.id not in _ids(page)
        # an empty window
        page = await _audit_log(admin, since=last.at.isoformat(), until=last.at.isoformat())
        assert page == {"totalCount": 0, "nodes": []}


async def test_the_log_is_for_admins_only_and_its_reading_leaves_no_record(demo):
    mark = await last_id()
    async with demo.client("admin") as admin:
        await _audit_log(admin)
        await _audit_log(admin, decision="deny")
    assert await records_since(mark) == []
    for key in ("grid_worker_chen", "secretary_zhang", "street_official_xu"):
        async with demo.client(key) as client:
            body = await gql(client, AUDIT_LOG)
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] == {"auditLog": None}
    records = await records_since(mark)
    assert [(r.actor_id, r.resource, r.decision) for r in records] == [
        (person(demo, key), "AuditRecord", "deny")
        for key in ("grid_worker_chen", "secretary_zhang", "street_official_xu")
    ]


async def test_a_case_step_is_audited_under_the_action_the_policy_decided(mutable_demo):
    """ESCALATE and REFER are decided as `escalate`, SETTLE as `update`: the record says which."""
    from models.audit import AuditRecord

    d = mutable_demo
    document = (
        "mutation($i: TransitionMediationCaseInput!) { transitionMediationCase(input: $i) { __typename } }"
    )
    mark = await AuditRecord.all().count()
    async with d.client("secretary_zhang") as client:
        body = await gql(
            client,
            document,
            {
                "i": {
                    "caseId": d.id("cases", "dog"),
                    "action": "REFER",
                    "workstationId": d.id("workstations", "fulu"),
                    "note": "转法官工作站",
                }
            },
        )
    assert body["data"]["transitionMediationCase"]["__typename"] == "MediationCase", body
    records = await AuditRecord.all().order_by("id").offset(mark)
    assert [(r.field, r.resource, r.action, r.decision) for r in records] == [
        ("transitionMediationCase", "MediationCase", "escalate", "allow")
    ]
