"""Model-in-the-loop soak: the core holds against hours of traffic and faults, and the soak
itself can tell a broken controller from a good one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.core.types import Event, Inputs, LaneConfig, Outputs
from hw_sim import mil
from hw_sim.fault_schedule import STUCK_INPUTS, RandomFaultSpec, random_faults
from hw_sim.faults import FaultKind, FaultSpec
from hw_sim.mil import CoreController, MilReport, OperatorPolicy, run_mil
from hw_sim.scenario import Scenario, load_scenario

JSON_KEYS = (
    "sim_hours",
    "wall_s",
    "arrived",
    "passed",
    "lost",
    "boom_contacts",
    "boom_contacts_healthy_sensors",
    "faults",
    "safety_overrides",
    "crashes",
)


@pytest.fixture(scope="module")
def mixed() -> Scenario:
    return load_scenario("mixed")


@pytest.fixture(scope="module")
def soak(mixed: Scenario) -> MilReport:
    return run_mil(mixed, hours=2.0, seed=1)


def test_two_hour_soak_is_clean(soak: MilReport) -> None:
    """Two simulated hours of mixed traffic and faults: no healthy-sensor contact, nothing
    lost, no crash, and traffic really flowed."""
    assert soak.sim_hours == pytest.approx(2.0)
    assert soak.boom_contacts_healthy_sensors == 0, soak.incidents
    assert soak.lost == 0, soak.incidents
    assert soak.lost_healthy_sensors == 0
    assert soak.double_counted == 0
    assert soak.crashes == 0
    assert soak.safety_overrides == 0, soak.incidents
    assert soak.ok
    assert soak.arrived >= 120
    assert soak.passed >= 60
    assert soak.counted == soak.crossed or soak.crossed - soak.counted == 1  # one in flight
    assert soak.tailgates + soak.run_throughs > 0


def test_soak_meets_faults_and_the_operator_recovers_the_lane(soak: MilReport) -> None:
    """The soak's faults latch in the core, the operator resets them and the lane reopens."""
    kinds = dict(soak.fault_kinds)
    assert soak.random_faults > 0
    assert soak.scheduled_faults == len(load_scenario("mixed").faults) + soak.random_faults
    assert kinds.get("bus", 0) > 0
    assert kinds.get("motor", 0) > 0
    assert kinds.get("estop", 0) > 0
    assert soak.bus_failed_scans > 0
    # mixed's 40 ms bus delay (20 s every hour) stretches those scans to 160 ms.
    assert soak.scans == 720_000 - 2 * (2000 - 125)
    assert soak.watchdog_trips > 0
    assert soak.resets >= len(kinds)
    events = dict(soak.events)
    # Vehicles were still released after the last reset: the lane is not left closed.
    assert events["vehicle_released"] > 60
    assert events["fault_reset"] == soak.resets
    assert 0 < soak.downtime_s < soak.sim_hours * 3600


def test_same_seed_same_report(mixed: Scenario) -> None:
    """The same seed gives the same report in every field but wall time."""
    a = run_mil(mixed, hours=0.2, seed=7).to_dict()
    b = run_mil(mixed, hours=0.2, seed=7).to_dict()
    a.pop("wall_s")
    b.pop("wall_s")
    assert a == b
    assert a["crossed"] > 5


def test_other_seed_other_traffic(mixed: Scenario) -> None:
    """Another seed gives another run."""
    a = run_mil(mixed, hours=0.1, seed=7)
    b = run_mil(mixed, hours=0.1, seed=8)
    assert a.truth_digest != b.truth_digest


class _LowersOnPhotocell(CoreController):
    """A controller with a bug past the safety monitor: it drives the boom down on the
    photocell instead of away from it."""

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        outputs, events = super().step(inputs, now_ms)
        if inputs.photocell and not inputs.barrier_down:
            outputs = dataclasses.replace(outputs, barrier_raise=False, barrier_lower=True)
        return outputs, events


def test_broken_controller_is_caught(mixed: Scenario) -> None:
    """A controller that lowers onto a vehicle on the photocell fails the soak."""
    report = run_mil(
        mixed, hours=0.25, seed=1, controller=_LowersOnPhotocell(LaneConfig()), random_faults=False
    )
    assert report.boom_contacts_healthy_sensors > 0
    assert report.boom_contacts_lowered >= report.boom_contacts_healthy_sensors
    assert not report.ok
    assert any(i.kind == "boom_contact_healthy_sensors" for i in report.incidents)


class _DropsPassed(CoreController):
    """Forgets every third vehicle_passed event."""

    def __init__(self, config: LaneConfig) -> None:
        super().__init__(config)
        self.seen = 0

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        outputs, events = super().step(inputs, now_ms)
        kept = []
        for e in events:
            if e.kind == "vehicle_passed":
                self.seen += 1
                if self.seen % 3 == 0:
                    continue
            kept.append(e)
        return outputs, tuple(kept)


class _CountsTwice(CoreController):
    """Reports every tailgate and vehicle_passed twice."""

    def __init__(self, config: LaneConfig) -> None:
        super().__init__(config)
        self.extra = 0

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        outputs, events = super().step(inputs, now_ms)
        extra = tuple(e for e in events if e.kind in ("vehicle_passed", "tailgate"))
        self.extra += len(extra)
        return outputs, events + extra


def test_lost_and_double_counted_vehicles_are_caught(mixed: Scenario) -> None:
    """Dropped crossing events count as lost; duplicated ones as double counts."""
    dropped = run_mil(
        mixed, hours=0.2, seed=2, controller=_DropsPassed(LaneConfig()), random_faults=False
    )
    assert dropped.lost > 0
    assert dropped.double_counted == 0
    assert any(i.kind == "lost" for i in dropped.incidents)
    assert dropped.lost_healthy_sensors == dropped.lost
    assert not dropped.ok
    doubler = _CountsTwice(LaneConfig())
    twice = run_mil(mixed, hours=0.2, seed=2, controller=doubler, random_faults=False)
    assert twice.double_counted == doubler.extra > 3
    assert twice.lost == twice.double_counted


class _CrashesOnce(CoreController):
    """Raises once, at the first scan at or after ``at_ms``."""

    def __init__(self, config: LaneConfig, at_ms: int) -> None:
        super().__init__(config)
        self.at_ms = at_ms
        self.crashed = False

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        if not self.crashed and now_ms >= self.at_ms:
            self.crashed = True
            raise RuntimeError("simulated crash")
        return super().step(inputs, now_ms)


def test_crash_is_counted_and_the_controller_restarts_from_its_persisted_state(
    mixed: Scenario,
) -> None:
    """A crash is caught and counted; the restarted core keeps its count and the lane goes on."""
    ctl = _CrashesOnce(LaneConfig(), at_ms=600_000)
    report = run_mil(
        mixed,
        hours=0.3,
        seed=3,
        controller=ctl,
        random_faults=False,
        operator=OperatorPolicy(reset_after_ms=30_000),
    )
    assert report.crashes == 1
    assert report.restarts == 1
    assert ctl.restarts == 1
    assert not report.ok
    assert report.incidents[0].kind == "crash"
    assert report.incidents[0].at_ms == 600_000
    # Two seconds without heartbeat: the I/O side's watchdog applied the fail state.
    assert report.watchdog_trips >= 1
    assert dict(report.fault_kinds).get("io_watchdog", 0) >= 1
    # The count survived the restart and crossings after it were still counted.
    assert ctl.state.lane.count == report.counted
    assert report.counted >= report.crossed - 1
    assert report.lost == 0


def test_operator_policy_and_arguments_are_checked(mixed: Scenario) -> None:
    """Bad soak arguments raise a ValueError naming the argument."""
    with pytest.raises(ValueError, match="hours"):
        run_mil(mixed, hours=0, seed=1)
    with pytest.raises(ValueError, match="scan_ms"):
        run_mil(mixed, hours=0.1, seed=1, scan_ms=0)
    with pytest.raises(ValueError, match="reset_after_ms"):
        OperatorPolicy(reset_after_ms=0)
    with pytest.raises(ValueError, match="mean_interval_s"):
        RandomFaultSpec(mean_interval_s=0)


def test_random_fault_schedule_is_seeded_and_in_range() -> None:
    """The random schedule is the same for a seed, starts after first_after_s, and uses only
    the soak's fault kinds."""
    day = 24 * 3_600_000
    a = random_faults(5, day)
    assert a == random_faults(5, day)
    assert a != random_faults(6, day)
    assert 50 <= len(a) <= 150
    assert all(120_000 <= f.at_ms < day for f in a)
    assert [f.at_ms for f in a] == sorted(f.at_ms for f in a)
    kinds = {f.kind for f in a}
    assert kinds == {
        FaultKind.STUCK_ON,
        FaultKind.STUCK_OFF,
        FaultKind.BARRIER_JAM,
        FaultKind.SLOW_BARRIER,
        FaultKind.MOTOR_FAULT,
        FaultKind.BUS_DROP,
    }
    assert all(f.input in STUCK_INPUTS for f in a if f.input is not None)
    assert all(f.factor > 1.0 for f in a if f.kind is FaultKind.SLOW_BARRIER)
    assert random_faults(5, 100_000) == ()


def test_cli_json_has_the_soak_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """``lanectl mil --json`` prints one JSON object with the soak totals and exits 0 when clean."""
    code = main(["mil", "--hours", "0.05", "--scenario", "mixed", "--seed", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in JSON_KEYS:
        assert key in data
    assert data["sim_hours"] == pytest.approx(0.05)
    assert data["ok"] is True


def test_cli_exits_1_on_a_failed_soak(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mixed: Scenario
) -> None:
    """A soak with a vehicle lost while the sensors were healthy makes ``lanectl mil`` exit 1
    and say FAILED."""
    clean = run_mil(mixed, hours=0.02, seed=1)
    lost = dataclasses.replace(clean, lost=1, lost_healthy_sensors=1)
    monkeypatch.setattr(mil, "run_mil", lambda *a, **k: lost)
    code = main(["mil", "--hours", "0.02"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out
    assert "boom_contacts_healthy_sensors" in out


def test_cli_names_a_bad_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scenario exits 2 with a message naming it."""
    assert main(["mil", "--scenario", "no_such_lane", "--hours", "0.01"]) == 2
    assert "no_such_lane" in capsys.readouterr().err


def test_camera_runs_degraded_through_camera_faults(mixed: Scenario) -> None:
    """With the camera model, mixed's camera freeze is seen as a camera fault, the lane runs
    on through it and the soak stays clean."""
    report = run_mil(mixed, hours=0.4, seed=1, camera=True, random_faults=False)
    events = dict(report.events)
    assert report.camera
    assert events.get("camera_fault", 0) >= 1
    assert events.get("camera_restored", 0) >= 1
    assert report.ok, report.incidents
    assert report.crossed > 10
    without = run_mil(mixed, hours=0.4, seed=1, random_faults=False)
    assert "camera_fault" not in dict(without.events)


def test_crossings_unseen_by_a_stuck_photocell_are_told_apart(mixed: Scenario) -> None:
    """A crossing missed while the photocell is stuck off is lost with faulty sensors, not a
    logic fault: it counts in ``lost`` but not in ``lost_healthy_sensors``."""
    dead = FaultSpec(FaultKind.STUCK_OFF, at_ms=0, duration_ms=10**9, input="photocell")
    scenario = dataclasses.replace(mixed, faults=(dead,))
    report = run_mil(scenario, hours=0.5, seed=4, random_faults=False)
    lost = [i for i in report.incidents if i.kind.startswith("lost")]
    assert report.crossed > 5
    assert report.lost == len(lost) + report.double_counted
    assert report.lost_healthy_sensors == report.double_counted == 0
    assert all(i.kind == "lost_faulty_sensors" and "photocell stuck_off" in i.detail for i in lost)
    assert report.counted + report.lost >= report.crossed - 1
    assert report.lost_faulty_sensors == len(lost)
    # Reported, but not a failed soak: no sensor could have told these vehicles apart.
    assert report.ok == (report.boom_contacts_healthy_sensors == 0 and report.crashes == 0)


def test_verdict_fails_on_each_of_its_causes(soak: MilReport) -> None:
    """Each cause alone fails the verdict; a loss with a faulty sensor alone does not."""
    assert soak.ok
    for change in (
        {"lost": 1, "lost_healthy_sensors": 1},
        {"lost": 1, "double_counted": 1, "lost_healthy_sensors": 1},
        {"boom_contacts_healthy_sensors": 1},
        {"safety_overrides": 1},
        {"crashes": 1},
    ):
        assert not dataclasses.replace(soak, **change).ok, change  # type: ignore[arg-type]
    faulty = dataclasses.replace(soak, lost=2)
    assert faulty.ok and faulty.lost_faulty_sensors == 2
    assert faulty.to_dict()["lost_faulty_sensors"] == 2


def test_cli_reads_a_lane_config_and_names_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config`` takes the core's timing from a lane config; a bad one exits 2 naming the key."""
    good = tmp_path / "lane.toml"
    good.write_text("[policy]\nauto_release_ms = 4000\n", encoding="utf-8")
    assert main(["mil", "--hours", "0.03", "--config", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sim_hours"] == pytest.approx(0.03)
    bad = tmp_path / "bad.toml"
    bad.write_text("[timing]\namber_ms = 100\n", encoding="utf-8")
    assert main(["mil", "--hours", "0.01", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "timing.amber_ms" in err
    assert str(bad) in err


def test_slower_scan_still_clean(mixed: Scenario) -> None:
    """A 25 ms scan runs the same traffic cleanly, with one scan per 25 simulated ms."""
    report = run_mil(mixed, hours=0.2, seed=1, scan_ms=25)
    assert report.scan_ms == 25
    assert report.scans == 720_000 // 25
    assert report.ok, report.incidents
    assert report.crossed > 5


def test_dead_photocell_loses_nothing_with_the_camera(mixed: Scenario) -> None:
    """An hour of mixed traffic with the photocell dead: with the camera every crossing is
    counted once (runners and tailgaters included); without it, nothing is counted twice
    and every loss says whether a working sensor saw the vehicle on its own."""
    dead = FaultSpec(FaultKind.STUCK_OFF, at_ms=0, duration_ms=10**9, input="photocell")
    scenario = dataclasses.replace(mixed, faults=(dead,))
    seen = run_mil(scenario, hours=1.0, seed=4, random_faults=False, camera=True)
    assert seen.crossed > 10 and seen.tailgates + seen.run_throughs >= 3
    assert seen.lost == 0 and seen.double_counted == 0, seen.incidents
    assert seen.counted == seen.crossed
    blind = run_mil(scenario, hours=1.0, seed=4, random_faults=False)
    lost = [i for i in blind.incidents if i.kind == "lost_faulty_sensors"]
    assert blind.double_counted == 0
    assert blind.lost == len(lost) >= 1 and blind.lost_unseen >= 1
    unseen = [i for i in lost if i.detail.endswith("seen by no working sensor)")]
    assert len(unseen) == blind.lost_unseen
    assert all("seen alone by" in i.detail for i in lost if i not in unseen)
