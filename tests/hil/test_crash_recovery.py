"""kill -9 of the controller mid-cycle, boom up and a truck under it, then a restart.

Checked from outside the controller: a read-only Modbus client on the simulator
watches io_status and the coils the I/O module drives, the simulator's ground
truth records every boom contact and crossing, and the journal must verify and
hold every crossing exactly once. A second kill, with a mechanical fault
latched, checks that the fault survives the restart (S8).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controller.journal import read_events
from tests.hil.harness import Proc, stop_proc, wait_for
from tests.hil.reliability import (
    Observer,
    api_post,
    api_status,
    event_kinds,
    lane_config,
    start_controller,
    start_sim,
    truth,
)

pytestmark = pytest.mark.hil

MOTOR_FAULT_AT_S = 60
CROSSINGS = ("vehicle_passed", "tailgate", "run_through")

SCENARIO = f"""
[scenario]
name = "crash"
description = "One long, slow truck: about 8 s under the boom. A drive fault later."
[traffic]
schedule_s = [1]
kinds = {{ truck = 1.0 }}
behaviours = {{ compliant = 1.0 }}
truck_length_m = [18, 18]
approach_speed_kmh = [30, 30]
bay_speed_kmh = [8, 8]
[operator]
dwell_s = [1, 1]
aside_share = 0.0
hold_ms = 300
[boom]
raise_ms = 1500
lower_ms = 1500
[[faults]]
kind = "motor_fault"
at_s = {MOTOR_FAULT_AT_S}
duration_s = 1
"""


async def _kill_under_boom(port: int, run: Proc) -> dict[str, Any]:
    """Wait for the truck under the raised boom, SIGKILL the controller, watch the I/O side."""
    async with Observer(port) as obs:
        deadline = time.monotonic() + 120.0
        while True:
            inputs = await obs.inputs()
            if inputs["photocell"] and inputs["barrier_up"]:
                break
            assert time.monotonic() < deadline, "the truck never stood under the raised boom"
            await asyncio.sleep(0.01)
        run.popen.kill()
        killed = time.monotonic()
        run.popen.wait(10)
        tripped_after_ms: float | None = None
        samples: list[tuple[dict[str, bool], dict[str, bool], int]] = []
        # Watch for 2 s: the watchdog (500 ms) trips and the fail state holds the boom up.
        while time.monotonic() - killed < 2.0:
            status = await obs.io_status()
            if status & 1 and tripped_after_ms is None:
                tripped_after_ms = (time.monotonic() - killed) * 1000.0
            samples.append((await obs.inputs(), await obs.coils(), status))
            await asyncio.sleep(0.01)
    return {"tripped_after_ms": tripped_after_ms, "samples": samples}


def test_kill_9_mid_cycle_then_restart(tmp_path: Path, procs: list[Proc]) -> None:
    """Watchdog fail state without lowering onto the truck; restart reconciles; nothing lost."""
    sim, port = start_sim(tmp_path, SCENARIO)
    procs.append(sim)
    config = lane_config(tmp_path, port)
    run, url = start_controller(tmp_path, config)
    procs.append(run)
    journal = tmp_path / "journal.sqlite"
    wait_for(lambda: api_status(url)["bus"]["connected"], 20.0, "the controller to connect")

    seen = asyncio.run(asyncio.wait_for(_kill_under_boom(port, run), 150.0))
    assert run.popen.returncode == -9
    tripped_after_ms = seen["tripped_after_ms"]
    samples: list[tuple[dict[str, bool], dict[str, bool], int]] = seen["samples"]
    assert tripped_after_ms is not None, "the I/O watchdog never tripped after the kill"
    fail_state = [(i, c) for i, c, status in samples if status & 1]
    assert fail_state, "no sample in the fail state"
    for inputs, coils in fail_state:
        # S10: entry red, lane closed, alarm; the boom is not lowered onto the truck.
        assert coils["entry_red"] and not coils["entry_green"]
        assert coils["lane_closed"] and not coils["lane_open"]
        assert coils["alarm"]
        if inputs["photocell"] or inputs["safety_edge"]:
            assert not coils["barrier_lower"], (inputs, coils)

    restart_t0 = time.monotonic()
    run2, url = start_controller(tmp_path, config, "run2")
    procs.append(run2)
    wait_for(lambda: api_status(url)["bus"]["connected"], 20.0, "the restarted controller")
    restart_s = time.monotonic() - restart_t0
    under_at_restart = truth(tmp_path).get("vehicles", [{}])[0].get("cleared_ms") is None

    def truck_out() -> bool:
        vehicles = truth(tmp_path).get("vehicles", [])
        return len(vehicles) == 1 and vehicles[0].get("cleared_ms") is not None

    wait_for(truck_out, 60.0, "the truck to leave")
    wait_for(lambda: api_status(url)["core"]["count"] == 1, 10.0, "the truck to be counted")
    # Reconciled: with the truck gone the restarted controller brings the boom down itself.
    wait_for(lambda: api_status(url)["core"]["phase"] == "READY", 20.0, "the boom to come down")
    crossing = [e["kind"] for e in read_events(journal) if e["kind"] in CROSSINGS]
    print(
        f"\nkill -9 with the truck under the raised boom: "
        f"I/O watchdog tripped {tripped_after_ms:.0f} ms after the kill "
        f"(watchdog_ms 500, measured by polling io_status every ~10 ms); "
        f"restart to bus connected {restart_s:.1f} s; truck still in the lane at restart: "
        f"{under_at_restart}; its crossing journalled as {crossing}"
    )
    assert tripped_after_ms <= 500 + 500  # watchdog_ms, plus polling and scheduling slack

    # Second kill, with a mechanical fault latched: it must still be latched after restart.
    def motor_latched() -> bool:
        return any(
            e["kind"] == "fault_latched" and '"motor"' in e["body"] for e in read_events(journal)
        )

    wait_for(motor_latched, MOTOR_FAULT_AT_S + 60.0, "the drive fault to latch")
    run2.popen.kill()
    run2.popen.wait(10)
    run3, url = start_controller(tmp_path, config, "run3")
    procs.append(run3)
    wait_for(lambda: api_status(url)["bus"]["connected"], 20.0, "the third controller")
    core = api_status(url)["core"]
    assert "motor" in core["faults"], core
    assert core["mode"] == "FAULT"
    assert core["count"] == 1
    # The operator can still clear it once the drive is healthy again.
    wait_for(lambda: _reset(url), 20.0, "an operator reset to clear the fault")
    assert stop_proc(run3) == 0
    time.sleep(1.5)  # the sim writes its truth file every second

    facts = truth(tmp_path)
    assert facts["contacts"] == [], facts["contacts"]
    assert facts["summary"]["crossed"] == 1
    kinds = event_kinds(journal)
    assert sum(kinds.count(k) for k in CROSSINGS) == 1, kinds
    runs = {e["run"] for e in read_events(journal)}
    assert runs == {1, 2, 3}
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "journal", "verify", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _reset(url: str) -> bool:
    """Ask for a reset (409 while the drive still reports its fault); True once clear."""
    if not api_status(url)["core"]["fault_latched"]:
        return True
    assert api_post(url, "reset") in (202, 409)
    time.sleep(0.4)
    return not api_status(url)["core"]["fault_latched"]
