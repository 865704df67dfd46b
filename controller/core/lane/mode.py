"""Mode derivation: the mode from its flags by priority, the phase each mode starts in
(the ENTRY rows of the table), and a fault latched from outside the table."""

from __future__ import annotations

from collections.abc import Callable

from controller.core.lane.names import (
    FAULT_ESTOP,
    FAULT_OBSTRUCTION,
    MECHANICAL_FAULTS,
    Trigger,
)
from controller.core.lane.state import LaneState, replace_state
from controller.core.lane.tables import ENTRY_ROWS
from controller.core.types import Event, FailMode, LaneConfig, Mode, Phase

__all__ = ["ENTRY_GUARDS", "derive_mode", "entry_phase", "initial_lane", "latch_fault"]


def derive_mode(
    estop: bool, emergency: bool, faults: tuple[str, ...], maintenance: bool, lane_open: bool
) -> Mode:
    """The mode by priority: ESTOP > EMERGENCY_OPEN > FAULT > MAINTENANCE > CLOSED > OPEN."""
    if estop:
        return Mode.ESTOP
    if emergency:
        return Mode.EMERGENCY_OPEN
    if faults:
        return Mode.FAULT
    if maintenance:
        return Mode.MAINTENANCE
    return Mode.OPEN if lane_open else Mode.CLOSED


def _halting_fault(faults: tuple[str, ...], bus_lost: bool) -> bool:
    # No motion after an ESTOP until an operator reset (ISO 13850), nor with a boom
    # that does not answer, nor with inputs that cannot be believed.
    return bus_lost or FAULT_ESTOP in faults or not MECHANICAL_FAULTS.isdisjoint(faults)


EntryGuard = Callable[[Mode, tuple[str, ...], bool, LaneConfig], bool]
ENTRY_GUARDS: dict[Trigger, EntryGuard] = {
    Trigger.ENTER_ESTOP: lambda mode, faults, bus_lost, cfg: mode is Mode.ESTOP,
    Trigger.ENTER_MAINTENANCE: lambda mode, faults, bus_lost, cfg: mode is Mode.MAINTENANCE,
    Trigger.ENTER_EMERGENCY: lambda mode, faults, bus_lost, cfg: mode is Mode.EMERGENCY_OPEN,
    Trigger.ENTER_FAULT_HALTED: lambda mode, faults, bus_lost, cfg: (
        mode is Mode.FAULT and _halting_fault(faults, bus_lost)
    ),
    Trigger.ENTER_FAULT_UP: lambda mode, faults, bus_lost, cfg: (
        mode is Mode.FAULT and (FAULT_OBSTRUCTION in faults or cfg.fail_mode is FailMode.SAFE)
    ),
    Trigger.ENTER_FAULT_DOWN: lambda mode, faults, bus_lost, cfg: mode is Mode.FAULT,
    Trigger.ENTER_CYCLE: lambda mode, faults, bus_lost, cfg: True,
}
"""The predicate of each ENTRY row, over (mode, faults, bus lost, config)."""


def entry_phase(mode: Mode, faults: tuple[str, ...], bus_lost: bool, config: LaneConfig) -> Phase:
    """The phase a mode starts in: the target of the first ENTRY row that holds."""
    for row in ENTRY_ROWS:
        if ENTRY_GUARDS[row.trigger](mode, faults, bus_lost, config):
            return row.target
    raise AssertionError("ENTRY_ROWS ends with a row that always holds")


def initial_lane(
    config: LaneConfig, faults: tuple[str, ...] = (), count: int = 0, now_ms: int = 0
) -> LaneState:
    """The lane at power-on: CLOSED, boom position unknown, or FAULT when faults persisted."""
    faults = tuple(sorted(set(faults)))
    mode = derive_mode(False, False, faults, False, False)
    phase = entry_phase(mode, faults, False, config)
    return LaneState(config=config, mode=mode, phase=phase, faults=faults, count=count)


def latch_fault(state: LaneState, fault: str, now_ms: int) -> tuple[LaneState, tuple[Event, ...]]:
    """Latch ``fault`` from outside the table (the safety monitor's override)."""
    if fault in state.faults:
        return state, ()
    faults = tuple(sorted((*state.faults, fault)))
    events: list[Event] = [Event.make("fault_latched", now_ms, fault=fault)]
    mode = derive_mode(
        state.mode is Mode.ESTOP, state.emergency, faults, state.maintenance, state.lane_open
    )
    phase, phase_since = state.phase, state.phase_since
    if mode is not state.mode or mode is Mode.FAULT:
        phase = entry_phase(mode, faults, state.bus_lost, state.config)
        phase_since = now_ms
    if mode is not state.mode:
        events.append(Event.make("mode_changed", now_ms, mode=mode.name, previous=state.mode.name))
    new = replace_state(state, faults=faults, mode=mode, phase=phase, phase_since=phase_since)
    return new, tuple(events)
