"""The site -> region bridge over a link that is cut and restored: two Mosquitto processes
on loopback, the region's consumer ends with every event exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from controller.site.bridge import bridge_section
from controller.site.broker import Broker, User
from controller.site.collector import Collector
from controller.site.mqtt import BrokerAddress
from controller.site.siteconf import BridgeSettings
from controller.site.store import SiteStore, read_deliveries
from tests.site.helpers import SITE, Publisher, site_users, wait_until
from tests.site.lanes import store_ids
from tests.site.proxy import CuttableProxy

pytestmark = pytest.mark.hil

BEFORE, DURING = 50, 300


def _event(eid: int) -> dict[str, object]:
    return {
        "journal": "feedfeedfeedfeed",
        "id": eid,
        "kind": "command_rejected",
        "time": "2026-01-01T00:00:00.000+00:00",
        "at_ms": eid,
        "run": 1,
        "seq": eid,
        "body": {},
        "historical": False,
    }


def test_a_cut_bridge_loses_nothing_at_the_region(tmp_path: Path) -> None:
    """Events published while the bridge is cut reach the region once it is restored."""
    region = Broker(
        tmp_path / "region",
        [
            User("bridge-north", "pw-bridge-0123", "bridge", SITE),
            User("region-store", "pw-region-0123", "store", SITE),
        ],
    )
    region.start()
    proxy = CuttableProxy(region.port)
    settings = BridgeSettings(f"mqtt://127.0.0.1:{proxy.port}", "bridge-north", "pw-bridge-0123")
    site = Broker(tmp_path / "site", site_users(), extra_config=bridge_section(SITE, settings))
    store = SiteStore(tmp_path / "region.sqlite")
    collector = Collector(
        store,
        BrokerAddress(region.host, region.port),
        site=SITE,
        username="region-store",
        password="pw-region-0123",
        client_id="region-store",
    )
    try:
        site.start()
        collector.start()
        wait_until(collector.connected.is_set, 10, "the region store connected")
        with Publisher(site, "lane1", "pw-lane1-0123") as lane:
            topic = f"lanectl/{SITE}/lane1/event"
            for eid in range(1, BEFORE + 1):
                assert lane.publish(topic, _event(eid))[0]
            wait_until(lambda: len(store_ids(store.path, "lane1")) == BEFORE, 20, "bridged")
            proxy.cut()
            for eid in range(BEFORE + 1, BEFORE + DURING + 1):
                assert lane.publish(topic, _event(eid))[0]
            time.sleep(2.0)
            # The cut is real: nothing published since has reached the region.
            assert len(store_ids(store.path, "lane1")) == BEFORE
            proxy.restore()
            t0 = time.monotonic()
            want = list(range(1, BEFORE + DURING + 1))
            wait_until(lambda: store_ids(store.path, "lane1") == want, 60, "the region caught up")
            drain_s = time.monotonic() - t0
        d = read_deliveries(store.path)[f"{SITE}/lane1"]
        assert d["stored"] == BEFORE + DURING
        print(
            "\nbridge cut:",
            json.dumps(
                {
                    "published": BEFORE + DURING,
                    "region_stored": d["stored"],
                    "region_received": d["received"],
                    "duplicates": d["duplicates"],
                    "drain_s_after_restore": round(drain_s, 2),
                }
            ),
        )
    finally:
        collector.stop()
        store.close()
        site.stop()
        proxy.close()
        region.stop()
