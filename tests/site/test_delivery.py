"""Store and forward, end to end: two simulated lanes, a broker stopped for 30 s, a lane
killed with SIGKILL mid-run, and the site store holding every journaled event once."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.journal import verify
from controller.site.collector import Collector
from controller.site.mqtt import BrokerAddress
from controller.site.store import SiteStore, read_deliveries
from tests.hil.harness import Proc, stop_proc
from tests.site.helpers import SITE, start_site_broker, wait_until
from tests.site.lanes import (  # noqa: F401 (lane_procs_fixture is a fixture)
    EventPump,
    SimLane,
    journal_ids,
    lane_procs_fixture,
    start_sim_lane,
    store_ids,
    store_rows,
)

pytestmark = [pytest.mark.hil, pytest.mark.slow]

OUTAGE_S = float(os.environ.get("LANECTL_MQTT_OUTAGE_S", "30"))


def _scrape(api_url: str) -> str:
    with urllib.request.urlopen(f"{api_url}/metrics", timeout=5.0) as resp:
        return str(resp.read().decode("utf-8"))


def metric(api_url: str, name: str) -> float:
    """One sample of the lane's /metrics, parsed with prometheus_client's parser."""
    for family in text_string_to_metric_families(_scrape(api_url)):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


def _kill_and_restart(lane: SimLane, procs: list[Proc], tag: str) -> int:
    """SIGKILL the lane's controller, start it again on its journal; returns events journaled."""
    assert lane.run is not None
    lane.run.popen.kill()
    lane.run.popen.wait(10)
    journaled = len(journal_ids(lane.journal))
    lane.api_url = ""
    lane.start_controller(tag)
    assert lane.run is not None
    procs.append(lane.run)
    return journaled


def _in_store(store: Path, lane: SimLane, upto: int) -> bool:
    want = set(journal_ids(lane.journal)[:upto])
    return want <= set(store_ids(store, lane.name))


def test_every_journaled_event_reaches_the_site_store_once(
    tmp_path: Path, lane_procs: list[Proc]
) -> None:
    """Broker down OUTAGE_S s, lane2 killed -9 during it and after: store == journal, once."""
    broker = start_site_broker(tmp_path)
    store = SiteStore(tmp_path / "site.sqlite")
    collector = Collector(
        store,
        BrokerAddress(broker.host, broker.port),
        site=SITE,
        username="store",
        password="pw-store-0123",
    )
    collector.start()
    lanes = [
        start_sim_lane(tmp_path, name, broker, lane_procs, seed=i + 1)
        for i, name in enumerate(("lane1", "lane2"))
    ]
    figures: dict[str, object] = {}
    try:
        for lane in lanes:
            lane.start_controller("a")
            assert lane.run is not None
            lane_procs.append(lane.run)
        with EventPump(lanes) as pump:
            wait_until(
                lambda: all(len(store_ids(store.path, ln.name)) >= 20 for ln in lanes),
                60,
                "events of both lanes in the store",
            )
            # The broker goes away; the lanes go on journaling.
            broker.stop()
            t_down = time.monotonic()
            before = {ln.name: len(journal_ids(ln.journal)) for ln in lanes}
            # lane2 is killed -9 in the middle of the outage and started again.
            time.sleep(OUTAGE_S / 3)
            _kill_and_restart(lanes[1], lane_procs, "b")
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_down)))
            after = {ln.name: len(journal_ids(ln.journal)) for ln in lanes}
            backlog = metric(lanes[0].api_url, "lanectl_mqtt_backlog_events")
            assert metric(lanes[0].api_url, "lanectl_mqtt_connected") == 0.0
            assert backlog >= after["lane1"] - before["lane1"] > 0, (backlog, before, after)
            broker.start()
            t_back = time.monotonic()
            drained: dict[str, float] = {}

            def caught_up() -> bool:
                for ln in lanes:
                    if ln.name not in drained and _in_store(store.path, ln, after[ln.name]):
                        drained[ln.name] = round(time.monotonic() - t_back, 2)
                return len(drained) == len(lanes)

            wait_until(caught_up, 60, "the outage's events in the store")
            wait_until(
                lambda: "lanectl_mqtt_last_drain_seconds" in _scrape(lanes[0].api_url), 30, "drain"
            )
            reported_drain = metric(lanes[0].api_url, "lanectl_mqtt_last_drain_seconds")
            assert 0 < reported_drain <= drained["lane1"] + 1.0
            # With the broker back, lane2 is killed -9 again mid-stream.
            time.sleep(2.0)
            killed_at = _kill_and_restart(lanes[1], lane_procs, "c")
            time.sleep(8)
        for ln in lanes:
            assert ln.run is not None
            assert stop_proc(ln.run) == 0
        for ln in lanes:
            wait_until(
                lambda ln=ln: journal_ids(ln.journal) == store_ids(store.path, ln.name),
                30,
                f"{ln.name}: every journaled event in the store",
            )
        deliveries = read_deliveries(store.path)
        for ln in lanes:
            ids = journal_ids(ln.journal)
            stored = store_rows(store.path, ln.name)
            assert [r["id"] for r in stored] == ids
            assert len({r["journal"] for r in stored}) == 1
            assert verify(ln.journal).ok
            d = deliveries[f"{SITE}/{ln.name}"]
            assert d["stored"] == len(ids)
            assert d["received"] == d["stored"] + d["duplicates"]
            # What was journaled while the broker was down arrived marked historical.
            outage = set(ids[before[ln.name] : after[ln.name]])
            assert outage <= {r["id"] for r in stored if r["historical"]}
            figures[ln.name] = {
                "journaled": len(ids),
                "stored": len(stored),
                "received": d["received"],
                "duplicates_absorbed": d["duplicates"],
                "historical": sum(1 for r in stored if r["historical"]),
                "journaled_during_outage": after[ln.name] - before[ln.name],
                "drain_s_after_broker_back": drained[ln.name],
            }
        figures["lane2_journal_at_kill"] = killed_at
        figures["lane1_metrics_last_drain_s"] = reported_drain
        figures["outage_s"] = OUTAGE_S
        figures["api_commands_sent"] = pump.sent
        print("\nmqtt delivery:", json.dumps(figures))
    finally:
        collector.stop()
        store.close()
        broker.stop()
