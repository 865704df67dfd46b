"""The benchmark suites in quick mode: result shapes and sane values, never timing thresholds.

Wall-clock figures are only checked for consistency (p99 >= p50 > 0); the
throughput comparisons run on simulated time, so they are deterministic and
asserted exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from controller.bench import SUITES, frame, hil, journal, step, throughput
from controller.bench.baseline import FixedTimerController, FixedTimings, travel_s
from controller.bench.loop import CoreController, run_loop
from controller.bench.report import strip_plots, summarize, write_report
from controller.bench.stats import histogram, nearest_rank, summary
from controller.cli import main
from controller.core.types import Inputs, LaneConfig


def _latency(stats: dict[str, Any]) -> None:
    assert set(stats) >= {"p50", "p99", "max", "n"}
    assert stats["max"] >= stats["p99"] >= stats["p50"] > 0
    assert stats["n"] > 0


# -- stats ------------------------------------------------------------------------------------


def test_nearest_rank_returns_a_sample_that_happened() -> None:
    """p50 and p99 are nearest-rank: values from the data, the 99th of 100 for p99."""
    data = [float(i) for i in range(1, 101)]
    assert nearest_rank(data, 0.5) == 50.0
    assert nearest_rank(data, 0.99) == 99.0
    assert nearest_rank(data, 1.0) == 100.0
    assert nearest_rank([7.0], 0.99) == 7.0


def test_summary_and_histogram_count_every_sample() -> None:
    """The summary's n and the histogram's bins plus overflow account for every sample."""
    samples = [0.1, 0.3, 0.3, 1.2, 30.0]
    s = summary(samples)
    assert s == {"p50": 0.3, "p99": 30.0, "max": 30.0, "mean": 6.38, "n": 5}
    h = histogram(samples, width=0.25, limit=2.0)
    assert h["counts"] == [1, 2, 0, 0, 1, 0, 0, 0]
    assert h["over"] == 1


def test_stats_reject_empty_input() -> None:
    """An empty sample list is an error that says so, not a zero."""
    with pytest.raises(ValueError, match="samples"):
        summary([])
    with pytest.raises(ValueError, match="q"):
        nearest_rank([1.0], 0.0)


# -- kinematics, bound and baseline ---------------------------------------------------------------


def test_travel_time_matches_the_trapezoid_by_hand() -> None:
    """20 m at 2 m/s^2 up to 4 m/s and 4 m/s^2 down: 2 s + 1 s ramps and 3.5 s cruising."""
    assert travel_s(20.0, 4.0, 2.0, 4.0) == pytest.approx(6.5)
    # Too short to reach vmax: a triangle with peak sqrt(2 * 3 * 2 * 4 / 6) = 2.828 m/s.
    assert travel_s(3.0, 10.0, 2.0, 4.0) == pytest.approx(2 * math.sqrt(2) * (1 / 2 + 1 / 4))
    # Driving through without stopping: 4 m of ramp then 6 m at 4 m/s.
    assert travel_s(10.0, 4.0, 2.0) == pytest.approx(2.0 + 1.5)
    assert travel_s(0.0, 4.0, 2.0) == 0.0


def test_bound_overlap_is_faster_than_serial_and_covers_the_boom() -> None:
    """Per vehicle, the ideal lane needs at least dwell + raise + lower; early entry only helps."""
    scenario = throughput.saturated_scenario()
    specs = throughput.vehicle_specs(scenario, throughput.SEED, 600_000)
    bound = throughput.bound_crossings(specs, scenario, throughput.AUTO_RELEASE_MS)
    n = len(specs) - 1
    overlap = (bound.crossings_ms[n] - bound.crossings_ms[0]) / n
    serial = (bound.serial_crossings_ms[n] - bound.serial_crossings_ms[0]) / n
    floor = throughput.AUTO_RELEASE_MS + scenario.boom.raise_ms + scenario.boom.lower_ms
    assert floor < overlap < serial
    assert list(bound.crossings_ms) == sorted(bound.crossings_ms)


def test_bound_of_two_cars_matches_the_arithmetic_by_hand() -> None:
    """Two 4.5 m cars (4 m/s, 2 and 4 m/s^2, 0.5 s reaction), 2 s dwell, boom 3 s up, 3.5 s down."""
    from hw_sim.scenario import Behaviour, Scenario, VehicleKind
    from hw_sim.traffic import VehicleSpec

    car = VehicleSpec(
        id=1,
        kind=VehicleKind.CAR,
        behaviour=Behaviour.COMPLIANT,
        length_m=4.5,
        width_m=1.8,
        arrival_ms=0,
        approach_mps=8.0,
        bay_mps=4.0,
        accel_mps2=2.0,
        decel_mps2=4.0,
        reaction_ms=500,
        hesitation_ms=0,
        reverse_after_ms=0,
        dwell_ms=0,
        aside=False,
    )
    bound = throughput.bound_crossings([car, car], Scenario(), 2000)
    # 20.5 m to the line: 2 s up to speed, 1 s braking, 3.625 s cruising; dwell, raise,
    # reaction, then 1 m to the barrier line in 1 s.
    first = 6625 + 2000 + 3000 + 500 + 1000
    assert bound.crossings_ms[0] == pytest.approx(first)
    warned = throughput.bound_crossings([car, car], Scenario(), 2000, warn_ms=1500)
    assert warned.crossings_ms[0] == pytest.approx(first + 1500)
    assert bound.serial_crossings_ms[0] == pytest.approx(first)
    # Early entry: the next car sets off when the first one's rear leaves the bay, 0.2 m past
    # the line: 4.7 m from standstill, 4 m of ramp in 2 s then 0.7 m at 4 m/s.
    assert bound.crossings_ms[1] - bound.crossings_ms[0] == pytest.approx(
        -1000 + 1000 * (2.0 + 0.7 / 4.0) + 6625 + 2000 + 3000 + 500 + 1000
    )
    # Serial: it sets off once the boom is down (rear clear after 2.4 s, then 3.5 s down).
    assert bound.serial_crossings_ms[1] - bound.serial_crossings_ms[0] == pytest.approx(
        -1000 + 2400 + 3500 + 6625 + 2000 + 3000 + 500 + 1000
    )


def test_fixed_timings_reject_an_amber_under_the_lane_minimum() -> None:
    """The baseline may be naive but never breaks S6: a short amber is refused by name."""
    timings = FixedTimings(
        amber_ms=2000, hold_ms=9000, warn_ms=1500, raise_ms=3300, pass_ms=9000, lower_ms=3900
    )
    with pytest.raises(ValueError, match="amber_ms"):
        FixedTimerController(timings, LaneConfig())


def test_fixed_timer_runs_its_cycle_and_reverses_on_the_photocell() -> None:
    """Green, amber, hold, warn, raise, exit green, lower by the timers; presence reverses (S1)."""
    timings = FixedTimings(
        amber_ms=3000, hold_ms=9000, warn_ms=1500, raise_ms=3300, pass_ms=9000, lower_ms=3900
    )
    ctl = FixedTimerController(timings)
    down = Inputs(barrier_down=True)
    out, _ = ctl.step(down, 0)
    assert out.entry_red and not out.entry_green  # the lower timer runs out first
    out, _ = ctl.step(down, 3900)
    assert out.entry_green and not out.entry_red
    out, _ = ctl.step(Inputs(barrier_down=True, loop_bay=True), 3910)
    assert out.entry_amber and not out.entry_green
    out, _ = ctl.step(Inputs(barrier_down=True, loop_bay=True), 6910)
    assert out.entry_red and not out.warn
    out, _ = ctl.step(Inputs(barrier_down=True, loop_bay=True), 12910)
    assert out.warn and not out.barrier_raise
    out, _ = ctl.step(Inputs(barrier_down=True, loop_bay=True), 14410)
    assert out.barrier_raise and not out.exit_green
    out, _ = ctl.step(Inputs(barrier_up=True, loop_bay=True), 17710)
    assert out.exit_green and not out.barrier_raise
    _, events = ctl.step(Inputs(barrier_up=True, photocell=True), 18900)
    _, events = ctl.step(Inputs(barrier_up=True), 19900)
    assert [e.kind for e in events] == ["vehicle_passed"]
    out, _ = ctl.step(Inputs(barrier_up=True), 26710)
    assert out.barrier_lower and out.exit_red and not out.exit_green
    out, _ = ctl.step(Inputs(photocell=True), 26720)
    assert out.barrier_raise and not out.barrier_lower


# -- model-in-the-loop throughput (simulated time: deterministic) ---------------------------------


@pytest.fixture(scope="module")
def throughput_result() -> dict[str, Any]:
    result: dict[str, Any] = SUITES["throughput"](True)
    return result


def test_throughput_suite_reports_every_controller(throughput_result: dict[str, Any]) -> None:
    """Lost time and vph are given for early entry on and off and the fixed timer."""
    keys = {"early_entry", "no_early_entry", "fixed_timer"}
    assert set(throughput_result["lost_time_per_vehicle_s"]) == keys
    assert set(throughput_result["throughput_vph"]) == keys
    for name in keys:
        r = throughput_result["controllers"][name]
        assert r["throughput_vph"] == pytest.approx(3600.0 / r["cycle_s"], abs=0.1)
        assert r["lost_time_per_vehicle_s"] == pytest.approx(
            r["cycle_s"] - r["bound_cycle_s"], abs=0.002
        )
        assert r["vehicles_measured"] >= 3
        assert r["boom_contacts"] == 0
        assert r["lost"] == 0


def test_fixed_timer_is_slower_than_the_core_with_auto_release(
    throughput_result: dict[str, Any],
) -> None:
    """On the same vehicles, the fixed timer's cycle is longer than the core's, either setting."""
    c = throughput_result["controllers"]
    assert c["fixed_timer"]["cycle_s"] > c["no_early_entry"]["cycle_s"]
    assert c["fixed_timer"]["cycle_s"] > c["early_entry"]["cycle_s"]
    vph = throughput_result["throughput_vph"]
    assert vph["fixed_timer"] < vph["no_early_entry"] < vph["early_entry"]


def test_timeline_traces_one_whole_vehicle_cycle(throughput_result: dict[str, Any]) -> None:
    """The traced cycle shows the boom going up and back down and the vehicle crossing."""
    trace = throughput_result["plot"]["timeline"]
    n = len(trace["t_s"])
    assert n > 100
    for name in ("boom_permille", "entry_green", "exit_green", "loop_bay", "photocell"):
        assert len(trace[name]) == n
    assert max(trace["boom_permille"]) == 1000
    assert trace["boom_permille"][-1] == 0
    marks = trace["marks_s"]
    assert marks["stopped"] < marks["release_seen"] < marks["crossing"] < marks["rear_clear"]
    assert 0 < trace["standstill_to_raise_s"] < 10


def test_lost_time_is_counted_from_true_standstill(throughput_result: dict[str, Any]) -> None:
    """With the camera's standstill the core calls a vehicle stopped only after it stands
    (at least ``standstill_ms`` later) and serves the whole dwell from the true standstill,
    so it never beats the physical bound: lost time >= 0 (the bay loop rule alone gave
    -0.15 s)."""
    r = throughput_result
    assert r["standstill_to_stopped_event_s"] >= r["standstill_ms"] / 1000.0
    assert r["standstill_to_raise_s"] >= (r["auto_release_ms"] + r["warn_ms"]) / 1000.0
    for name in ("early_entry", "no_early_entry", "fixed_timer"):
        assert r["lost_time_per_vehicle_s"][name] >= 0.0, name


def test_throughput_measure_is_deterministic() -> None:
    """Two runs with one seed give the same cycle to the millisecond (simulated time only)."""
    first = throughput.measure("early_entry", minutes=3.0)
    second = throughput.measure("early_entry", minutes=3.0)
    assert first == second


# -- step and journal --------------------------------------------------------------------------


def test_recorded_cycle_replays_as_whole_vehicle_cycles() -> None:
    """Each replay of the recorded inputs takes one vehicle through the lane again."""
    from controller.core import scan as core

    recording = step.record_cycle()
    state = step.ready_state(recording)
    kinds: list[str] = []
    for k in range(1, 3):
        for inputs, t in zip(recording.inputs, recording.times_ms, strict=True):
            result = core.scan(state, inputs, k * recording.span_ms + t)
            state = result.state
            kinds += [e.kind for e in result.events]
    assert kinds.count("vehicle_passed") == 2
    assert kinds.count("vehicle_released") == 2


def test_step_suite_shape() -> None:
    """The step suite gives p50 <= p99 <= max microseconds over every replayed scan."""
    result = SUITES["step"](True)
    assert result["step_max_us"] >= result["step_p99_us"] >= result["step_p50_us"] > 0
    assert result["scans"] == result["cycle_scans"] * result["repeats"]


def test_journal_suite_commits_every_event() -> None:
    """The journal suite's burst is fully stored (it checks the count) at a positive rate."""
    result = SUITES["journal"](True)
    assert result["events"] == len(journal.cycle_events(1_000))
    assert result["events_per_s"] > 0
    assert result["committed_s"] > 0


# -- HIL ---------------------------------------------------------------------------------------


@pytest.mark.hil
def test_hil_suite_measures_edge_to_coil_through_real_processes() -> None:
    """A short HIL run at one period yields plant-measured latencies and a histogram of them."""
    result = hil.run(True, periods=(10,))
    assert set(result["edge_to_coil_ms"]) == {"10"}
    stats = result["edge_to_coil_ms"]["10"]
    _latency(stats)
    hist = result["plot"]["histogram_ms"]["10"]
    assert sum(hist["counts"]) + hist["over"] == stats["n"]
    assert result["runs"]["10"]["scans"] > 0


def test_frame_latency_matches_each_capture_to_the_last_frame_published_before_it() -> None:
    """Each capture counts from the last publish before it to its scan's coil write; frames
    no scan used, or whose scan wrote nothing, are left out."""
    sim_log = {"frames": [[1000, "0000"], [1066, "0100"], [1133, "0100"]]}
    ctrl_log = {
        "frames": [
            [0, 1010, "0000", True, 1014, 1016],
            [1, 1070, "0100", True, None, None],
            [2, 1140, "0100", True, 1150, 1152],
            [3, 995, "0000", True, 999, 1001],
            [4, 1141, "0100", True, 1151, None],
        ]
    }
    to_coil, to_scan = frame.frame_latencies(sim_log, ctrl_log, warmup=0)
    assert to_coil == [16.0, 19.0]
    assert to_scan == [4.0, 10.0]


@pytest.mark.hil
def test_frame_suite_measures_the_camera_path_through_real_processes() -> None:
    """A quick camera-in-the-loop run gives publish -> scan latencies at the camera's rate."""
    result = SUITES["frame"](True)
    _latency(result["frame_to_coil_ms"])
    _latency(result["capture_to_scan_ms"])
    assert result["frame_to_coil_ms"]["p50"] >= result["capture_to_scan_ms"]["p50"]
    assert result["target_p99_ms"] == pytest.approx(1000.0 / result["fps"] + 15.0, abs=0.1)
    assert result["frames_captured"] > 0


def test_hil_scenario_is_a_valid_scenario() -> None:
    """The HIL scenario loads; traffic and the test pulse start only after the quiet time."""
    import tomllib

    from hw_sim.scenario import parse_scenario

    sc = parse_scenario(tomllib.loads(hil.scenario_toml(2.0, 5.0)), source="hil.toml")
    assert sc.traffic.schedule_s is not None and sc.traffic.schedule_s[0] == 2.0
    on, off = sc.faults
    assert on.at_ms == 2000 and on.input == off.input == "loop_approach"
    assert not on.active(1999) and on.active(2000) and not on.active(2020)
    assert off.active(2030) and not on.active(2030)
    # The pulse period is prime to every scan period: edges land at every phase of the scan.
    assert all(on.repeat_ms is not None and on.repeat_ms % p for p in hil.PERIODS_MS)


# -- report and command ---------------------------------------------------------------------------


def _fake_results() -> dict[str, Any]:
    stats = {"p50": 3.0, "p99": 7.5, "max": 9.0, "mean": 3.2, "n": 10}
    return {
        "kernel": [{"frame": "1280x720", "vs_opencv": 0.2, "vs_numpy": 80.0, "vs_copy": 5.0}],
        "step": {"step_p50_us": 1.0, "step_p99_us": 12.0},
        "hil": {
            "edge_to_coil_ms": {"2": stats, "5": stats, "10": {**stats, "p99": 12.0}},
            "plot": {
                "histogram_ms": {
                    p: {"width": 0.25, "counts": [0, 2, 5, 3], "over": 0} for p in ("2", "5", "10")
                }
            },
        },
        "throughput": {
            "lost_time_per_vehicle_s": {"early_entry": 0.4, "no_early_entry": 4.0},
            "throughput_vph": {"early_entry": 230.0, "no_early_entry": 180.0},
            "plot": {
                "timeline": {
                    "t_s": [0.0, 0.05, 0.1],
                    "boom_permille": [0, 500, 1000],
                    "entry_green": [1, 0, 0],
                    "photocell": [0, 1, 0],
                    "marks_s": {"crossing": 0.05},
                    "vehicle": {"id": 1, "kind": "car", "length_m": 4.5},
                }
            },
        },
        "journal": {"error": "RuntimeError: disk full"},
        "frame": {
            "frame_to_coil_ms": {**stats, "p99": 90.0},
            "target_p99_ms": 81.7,
            "fps": 15.0,
            "scan_ms": 5,
            "plot": {"histogram_ms": {"width": 1.0, "counts": [0, 3, 4], "over": 1}},
        },
    }


def test_summary_lifts_headline_figures_and_judges_targets() -> None:
    """The report carries the brief's keys, each target's verdict, and the failed suite."""
    report = summarize(_fake_results(), quick=True)
    assert report["step_p99_us"] == 12.0
    assert report["edge_to_coil_ms"]["5"]["p99"] == 7.5
    assert report["lost_time_per_vehicle_s"]["early_entry"] == 0.4
    assert report["frame_to_coil_ms"]["p99"] == 90.0
    assert report["kernel"][0]["frame"] == "1280x720"
    assert report["targets"] == {
        "step_p99_us_le_20": True,
        "edge_to_coil_p99_ms_le_8_at_5ms": True,
        "frame_to_coil_p99_ms_le_frame_interval_plus_15": False,
        "lost_time_s_le_0_3": False,
        "kernel_vs_opencv_le_0_35": True,
        "kernel_vs_numpy_ge_30": True,
        "kernel_vs_copy_le_4": False,
    }
    assert report["errors"] == {"journal": "RuntimeError: disk full"}
    assert "plot" not in json.dumps(strip_plots(report))


def test_write_report_draws_every_plot(tmp_path: Path) -> None:
    """report.json, one latency histogram per scan period and the timeline are written."""
    paths = write_report(tmp_path, summarize(_fake_results(), quick=True))
    names = sorted(p.name for p in paths)
    assert names == [
        "edge_to_coil_10ms.png",
        "edge_to_coil_2ms.png",
        "edge_to_coil_5ms.png",
        "frame_to_coil.png",
        "report.json",
        "timeline.png",
    ]
    for p in paths:
        assert p.stat().st_size > 1000 or p.suffix == ".json"
    assert json.loads((tmp_path / "report.json").read_text())["quick"] is True


def test_bench_command_prints_one_report_for_several_suites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lanectl bench step journal --quick --json --out DIR` prints the report and writes it."""
    assert main(["bench", "step", "journal", "--quick", "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["step_p99_us"] == report["step"]["step_p99_us"] > 0
    assert report["journal_events_per_s"] > 0
    assert report["errors"] == {}
    assert report["machine"]["before"]["cpus"] >= 1
    assert (tmp_path / "report.json").is_file()
    assert (tmp_path / "step.json").is_file()


def test_bench_command_exits_non_zero_when_a_suite_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A benchmark that raises is reported by name and the exit status is 1; others still run."""

    def broken(quick: bool) -> Any:
        raise RuntimeError("sim did not start")

    monkeypatch.setitem(SUITES, "broken", broken)
    assert main(["bench", "broken", "journal", "--quick", "--json"]) == 1
    captured = capsys.readouterr()
    assert "suite broken failed: RuntimeError: sim did not start" in captured.err
    report = json.loads(captured.out)
    assert report["errors"] == {"broken": "RuntimeError: sim did not start"}
    assert report["journal_events_per_s"] > 0


# -- loop ----------------------------------------------------------------------------------------


def test_run_loop_rejects_a_bad_scan_period() -> None:
    """A zero scan period is refused by name."""
    from hw_sim.plant import Plant

    plant = Plant(throughput.saturated_scenario(), 1, probe=False)
    with pytest.raises(ValueError, match="scan_ms"):
        run_loop(plant, CoreController(LaneConfig()), duration_ms=100, scan_ms=0)


def test_io_module_priority_says_what_the_os_granted() -> None:
    """The I/O simulator's threads go on SCHED_FIFO where the OS allows it; a refusal keeps
    it time-shared and is reported, never raised. Either way the answer matches the OS."""
    import os
    import subprocess
    import sys

    from controller.bench.hil import SIM_PRIORITY, io_module_priority

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        got = io_module_priority(proc.pid)
        policy = os.sched_getscheduler(proc.pid)
        if got["policy"] == "fifo":
            assert policy == os.SCHED_FIFO and got["threads"] >= 1 and got["error"] is None
            assert os.sched_getparam(proc.pid).sched_priority == SIM_PRIORITY
        else:
            assert policy != os.SCHED_FIFO and got["priority"] == 0 and got["error"]
        assert got["priority_asked"] == SIM_PRIORITY
    finally:
        proc.kill()
        proc.wait(timeout=10)
    gone = io_module_priority(proc.pid)
    assert gone["policy"] == "other" and "No such file" in str(gone["error"])
