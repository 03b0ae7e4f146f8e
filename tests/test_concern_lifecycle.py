"""A concern's way to the end: every legal step succeeds and is recorded; every illegal
one is a typed refusal that changes nothing; escalation moves who may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.concerns import Concern, ConcernEvent, ConcernLevel, ConcernStatus
from models.councils import AgendaTopic
from services.concerns import CONCERN
from tests.conftest import error_codes, gql

RESULT = """__typename
  ... on Concern { id status level assigneeName resolution proof rating closedAt supervisionCount
                   availableActions events { kind fromStatus toStatus note actor { name } } }
  ... on InvalidTransition { message action currentStatus allowedActions }"""

STEP_INPUT = {
    "acceptConcern": "ConcernStepInput",
    "rejectConcern": "ConcernStepInput",
    "mergeConcern": "MergeConcernInput",
    "putConcernOnAgenda": "PutConcernOnAgendaInput",
    "assignConcern": "AssignConcernInput",
    "startConcernWork": "ConcernStepInput",
    "escalateConcern": "ConcernStepInput",
    "resolveConcern": "ResolveConcernInput",
    "rateConcern": "RateConcernInput",
    "superviseConcern": "ConcernStepInput",
}
ACTION_OF = {
    "acceptConcern": "accept",
    "rejectConcern": "reject",
    "mergeConcern": "merge",
    "putConcernOnAgenda": "agenda",
    "assignConcern": "assign",
    "startConcernWork": "start",
    "escalateConcern": "escalate",
    "resolveConcern": "resolve",
    "rateConcern": "rate",
    "superviseConcern": "supervise",
}


def test_every_action_has_a_mutation():
    assert set(ACTION_OF.values()) == {s.action for s in CONCERN.steps if s.policy and not s.creates}


async def step(client, mutation: str, **values) -> dict:
    document = f"mutation($input: {STEP_INPUT[mutation]}!) {{ {mutation}(input: $input) {{ {RESULT} }} }}"
    body = await gql(client, document, {"input": values})
    assert "errors" not in body, body
    return body["data"][mutation]


def extra_input(mutation: str, d) -> dict:
    return {
        "mergeConcern": {"duplicateOfId": d.id("concerns", "wall")},
        "putConcernOnAgenda": {"meetingId": d.id("meetings", "park")},
        "assignConcern": {"assigneeName": "地质调查院"},
        "resolveConcern": {"resolution": "已处理", "proof": ["photo:done.jpg"]},
        "rateConcern": {"rating": 4, "satisfied": True},
    }.get(mutation, {"note": "测试"})


async def state(concern_id: int) -> tuple:
    row = await Concern.get(id=concern_id)
    return (
        row.status,
        row.level,
        row.assignee_name,
        row.rating,
        await ConcernEvent.filter(concern_id=concern_id).count(),
    )


async def test_the_whole_way_from_submitted_to_closed(mutable_demo):
    """收集 → 受理 → 上会 → 派单 → 办理 → 办结 → 评价 → 销号, each step an event."""
    d = mutable_demo
    cid = d.id("concerns", "ebikes")  # submitted, fulu_g1, resident_li's
    async with d.client("grid_worker_chen") as worker, d.client("resident_li") as resident:
        accepted = await step(worker, "acceptConcern", concernId=cid, note="已受理")
        assert (accepted["status"], accepted["level"]) == ("ACCEPTED", "GRID")
        assert "assign" in accepted["availableActions"] and "accept" not in accepted["availableActions"]
        on_agenda = await step(
            worker, "putConcernOnAgenda", concernId=cid, meetingId=d.id("meetings", "park")
        )
        assert on_agenda["status"] == "ON_AGENDA"
        assert await AgendaTopic.filter(concern_id=int(cid)).count() == 1
        assigned = await step(worker, "assignConcern", concernId=cid, assigneeName="物业公司")
        assert (assigned["status"], assigned["assigneeName"]) == ("ASSIGNED", "物业公司")
        started = await step(worker, "startConcernWork", concernId=cid)
        assert started["status"] == "IN_PROGRESS"
        resolved = await step(
            worker,
            "resolveConcern",
            concernId=cid,
            resolution="电动车已移至车棚",
            proof=["photo:stairs-after.jpg"],
        )
        assert (resolved["status"], resolved["proof"]) == ("RESOLVED", ["photo:stairs-after.jpg"])
        closed = await step(resident, "rateConcern", concernId=cid, rating=5, satisfied=True, comment="谢谢")
    assert (closed["status"], closed["rating"]) == ("CLOSED", 5)
    assert closed["closedAt"] is not None
    assert [(e["kind"], e["fromStatus"], e["toStatus"]) for e in closed["events"]] == [
        ("submitted", None, "submitted"),
        ("accept", "submitted", "accepted"),
        ("agenda", "accepted", "on_agenda"),
        ("assign", "on_agenda", "assigned"),
        ("start", "assigned", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("rate", "resolved", "closed"),
    ]
    assert closed["events"][-1]["actor"]["name"] == "李建国"
    assert closed["availableActions"] == []


async def test_an_unsatisfied_resident_reopens_it(mutable_demo):
    d = mutable_demo
    cid = d.id("concerns", "drain")  # resolved, resident_wang's
    async with d.client("resident_wang") as resident, d.client("grid_worker_chen") as worker:
        reopened = await step(
            resident, "rateConcern", concernId=cid, rating=2, satisfied=False, comment="还是漏"
        )
        assert (reopened["status"], reopened["rating"]) == ("REOPENED", 2)
        again = await step(worker, "assignConcern", concernId=cid, assigneeName="市政维修队")
    assert again["status"] == "ASSIGNED"


async def test_rejecting_and_escalating_need_a_note(mutable_demo):
    d = mutable_demo
    cid = d.id("concerns", "ebikes")
    before = await state(int(cid))
    async with d.client("grid_worker_chen") as worker:
        for mutation in ("rejectConcern", "escalateConcern"):
            body = await gql(
                worker,
                f"mutation($input: ConcernStepInput!) {{ {mutation}(input: $input) {{ __typename }} }}",
                {"input": {"concernId": cid, "note": "  "}},
            )
            assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await state(int(cid)) == before


async def test_escalation_moves_the_responsibility_up(mutable_demo):
    """小事不出网格, 大事不出街道: once escalated, the grid can no longer act; the next level can."""
    d = mutable_demo
    cid = d.id("concerns", "wall")  # accepted, grid level, fulu_g1
    async with (
        d.client("grid_worker_chen") as worker,
        d.client("secretary_zhang") as secretary,
        d.client("street_official_xu") as street,
    ):
        up = await step(worker, "escalateConcern", concernId=cid, note="需要社区协调地质调查院")
        assert (up["status"], up["level"]) == ("ACCEPTED", "COMMUNITY")
        assert up["events"][-1]["kind"] == "escalated_to_community"
        # The grid worker still sees it, but may no longer act on it.
        refused = await gql(
            worker,
            "mutation($i: AssignConcernInput!) { assignConcern(input: $i) { __typename } }",
            {"i": {"concernId": cid, "assigneeName": "x"}},
        )
        assert error_codes(refused) == ["FORBIDDEN"]
        seen = await gql(
            worker, "query($id: ID!) { concern(id: $id) { level availableActions } }", {"id": cid}
        )
        assert seen["data"]["concern"] == {"level": "COMMUNITY", "availableActions": []}
        top = await step(secretary, "escalateConcern", concernId=cid, note="报街道")
        assert top["level"] == "STREET"
        assert "escalate" not in top["availableActions"]
        assigned = await step(street, "assignConcern", concernId=cid, assigneeName="地质调查院")
        assert assigned["status"] == "ASSIGNED"
        # Nothing above the street: a typed refusal, nothing changes.
        before = await state(int(cid))
        last = await step(street, "superviseConcern", concernId=cid, note="请加快")
        assert last["supervisionCount"] == 1
        before = await state(int(cid))
        body = await gql(
            street,
            "mutation($i: ConcernStepInput!) { escalateConcern(input: $i) { __typename } }",
            {"i": {"concernId": cid, "note": "再上报"}},
        )
    # The street official has no escalate rule at all: refused by the policy.
    assert error_codes(body) == ["FORBIDDEN"]
    assert await state(int(cid)) == before


@pytest.mark.parametrize("mutation", list(STEP_INPUT))
async def test_illegal_steps_are_typed_refusals_that_change_nothing(mutable_demo, mutation):
    """A closed concern (rated, satisfied) allows nothing at all: every step is refused
    with the typed InvalidTransition, and its state and history stay as they were."""
    d = mutable_demo
    cid = int(d.id("concerns", "drain"))
    await Concern.filter(id=cid).update(status=ConcernStatus.CLOSED, closed_at=datetime.now(UTC))
    before = await state(cid)
    # A role the policy lets take the step, so only the state machine can refuse.
    actor = {"rateConcern": "resident_wang", "superviseConcern": "street_official_xu"}.get(
        mutation, "secretary_zhang"
    )
    async with d.client(actor) as client:
        result = await step(client, mutation, concernId=str(cid), **extra_input(mutation, d))
    assert result["__typename"] == "InvalidTransition", result
    assert result["action"] == ACTION_OF[mutation]
    assert result["currentStatus"] == "closed"
    assert result["allowedActions"] == []
    assert "closed" in result["message"]
    assert await state(cid) == before


async def test_a_refusal_names_what_is_allowed_now(mutable_demo):
    d = mutable_demo
    cid = d.id("concerns", "ebikes")  # submitted
    async with d.client("grid_worker_chen") as worker:
        result = await step(worker, "resolveConcern", concernId=cid, resolution="x", proof=["p"])
    assert result["__typename"] == "InvalidTransition"
    assert result["currentStatus"] == "submitted"
    assert result["allowedActions"] == ["accept", "reject", "merge", "escalate"]


@pytest.mark.parametrize(
    ("concern_key", "status", "legal"),
    [
        ("ebikes", ConcernStatus.SUBMITTED, {"accept", "reject", "merge", "escalate"}),
        ("ebikes", ConcernStatus.ACCEPTED, {"merge", "agenda", "assign", "escalate"}),
        ("ebikes", ConcernStatus.ON_AGENDA, {"assign", "escalate"}),
        ("ebikes", ConcernStatus.ASSIGNED, {"assign", "start", "escalate", "resolve"}),
        ("ebikes", ConcernStatus.IN_PROGRESS, {"escalate", "resolve"}),
        ("ebikes", ConcernStatus.RESOLVED, set()),
        ("ebikes", ConcernStatus.REOPENED, {"agenda", "assign", "escalate"}),
        ("ebikes", ConcernStatus.REJECTED, set()),
        ("ebikes", ConcernStatus.MERGED, set()),
        ("ebikes", ConcernStatus.CLOSED, set()),
    ],
)
async def test_the_grid_worker_sees_the_legal_steps_of_each_state(mutable_demo, concern_key, status, legal):
    d = mutable_demo
    cid = int(d.id("concerns", concern_key))
    await Concern.filter(id=cid).update(status=status)
    async with d.client("grid_worker_chen") as worker:
        body = await gql(
            worker, "query($id: ID!) { concern(id: $id) { availableActions } }", {"id": str(cid)}
        )
    assert set(body["data"]["concern"]["availableActions"]) == legal


async def test_merging_points_at_the_original(mutable_demo):
    d = mutable_demo
    async with d.client("secretary_zhang") as secretary:
        merged = await step(
            secretary,
            "mergeConcern",
            concernId=d.id("concerns", "ebikes"),
            duplicateOfId=d.id("concerns", "wall"),
        )
        assert merged["status"] == "MERGED"
        body = await gql(
            secretary, "query($id: ID!) { concern(id: $id) { duplicateOf { title } } }", {"id": merged["id"]}
        )
        assert body["data"]["concern"]["duplicateOf"]["title"] == "小学对面围墙倾斜"
        itself = await gql(
            secretary,
            "mutation($i: MergeConcernInput!) { mergeConcern(input: $i) { __typename } }",
            {"i": {"concernId": d.id("concerns", "pipe"), "duplicateOfId": d.id("concerns", "pipe")}},
        )
    assert error_codes(itself) == ["BAD_USER_INPUT"]


async def test_resolving_needs_proof(mutable_demo):
    d = mutable_demo
    cid = d.id("concerns", "order")
    before = await state(int(cid))
    async with d.client("volunteer_zhao") as volunteer:
        body = await gql(
            volunteer,
            "mutation($i: ResolveConcernInput!) { resolveConcern(input: $i) { __typename } }",
            {"i": {"concernId": cid, "resolution": "换好了", "proof": []}},
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await state(int(cid)) == before


async def test_a_service_order_from_order_to_rating(mutable_demo):
    """群众点单、社区派单、志愿者接单、群众评单."""
    d = mutable_demo
    async with (
        d.client("resident_zhao") as resident,
        d.client("secretary_zhang") as secretary,
        d.client("volunteer_zhao") as volunteer,
    ):
        ordered = await gql(
            resident,
            """mutation($i: RaiseConcernInput!) { raiseConcern(input: $i) { id kind status dueAt } }""",
            {
                "i": {
                    "unitId": d.id("units", "fulu_g2"),
                    "title": "帮忙取药",
                    "category": "errand",
                    "kind": "SERVICE_ORDER",
                }
            },
        )
        order = ordered["data"]["raiseConcern"]
        assert (order["kind"], order["status"]) == ("SERVICE_ORDER", "SUBMITTED")
        assert order["dueAt"] is not None
        oid = order["id"]
        # The volunteer sees nothing until the community dispatches it to them.
        mine = await gql(volunteer, "{ concerns { nodes { id } } }")
        assert oid not in [c["id"] for c in mine["data"]["concerns"]["nodes"]]
        await step(secretary, "acceptConcern", concernId=oid)
        await step(secretary, "assignConcern", concernId=oid, assigneeId=d.id("people", "volunteer_zhao"))
        mine = await gql(volunteer, "{ concerns(kind: SERVICE_ORDER) { nodes { id } } }")
        assert oid in [c["id"] for c in mine["data"]["concerns"]["nodes"]]
        taken = await step(volunteer, "startConcernWork", concernId=oid, note="马上到")
        assert taken["status"] == "IN_PROGRESS"
        done = await step(
            volunteer, "resolveConcern", concernId=oid, resolution="药已送到", proof=["photo:receipt.jpg"]
        )
        assert done["status"] == "RESOLVED"
        rated = await step(resident, "rateConcern", concernId=oid, rating=5, satisfied=True)
    assert rated["status"] == "CLOSED"


async def test_overdue_concerns_show_up_for_the_street(demo):
    async with demo.client("street_official_xu") as street, demo.client("street_official_gao") as other:
        late = await gql(street, "{ concerns(overdue: true) { totalCount nodes { title overdue } } }")
        other_late = await gql(other, "{ concerns(overdue: true) { nodes { title } } }")
        on_time = await gql(street, "{ concerns(overdue: false) { nodes { overdue } } }")
    assert [c["title"] for c in late["data"]["concerns"]["nodes"]] == ["楼道电动车堵塞"]
    assert all(c["overdue"] for c in late["data"]["concerns"]["nodes"])
    assert [c["title"] for c in other_late["data"]["concerns"]["nodes"]] == ["老楼加装电梯"]
    assert not any(c["overdue"] for c in on_time["data"]["concerns"]["nodes"])


async def test_due_time_follows_the_category(mutable_demo):
    d = mutable_demo
    async with d.client("resident_wang") as resident:
        body = await gql(
            resident,
            'mutation($u: ID!) { raiseConcern(input: {unitId: $u, title: "楼梯扶手松动", category: "safety"}) { id } }',
            {"u": d.id("units", "fulu_g1")},
        )
    row = await Concern.get(id=int(body["data"]["raiseConcern"]["id"]))
    assert timedelta(hours=23) < row.due_at - row.created_at <= timedelta(hours=24, minutes=1)
    assert row.level == ConcernLevel.GRID
