"""A fault reset in the very scan that shows the fault's cause again does not clear it (S8)."""

from __future__ import annotations

from controller.core.lane import FAULT_DOWN_LIMIT_LOST
from controller.core.scan import initial_state, scan
from controller.core.types import Command, CommandKind, Inputs, LaneConfig, Mode
from tests.core.helpers import s8_problems


def test_limit_lost_again_in_the_reset_scan_stays_latched() -> None:
    """Down limit lost, latched; it comes back, and is lost again in the scan the operator's
    reset arrives in: the fault latches anew (found by test_properties.py's machine)."""
    state = initial_state(LaneConfig())
    now = 0
    steps = [
        (Inputs(barrier_down=True), 5),
        (Inputs(), 1),
        (Inputs(barrier_down=True), 1),
        (Inputs(commands=(Command(CommandKind.RESET_FAULT),)), 1),
    ]
    for inputs, dt in steps:
        now += dt
        result = scan(state, inputs, now)
        assert s8_problems(state, inputs, now, result.state) == []
        state = result.state
    assert state.lane.faults == (FAULT_DOWN_LIMIT_LOST,)
    assert state.lane.mode is Mode.FAULT
    kinds = [(e.kind, e.get("fault")) for e in result.events]
    assert kinds[0][0] == "fault_reset"
    assert ("fault_latched", FAULT_DOWN_LIMIT_LOST) in kinds


def test_reset_after_the_cause_cleared_still_clears() -> None:
    """The usual reset (the limit back and steady) clears the fault as before."""
    state = initial_state(LaneConfig())
    now = 0
    for inputs, dt in [
        (Inputs(barrier_down=True), 5),
        (Inputs(), 1),
        (Inputs(barrier_down=True), 1),
        (Inputs(barrier_down=True, commands=(Command(CommandKind.RESET_FAULT),)), 1),
    ]:
        now += dt
        state = scan(state, inputs, now).state
    assert state.lane.faults == ()
    assert state.lane.mode is Mode.CLOSED
