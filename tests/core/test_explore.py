"""Exhaustive exploration: breadth-first over every reachable lane state, checking S1-S8.

How the space was reduced (the raw space, 11 discrete inputs x camera x
commands x every millisecond, is far too large):

- Time is abstracted to two choices per state: "no timer expires" (the next
  scan, 10 ms later) and "the next timer expires" (jump to the earliest
  moment a timer the lane reads in this state crosses its threshold). States
  are identified by how far each such "since" time has progressed through its
  thresholds, not by absolute times; a "since" the lane does not read in the
  current phase (e.g. the amber start while the entry is red) is left out.
- Inputs are grouped into what the core can tell apart: the boom limits
  (down / up / neither / both), what is under the boom (nothing / photocell /
  safety edge), the bay loop, the exit loop, and one disturbance at a time
  (none / ESTOP / motor fault / bus lost), a disturbance only with nothing in
  the lane (the limits still vary). The approach loop only feeds the
  stuck-loop report and stays off; the camera is absent (its zones only add
  presence, which the photocell already covers for S1 and the bay loop for S5).
- At most one operator command per scan, sent with the inputs of the previous
  scan held (an operator acting while nothing else changes). The console
  buttons act through the same table rows as RELEASE / SEND_ASIDE (their
  rising edge is tested in test_lane.py) and are left out.
- Two explorations instead of one product: A runs the vehicle cycle (every
  vehicle/boom group, the cycle commands) and stops at a state that leaves
  OPEN/CLOSED; B runs an empty lane through every command and disturbance.
  C starts with a persisted photocell fault and runs A's groups in every mode
  they reach (the reset included), so a photocell latched blind mid-cycle is
  followed too.
- The stuck-loop timer (10 minutes, an alarm and an event, no output) and
  auto-release (a second way into the same RELEASE row) are not explored.
- Reversals count up to ``max_reversals`` (beyond it the obstruction fault is
  latched and more make no difference).
- The vehicle count and the scan cache do not take part in any decision and
  are left out of the state's identity; latched faults count by what the lane
  does with them (any / mechanical / obstruction), not by name.

After every step: no safety override (the lane never proposes outputs that
break S1-S7), and S8: both limits, a limit lost at rest, a travel timeout and
N reversals latch their fault, and latched faults only clear on a reset.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from operator import attrgetter

from controller.core.lane import (
    CYCLE_MODES,
    FAULT_OBSTRUCTION,
    FAULT_PHOTOCELL,
    MECHANICAL_FAULTS,
    LaneState,
    Motion,
    Signal,
)
from controller.core.scan import Persisted, ScanState, initial_state, scan
from controller.core.types import Command, CommandKind, Inputs, LaneConfig, Phase
from tests.core.helpers import s8_problems

CFG = LaneConfig()
SCAN_MS = 10

_IGNORED = {
    "count",
    "faults",
    "settled",
    "wake_ms",
    "last_inputs",
    "last_outputs",
    "phase_since",
    "entry_since",
    "motion_since",
    "bay_since",
    "loop_bay_since",
    "clear_since",
    "approach_since",
    "exit_since",
    "p_loop_exit",
    "p_loop_approach",
    "reversals",
}
_KEY_FIELDS = tuple(f for f in LaneState.__dataclass_fields__ if f not in _IGNORED)
_GET_KEY_FIELDS = attrgetter(*_KEY_FIELDS)
_TIMED_PHASES = frozenset({Phase.WARNING, Phase.INSPECTING, Phase.CLEARING})
_BAY_PHASES = frozenset(
    {Phase.READY, Phase.ENTERING, Phase.INSPECTING, Phase.ASIDE, Phase.PASSING, Phase.LOWERING}
)


def _faults(faults: tuple[str, ...]) -> tuple[bool, bool, bool, bool]:
    """Faults as the lane tells them apart: any, any mechanical, obstruction, photocell."""
    return (
        bool(faults),
        not MECHANICAL_FAULTS.isdisjoint(faults),
        FAULT_OBSTRUCTION in faults,
        FAULT_PHOTOCELL in faults,
    )


def _age(age: int, *limits: int) -> int:
    return sum(1 for t in limits if age >= t)


def _relevant(lane: LaneState) -> list[tuple[int, tuple[int, ...]]]:
    """Each "since" time the lane reads in this state, with the thresholds it compares it with
    (e.g. the amber start only while the entry is amber)."""
    phase = lane.phase
    cfg = CFG
    out: list[tuple[int, tuple[int, ...]]] = []
    if phase in _TIMED_PHASES:
        out.append((lane.phase_since, (1, cfg.warn_ms)))
    if lane.entry is Signal.AMBER:
        out.append((lane.entry_since, (cfg.amber_ms,)))
    if lane.motion is not Motion.IDLE:
        out.append((lane.motion_since, (cfg.travel_timeout_ms + 1,)))
    if phase in _BAY_PHASES:
        out.append((lane.bay_since, (cfg.presence_on_ms, cfg.presence_off_ms)))
    if lane.p_loop_bay and phase is Phase.ENTERING:
        out.append((lane.loop_bay_since, (cfg.stop_debounce_ms,)))
    if phase is Phase.CLEARING:
        out.append((lane.clear_since, (cfg.clear_delay_ms,)))
    return out


def _timers(lane: LaneState, now: int) -> tuple[tuple[int, int], ...]:
    return tuple(
        (n, sum(1 for t in limits if now - since >= t))
        for n, (since, limits) in enumerate(_relevant(lane))
    )


def _next_deadline(lane: LaneState, now: int) -> int | None:
    """When the next timer the lane reads in this state expires."""
    due = [since + t for since, limits in _relevant(lane) for t in limits if since + t > now]
    return min(due) if due else None


def _key(state: ScanState, now: int) -> tuple[object, ...]:
    lane = state.lane
    safety = state.safety
    return (
        _GET_KEY_FIELDS(lane),
        _faults(lane.faults),
        min(lane.reversals, CFG.max_reversals),
        _timers(lane, now),
        safety.prev,
        safety.prev.entry_amber and now - safety.amber_since >= CFG.amber_ms,
    )


def _lane_groups() -> list[Inputs]:
    """Exploration A: what vehicles and the boom can show, no disturbance."""
    out = []
    for up, down in ((False, True), (True, False), (False, False)):
        for under in ("none", "photocell", "edge"):
            for bay in (False, True):
                for exit_ in (False, True):
                    out.append(
                        Inputs(
                            barrier_up=up,
                            barrier_down=down,
                            photocell=under == "photocell",
                            safety_edge=under == "edge",
                            loop_bay=bay,
                            loop_exit=exit_,
                        )
                    )
    return out


def _mode_groups() -> list[Inputs]:
    """Exploration B: an empty lane with each limit reading and each disturbance."""
    out = []
    for up, down in ((False, True), (True, False), (False, False), (True, True)):
        for extra in ({}, {"photocell": True}, {"estop": True}, {"motor_fault": True}):
            out.append(Inputs(barrier_up=up, barrier_down=down, **extra))  # type: ignore[arg-type]
        out.append(Inputs(barrier_up=up, barrier_down=down, bus_ok=False))
    return out


_CYCLE_COMMANDS = (
    CommandKind.OPEN_LANE,
    CommandKind.CLOSE_LANE,
    CommandKind.RELEASE,
    CommandKind.SEND_ASIDE,
)
CAP = 30_000
"""Guard: an exploration that grows past this many states fails instead of running on."""


def _held(lane: LaneState) -> Inputs:
    return Inputs(
        barrier_up=lane.p_up,
        barrier_down=lane.p_down,
        photocell=lane.p_photocell,
        loop_bay=lane.p_loop_bay,
        loop_exit=lane.p_loop_exit,
        estop=lane.p_estop,
        motor_fault=lane.p_motor_fault,
        bus_ok=not lane.bus_lost,
    )


def explore(
    groups: list[Inputs],
    commands: tuple[CommandKind, ...],
    cycle_only: bool,
    faults: tuple[str, ...] = (),
) -> tuple[int, int, set[str], list[tuple[str, str]]]:
    """BFS from power-on with ``faults`` persisted; returns (states, transitions, mode/phases
    seen, violations).

    With ``cycle_only`` a state that left OPEN/CLOSED is counted and checked but not
    expanded (exploration B covers the other modes). Besides S1-S8: no LOWER while the
    photocell is latched blind.
    """
    start = initial_state(CFG, Persisted(faults=faults))
    frontier: deque[tuple[ScanState, int]] = deque([(start, 0)])
    seen = {_key(start, 0)}
    transitions = 0
    violations: list[tuple[str, str]] = []
    phases: set[str] = set()
    orders = [Command(kind) for kind in commands]
    while frontier:
        state, now = frontier.popleft()
        lane = state.lane
        phases.add(f"{lane.mode.name}/{lane.phase.name}")
        if cycle_only and lane.mode not in CYCLE_MODES:
            continue
        steps = {now + SCAN_MS}
        deadline = _next_deadline(lane, now) if lane.observed else None
        if deadline is not None:
            steps.add(deadline)
        held = _held(lane)
        successors = [(i, t) for i in groups for t in steps]
        successors += [(replace(held, commands=(c,)), now + SCAN_MS) for c in orders]
        for inputs, t in successors:
            result = scan(state, inputs, t)
            transitions += 1
            for event in result.events:
                if event.kind == "safety_override":
                    violations.append((str(event.get("rules")), f"{lane.phase.name} {inputs}"))
            for problem in s8_problems(state, inputs, t, result.state):
                violations.append((problem, f"{lane.phase.name} {inputs}"))
            if result.outputs.barrier_lower and FAULT_PHOTOCELL in result.state.lane.faults:
                violations.append(("LOWER with the photocell blind", f"{lane.phase.name} {inputs}"))
            key = _key(result.state, t)
            if key not in seen:
                seen.add(key)
                frontier.append((result.state, t))
        assert len(seen) < CAP, "state space grew past the cap: the reduction no longer holds"
    return len(seen), transitions, phases, violations


def test_vehicle_cycle_keeps_s1_to_s8() -> None:
    """Exploration A: every vehicle/boom input group and cycle command, in OPEN and CLOSED."""
    states, transitions, phases, violations = explore(_lane_groups(), _CYCLE_COMMANDS, True)
    print(f"\nexploration A (cycle): {states} states, {transitions} transitions")
    assert violations == []
    for phase in ("READY", "ENTERING", "INSPECTING", "ASIDE", "WARNING", "RAISING"):
        assert f"OPEN/{phase}" in phases and f"CLOSED/{phase}" in phases
    for phase in ("PASSING", "CLEARING", "LOWERING"):
        assert f"OPEN/{phase}" in phases
    assert "FAULT/HALTED" in phases


def test_modes_and_disturbances_keep_s1_to_s8() -> None:
    """Exploration B: every operator command, ESTOP, motor fault, bus loss and limit reading."""
    commands = tuple(CommandKind)
    states, transitions, phases, violations = explore(_mode_groups(), commands, False)
    print(f"\nexploration B (modes): {states} states, {transitions} transitions")
    assert violations == []
    assert {"ESTOP/HALTED", "FAULT/HALTED", "FAULT/CLEARING", "MAINTENANCE/RAISING"} <= phases
    assert {"EMERGENCY_OPEN/OPENED", "MAINTENANCE/LOWERING", "OPEN/READY"} <= phases


def test_blind_photocell_never_lowers_the_boom() -> None:
    """Exploration C: power-on with a persisted photocell fault, every vehicle/boom group and
    every command: no violation, the boom never lowered until a reset clears the fault."""
    commands = (*_CYCLE_COMMANDS, CommandKind.RESET_FAULT)
    states, transitions, phases, violations = explore(
        _lane_groups(), commands, False, faults=(FAULT_PHOTOCELL,)
    )
    print(f"\nexploration C (photocell blind): {states} states, {transitions} transitions")
    assert violations == []
    assert {"FAULT/CLEARING", "CLOSED/READY", "OPEN/PASSING"} <= phases
