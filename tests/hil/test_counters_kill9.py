"""kill -9 of a controller mid-run: the restarted one shows the count and the shift's
statistics the journal holds, and ends the day with the simulator's ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.journal import read_events, read_passages
from tests.hil.harness import Proc, stop_proc, wait_for
from tests.hil.reliability import (
    api_post,
    api_status,
    lane_config,
    start_controller,
    start_sim,
    truth,
)

pytestmark = pytest.mark.hil

CARS = 4
SCENARIO = f"""
[scenario]
name = "counters"
description = "{CARS} compliant cars one after the other; half of them sent aside."
[traffic]
schedule_s = [{", ".join(str(1 + 2 * n) for n in range(CARS))}]
kinds = {{ car = 1.0 }}
behaviours = {{ compliant = 1.0 }}
[operator]
dwell_s = [1, 1]
aside_share = 0.5
hold_ms = 300
aside_delay_s = 0.5
[boom]
raise_ms = 1200
lower_ms = 1200
"""


def _tally(journal: Path) -> dict[str, int]:
    kinds = [e["kind"] for e in read_events(journal)]
    return {
        "passed": kinds.count("vehicle_passed"),
        "sent_aside": kinds.count("vehicle_sent_aside"),
        "violations": kinds.count("tailgate") + kinds.count("run_through"),
    }


def test_kill_9_keeps_count_and_shift_statistics(tmp_path: Path, procs: list[Proc]) -> None:
    """Killed after its second decided vehicle, restarted: count and statistics equal the
    journal's; after the last car they equal the ground truth."""
    sim, port = start_sim(tmp_path, SCENARIO, seed=3)
    procs.append(sim)
    config = lane_config(tmp_path, port)
    journal = tmp_path / "journal.sqlite"
    run, url = start_controller(tmp_path, config)
    procs.append(run)

    def decided() -> int:
        t = _tally(journal) if journal.exists() else {"passed": 0, "sent_aside": 0}
        return t["passed"] + t["sent_aside"]

    wait_for(lambda: decided() >= 2, 90.0, "two vehicles passed or sent aside")
    before = api_status(url)["shift"]
    run.popen.kill()
    run.popen.wait(10)
    assert run.popen.returncode == -9

    run2, url = start_controller(tmp_path, config, "run2")
    procs.append(run2)
    status = api_status(url)
    passages = read_passages(journal)
    assert status["core"]["count"] == len(passages)
    shift = status["shift"]
    assert {k: shift[k] for k in ("passed", "sent_aside", "violations")} == _tally(journal)
    assert shift["passed"] + shift["sent_aside"] >= before["passed"] + before["sent_aside"] >= 1
    assert shift["inspections"] >= 1 and 0 < shift["mean_inspection_s"] < 30

    # The kill may have let the I/O watchdog trip: the operator resets and reopens the lane.
    wait_for(lambda: _reopen(url), 30.0, "the operator to reopen the lane")

    def all_done() -> bool:
        vehicles = truth(tmp_path).get("vehicles", [])
        return len(vehicles) == CARS and all(v["outcome"] in ("passed", "aside") for v in vehicles)

    wait_for(all_done, 120.0, "every car to pass or be sent aside")
    summary = truth(tmp_path)["summary"]
    assert summary["passed"] >= 1 and summary["aside"] >= 1, summary
    wait_for(lambda: api_status(url)["core"]["count"] == summary["crossed"], 10.0, "the last count")
    shift = api_status(url)["shift"]
    assert shift["passed"] == summary["passed"]
    assert shift["sent_aside"] == summary["aside"]
    assert shift["violations"] == 0
    assert stop_proc(run2) == 0
    time.sleep(0.2)
    assert len(read_passages(journal)) == summary["crossed"]


def _reopen(url: str) -> bool:
    """Reset a latched fault, then open the lane; True once it is OPEN."""
    core = api_status(url)["core"]
    if core["mode"] == "OPEN":
        return True
    api_post(url, "reset" if core["fault_latched"] else "open")
    time.sleep(0.4)
    return bool(api_status(url)["core"]["mode"] == "OPEN")
