"""One simulated lane on the site broker: retained state and availability, the last will
on kill -9, supervisor commands through the core's interlocks, and /metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.journal import read_events, replay, verify
from controller.site.broker import Broker
from controller.site.collector import Collector
from controller.site.mqtt import BrokerAddress
from controller.site.store import SiteStore
from tests.hil.harness import Proc, stop_proc
from tests.site.helpers import SITE, Listener, Publisher, start_site_broker, wait_until
from tests.site.lanes import (  # noqa: F401 (lane_procs_fixture is a fixture)
    journal_ids,
    lane_procs_fixture,
    start_sim_lane,
    store_ids,
)

pytestmark = pytest.mark.hil


def _last_json(listener: Listener, topic: str) -> dict[str, object]:
    """The last message on ``topic`` ({} before the first)."""
    payloads = listener.payloads(topic)
    data: dict[str, object] = json.loads(payloads[-1]) if payloads else {}
    return data


def _events(journal: Path, kind: str) -> list[dict[str, object]]:
    out = []
    for ev in read_events(journal, kinds=[kind]):
        out.append(json.loads(str(ev["body"]))["data"])
    return out


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = start_site_broker(tmp_path)
    yield b
    b.stop()


def test_lane_state_commands_and_last_will(
    tmp_path: Path, broker: Broker, lane_procs: list[Proc]
) -> None:
    """The supervisor's commands pass the core's interlocks and are journaled with the user."""
    base = f"lanectl/{SITE}/lane1"
    lane = start_sim_lane(tmp_path, "lane1", broker, lane_procs, scenario="checkpoint")
    with Listener(broker, "store", "pw-store-0123", f"{base}/#") as seen:
        lane.start_controller("a")
        assert lane.run is not None
        lane_procs.append(lane.run)
        wait_until(lambda: bool(seen.payloads(f"{base}/availability")), 20, "availability")
        born = _last_json(seen, f"{base}/availability")
        assert born["status"] == "online" and len(str(born["boot"])) == 32
        wait_until(lambda: _last_json(seen, f"{base}/state").get("mode") == "OPEN", 20, "OPEN")
        state = _last_json(seen, f"{base}/state")
        assert state["lane"] == "lane1" and state["site"] == SITE
        assert state["signals"]["lane_use"] == "open"  # type: ignore[index]
        assert {"waiting_min", "in_bay", "approach"} <= set(state["queue"])  # type: ignore[arg-type]
        with Publisher(broker, "alice", "pw-alice-0123") as alice:
            assert alice.publish(f"{base}/cmd/close", {"user": "alice", "id": "c-1"})[0]
            wait_until(
                lambda: _last_json(seen, f"{base}/state").get("mode") == "CLOSED", 20, "CLOSED"
            )
            # The same command id again (a QoS 1 redelivery) and a retained command are refused.
            assert alice.publish(f"{base}/cmd/open", {"user": "alice", "id": "c-1"})[0]
            mid = alice.link.publish(f"{base}/cmd/open", b'{"user":"alice"}', qos=1, retain=True)
            wait_until(lambda: mid in alice.acks, 10, "retained command PUBACK")
            # A command the core refuses (nothing to release in a closed, empty lane) is
            # refused before it is queued, with the reason the core itself gives.
            assert alice.publish(f"{base}/cmd/release", {"user": "bob", "id": "c-2"})[0]
            wait_until(
                lambda: len(_events(lane.journal, "remote_command")) == 4, 20, "4 remote commands"
            )
        time.sleep(1.0)
        assert _last_json(seen, f"{base}/state").get("mode") == "CLOSED"
        remote = _events(lane.journal, "remote_command")
        assert [(r["command"], r["source"], r["queued"]) for r in remote] == [
            ("close_lane", "mqtt:alice", True),
            ("open_lane", "mqtt:alice", False),
            ("open_lane", "mqtt:alice", False),
            ("release", "mqtt:bob", False),
        ]
        assert "repeat" in str(remote[1]["error"]) and "retained" in str(remote[2]["error"])
        assert remote[3]["refused"] is True and "refused" not in remote[0]
        # The API refuses it too, before it is queued: the same words, and no
        # command_rejected from the core.
        req = urllib.request.Request(
            f"{lane.api_url}/commands/release", method="POST", data=b'{"source": "carol"}'
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5.0)
        assert refused.value.code == 409
        api_reason = json.loads(refused.value.read())["detail"]
        assert remote[3]["error"] == api_reason and str(api_reason).startswith("not valid in phase")
        wait_until(
            lambda: any(r["source"] == "api:carol" for r in _events(lane.journal, "api_command")),
            20,
            "the API's refusal journaled",
        )
        (api,) = [r for r in _events(lane.journal, "api_command") if r["source"] == "api:carol"]
        assert api["queued"] is False and api["reason"] == api_reason
        assert not _events(lane.journal, "command_rejected")
        # The events of those commands went out on the event topic, ids in journal order.
        wait_until(
            lambda: any(
                json.loads(p)["kind"] == "api_command" for p in seen.payloads(f"{base}/event")
            ),
            20,
            "api_command on the event topic",
        )
        ids = [json.loads(p)["id"] for p in seen.payloads(f"{base}/event")]
        assert ids == sorted(set(ids)) and ids[0] == 1
        _check_metrics(lane.api_url)
        # kill -9: the broker publishes the last will.
        lane.run.popen.kill()
        lane.run.popen.wait(10)
        wait_until(
            lambda: _last_json(seen, f"{base}/availability").get("status") == "offline",
            20,
            "the last will",
        )
        assert _last_json(seen, f"{base}/availability")["boot"] == born["boot"]
    assert verify(lane.journal).ok
    assert replay(lane.journal).identical, replay(lane.journal).divergence
    stop_proc(lane.sim)


def _check_metrics(api_url: str) -> None:
    with urllib.request.urlopen(f"{api_url}/metrics", timeout=5.0) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    scan = families["lanectl_scan_duration_seconds"]
    assert scan.type == "histogram"
    buckets = [s for s in scan.samples if s.name.endswith("_bucket")]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
    count = next(s.value for s in scan.samples if s.name.endswith("_count"))
    total = next(s.value for s in scan.samples if s.name.endswith("_sum"))
    assert count == counts[-1] > 10
    assert 0 < total / count < 0.2
    scans = next(s.value for s in families["lanectl_scans"].samples)
    assert abs(scans - count) <= 5
    edge = families["lanectl_edge_to_coil_seconds"]
    assert next(s.value for s in edge.samples if s.name.endswith("_count")) >= 1
    assert next(s.value for s in families["lanectl_mqtt_connected"].samples) == 1.0
    assert next(s.value for s in families["lanectl_mqtt_backlog_events"].samples) >= 0
    outcomes = {s.labels["outcome"] for s in families["lanectl_vehicles"].samples}
    assert {"passed", "sent_aside", "tailgate", "run_through"} <= outcomes


def _scrape(api_url: str) -> str:
    with urllib.request.urlopen(f"{api_url}/metrics", timeout=5.0) as resp:
        return str(resp.read().decode("utf-8"))


def test_lane_started_before_its_broker_runs_and_catches_up(
    tmp_path: Path, broker: Broker, lane_procs: list[Proc]
) -> None:
    """A lane whose broker is down at its start scans and journals; once up, all is sent."""
    store = SiteStore(tmp_path / "site.sqlite")
    collector = Collector(
        store,
        BrokerAddress(broker.host, broker.port),
        site=SITE,
        username="store",
        password="pw-store-0123",
    )
    collector.start()
    try:
        wait_until(collector.connected.is_set, 10, "the store's session exists")
        broker.stop()
        lane = start_sim_lane(tmp_path, "lane1", broker, lane_procs, scenario="checkpoint")
        lane.start_controller("a")
        assert lane.run is not None
        lane_procs.append(lane.run)
        wait_until(lambda: len(journal_ids(lane.journal)) >= 1, 30, "a journaled event")
        time.sleep(1.0)
        assert "lanectl_mqtt_connected 0.0" in _scrape(lane.api_url)
        broker.start()
        wait_until(
            lambda: "lanectl_mqtt_backlog_events 0.0" in _scrape(lane.api_url), 30, "drained"
        )
        assert "lanectl_mqtt_connected 1.0" in _scrape(lane.api_url)
        assert stop_proc(lane.run) == 0
        wait_until(
            lambda: store_ids(store.path, "lane1") == journal_ids(lane.journal),
            30,
            "every journaled event in the store",
        )
    finally:
        collector.stop()
        store.close()
