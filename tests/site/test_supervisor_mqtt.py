"""The supervisor on a loopback site: Mosquitto, two simulated lanes, ``lanectl site run``."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.journal import read_events
from controller.site.broker import Broker
from controller.site.decisionlog import DecisionLog
from tests.hil.harness import Proc, start_proc, stop_proc
from tests.site.helpers import SITE, Listener, start_site_broker, wait_until
from tests.site.lanes import (  # noqa: F401 (lane_procs_fixture is a fixture)
    SimLane,
    lane_procs_fixture,
    start_sim_lane,
)

pytestmark = pytest.mark.hil


def _mode(seen: Listener, lane: str) -> str:
    payloads = seen.payloads(f"lanectl/{SITE}/{lane}/state")
    return str(json.loads(payloads[-1]).get("mode")) if payloads else ""


def _lane(
    tmp_path: Path,
    name: str,
    broker: Broker,
    procs: list[Proc],
    *,
    scenario: str = "checkpoint",
    open_on_start: bool = False,
) -> SimLane:
    lane = start_sim_lane(tmp_path, name, broker, procs, scenario=scenario)
    text = lane.config.read_text(encoding="utf-8")
    flag = "true" if open_on_start else "false"
    lane.config.write_text(
        text.replace("[lane]\n", f"[lane]\nopen_on_start = {flag}\n", 1), encoding="utf-8"
    )
    lane.start_controller("a")
    assert lane.run is not None
    procs.append(lane.run)
    return lane


PIN_LANE2 = """
[supervisor.policy]
min_lanes = 2
[supervisor.pins]
lane2 = "closed"
"""


def _site_toml(tmp_path: Path, broker: Broker, policy: str) -> Path:
    (tmp_path / "alice.pass").write_text("pw-alice-0123\n", encoding="utf-8")
    (tmp_path / "store.pass").write_text("pw-store-0123\n", encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text(
        f"""[site]
name = "{SITE}"
[broker]
host = "{broker.host}"
port = {broker.port}
[[users]]
name = "alice"
role = "supervisor"
password_file = "alice.pass"
[[users]]
name = "store"
role = "store"
password_file = "store.pass"
[supervisor]
staff = 2
tick_s = 0.3
command_timeout_s = 5
http_port = 0
{policy}""",
        encoding="utf-8",
    )
    return path


def _metrics(url: str) -> dict[tuple[str, tuple[str, ...]], float]:
    """Every sample of the supervisor's /metrics by (name, label values)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5.0) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode("utf-8")
    return {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "x"}
    )
    with urllib.request.urlopen(req, timeout=5.0) as resp:
        data: dict[str, object] = json.loads(resp.read())
    return data


def test_supervisor_opens_a_closed_lane_and_keeps_a_pinned_one_closed(
    tmp_path: Path, lane_procs: list[Proc]
) -> None:
    broker = start_site_broker(tmp_path)
    try:
        with Listener(broker, "store", "pw-store-0123", f"lanectl/{SITE}/+/state") as seen:
            lane1 = _lane(tmp_path, "lane1", broker, lane_procs)
            lane2 = _lane(tmp_path, "lane2", broker, lane_procs)
            wait_until(
                lambda: _mode(seen, "lane1") == "CLOSED" and _mode(seen, "lane2") == "CLOSED",
                30,
                "both lanes closed",
            )
            config = _site_toml(tmp_path, broker, PIN_LANE2)
            sup, rest = start_proc(
                "supervisor",
                ["site", "run", "--config", str(config)],
                tmp_path,
                "supervisor listening on",
            )
            lane_procs.append(sup)
            url = rest.split()[0]
            # min_lanes = 2 asks for both; lane2 is pinned closed, so only lane1 opens.
            wait_until(lambda: _mode(seen, "lane1") == "OPEN", 20, "lane1 opened")
            for _ in range(10):  # ~10 ticks more: the pinned lane stays closed
                time.sleep(0.3)
                assert _mode(seen, "lane2") == "CLOSED"
            with urllib.request.urlopen(f"{url}/lanes", timeout=5.0) as resp:
                lanes = json.loads(resp.read())["lanes"]
            assert lanes["lane1"]["status"] == "open" and lanes["lane1"]["unavailable"] == ""
            assert lanes["lane2"] == {**lanes["lane2"], "status": "closed", "pin": "closed"}
            metrics = _metrics(url)
            assert metrics[("lanectl_supervisor_open_lanes", ())] == 1.0
            assert metrics[("lanectl_supervisor_lane_open", ("lane1",))] == 1.0
            assert metrics[("lanectl_supervisor_lane_open", ("lane2",))] == 0.0
            assert metrics[("lanectl_supervisor_lane_available", ("lane2",))] == 1.0
            assert metrics[("lanectl_supervisor_lane_queue_vehicles", ("lane1",))] >= 0.0
            assert metrics[("lanectl_supervisor_predicted_wait_seconds", ())] >= 0.0
            assert metrics[("lanectl_supervisor_decisions_total", ("open", "min_lanes"))] == 1.0
            # The operator lifts the pin: the same rule now opens lane2.
            assert _post(f"{url}/pins/lane2", {"pin": None, "user": "op"})["pin"] is None
            wait_until(lambda: _mode(seen, "lane2") == "OPEN", 20, "lane2 opened after unpin")
            wait_until(
                lambda: _metrics(url)[("lanectl_supervisor_open_lanes", ())] == 2.0,
                10,
                "two open lanes in /metrics",
            )
            assert _metrics(url)[("lanectl_supervisor_decisions_total", ("open", "min_lanes"))] == 2
            assert stop_proc(sup) == 0
        log = DecisionLog(tmp_path / "supervisor.sqlite")
        try:
            assert log.verify() == ""
            rows = log.rows()
        finally:
            log.close()
        decisions = [r for r in rows if r["kind"] == "decision"]
        assert [(r["lane"], r["body"]["action"], r["body"]["reason"]) for r in decisions] == [
            ("lane1", "open", "min_lanes"),
            ("lane2", "open", "min_lanes"),
        ]
        assert all(r["body"]["sent"] and r["body"]["command"] == "open_lane" for r in decisions)
        pins = [
            (r["lane"], r["body"]["pin"], r["body"]["user"]) for r in rows if r["kind"] == "pin"
        ]
        assert pins == [("lane2", None, "op")]
        # Each lane journaled the command with who sent it, under the id the supervisor gave.
        for lane, row in ((lane1, decisions[0]), (lane2, decisions[1])):
            remote = [
                json.loads(str(ev["body"]))["data"]
                for ev in read_events(lane.journal, kinds=["remote_command"])
            ]
            assert [(r["command"], r["source"], r.get("id")) for r in remote] == [
                ("open_lane", "mqtt:alice", row["body"]["command_id"])
            ]
    finally:
        for proc in reversed(lane_procs):
            stop_proc(proc)
        lane_procs.clear()
        broker.stop()


def test_supervisor_opens_a_lane_when_the_queue_at_the_other_grows(
    tmp_path: Path, lane_procs: list[Proc]
) -> None:
    """A saturated lane's published loops give a queue whose wait is over the bound; the
    decision carries the lane-hours budget of ``[supervisor.budget]``."""
    broker = start_site_broker(tmp_path)
    try:
        with Listener(broker, "store", "pw-store-0123", f"lanectl/{SITE}/+/state") as seen:
            _lane(tmp_path, "lane1", broker, lane_procs, scenario="rush", open_on_start=True)
            _lane(tmp_path, "lane2", broker, lane_procs)
            wait_until(
                lambda: _mode(seen, "lane1") == "OPEN" and _mode(seen, "lane2") == "CLOSED",
                30,
                "lane1 open, lane2 closed",
            )
            # A plan of both lanes all day, nothing kept in hand: the budget only grows
            # (one lane staffed of two), so the bounds stay put while it is counted.
            policy = (
                "[supervisor.policy]\nopen_wait_ms = 20000\nopen_dwell_ms = 1000\n"
                "close_wait_ms = 10000\nmin_open_ms = 600000\n"
                f"[supervisor.budget]\nlanes_by_hour = {[2] * 24}\nreserve_lane_hours = 0\n"
            )
            config = _site_toml(tmp_path, broker, policy)
            sup, _ = start_proc(
                "supervisor",
                ["site", "run", "--config", str(config)],
                tmp_path,
                "supervisor listening on",
            )
            lane_procs.append(sup)
            wait_until(lambda: _mode(seen, "lane2") == "OPEN", 40, "lane2 opened by the queue")
            assert stop_proc(sup) == 0
        log = DecisionLog(tmp_path / "supervisor.sqlite")
        try:
            decisions = log.rows("decision")
        finally:
            log.close()
        assert [(r["lane"], r["body"]["action"], r["body"]["reason"]) for r in decisions] == [
            ("lane2", "open", "wait_above_bound")
        ]
        body = decisions[0]["body"]
        # 80 vph: each vehicle waiting is 45 s, over the 20 s bound.
        assert body["queue"] >= 1 and body["predicted_wait_ms"] >= 45_000 * body["queue"]
        assert body["bound_ms"] == 20_000 and body["lanes"]["lane1"]["queue"] == body["queue"]
        # The running supervisor gave the policy its lane-hours budget.
        assert body["budget_ms"] >= 0 and body["bound_scale"] == 1.0
    finally:
        for proc in reversed(lane_procs):
            stop_proc(proc)
        lane_procs.clear()
        broker.stop()
