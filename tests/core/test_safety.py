"""The safety monitor: each rule on its own, its safe outputs, and broken lanes it must catch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from controller.core import lane as lane_module
from controller.core import scan as scan_module
from controller.core.lane import LaneState, Phase, Step
from controller.core.safety import SafetyState, check, safe_outputs, vet
from controller.core.scan import ScanState, initial_state, scan
from controller.core.types import (
    CameraHealth,
    CameraZones,
    Command,
    CommandKind,
    Event,
    Inputs,
    LaneConfig,
    Outputs,
)

CFG = LaneConfig()
READY_GREEN = Outputs(entry_red=False, entry_green=True, lane_open=True, lane_closed=False)
DOWN = Inputs(barrier_down=True)


def rules(
    state: SafetyState, inputs: Inputs, out: Outputs, now: int = 10_000, lane_open: bool = True
) -> set[str]:
    return {v.rule for v in check(state, inputs, out, now, CFG, lane_open=lane_open)}


def test_s1_lower_with_anything_under_the_boom() -> None:
    """S1: LOWER is refused with photocell, safety edge, camera barrier zone or stale inputs."""
    lower = Outputs(barrier_lower=True, warn=True)
    s = SafetyState()
    assert rules(s, Inputs(), lower) == set()
    assert "S1" in rules(s, Inputs(photocell=True), lower)
    assert "S1" in rules(s, Inputs(safety_edge=True), lower)
    cam = CameraZones(health=CameraHealth.OK, barrier=True)
    assert "S1" in rules(s, Inputs(camera=cam), lower)
    assert "S1" in rules(s, Inputs(bus_ok=False), lower)
    faulted_cam = CameraZones(health=CameraHealth.FAULT, barrier=True)
    assert rules(s, Inputs(camera=faulted_cam), lower) == set()


def test_s2_raise_and_lower_together() -> None:
    """S2: both motor outputs on at once is a violation."""
    assert "S2" in rules(SafetyState(), Inputs(), Outputs(barrier_raise=True, barrier_lower=True))


def test_s3_edge_while_lowering_must_reverse() -> None:
    """S3: after a lowering scan, a pressed edge needs RAISE on, not just LOWER off."""
    s = SafetyState(prev=Outputs(barrier_lower=True, warn=True))
    edge = Inputs(safety_edge=True)
    assert "S3" in rules(s, edge, Outputs())
    assert rules(s, edge, Outputs(barrier_raise=True, warn=True)) == set()
    assert "S3" not in rules(s, replace(edge, barrier_up=True), Outputs())


def test_s4_estop_stops_motor_and_reddens_entry() -> None:
    """S4: with ESTOP pressed the motor is off and the entry shows red only, amber skipped."""
    s = SafetyState(prev=READY_GREEN)
    estop = Inputs(estop=True, barrier_down=True)
    assert "S4" in rules(s, estop, READY_GREEN)
    assert "S4" in rules(s, estop, Outputs(barrier_raise=True))
    assert rules(s, estop, Outputs(alarm=True)) == set()


def test_s5_entry_green_conditions() -> None:
    """S5: green needs OPEN, bay empty and the boom confirmed down (or early entry)."""
    s = SafetyState(prev=READY_GREEN)
    assert rules(s, DOWN, READY_GREEN) == set()
    assert "S5" in rules(s, DOWN, READY_GREEN, lane_open=False)
    assert "S5" in rules(s, replace(DOWN, loop_bay=True), READY_GREEN)
    cam = CameraZones(health=CameraHealth.OK, bay=True)
    assert "S5" in rules(s, replace(DOWN, camera=cam), READY_GREEN)
    assert "S5" in rules(s, Inputs(barrier_up=True), READY_GREEN)
    assert "S5" in rules(s, Inputs(), READY_GREEN)
    early = LaneConfig(early_entry=True)
    assert not check(s, Inputs(barrier_up=True), READY_GREEN, 0, early, lane_open=True)


def test_s6_amber_between_green_and_red() -> None:
    """S6: green straight to red, a short amber, or two colours at once are violations."""
    red = Outputs()
    amber = Outputs(entry_red=False, entry_amber=True)
    assert "S6" in rules(SafetyState(prev=READY_GREEN), DOWN, red)
    assert rules(SafetyState(prev=READY_GREEN), DOWN, amber) == set()
    in_amber = SafetyState(prev=amber, amber_since=10_000)
    assert "S6" in rules(in_amber, DOWN, red, now=10_000 + CFG.amber_ms - 1)
    assert rules(in_amber, DOWN, red, now=10_000 + CFG.amber_ms) == set()
    assert "S6" in rules(SafetyState(), DOWN, Outputs(entry_amber=True))
    assert "S6" in rules(SafetyState(), DOWN, Outputs(exit_green=True))
    # S4 wins over S6: ESTOP turns green straight to red.
    assert "S6" not in rules(SafetyState(prev=READY_GREEN), replace(DOWN, estop=True), red)


def test_s7_no_lowering_start_while_exit_green() -> None:
    """S7: the boom does not start down while (or the scan after) the exit light is green."""
    passing = Outputs(exit_red=False, exit_green=True)
    lower = Outputs(barrier_lower=True, warn=True)
    assert "S7" in rules(SafetyState(prev=passing), Inputs(barrier_up=True), lower)
    both = replace(passing, barrier_lower=True)
    assert "S7" in rules(SafetyState(), Inputs(barrier_up=True), both)
    assert rules(SafetyState(prev=Outputs(warn=True)), Inputs(barrier_up=True), lower) == set()


def _all_inputs() -> Iterator[Inputs]:
    for bits in range(1 << 8):
        photocell, edge, estop, bay, up, down, bus, motor = (bool(bits >> i & 1) for i in range(8))
        yield Inputs(
            photocell=photocell,
            safety_edge=edge,
            estop=estop,
            loop_bay=bay,
            barrier_up=up,
            barrier_down=down,
            bus_ok=bus,
            motor_fault=motor,
        )


_PREVS = (
    Outputs(),
    READY_GREEN,
    Outputs(entry_red=False, entry_amber=True),
    Outputs(barrier_lower=True, warn=True),
    Outputs(barrier_raise=True, warn=True),
    Outputs(exit_red=False, exit_green=True),
)


def test_safe_outputs_always_pass_the_checks() -> None:
    """Whatever was written before and whatever the inputs, the substitute breaks no rule."""
    bad = Outputs(barrier_raise=True, barrier_lower=True, entry_green=True, exit_green=True)
    for prev in _PREVS:
        for amber_since in (0, 9_999):
            state = SafetyState(prev=prev, amber_since=amber_since)
            for inputs in _all_inputs():
                out = safe_outputs(state, inputs, bad, 10_000, CFG)
                assert check(state, inputs, out, 10_000, CFG, lane_open=True) == ()
                verdict = vet(state, inputs, bad, 10_000, CFG, lane_open=True)
                assert verdict.outputs == out and verdict.violations


# -- mutants: broken variants of lane.step that the monitor must catch -------------------

StepFn = Callable[[LaneState, Inputs, int], Step]
REAL_STEP: StepFn = lane_module.step


def _mutant_lower_on_photocell(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if i.photocell:
        return replace(r, outputs=replace(r.outputs, barrier_lower=True, barrier_raise=False))
    return r


def _mutant_skip_amber(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if r.outputs.entry_amber:
        return replace(r, outputs=replace(r.outputs, entry_amber=False, entry_red=True))
    return r


def _mutant_green_with_boom_up(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if r.state.phase is Phase.PASSING:
        out = replace(r.outputs, entry_red=False, entry_amber=False, entry_green=True)
        return replace(r, outputs=out)
    return r


def _mutant_ignore_estop(s: LaneState, i: Inputs, now: int) -> Step:
    return REAL_STEP(s, replace(i, estop=False), now)


def _mutant_ignore_safety_edge(s: LaneState, i: Inputs, now: int) -> Step:
    return REAL_STEP(s, replace(i, safety_edge=False), now)


def _mutant_lower_with_exit_green(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if r.state.phase is Phase.PASSING:
        return replace(r, outputs=replace(r.outputs, barrier_lower=True))
    return r


def _mutant_raise_and_lower(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if r.outputs.barrier_raise:
        return replace(r, outputs=replace(r.outputs, barrier_lower=True))
    return r


def _mutant_green_in_closed_lane(s: LaneState, i: Inputs, now: int) -> Step:
    r = REAL_STEP(s, i, now)
    if r.state.phase is Phase.READY and not r.outputs.lane_open:
        out = replace(r.outputs, entry_red=False, entry_amber=False, entry_green=True)
        return replace(r, outputs=out)
    return r


def _script() -> Iterator[tuple[Inputs, int]]:
    """A cycle with everything a broken lane could get wrong: green, amber, a release, a
    crossing, a reversal on the photocell, the safety edge while lowering, then ESTOP.
    Yields (inputs, ms to hold them), scanned every 10 ms."""
    up, none = Inputs(barrier_up=True), Inputs()
    yield Inputs(barrier_down=True), 10
    yield Inputs(barrier_down=True, commands=(Command(CommandKind.OPEN_LANE),)), 10
    yield Inputs(barrier_down=True), 200
    yield Inputs(barrier_down=True, loop_bay=True), 1300
    yield Inputs(barrier_down=True, loop_bay=True, commands=(Command(CommandKind.RELEASE),)), 10
    yield Inputs(barrier_down=True, loop_bay=True), 1600
    yield Inputs(loop_bay=True), 200
    yield Inputs(barrier_up=True, loop_bay=True), 300
    yield Inputs(barrier_up=True, loop_bay=True, photocell=True), 200
    yield Inputs(barrier_up=True, photocell=True, loop_exit=True), 200
    yield Inputs(barrier_up=True, loop_exit=True), 100
    yield up, 700
    yield none, 200
    yield Inputs(photocell=True), 100
    yield none, 100
    yield up, 700
    yield none, 100
    yield Inputs(safety_edge=True), 50
    yield none, 100
    yield up, 700
    yield none, 200
    yield Inputs(barrier_down=True), 3500
    yield Inputs(barrier_down=True, estop=True), 100


def _run(monkeypatch: pytest.MonkeyPatch, mutant: StepFn | None) -> list[Event]:
    if mutant is not None:
        monkeypatch.setattr(lane_module, "step", mutant)
        monkeypatch.setattr(lane_module, "quiet", lambda s, i, now: False)
    state: ScanState = initial_state(CFG)
    now = 0
    events: list[Event] = []
    for inputs, hold in _script():
        for _ in range(max(1, hold // 10)):
            now += 10
            result = scan(state, inputs, now)
            state = result.state
            events.extend(result.events)
    return events


def test_real_lane_needs_no_override_in_the_mutant_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the real lane runs the whole script without a single override."""
    events = _run(monkeypatch, None)
    kinds = [e.kind for e in events]
    assert "safety_override" not in kinds
    assert {"vehicle_released", "vehicle_passed", "boom_reversed", "fault_latched"} <= set(kinds)
    assert kinds.count("boom_reversed") == 2


MUTANTS: list[tuple[StepFn, str]] = [
    (_mutant_lower_on_photocell, "S1"),
    (_mutant_raise_and_lower, "S2"),
    (_mutant_ignore_safety_edge, "S3"),
    (_mutant_ignore_estop, "S4"),
    (_mutant_green_with_boom_up, "S5"),
    (_mutant_green_in_closed_lane, "S5"),
    (_mutant_skip_amber, "S6"),
    (_mutant_lower_with_exit_green, "S7"),
]


@pytest.mark.parametrize(("mutant", "rule"), MUTANTS, ids=[m.__name__[9:] for m, _ in MUTANTS])
def test_monitor_catches_mutant(monkeypatch: pytest.MonkeyPatch, mutant: StepFn, rule: str) -> None:
    """A deliberately broken step is overridden, naming the rule it broke, and a fault latches."""
    events = _run(monkeypatch, mutant)
    overrides = [e for e in events if e.kind == "safety_override"]
    assert overrides, "the monitor let a broken lane through"
    broken = {r for e in overrides for r in str(e.get("rules")).split(",")}
    assert rule in broken
    latched = [e.get("fault") for e in events if e.kind == "fault_latched"]
    assert any(str(f).startswith("safety_s") for f in latched)
    first = overrides[0]
    assert first.get("proposed_barrier_lower") is not None and first.get("written_alarm") is True


def test_override_latches_fault_and_writes_safe_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an override the lane is in FAULT and its own proposals pass the monitor again."""
    monkeypatch.setattr(lane_module, "step", _mutant_lower_on_photocell)
    monkeypatch.setattr(lane_module, "quiet", lambda s, i, now: False)
    r = scan(initial_state(CFG), DOWN, 10)
    r = scan(r.state, replace(DOWN, photocell=True), 20)
    kinds = [e.kind for e in r.events]
    assert kinds == ["safety_override", "fault_latched", "mode_changed"]
    assert not r.outputs.barrier_lower and not r.outputs.barrier_raise
    assert r.outputs.alarm and r.outputs.lane_closed and r.outputs.entry_red
    assert r.state.lane.mode.name == "FAULT"
    assert r.state.lane.faults == ("safety_s1",)
    assert r.state.safety.prev == r.outputs
    monkeypatch.setattr(lane_module, "step", REAL_STEP)
    for now in range(30, 2000, 10):
        r = scan(r.state, DOWN, now)
        assert not any(e.kind == "safety_override" for e in r.events)
    assert r.state.lane.phase is Phase.HALTED
    assert scan_module.persisted(r.state).faults == ("safety_s1",)
