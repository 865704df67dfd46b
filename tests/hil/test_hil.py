"""Hardware in the loop: the controller process drives the simulated lane over real Modbus TCP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.commands.demo import build_report
from controller.journal import read_events, replay, verify
from tests.hil.harness import Lane, start_lane, wait_for

pytestmark = pytest.mark.hil

CYCLE_SCENARIO = """
[scenario]
name = "hil-cycle"
description = "Three compliant cars, short inspections."
[traffic]
schedule_s = [1, 2, 3]
kinds = { car = 1.0 }
behaviours = { compliant = 1.0 }
approach_speed_kmh = [40, 40]
bay_speed_kmh = [15, 15]
[operator]
dwell_s = [1, 2]
aside_share = 0.0
hold_ms = 300
"""


@pytest.fixture
def lanes(tmp_path: Path) -> Iterator[list[Lane]]:
    started: list[Lane] = []
    try:
        yield started
    finally:
        for lane in started:
            lane.stop()


def _kinds(lane: Lane) -> list[str]:
    return [e["kind"] for e in read_events(lane.journal)] if lane.journal.exists() else []


def test_cycle_zero_contacts_zero_lost_replay_identical(tmp_path: Path, lanes: list[Lane]) -> None:
    """Three cars over Modbus, the controller restarted after the first: no contact, none lost.

    The count survives the restart (persisted state) and both runs replay identically.
    """
    scenario = tmp_path / "cycle.toml"
    scenario.write_text(CYCLE_SCENARIO, encoding="utf-8")
    lane = start_lane(tmp_path, str(scenario))
    lanes.append(lane)
    t0 = time.monotonic()
    wait_for(lambda: "vehicle_passed" in _kinds(lane), 90.0, "the first vehicle to pass")
    lane.restart_controller()
    wait_for(lambda: lane.status()["core"]["count"] == 1, 20.0, "the count to survive restart")

    def all_out() -> bool:
        vehicles = lane.truth_data().get("vehicles", [])
        return len(vehicles) == 3 and all(v.get("cleared_ms") is not None for v in vehicles)

    wait_for(all_out, 150.0, "three vehicles to cross the barrier")
    time.sleep(3.0)
    duration = time.monotonic() - t0
    stop_wall_ms = time.time() * 1000.0 + 10_000  # every crossing is inside the window
    assert lane.stop_controller() == 0
    lane.stop()
    report = build_report(
        lane.truth_data(),
        lane.journal,
        sim_wall0_ms=lane.sim_wall0_ms,
        stop_wall_ms=stop_wall_ms,
        duration_s=duration,
    )
    assert report["boom_contacts"] == 0
    assert report["crossings_truth"] == 3
    assert report["passed"] == 3
    assert report["lost"] == 0
    assert report["misclassified"] == 0
    assert report["faults"] == 0
    assert verify(lane.journal).ok
    result = replay(lane.journal)
    assert result.identical, result.divergence
    runs = {e["run"] for e in read_events(lane.journal)}
    assert runs == {1, 2}
    assert result.scans > report["scans"] > 100  # both runs replayed; stats are the last run's


def test_every_api_command(tmp_path: Path, lanes: list[Lane]) -> None:
    """Each operator command sent through `lanectl ctl` reaches the core and changes its mode;
    one the core would refuse (release, send-aside, reset with an empty bay and no fault) is
    refused by the API with the core's reason, exit 1, and never reaches the core."""
    scenario = tmp_path / "empty.toml"
    scenario.write_text(
        '[scenario]\nname = "empty"\n[traffic]\nschedule_s = [3600]\n', encoding="utf-8"
    )
    lane = start_lane(tmp_path, str(scenario), open_on_start=False)
    lanes.append(lane)

    def ctl(*words: str) -> tuple[int, dict[str, object]]:
        out = subprocess.run(
            [sys.executable, "-m", "controller.cli", "ctl", "--url", lane.api_url, *words],
            capture_output=True,
            text=True,
            timeout=30,
        )
        reply: dict[str, object] = json.loads(out.stdout)
        return out.returncode, reply

    def mode_is(mode: str) -> bool:
        return bool(lane.status()["core"]["mode"] == mode)

    wait_for(lambda: lane.status()["bus"]["connected"], 20.0, "the controller to connect")
    wait_for(lambda: mode_is("CLOSED"), 10.0, "mode CLOSED")
    # (words, the mode after, the start of the core's reason when it refuses)
    steps: list[tuple[tuple[str, ...], str, str]] = [
        (("open",), "OPEN", ""),
        (("open",), "OPEN", "lane is OPEN"),
        (("close",), "CLOSED", ""),
        (("maintenance", "on"), "MAINTENANCE", ""),
        (("manual", "raise"), "MAINTENANCE", ""),
        (("manual", "lower"), "MAINTENANCE", ""),
        (("maintenance", "off"), "CLOSED", ""),
        (("emergency", "on"), "EMERGENCY_OPEN", ""),
        (("emergency", "off"), "CLOSED", ""),
        (("open",), "OPEN", ""),
        (("release",), "OPEN", "not valid in phase"),
        (("send-aside",), "OPEN", "not valid in phase"),
        (("reset",), "OPEN", "no fault latched"),
    ]
    refused: list[str] = []
    for words, mode, reason in steps:
        code, reply = ctl(*words)
        if reason:
            assert code == 1 and reply["error"] == "refused", (words, reply)
            assert str(reply["detail"]).startswith(reason), (words, reply)
            refused.append(str(reply["detail"]))
        else:
            assert code == 0 and "queued" in reply, (words, reply)
        wait_for(lambda mode=mode: mode_is(mode), 15.0, f"mode {mode} after {words}")
    code, status = ctl("status")
    assert code == 0 and status["lane"] == "hil"
    wait_for(lambda: len(read_events(lane.journal)) >= 6, 5.0, "mode events in the journal")
    wait_for(
        lambda: sum(e["kind"] == "api_command" for e in read_events(lane.journal)) == len(steps),
        5.0,
        "every API command in the journal",
    )
    events = read_events(lane.journal)
    modes = [json.loads(e["body"]).get("data", {}).get("mode") for e in events]
    for mode in ("OPEN", "CLOSED", "MAINTENANCE", "EMERGENCY_OPEN"):
        assert mode in modes, (mode, modes)
    kinds = [e["kind"] for e in events]
    # What the API refused never reached the core: no command_rejected, and the refusals
    # are journaled with the reasons the client was given.
    assert "command_rejected" not in kinds, kinds
    api = [json.loads(e["body"])["data"] for e in events if e["kind"] == "api_command"]
    assert [d["reason"] for d in api if not d["queued"]] == refused
    assert [d["command"] for d in api if d["queued"]] == [
        "open_lane",
        "close_lane",
        "maintenance_on",
        "manual_raise",
        "manual_lower",
        "maintenance_off",
        "emergency_open_on",
        "emergency_open_off",
        "open_lane",
    ]


def test_bus_loss_latches_fault_then_reconnects(tmp_path: Path, lanes: list[Lane]) -> None:
    """Killing the I/O side latches a bus fault; when I/O is back the controller reconnects."""
    scenario = tmp_path / "empty.toml"
    scenario.write_text(
        '[scenario]\nname = "empty"\n[traffic]\nschedule_s = [3600]\n', encoding="utf-8"
    )
    lane = start_lane(tmp_path, str(scenario))
    lanes.append(lane)
    wait_for(lambda: lane.status()["core"]["mode"] == "OPEN", 20.0, "mode OPEN")
    lane.sim.popen.kill()
    lane.sim.popen.wait(10)
    wait_for(lambda: lane.status()["core"]["mode"] == "FAULT", 10.0, "the bus fault")
    status = lane.status()
    assert status["bus"]["connected"] is False
    assert "fault_latched" in _kinds(lane) or status["core"]["fault_latched"]


def test_bad_config_exits_2_naming_key(tmp_path: Path) -> None:
    """`lanectl run` with a bad config exits 2 and names the key and the file."""
    config = tmp_path / "bad.toml"
    config.write_text("[io]\nport = 0\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "io.port" in out.stderr and str(config) in out.stderr


VIOLATORS_SCENARIO = """
[scenario]
name = "hil-violators"
description = "A compliant car, a tailgater right behind it, then a runner."
[traffic]
schedule_s = [1, 2, 30]
kinds = { car = 1.0 }
behaviours = { compliant = 0.34, tailgater = 0.33, runner = 0.33 }
[operator]
dwell_s = [2, 3]
aside_share = 0.0
"""


def _seed_for(scenario: Path, wanted: list[str]) -> int:
    from hw_sim.scenario import load_scenario
    from hw_sim.traffic import Arrivals

    spec = load_scenario(scenario)
    for seed in range(2000):
        drawn = Arrivals(spec.traffic, spec.operator, seed).due(10**9)
        if [v.behaviour.value for v in drawn] == wanted:
            return seed
    raise AssertionError(f"no seed draws {wanted}")


def test_tailgate_and_run_through_events(tmp_path: Path, lanes: list[Lane]) -> None:
    """A tailgater and a runner each produce their event, every crossing is journalled once."""
    scenario = tmp_path / "violators.toml"
    scenario.write_text(VIOLATORS_SCENARIO, encoding="utf-8")
    seed = _seed_for(scenario, ["compliant", "tailgater", "runner"])
    lane = start_lane(tmp_path, str(scenario), seed=seed)
    lanes.append(lane)
    t0 = time.monotonic()

    def all_crossed() -> bool:
        vehicles = lane.truth_data().get("vehicles", [])
        return len(vehicles) == 3 and all(v.get("cleared_ms") is not None for v in vehicles)

    wait_for(all_crossed, 120.0, "three vehicles to cross the barrier")
    time.sleep(3.0)
    duration = time.monotonic() - t0
    assert lane.stop_controller() == 0
    lane.stop()
    truth = lane.truth_data()
    assert sorted(v["crossing"] for v in truth["vehicles"]) == ["passed", "run_through", "tailgate"]
    kinds = _kinds(lane)
    assert kinds.count("tailgate") == 1, kinds
    assert kinds.count("run_through") == 1, kinds
    report = build_report(
        truth,
        lane.journal,
        sim_wall0_ms=lane.sim_wall0_ms,
        stop_wall_ms=time.time() * 1000.0 + 10_000,
        duration_s=duration,
    )
    assert report["lost"] == 0
    assert report["misclassified"] == 0
    assert report["boom_lowered_onto_vehicle"] == 0
    assert replay(lane.journal).identical


def test_demo_reports_json(tmp_path: Path) -> None:
    """`lanectl demo --json` runs both processes and reports zero contacts and zero lost."""
    scenario = tmp_path / "cycle.toml"
    scenario.write_text(CYCLE_SCENARIO, encoding="utf-8")
    out = subprocess.run(
        [
            *(sys.executable, "-m", "controller.cli", "demo", "--minutes", "0.3"),
            *("--scenario", str(scenario), "--json", "--keep", str(tmp_path / "demo")),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    for key in (
        "arrived",
        "passed",
        "sent_aside",
        "violations",
        "throughput_vph",
        "time_in_lane_mean_s",
        "time_in_lane_p95_s",
        "faults",
        "boom_contacts",
        "lost",
        "scan_p50_ms",
        "scan_p99_ms",
        "overruns",
    ):
        assert key in report, key
    assert report["arrived"] >= 1
    assert report["boom_contacts"] == 0
    assert report["lost"] == 0
    assert report["scan_p99_ms"] > 0
    assert "[00:" in out.stderr


def test_send_aside_over_modbus(tmp_path: Path, lanes: list[Lane]) -> None:
    """The console's SEND ASIDE button: the car leaves sideways, journalled, never as a passage."""
    scenario = tmp_path / "aside.toml"
    scenario.write_text(
        CYCLE_SCENARIO.replace("schedule_s = [1, 2, 3]", "schedule_s = [1]").replace(
            "aside_share = 0.0", "aside_share = 1.0"
        ),
        encoding="utf-8",
    )
    lane = start_lane(tmp_path, str(scenario))
    lanes.append(lane)

    def aside_done() -> bool:
        vehicles = lane.truth_data().get("vehicles", [])
        return len(vehicles) == 1 and vehicles[0].get("aside_ms") is not None

    wait_for(aside_done, 90.0, "the car to be sent aside")
    wait_for(lambda: "vehicle_sent_aside" in _kinds(lane), 10.0, "the send-aside event")
    assert lane.stop_controller() == 0
    lane.stop()
    kinds = _kinds(lane)
    assert kinds.count("vehicle_sent_aside") == 1
    assert not {"vehicle_passed", "tailgate", "run_through"} & set(kinds)
    assert lane.truth_data()["summary"]["boom_contacts"] == 0
    assert replay(lane.journal).identical
