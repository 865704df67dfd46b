"""The site store's collector through a real broker: a persistent session that gets what was
published while it was away, and repeats stored once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from controller.site.collector import Collector
from controller.site.mqtt import BrokerAddress
from controller.site.store import SiteStore, read_deliveries
from tests.site.helpers import SITE, Publisher, start_site_broker, wait_until
from tests.site.lanes import store_ids

pytestmark = pytest.mark.hil


def _event(eid: int) -> bytes:
    return json.dumps(
        {
            "journal": "c" * 16,
            "id": eid,
            "kind": "k",
            "time": "t",
            "at_ms": eid,
            "run": 1,
            "seq": eid,
            "body": {},
            "historical": eid > 10,
        }
    ).encode()


def test_collector_away_then_back_stores_every_event_once(tmp_path: Path) -> None:
    """Events published while the collector is stopped (and resent ones) end up once each."""
    broker = start_site_broker(tmp_path)
    path = tmp_path / "site.sqlite"

    def collector() -> tuple[Collector, SiteStore]:
        store = SiteStore(path)
        c = Collector(
            store,
            BrokerAddress(broker.host, broker.port),
            site=SITE,
            username="store",
            password="pw-store-0123",
            client_id="store-under-test",
        )
        c.start()
        wait_until(c.connected.is_set, 10, "the collector connected")
        return c, store

    topic = f"lanectl/{SITE}/lane1/event"
    try:
        first, store = collector()
        with Publisher(broker, "lane1", "pw-lane1-0123") as lane:
            for eid in range(1, 11):
                assert lane.publish(topic, _event(eid))[0]
            wait_until(lambda: store_ids(path, "lane1") == list(range(1, 11)), 15, "1..10")
            first.stop()
            store.close()
            for eid in [*range(11, 31), *range(5, 16)]:
                assert lane.publish(topic, _event(eid))[0]
        second, store = collector()
        try:
            wait_until(lambda: store_ids(path, "lane1") == list(range(1, 31)), 15, "1..30")
            wait_until(
                lambda: read_deliveries(path)[f"{SITE}/lane1"]["received"] == 41, 15, "41 in"
            )
        finally:
            second.stop()
            store.close()
    finally:
        broker.stop()
    assert read_deliveries(path)[f"{SITE}/lane1"] == {
        "received": 41,
        "stored": 30,
        "duplicates": 11,
    }


def test_a_locked_store_holds_messages_until_it_can_write(tmp_path: Path) -> None:
    """While another writer locks the store, messages wait unacknowledged; then all land."""
    broker = start_site_broker(tmp_path)
    path = tmp_path / "site.sqlite"
    store = SiteStore(path, busy_timeout_s=0.1)
    c = Collector(
        store,
        BrokerAddress(broker.host, broker.port),
        site=SITE,
        username="store",
        password="pw-store-0123",
    )
    blocker = sqlite3.connect(str(path), timeout=0.1, isolation_level=None)
    try:
        c.start()
        wait_until(c.connected.is_set, 10, "the collector connected")
        blocker.execute("BEGIN IMMEDIATE")
        with Publisher(broker, "lane1", "pw-lane1-0123") as lane:
            for eid in range(1, 6):
                assert lane.publish(f"lanectl/{SITE}/lane1/event", _event(eid))[0]
            time.sleep(1.5)
            assert store_ids(path, "lane1") == []
            blocker.execute("ROLLBACK")
            wait_until(lambda: store_ids(path, "lane1") == [1, 2, 3, 4, 5], 20, "1..5 stored")
    finally:
        blocker.close()
        c.stop()
        store.close()
        broker.stop()
    assert read_deliveries(path)[f"{SITE}/lane1"] == {"received": 5, "stored": 5, "duplicates": 0}
