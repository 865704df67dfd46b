"""The event hub: bounded fan-out that never blocks the scan, and journal ids on events."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from controller.events import Hub
from controller.journal import Journal, read_events, read_events_after


def test_subscriber_gets_last_state_first_then_messages_in_order() -> None:
    async def go() -> None:
        hub = Hub(queue_size=8)
        hub.publish_state({"phase": "IDLE"})
        with hub.subscribe("a") as sub:
            hub.publish_event(7, {"kind": "vehicle_passed"})
            hub.publish_state({"phase": "ENTERING"})
            got = [await sub.get() for _ in range(3)]
        assert [(m.kind, m.id) for m in got] == [("state", None), ("event", 7), ("state", None)]
        assert got[0].data == {"phase": "IDLE"}
        assert got[2].data == {"phase": "ENTERING"}
        assert hub.subscribers == []
        assert hub.last_event_id == 7

    asyncio.run(go())


def test_slow_subscriber_drops_oldest_and_is_marked_lagged() -> None:
    async def go() -> None:
        hub = Hub(queue_size=4)
        with hub.subscribe("slow") as slow, hub.subscribe("fast") as fast:
            for i in range(1, 11):
                hub.publish_event(i, {"n": i})
                assert fast.get_nowait() is not None
            ids = []
            while (m := slow.get_nowait()) is not None:
                ids.append(m.id)
        assert ids == [7, 8, 9, 10]
        assert slow.dropped == 6 and slow.lagged
        assert fast.dropped == 0 and not fast.lagged

    asyncio.run(go())


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        Hub(queue_size=0)


def test_record_event_returns_the_journal_id_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, lane="L1", config_json="{}")
    ids = [j.record_event(i, i * 10, "vehicle_passed", json.dumps({"n": i})) for i in range(5)]
    j.close()
    assert ids == [1, 2, 3, 4, 5]
    j = Journal(path, lane="L1", config_json="{}")
    more = [j.record_event(10 + i, i, "fault_latched", "{}") for i in range(3)]
    j.close()
    assert more == [6, 7, 8]
    rows = read_events(path)
    assert [r["id"] for r in rows] == [*ids, *more]
    assert [r["id"] for r in read_events_after(path, 5)] == [6, 7, 8]
    assert [r["id"] for r in read_events_after(path, 2, limit=2)] == [3, 4]
