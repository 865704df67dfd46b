"""A 5 s bus loss under a running lane: detected within 3 scans, I/O fail state, back within 1 s.

The controller runs with the product's default bus settings (10 ms scan, 50 ms
request timeout, one missed scan tolerated, reconnect backoff capped at
``reconnect_max_ms``). Times are measured on one wall clock: the fault's start
and end are plant times in the simulator, put on the wall clock from its log
(the sim runs at speed 1); the controller's ``bus_lost`` / ``bus_restored``
events carry the wall time they were journalled. Detection is also counted in
scans, which is what the issue bounds; the printed figures go in the report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.journal import read_events, read_scans, verify
from tests.hil.harness import Proc, stop_proc, wait_for
from tests.hil.reliability import (
    api_post,
    api_status,
    event_kinds,
    lane_config,
    log_records,
    plant_wall_ms,
    start_controller,
    start_sim,
    truth,
    wall_ms,
)

pytestmark = pytest.mark.hil

FAULT_AT_MS = 12_000
FAULT_MS = 5_000
RECOVERY_BOUND_MS = 1_000
"""The issue's requirement: the lane is back under control within 1 s of the bus returning."""
SCHEDULING_TOLERANCE_MS = 500
"""Two busy cores run both processes, the test and other suites: a process can be
descheduled for a few hundred ms. The reconnect design itself gives
reconnect_max_ms (500) + one request round trip, well inside the 1 s."""

SCENARIO = """
[scenario]
name = "bus-loss"
description = "Two cars; the bus is lost for 5 s while the second is in the lane."
[traffic]
schedule_s = [1, 9]
kinds = {{ car = 1.0 }}
behaviours = {{ compliant = 1.0 }}
approach_speed_kmh = [40, 40]
bay_speed_kmh = [15, 15]
[operator]
dwell_s = [1, 1]
aside_share = 0.0
hold_ms = 300
[boom]
raise_ms = 1500
lower_ms = 1500
[[faults]]
kind = "{kind}"
at_s = {at_s}
duration_s = {duration_s}
"""


ANCHOR_TOLERANCE_MS = 250
"""How far the sim-log wall anchor of the fault start may lag the real start."""


@pytest.mark.parametrize("kind", ["bus_drop", "disconnect"])
def test_bus_loss_of_5_s(tmp_path: Path, procs: list[Proc], kind: str) -> None:
    """Requests unanswered (bus_drop) or connections closed (disconnect) for 5 s mid-cycle."""
    scenario = SCENARIO.format(kind=kind, at_s=FAULT_AT_MS / 1000, duration_s=FAULT_MS / 1000)
    sim, port = start_sim(tmp_path, scenario)
    procs.append(sim)
    run, url = start_controller(tmp_path, lane_config(tmp_path, port))
    procs.append(run)
    journal = tmp_path / "journal.sqlite"
    wait_for(lambda: api_status(url)["bus"]["connected"], 20.0, "the controller to connect")
    connected_at = time.time() * 1000.0
    wait_for(lambda: "bus_restored" in event_kinds(journal), 60.0, "the bus to come back")
    wait_for(
        lambda: any(
            r.get("event") == "sim_watchdog_rearmed" and r["sim_ms"] >= FAULT_AT_MS
            for r in log_records(sim)
        ),
        10.0,
        "the I/O watchdog to re-arm",
    )

    fault_start = plant_wall_ms(sim, FAULT_AT_MS)
    fault_end = plant_wall_ms(sim, FAULT_AT_MS + FAULT_MS)
    assert connected_at < fault_start, "the controller must be running before the fault"
    events = read_events(journal)
    # Controller ms -> wall: the least-delayed journalled event gives the offset.
    ctl_offset = min(wall_ms(e["wall"]) - e["at_ms"] for e in events)
    lost = next(e for e in events if e["kind"] == "bus_lost")
    restored = next(e for e in events if e["kind"] == "bus_restored")
    detection_ms = wall_ms(lost["wall"]) - fault_start
    recovery_ms = wall_ms(restored["wall"]) - fault_end
    fault_ctl_ms = fault_start - ctl_offset
    # The first failed request after the fault (the runtime logs each: bus_timeout, or
    # bus_lost with the error when the connection broke) marks the first failed scan.
    first_fail = min(
        wall_ms(r["timestamp"])
        for r in log_records(run)
        if r.get("event") in ("bus_timeout", "bus_lost")
        and "error" in r
        # The plant's wall anchor is read from the sim's log and can be tens of ms late:
        # a failure that close before the estimated start is still the fault's.
        and wall_ms(r["timestamp"]) >= fault_start - ANCHOR_TOLERANCE_MS
    )
    first_failed_seq = max(
        s.seq
        for s in read_scans(journal)
        if s.run == lost["run"] and s.now_ms <= first_fail - ctl_offset
    )
    scans_to_detect = lost["seq"] - first_failed_seq + 1
    sim_records = log_records(sim)
    # The sim trips once at power-on too (no heartbeat yet): only the loss's own trip counts.
    tripped = [
        r
        for r in sim_records
        if r.get("event") == "sim_watchdog_tripped" and r["sim_ms"] >= FAULT_AT_MS
    ]
    rearmed = [
        r
        for r in sim_records
        if r.get("event") == "sim_watchdog_rearmed" and r["sim_ms"] >= FAULT_AT_MS
    ]
    assert tripped and rearmed
    trip_after_ms = tripped[0]["sim_ms"] - FAULT_AT_MS
    rearm_ms = plant_wall_ms(sim, rearmed[0]["sim_ms"]) - fault_end
    print(
        f"\nbus loss ({kind}, 5 s): detected after {scans_to_detect} scans, "
        f"{detection_ms:.0f} ms; I/O watchdog tripped {trip_after_ms} ms into the loss "
        f"(sim monitor polls every 100 ms); bus_restored {recovery_ms:.0f} ms and "
        f"watchdog re-armed <= {rearm_ms:.0f} ms after the bus returned"
    )

    # Detection: the core is told bus_ok=False after missed_scans (1) + 1 failed scans.
    assert 1 <= scans_to_detect <= 3, scans_to_detect
    assert 0 <= detection_ms < FAULT_MS
    assert lost["at_ms"] >= fault_ctl_ms - 20
    # The I/O side applied the fail state by itself (io_status bit 0), during the loss.
    assert 0 < trip_after_ms < FAULT_MS, trip_after_ms
    assert int(tripped[0]["watchdog_ms"]) == 500
    # Recovery within 1 s of the bus returning (plus scheduling tolerance, see above).
    assert 0 <= recovery_ms <= RECOVERY_BOUND_MS + SCHEDULING_TOLERANCE_MS, recovery_ms
    assert rearm_ms <= RECOVERY_BOUND_MS + SCHEDULING_TOLERANCE_MS, rearm_ms
    status = api_status(url)
    assert status["bus"]["connected"]
    assert "bus" in status["core"]["faults"], status["core"]
    assert status["core"]["mode"] == "FAULT"

    # The latched bus fault is for the operator: reset, open, and the lane carries on.
    assert api_post(url, "reset") == 202
    wait_for(lambda: not api_status(url)["core"]["fault_latched"], 10.0, "the fault to clear")
    assert api_post(url, "open") == 202
    wait_for(lambda: api_status(url)["core"]["mode"] == "OPEN", 10.0, "the lane to reopen")
    if kind != "bus_drop":
        # The cars' way through after a loss is the same for both kinds: once is enough
        # (the suite runs on two busy cores).
        assert stop_proc(run) == 0
        assert truth(tmp_path)["contacts"] == []
        assert verify(journal).ok
        return

    def both_out() -> bool:
        vehicles = truth(tmp_path).get("vehicles", [])
        return len(vehicles) == 2 and all(v.get("cleared_ms") is not None for v in vehicles)

    wait_for(both_out, 90.0, "both cars to leave the lane")
    wait_for(lambda: api_status(url)["core"]["count"] == 2, 10.0, "the count to reach 2")
    assert stop_proc(run) == 0
    time.sleep(1.5)  # the sim writes its truth file every second
    facts = truth(tmp_path)
    kinds = event_kinds(journal)
    assert facts["contacts"] == [], facts["contacts"]
    assert facts["summary"]["crossed"] == 2
    assert (
        kinds.count("vehicle_passed") + kinds.count("tailgate") + kinds.count("run_through") == 2
    ), kinds
    assert verify(journal).ok
