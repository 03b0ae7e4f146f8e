"""The event bus on its own (services/bus.py): publish after commit only, bounded queues,
bounded fan-out slots, the notice's wire form."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from services import bus


def notice(number: int = 1) -> bus.Notice:
    return bus.Notice(
        "Concern", number, "accept", "submitted", "accepted", "/s/1/c/2/g/3", "2026-12-01T00:00:00+00:00"
    )


def test_a_notice_travels_as_json_and_back():
    sent = notice()
    assert bus.Notice.decode(sent.encode()) == sent
    assert len(sent.encode()) < 400


async def test_notices_are_published_after_the_commit_and_never_after_a_rollback(empty_database):
    local = bus.Bus()
    subscription = local.subscribe({"Concern"})
    try:
        with pytest.raises(RuntimeError):
            async with bus.collecting(), in_transaction():
                bus.pending(notice(1))
                raise RuntimeError("rolled back")
        assert subscription.queue.empty()
        async with bus.collecting(), in_transaction():
            bus.pending(notice(2))
            assert subscription.queue.empty()  # not before the commit
        assert subscription.queue.get_nowait() == notice(2)
        # inside a transaction opened by someone else: its commit cannot be seen, nothing
        async with in_transaction():
            async with bus.collecting(), in_transaction():
                bus.pending(notice(3))
        assert subscription.queue.empty()
    finally:
        subscription.close()


async def test_a_slow_subscriber_loses_the_oldest_notices():
    local = bus.Bus(queue_size=2)
    subscription = local.subscribe({"Concern"})
    for number in range(5):
        local.deliver(notice(number))
    local.deliver(
        bus.Notice("Meeting", 9, "schedule", None, "scheduled", "/s/1/c/2", "2026-12-01T00:00:00+00:00")
    )
    assert [subscription.queue.get_nowait().id for _ in range(2)] == [3, 4]
    assert subscription.dropped == 3
    subscription.close()
    assert len(local) == 0


async def test_fan_out_slots_are_bounded_and_given_back_after_a_while(monkeypatch):
    monkeypatch.setattr(bus, "SLOT_SECONDS", 0.05)
    local = bus.Bus(concurrency=1)
    async with local.slot():
        waiting = asyncio.ensure_future(_take(local))
        await asyncio.sleep(0)
        assert not waiting.done()  # the one slot is held ...
        await asyncio.wait_for(waiting, 5)  # ... and given back after SLOT_SECONDS


async def _take(local: bus.Bus) -> None:
    async with local.slot():
        pass
