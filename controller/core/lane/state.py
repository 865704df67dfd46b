"""The lane's state between two scans, what one scan produced, and the cheap copy the
scan's hot path uses."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from controller.core.lane.names import Motion, Signal
from controller.core.types import (
    CameraHealth,
    Event,
    Inputs,
    LaneConfig,
    Mode,
    Outputs,
    Phase,
)

__all__ = ["NO_WITNESS", "BarrierWitness", "LaneState", "Step", "replace_state", "sync_outputs"]


@dataclass(frozen=True, slots=True)
class BarrierWitness:
    """What the healthy camera's barrier zone has seen of its current occupancy (S11).

    The camera is the crossing's witness when the photocell is stuck or blind: the
    barrier zone emptying with the exit side occupied is a vehicle across, unless a
    crossing was already counted since the zone last emptied.
    """

    occupied: bool = False
    """The barrier zone read occupied in the last scan (camera healthy)."""
    counted: bool = False
    """A crossing was counted since the barrier zone last emptied."""
    photocell_fell: bool = False
    """The photocell cleared during this occupancy."""
    counted_unread: bool = False
    """The camera counted a crossing while the loops and photocell went unread (bus lost):
    their edges across that gap are that vehicle's, not another."""


NO_WITNESS = BarrierWitness()


@dataclass(frozen=True, slots=True)
class LaneState:
    """The whole state of the lane between two scans (times are ``now_ms`` values)."""

    config: LaneConfig = field(default_factory=LaneConfig)
    mode: Mode = Mode.CLOSED
    phase: Phase = Phase.START
    phase_since: int = 0
    entry: Signal = Signal.RED
    entry_since: int = 0
    motion: Motion = Motion.IDLE
    motion_since: int = 0
    lane_open: bool = False
    """The operator's choice (OPEN_LANE / CLOSE_LANE); the mode is OPEN only without a
    higher-priority reason."""
    maintenance: bool = False
    emergency: bool = False
    faults: tuple[str, ...] = ()
    """Latched faults, sorted; only RESET_FAULT clears them and they survive a restart."""
    count: int = 0
    """Vehicles that crossed the barrier line (passed + tailgate + run-through)."""
    reversals: int = 0
    crossed: bool = False
    """The released vehicle of this cycle has crossed the barrier line."""
    pending: str = ""
    """How the vehicle expected across the line was let go (``PASS_RELEASE``,
    ``PASS_BOOM_UP``), until it is counted, backs out or the boom is down at rest; empty
    when none is expected (a crossing then is a tailgate or a run-through)."""
    photocell_seen: bool = False
    """The photocell was interrupted since the release: without that, the loops seeing the
    vehicle go across mean the photocell is blind."""
    camera_seen: bool = False
    """The healthy camera's barrier zone was occupied since the release."""
    witness: BarrierWitness = NO_WITNESS
    """The camera barrier zone's view of the vehicle under the boom (``crossings``)."""
    observed: bool = False
    """False until the first scan: the "since" times below start there."""
    bay: bool = False
    bay_since: int = 0
    loop_bay_since: int = 0
    """Since when loop_bay has held its value (``p_loop_bay``)."""
    clear: bool = False
    """Nothing under the boom (photocell, safety edge, camera barrier zone)."""
    clear_since: int = 0
    approach_since: int = 0
    exit_since: int = 0
    stuck: tuple[str, ...] = ()
    """Loops reported stuck (event sent once per episode)."""
    camera: CameraHealth = CameraHealth.ABSENT
    standstill: bool = False
    """A healthy camera has reported the bay zone's standstill since the start: when it
    stops doing so, INSPECTING falls back to the loop rule."""
    standstill_fallback: bool = False
    """The fallback to the loop rule was journaled (``standstill_fallback``) for the
    episode under way; cleared when the camera reports standstill again."""
    disagree_since: int | None = None
    disagree_reported: bool = False
    bus_lost: bool = False
    p_loop_approach: bool = False
    p_loop_bay: bool = False
    p_loop_exit: bool = False
    p_photocell: bool = False
    p_up: bool = False
    p_down: bool = False
    p_estop: bool = False
    p_motor_fault: bool = False
    p_release: bool = False
    p_aside: bool = False
    p_io_tripped: bool = False
    # Scan cache: when a full step changed nothing, the next scans with equal inputs
    # before ``wake_ms`` (the next moment any timer can expire) give the same result.
    settled: bool = False
    wake_ms: int = 0
    last_inputs: Inputs | None = None
    last_outputs: Outputs | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """What one scan of the lane produced."""

    state: LaneState
    outputs: Outputs
    events: tuple[Event, ...]


def replace_state(state: LaneState, **changes: object) -> LaneState:
    """A copy of ``state`` with ``changes``: ``dataclasses.replace`` without re-running
    ``__init__`` (the hot path of a scan that changes something)."""
    new = object.__new__(LaneState)
    for put, value in zip(_SETTERS, _GET_ALL(state), strict=True):
        put(new, value)
    for name, value in changes.items():
        _SETTER_BY_NAME[name](new, value)
    return new


_FIELDS = tuple(LaneState.__dataclass_fields__)
_GET_ALL = operator.attrgetter(*_FIELDS)
_SETTER_BY_NAME = {name: getattr(LaneState, name).__set__ for name in _FIELDS}
_SETTERS = tuple(_SETTER_BY_NAME[name] for name in _FIELDS)


def sync_outputs(state: LaneState, outputs: Outputs, now_ms: int) -> LaneState:
    """Make the entry signal and motor memory agree with what was actually written."""
    entry = (
        Signal.GREEN if outputs.entry_green else Signal.AMBER if outputs.entry_amber else Signal.RED
    )
    motion = (
        Motion.RAISING
        if outputs.barrier_raise
        else Motion.LOWERING
        if outputs.barrier_lower
        else Motion.IDLE
    )
    if entry is state.entry and motion is state.motion:
        return state
    return replace_state(
        state,
        entry=entry,
        entry_since=state.entry_since if entry is state.entry else now_ms,
        motion=motion,
        motion_since=state.motion_since if motion is state.motion else now_ms,
    )
