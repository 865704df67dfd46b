"""The site store keeps each event once, whatever the repeats, and refuses what it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.site.store import SiteStore, StoreError, read_deliveries, read_store_events


def _event(eid: int, journal: str = "a" * 16, **extra: object) -> bytes:
    ev: dict[str, object] = {
        "journal": journal,
        "id": eid,
        "kind": "vehicle_passed",
        "time": "2026-01-01T00:00:00.000+00:00",
        "at_ms": 10 * eid,
        "run": 1,
        "seq": eid,
        "body": {"kind": "vehicle_passed", "data": {"count": eid}},
        "historical": False,
        "boot": "b",
    }
    ev.update(extra)
    return json.dumps(ev).encode()


def test_repeats_are_stored_once_and_counted(tmp_path: Path) -> None:
    """QoS 1 repeats and a lane's resends (marked historical) leave one row per id."""
    store = SiteStore(tmp_path / "s.sqlite")
    try:
        news = [store.add_event("north", "lane1", _event(i)) for i in (1, 2, 3)]
        repeats = [store.add_event("north", "lane1", _event(i, historical=True)) for i in (2, 3)]
        other_lane = store.add_event("north", "lane2", _event(1))
        new_journal = store.add_event("north", "lane1", _event(1, journal="b" * 16))
    finally:
        store.close()
    assert news == [True, True, True] and repeats == [False, False]
    assert other_lane and new_journal
    rows = read_store_events(tmp_path / "s.sqlite", lane="lane1")
    assert [(r["journal"][0], r["id"], r["historical"]) for r in rows] == [
        ("a", 1, 0),
        ("a", 2, 0),
        ("a", 3, 0),
        ("b", 1, 0),
    ]
    assert read_deliveries(tmp_path / "s.sqlite") == {
        "north/lane1": {"received": 6, "stored": 4, "duplicates": 2},
        "north/lane2": {"received": 1, "stored": 1, "duplicates": 0},
    }


def test_a_malformed_event_is_refused_by_name(tmp_path: Path) -> None:
    """A message without an id or that is not JSON is a StoreError naming the lane."""
    store = SiteStore(tmp_path / "s.sqlite")
    try:
        bad = json.loads(_event(1))
        del bad["id"]
        with pytest.raises(StoreError, match=r"north/lane1 event: KeyError\('id'\)"):
            store.add_event("north", "lane1", json.dumps(bad).encode())
        with pytest.raises(StoreError, match="north/lane1 event"):
            store.add_event("north", "lane1", b"not json")
        with pytest.raises(StoreError, match="state: must be a JSON object"):
            store.set_lane("north", "lane1", "state", b"[1]")
    finally:
        store.close()
    assert read_store_events(tmp_path / "s.sqlite") == []
