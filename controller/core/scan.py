"""One controller scan: the lane proposes, the safety monitor disposes.

This is what the runtime, replay and the model-in-the-loop soak call:
``scan(state, inputs, now_ms)`` runs ``lane.step``, vets its outputs with
``safety.vet`` and, on an override, writes the monitor's safe outputs, latches
a ``safety_<rule>`` fault in the lane and emits ``safety_override`` carrying
the snapshot the monitor judged. ``Persisted`` is the small part of the state
that must survive a restart (S8 latched faults, S11 vehicle count).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from controller.core import lane as _lane
from controller.core import safety as _safety
from controller.core.lane import LaneState
from controller.core.safety import SafetyState
from controller.core.types import (
    EVENT_KINDS,
    CameraHealth,
    Event,
    EventValue,
    Inputs,
    LaneConfig,
    Mode,
    Outputs,
    Phase,
)

__all__ = [
    "EVENT_KINDS",
    "Persisted",
    "ScanResult",
    "ScanState",
    "initial_state",
    "mode_phase_code",
    "persisted",
    "scan",
    "status",
    "vehicle_count",
]

_INPUT_FLAGS = (
    "loop_approach",
    "loop_bay",
    "photocell",
    "loop_exit",
    "barrier_up",
    "barrier_down",
    "safety_edge",
    "estop",
    "motor_fault",
    "bus_ok",
    "io_watchdog_tripped",
)
_OUTPUT_FLAGS = tuple(Outputs.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class ScanState:
    """Lane state plus safety-monitor state; the lane state carries the config."""

    lane: LaneState
    safety: SafetyState

    @property
    def config(self) -> LaneConfig:
        return self.lane.config


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The next state, the outputs to write this scan, and what happened."""

    state: ScanState
    outputs: Outputs
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Persisted:
    """What survives a restart: latched faults (S8) and the vehicle count (S11)."""

    faults: tuple[str, ...] = ()
    count: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"count: must be a non-negative integer, got {self.count!r}")
        if not all(isinstance(f, str) and f for f in self.faults):
            raise ValueError(f"faults: must be non-empty strings, got {self.faults!r}")

    def to_json(self) -> str:
        return json.dumps({"faults": sorted(self.faults), "count": self.count}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Persisted:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"persisted state: not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError("persisted state: expected a JSON object")
        for key in ("faults", "count"):
            if key not in data:
                raise ValueError(f"{key}: missing from persisted state")
        faults = data["faults"]
        if not isinstance(faults, list):
            raise ValueError(f"faults: expected a list, got {faults!r}")
        return cls(faults=tuple(sorted(faults)), count=data["count"])


def initial_state(config: LaneConfig, persisted: Persisted | None = None) -> ScanState:
    """Power-on state: CLOSED with the boom position unknown, or FAULT if a fault persisted."""
    p = persisted or Persisted()
    return ScanState(
        lane=_lane.initial_lane(config, faults=p.faults, count=p.count),
        safety=SafetyState(),
    )


def scan(state: ScanState, inputs: Inputs, now_ms: int) -> ScanResult:
    """One scan: ``lane.step``, then the safety vet; an override latches a fault."""
    lane_state = state.lane
    if lane_state.last_outputs is state.safety.prev and _lane.quiet(lane_state, inputs, now_ms):
        # Same inputs, same proposal as the last vetted scan, no timer due: same verdict.
        return ScanResult(state, state.safety.prev, ())
    step = _lane.step(lane_state, inputs, now_ms)
    lane_state = step.state
    verdict = _safety.vet(
        state.safety,
        inputs,
        step.outputs,
        now_ms,
        lane_state.config,
        lane_open=lane_state.mode is Mode.OPEN,
    )
    events = step.events
    if verdict.violations:
        lane_state = _lane.sync_outputs(lane_state, verdict.outputs, now_ms)
        first = verdict.violations[0]
        override = Event.make(
            "safety_override",
            now_ms,
            **_snapshot(inputs, step.outputs, verdict.outputs),
            rule=first.rule,
            rules=",".join(v.rule for v in verdict.violations),
            reason=first.reason,
            mode=lane_state.mode.name,
            phase=lane_state.phase.name,
        )
        lane_state, latched = _lane.latch_fault(lane_state, f"safety_{first.rule.lower()}", now_ms)
        events = (*events, override, *latched)
    if lane_state is state.lane and verdict.state is state.safety:
        return ScanResult(state, verdict.outputs, events)
    return ScanResult(ScanState(lane_state, verdict.state), verdict.outputs, events)


def _snapshot(inputs: Inputs, proposed: Outputs, written: Outputs) -> dict[str, EventValue]:
    values: dict[str, EventValue] = {f"in_{n}": getattr(inputs, n) for n in _INPUT_FLAGS}
    cam = inputs.camera
    values["in_camera_health"] = cam.health.value
    values["in_camera_bay"] = cam.bay
    values["in_camera_barrier"] = cam.barrier
    for n in _OUTPUT_FLAGS:
        values[f"proposed_{n}"] = getattr(proposed, n)
        values[f"written_{n}"] = getattr(written, n)
    return values


def persisted(state: ScanState) -> Persisted:
    """The part of ``state`` to store so a restart keeps faults and the count."""
    return Persisted(faults=state.lane.faults, count=state.lane.count)


def vehicle_count(state: ScanState) -> int:
    """All vehicles that crossed the barrier line (passed + tailgate + run-through)."""
    return state.lane.count


def mode_phase_code(state: ScanState) -> int:
    """Holding register 2: the mode code in the high byte, the phase code in the low byte."""
    return (state.lane.mode.value << 8) | state.lane.phase.value


def status(state: ScanState) -> dict[str, object]:
    """A JSON-ready summary for the control API and ``lanectl``."""
    s = state.lane
    prev = state.safety.prev
    return {
        "mode": s.mode.name,
        "phase": s.phase.name,
        "mode_phase_code": mode_phase_code(state),
        "faults": list(s.faults),
        "fault_latched": bool(s.faults),
        "count": s.count,
        "lane_open_requested": s.lane_open,
        "maintenance": s.maintenance,
        "emergency_open": s.emergency,
        "degraded": s.camera is CameraHealth.FAULT,
        "camera": s.camera.value,
        "bus_lost": s.bus_lost,
        "stuck_loops": list(s.stuck),
        "entry": s.entry.value,
        "motion": s.motion.value,
        "reversals": s.reversals,
        "vehicle_in_bay": s.phase in (Phase.ENTERING, Phase.INSPECTING, Phase.ASIDE, Phase.WARNING),
        "outputs": prev.as_dict(),
    }
