"""The workflow core itself: a step and its event, its effects and its audit record stand
or fall together; the declarations are complete; linked states follow as declared."""

from __future__ import annotations

import pytest

from models.audit import AuditRecord
from models.concerns import Concern, ConcernEvent
from models.councils import Task, TaskEvent
from models.mediation import MediationCase, MediationEvent, Referral
from policies import vocabulary
from services import rows, workflow
from services.workflow import MACHINES
from tests.conftest import Demo, error_codes, gql

ACCEPT = (
    "mutation($input: ConcernStepInput!) { acceptConcern(input: $input) { __typename "
    "... on Concern { status } } }"
)
COMPLETE = "mutation($input: CompleteTaskInput!) { completeTask(input: $input) { __typename ... on Task { status } } }"
DECIDE = (
    "mutation($input: DecideReferralInput!) { decideReferral(input: $input) { __typename "
    "... on Referral { status case { status } } } }"
)


async def _state(demo: Demo) -> dict:
    """Every row the steps below could touch."""
    return {
        "concerns": await Concern.all().order_by("id").values(),
        "concern_events": await ConcernEvent.all().count(),
        "tasks": await Task.all().order_by("id").values(),
        "task_events": await TaskEvent.all().count(),
        "allowed_audit": await AuditRecord.filter(decision="allow", code=None).count(),
    }


def _failing_rows(monkeypatch, message: str, fails) -> None:
    """Every write of rows (``services.rows.insert``: events, audit records) that holds a
    row ``fails(model, values)`` picks raises ``message``; the others are written."""
    real_insert = rows.insert

    async def insert(batch, *args, **kwargs):
        if any(fails(model, values) for model, values in batch):
            raise RuntimeError(message)
        return await real_insert(batch, *args, **kwargs)

    monkeypatch.setattr(rows, "insert", insert)


async def test_a_step_whose_event_cannot_be_written_leaves_nothing(mutable_demo, monkeypatch):
    demo = mutable_demo
    before = await _state(demo)
    _failing_rows(monkeypatch, "disk full", lambda model, values: model is ConcernEvent)
    async with demo.client("grid_worker_chen") as client:
        body = await gql(client, ACCEPT, {"input": {"concernId": demo.id("concerns", "ebikes")}})
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert await _state(demo) == before
    failed = await AuditRecord.filter(field="acceptConcern").order_by("-id").first()
    assert (failed.decision, failed.code) == ("allow", "INTERNAL_SERVER_ERROR")  # the attempt, not a change


async def test_a_step_whose_audit_record_cannot_be_written_leaves_nothing(mutable_demo, monkeypatch):
    demo = mutable_demo
    before = await _state(demo)
    # the record of the change itself (a refusal's or failure's has a code)
    _failing_rows(
        monkeypatch,
        "audit table locked",
        lambda model, values: model is AuditRecord and values["code"] is None,
    )
    async with demo.client("grid_worker_chen") as client:
        body = await gql(client, ACCEPT, {"input": {"concernId": demo.id("concerns", "ebikes")}})
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert await _state(demo) == before
    assert (await Concern.get(id=demo.world.concerns["ebikes"].id)).status == "submitted"


async def test_an_effect_that_fails_takes_its_cause_back(mutable_demo, monkeypatch):
    """Completing the wall's last task resolves the wall concern; when that cannot be
    recorded, the task is not done either."""
    demo = mutable_demo
    before = await _state(demo)
    _failing_rows(monkeypatch, "disk full", lambda model, values: model is ConcernEvent)
    async with demo.client("alliance_staff_dizhi") as client:
        body = await gql(
            client, COMPLETE, {"input": {"taskId": demo.id("tasks", "wall_recheck"), "result": "复查完毕"}}
        )
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert await _state(demo) == before


async def test_a_done_task_resolves_its_concern_only_when_it_was_the_last(mutable_demo):
    demo = mutable_demo
    wall = demo.world.concerns["wall"]
    assert wall.status == "accepted" and wall.resolved_at is None
    async with demo.client("alliance_staff_dizhi") as client:
        body = await gql(
            client, COMPLETE, {"input": {"taskId": demo.id("tasks", "wall_recheck"), "result": "复查完毕"}}
        )
    assert body["data"]["completeTask"] == {"__typename": "Task", "status": "DONE"}
    wall = await Concern.get(id=wall.id)
    assert wall.status == "resolved" and wall.resolved_at is not None
    event = await ConcernEvent.filter(concern_id=wall.id).order_by("-id").first()
    assert (event.action, event.from_status, event.to_status) == ("resolve", "accepted", "resolved")
    assert event.actor_id == demo.world.people["alliance_staff_dizhi"].id
    assert "复查完毕" in event.note
    # the ebikes concern keeps its open sweep: nothing follows for it
    ebikes = await Concern.get(id=demo.world.concerns["ebikes"].id)
    assert ebikes.status == "submitted"


@pytest.mark.parametrize(
    ("outcome", "case_status", "event"),
    [
        ("GUIDED_SETTLEMENT", "SETTLED", "settled_in_court"),
        ("JUDICIAL_CONFIRMATION", "SETTLED", "settled_in_court"),
        ("FILED", "CLOSED", "filed_in_court"),
    ],
)
async def test_a_referral_outcome_ends_the_case_accordingly(mutable_demo, outcome, case_status, event):
    demo = mutable_demo
    referral = demo.world.referrals["crack"]
    async with demo.client("judge_he") as client:
        await gql(client, DECIDE, {"input": {"referralId": str(referral.id), "action": "ACCEPT"}})
        body = await gql(
            client,
            DECIDE,
            {"input": {"referralId": str(referral.id), "action": "RECORD_OUTCOME", "outcome": outcome}},
        )
    assert body["data"]["decideReferral"] == {
        "__typename": "Referral",
        "status": "CLOSED",
        "case": {"status": case_status},
    }
    last = await MediationEvent.filter(case_id=referral.case_id).order_by("-id").first()
    assert (last.action, last.from_status, last.to_status) == (event, "referred", case_status.lower())
    assert (await Referral.get(id=referral.id)).outcome == outcome.lower()
    # the case's outcome is now the court's; why mediation failed stays in its history
    case = await MediationCase.get(id=referral.case_id)
    assert (
        case.outcome
        == {"GUIDED_SETTLEMENT": "引导和解", "JUDICIAL_CONFIRMATION": "司法确认", "FILED": "立案"}[outcome]
    )


async def test_the_seeded_judicial_confirmation_settled_its_case(demo):
    land = await MediationCase.get(id=demo.world.cases["land"].id)
    assert land.status == "settled"


# --------------------------------------------------------------------------- declarations


def test_every_step_is_decided_by_a_word_of_the_vocabulary():
    for machine in MACHINES.values():
        for step in machine.steps:
            if step.policy is not None:
                assert step.policy in vocabulary.RESOURCES[step.resource or machine.resource], (
                    machine.resource,
                    step.action,
                )


def test_every_state_is_reachable_and_every_step_can_happen():
    """From creation, following the declared steps, every state is reached and every step
    leaves from at least one reachable state."""
    for machine in MACHINES.values():
        reached = set().union(*(s.leads_to for s in machine.steps if s.creates))
        for _ in machine.steps:
            for s in machine.steps:
                if s.sources & reached:
                    reached |= s.leads_to
        states = {member.value for member in machine.states}
        assert reached == states, (machine.resource, states - reached)
        for s in machine.steps:
            assert s.creates or s.sources & reached, (machine.resource, s.action)


def test_steps_that_count_never_compare_and_set():
    """A counter step (supervise, ballots) must not lose a race: it conditions on the state
    only; every other step compares and sets the version."""
    for machine in MACHINES.values():
        for s in machine.steps:
            if s.counters or s.action in ("cast", "supervise"):
                assert not s.exclusive, (machine.resource, s.action)


def test_invalid_transition_is_one_type():
    from schema.workflow import InvalidTransition

    assert workflow.InvalidTransition.__module__ == "services.workflow"
    assert {f for f in InvalidTransition.__annotations__} >= {"message", "current_status", "allowed_actions"}
