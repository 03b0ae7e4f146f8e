"""Subscriptions through the real ASGI app over graphql-transport-ws (issue 10).

The matrix: every demo role subscribes to every subscription field; an event is caused
in the roles' own scope (福禄巷北社区, 南川西路街道) and one in a foreign scope (杜集社区,
矿山集街道); each role must receive exactly the events it may read, as the same read over
HTTP shows it (so the field rules, `Person.contact` and `MediationCase.parties`, are
the same in payloads), and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import live as app_live
from models.concerns import Concern
from policies.authorizer import Authorizer
from policies.store import build_checked
from services import identity, metrics
from services.authz import RequestAuth
from services.bus import open_subscriptions
from services.errors import Forbidden, NotFound
from tests.conftest import POLICY_DIR, ROLES, gql
from tests.live import WebSocketDisconnect, connect, live_socket

SUBSCRIBERS = [role for role in ROLES if role is not None]

CONCERN = "id title status level availableActions raisedBy { name phone address } assignee { name phone }"
REFERRAL = "id status workstation { id } case { id title parties { name phone } }"
MEETING = "id title status startsAt place"
TOPIC = "id title status decision"

FIELDS = {
    "concernChanged": f"subscription {{ concernChanged {{ action fromStatus toStatus concern {{ {CONCERN} }} }} }}",
    "concernEscalated": f"subscription {{ concernEscalated {{ action concern {{ {CONCERN} }} }} }}",
    "referralChanged": f"subscription {{ referralChanged {{ action fromStatus toStatus referral {{ {REFERRAL} }} }} }}",
    "meetingChanged": f"subscription {{ meetingChanged {{ action toStatus meeting {{ {MEETING} }} }} }}",
    "decisionTaken": f"subscription {{ decisionTaken {{ action topic {{ {TOPIC} }} }} }}",
}


@dataclass
class Event:
    """A step caused through the HTTP API, and what it is about."""

    kind: str  # concern, referral, meeting, topic
    scope: str  # own or foreign
    who: str
    mutation: str
    variables: dict
    object_id: str
    fields: tuple[str, ...]  # the subscription fields it concerns


def events(demo) -> list[Event]:
    c, r, m, t = (
        lambda k, kind=kind: demo.id(kind, k) for kind in ("concerns", "referrals", "meetings", "topics")
    )
    escalate = (
        'mutation($i: ID!) { escalateConcern(input: {concernId: $i, note: "需要社区协调"}) { __typename } }'
    )
    referral = "mutation($i: ID!) { decideReferral(input: {referralId: $i, action: ACCEPT}) { __typename } }"
    meeting = (
        "mutation($i: ID!) { transitionMeeting(input: {meetingId: $i, action: SCHEDULE}) { __typename } }"
    )
    schedule = (
        'mutation($c: ID!) { scheduleMeeting(input: {councilId: $c, title: "加装电梯议事会", '
        'startsAt: "2027-01-10T02:00:00Z", place: "活动室"}) { id } }'
    )
    decide = (
        "mutation($i: ID!) { transitionTopic(input: {topicId: $i, action: DECIDE, "
        'decision: "更换为感应灯, 物业负责"}) { __typename } }'
    )
    return [
        Event("concern", "own", "grid_worker_chen", escalate, {"i": c("wall")}, c("wall"),
              ("concernChanged", "concernEscalated")),
        Event("concern", "foreign", "secretary_yang", escalate, {"i": c("road")}, c("road"),
              ("concernChanged", "concernEscalated")),
        Event("referral", "own", "judge_he", referral, {"i": r("crack")}, r("crack"), ("referralChanged",)),
        Event("referral", "foreign", "judge_qian", referral, {"i": r("site")}, r("site"), ("referralChanged",)),
        Event("meeting", "own", "secretary_zhang", meeting, {"i": m("elevator_council")}, m("elevator_council"),
              ("meetingChanged",)),
        Event("meeting", "foreign", "secretary_yang", schedule, {"c": demo.id("councils", "duji")}, "",
              ("meetingChanged",)),
        Event("topic", "own", "secretary_zhang", decide, {"i": t("lights")}, t("lights"), ("decisionTaken",)),
    ]  # fmt: skip


async def expected_payload(demo, role: str, event: Event, field: str) -> dict | None:
    """What ``role`` should receive on ``field`` for ``event``: the object as the same read
    over HTTP (or, where the API has no single lookup, the same visibility check) shows it
    to that role; None when it may not read it (or, for escalations, has no step on it)."""
    async with demo.client(role) as client:
        if event.kind == "concern":
            body = await gql(
                client, f"query($i: ID!) {{ concern(id: $i) {{ {CONCERN} }} }}", {"i": event.object_id}
            )
            found = (body.get("data") or {}).get("concern")
            if found is None or (field == "concernEscalated" and not found["availableActions"]):
                return None
            return found
        if event.kind == "meeting":
            body = await gql(
                client, f"query($i: ID!) {{ meeting(id: $i) {{ {MEETING} }} }}", {"i": event.object_id}
            )
            return (body.get("data") or {}).get("meeting")
    auth = await auth_of(demo, role)
    resource = {"referral": "Referral", "topic": "AgendaTopic"}[event.kind]
    try:
        await auth.get_visible(resource, event.object_id)
    except (NotFound, Forbidden):
        return None
    return {"visible": True}


async def auth_of(demo, role: str) -> RequestAuth:
    actor = await identity.authenticate(demo.tokens[role])
    assert actor is not None
    return RequestAuth(actor, demo.app.state.policy_store.current)


async def wait_for_subscriptions(bus, count: int) -> None:
    await bus.until(lambda: len(bus) >= count)


@pytest.mark.parametrize("number", range(7))
async def test_each_event_reaches_exactly_the_subscribers_the_policy_allows(mutable_demo, app, number):
    """role × event kind × own/foreign scope: one event per test, every role subscribed to
    every field; each role receives the object as its own HTTP read shows it, or nothing."""
    demo = mutable_demo
    bus = app.state.bus
    event = events(demo)[number]
    sockets: dict[str, Any] = {}
    contexts = []
    try:
        for role in SUBSCRIBERS:
            manager = connect(app, demo.tokens[role])
            contexts.append(manager)
            sockets[role] = await manager.__aenter__()
            for field in FIELDS:
                await sockets[role].subscribe(FIELDS[field])
        await wait_for_subscriptions(bus, len(SUBSCRIBERS) * len(FIELDS))
        async with demo.client(event.who) as client:
            body = await gql(client, event.mutation, event.variables)
        assert not body.get("errors"), body
        result = next(iter(body["data"].values()))
        if "__typename" in result:
            assert result["__typename"] not in {"InvalidTransition"}, result
        if not event.object_id:
            event.object_id = result["id"]
        await bus.settled()
        received: dict[str, dict[str, list]] = {}
        for role, socket in sockets.items():
            messages = await socket.drain()
            assert all(m["type"] == "next" for m in messages), messages
            by_field: dict[str, list] = {}
            for message in messages:
                ((field, payload),) = message["payload"]["data"].items()
                by_field.setdefault(field, []).append(payload)
            received[role] = by_field
        for role in SUBSCRIBERS:
            for field in FIELDS:
                got = received[role].get(field, [])
                want = await expected_payload(demo, role, event, field) if field in event.fields else None
                if want is None:
                    assert got == [], (role, field, got)
                    continue
                assert len(got) == 1, (role, field, got)
                (payload,) = got
                if event.kind in ("concern", "meeting"):
                    assert payload[event.kind] == want, (role, field)
                else:
                    assert (
                        payload["referral" if event.kind == "referral" else "topic"]["id"] == event.object_id
                    )
        await check_facts(demo, event, received)
    finally:
        for manager in reversed(contexts):
            await manager.__aexit__(None, None, None)
    await bus_empty(bus)


async def bus_empty(bus) -> None:
    await bus.until(lambda: not len(bus))


def reached(received: dict, field: str) -> set[str]:
    return {role for role, fields in received.items() if fields.get(field)}


async def check_facts(demo, event: Event, received: dict) -> None:
    """What the field says, independently of the oracle above."""
    key = (event.kind, event.scope)
    if key == ("concern", "own"):
        # the resident who raised it follows its progress; only those who act at the
        # community level hear of the escalation as such
        assert "resident_wang" in reached(received, "concernChanged")
        assert "resident_wang" not in reached(received, "concernEscalated")
        assert "secretary_zhang" in reached(received, "concernEscalated")
        assert not {"judge_he", "court_district"} & reached(received, "concernChanged")
        wang = received["resident_wang"]["concernChanged"][0]
        assert wang["action"] == "escalated_to_community"
        assert wang["concern"]["level"] == "COMMUNITY"
    elif key == ("concern", "foreign"):
        assert not {"resident_wang", "grid_worker_chen", "secretary_zhang", "street_official_xu"} & reached(
            received, "concernChanged"
        )
    elif key == ("referral", "own"):
        assert {"judge_he", "court_district"} <= reached(received, "referralChanged")
        assert "resident_wang" not in reached(received, "referralChanged")
        # MediationCase.parties: the workstation's judge sees the parties, the court's token
        # exactly as its own read shows them
        judge = received["judge_he"]["referralChanged"][0]["referral"]
        assert judge["case"]["parties"], judge
        await same_case_as_http(demo, "court_district", received)
    elif key == ("referral", "foreign"):
        assert not {"judge_he", "court_district", "resident_wang"} & reached(received, "referralChanged")
    elif key == ("meeting", "own"):
        assert "resident_wang" in reached(received, "meetingChanged")
    elif key == ("meeting", "foreign"):
        assert not {"resident_wang", "secretary_zhang", "grid_worker_chen"} & reached(
            received, "meetingChanged"
        )
    elif key == ("topic", "own"):
        assert "resident_wang" in reached(received, "decisionTaken")
        topic = received["resident_wang"]["decisionTaken"][0]["topic"]
        assert topic["status"] == "DECIDED" and topic["decision"]


async def same_case_as_http(demo, role: str, received: dict) -> None:
    payload = received[role]["referralChanged"][0]["referral"]
    case = payload["case"]
    if case is None:
        return
    async with demo.client(role) as client:
        body = await gql(
            client,
            "query($i: ID!) { mediationCase(id: $i) { id title parties { name phone } } }",
            {"i": case["id"]},
        )
    assert body["data"]["mediationCase"] == case


# --- authentication, revocation, policy changes ---------------------------------------------


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({}, "connection_init"),
        ({"authorization": "Basic abc"}, "Bearer"),
        ({"authorization": "Bearer not-a-token"}, "unknown or has been revoked"),
    ],
)
async def test_a_bad_or_missing_token_is_refused_with_a_reason(demo, app, payload, reason):
    async with live_socket(app) as socket:
        await socket.ws.send_json({"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
    assert closed.value.code == 4403
    assert reason in (closed.value.reason or "")


async def test_subscribing_before_connection_init_is_refused(demo, app):
    async with live_socket(app) as socket:
        await socket.subscribe(FIELDS["concernChanged"])
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive()
    assert closed.value.code == 4401


async def test_queries_and_mutations_go_over_http(demo, app):
    async with connect(app, demo.tokens["secretary_zhang"]) as socket:
        await socket.subscribe("{ concerns(first: 1) { nodes { id } } }")
        message = await socket.receive()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_concern_named_by_id_must_be_readable(demo, app):
    async with connect(app, demo.tokens["resident_wang"]) as socket:
        await socket.subscribe(
            "subscription($i: ID) { concernChanged(id: $i) { action } }", {"i": demo.id("concerns", "road")}
        )
        message = await socket.receive()
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_revoked_token_closes_the_connection(mutable_demo, app, monkeypatch):
    monkeypatch.setattr(app_live.TokenWatch, "interval", 0.05)
    demo = mutable_demo
    token = await identity.issue_token(demo.world.people["resident_wang"].id, "live")
    async with connect(app, token) as socket:
        await socket.subscribe(FIELDS["concernChanged"])
        await wait_for_subscriptions(app.state.bus, 1)
        assert await identity.revoke_token(token)
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive(wait=30)
    assert closed.value.code == 4403
    assert "revoked" in closed.value.reason
    await bus_empty(app.state.bus)


async def test_a_policy_change_applies_to_open_subscriptions(mutable_demo, app, tmp_path):
    """Decided per event with the policy in force: swap in a policy without the resident's
    concern read rule and the same open subscription stops receiving."""
    demo = mutable_demo
    store = app.state.policy_store
    original = store.current
    escalate = 'mutation($i: ID!) { escalateConcern(input: {concernId: $i, note: "上报"}) { __typename } }'
    wall = {"i": demo.id("concerns", "wall")}
    async with connect(app, demo.tokens["resident_wang"]) as socket:
        await socket.subscribe(FIELDS["concernChanged"])
        await wait_for_subscriptions(app.state.bus, 1)
        async with demo.client("grid_worker_chen") as client:
            body = await gql(client, escalate, wall)  # grid -> community
        assert body["data"]["escalateConcern"]["__typename"] == "Concern", body
        await app.state.bus.settled()
        assert len(await socket.drain()) == 1
        store.current = without_resident_concern_reads(tmp_path)
        try:
            async with demo.client("secretary_zhang") as client:
                body = await gql(client, escalate, wall)  # community -> street
            assert body["data"]["escalateConcern"]["__typename"] == "Concern", body
            await app.state.bus.settled()
            assert await socket.drain() == []
        finally:
            store.current = original
    await bus_empty(app.state.bus)


def without_resident_concern_reads(directory: Path) -> Authorizer:
    (directory / "model.conf").write_text((POLICY_DIR / "model.conf").read_text())
    lines = (POLICY_DIR / "policy.csv").read_text().splitlines()
    kept = [line for line in lines if line.replace(" ", "") != "p,resident,Concern,read,own"]
    assert len(kept) == len(lines) - 1
    (directory / "policy.csv").write_text("\n".join(kept) + "\n")
    return build_checked(directory)


# --- concerns turning overdue ----------------------------------------------------------------


async def test_concerns_turning_overdue_reach_those_who_act_at_that_level(mutable_demo, app):
    demo = mutable_demo
    bus = app.state.bus
    road = await Concern.get(id=demo.id("concerns", "road"))
    wall = await Concern.get(id=demo.id("concerns", "wall"))
    now = datetime.now(UTC)
    for concern in (road, wall):
        concern.due_at = now - timedelta(seconds=1)
        await concern.save(update_fields=["due_at"])
    query = f"subscription {{ concernOverdue {{ action concern {{ {CONCERN} }} }} }}"
    async with (
        connect(app, demo.tokens["secretary_zhang"]) as secretary,
        connect(app, demo.tokens["resident_wang"]) as resident,
        connect(app, demo.tokens["street_official_gao"]) as gao,
    ):
        for socket in (secretary, resident, gao):
            await socket.subscribe(query)
        await wait_for_subscriptions(bus, 3)
        assert await app_live.announce_overdue(bus, now - timedelta(minutes=1), now) == 2
        await bus.settled()
        mine = [m["payload"]["data"]["concernOverdue"] for m in await secretary.drain()]
        theirs = [m["payload"]["data"]["concernOverdue"] for m in await gao.drain()]
        assert [p["concern"]["id"] for p in mine] == [str(wall.id)]
        assert [p["concern"]["id"] for p in theirs] == [str(road.id)]
        assert mine[0]["action"] == "overdue"
        assert await resident.drain() == []  # the resident reads it, but does not act on it
    await bus_empty(bus)


async def test_a_refused_step_publishes_nothing(mutable_demo, app):
    demo = mutable_demo
    async with connect(app, demo.tokens["admin"]) as socket:
        await socket.subscribe(FIELDS["concernChanged"])
        await wait_for_subscriptions(app.state.bus, 1)
        async with demo.client("grid_worker_chen") as client:
            body = await gql(
                client,
                'mutation($i: ID!) { escalateConcern(input: {concernId: $i, note: "x"}) { __typename } }',
                {"i": demo.id("concerns", "drain")},
            )  # resolved: cannot escalate
        assert body["data"]["escalateConcern"]["__typename"] == "InvalidTransition"
        await app.state.bus.settled()
        assert await socket.drain() == []
    await bus_empty(app.state.bus)


async def test_open_subscriptions_are_counted(demo, app):
    before, gauge = open_subscriptions(), metrics.SUBSCRIPTIONS_OPEN._value.get()
    async with connect(app, demo.tokens["secretary_zhang"]) as socket:
        await socket.subscribe(FIELDS["meetingChanged"])
        await wait_for_subscriptions(app.state.bus, 1)
        assert open_subscriptions() == before + 1
        assert metrics.SUBSCRIPTIONS_OPEN._value.get() == gauge + 1  # bandeng_subscriptions_open
    await bus_empty(app.state.bus)
    assert open_subscriptions() == before
    assert metrics.SUBSCRIPTIONS_OPEN._value.get() == gauge


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_over_http_is_refused_with_a_reason(demo, method):
    query = "subscription { concernChanged { action } }"
    async with demo.client("resident_wang") as client:
        if method == "GET":
            response = await client.get("/graphql", params={"query": query})
        else:
            response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert "websocket" in error["message"]
