"""The guards: one predicate per trigger, over the scan's ``View``.

A "since" time is read as this scan left it (supervision may have restarted it).

A command trigger holds when its command arrived (``View.cmds``); its predicate here
is False. Inputs are fresh whenever a guard runs: with the bus lost no CYCLE row is tried.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.core.lane.names import Motion, Trigger
from controller.core.lane.view import View
from controller.core.types import LaneConfig, Mode, Phase

__all__ = ["GUARDS", "never_still"]


def _bay_arrived(v: View) -> bool:
    since = v.changes.get("bay_since", v.state.bay_since)
    assert isinstance(since, int)
    return v.bay and v.now - since >= v.config.presence_on_ms


def _bay_left(v: View) -> bool:
    since = v.changes.get("bay_since", v.state.bay_since)
    assert isinstance(since, int)
    return (
        not v.bay
        and not v.photocell
        and v.now - since >= v.config.presence_off_ms
        and (v.state.phase is not Phase.PASSING or not v.inputs.loop_exit)
    )


def _stopped(v: View) -> bool:
    """The camera's standstill when a healthy camera reports it, else the loop rule."""
    cfg = v.config
    since = v.changes.get("loop_bay_since", v.state.loop_bay_since)
    assert isinstance(since, int)
    still = v.still_ms
    if still is not None:
        if v.bay and still >= cfg.standstill_ms:
            return True
        return v.inputs.loop_bay and never_still(v.now, since, cfg)
    return v.inputs.loop_bay and v.now - since >= cfg.stop_debounce_ms


def never_still(now: int, loop_bay_since: int, cfg: LaneConfig) -> bool:
    """The bay loop has held its vehicle past the loop rule plus ``standstill_timeout_ms``
    without the camera seeing it still: the loop rule decides after all."""
    return now - loop_bay_since >= cfg.stop_debounce_ms + cfg.standstill_timeout_ms


def _auto_release(v: View) -> bool:
    """The dwell counts from when the vehicle stood still: a healthy camera reporting the
    bay's standstill says when that was (INSPECTING itself starts standstill_ms later)."""
    auto = v.config.auto_release_ms
    if auto is None or not v.cycle:
        return False
    still = v.still_ms
    return v.now - v.state.phase_since >= auto or (still is not None and still >= auto)


def _clear(v: View) -> bool:
    now = v.now
    since = v.changes.get("clear_since", v.state.clear_since)
    assert isinstance(since, int)
    return v.clear and now - since >= v.config.clear_delay_ms and now > v.state.phase_since


def _command(v: View) -> bool:
    return False


def _lowering_onto_presence(v: View) -> bool:
    """S3 over everything but ESTOP: the boom was lowering and something is under it (even
    when a fault latched in this scan: a lowering timeout may be the obstruction)."""
    i = v.inputs
    return (
        v.state.motion is Motion.LOWERING
        and i.bus_ok
        and v.mode is not Mode.ESTOP
        and not i.motor_fault
        and not i.barrier_up
        and not v.clear
    )


Guard = Callable[[View], bool]
GUARDS: dict[Trigger, Guard] = {
    Trigger.BOOM_DOWN: lambda v: v.down,
    Trigger.OTHERWISE: lambda v: True,
    Trigger.BAY_ARRIVED: _bay_arrived,
    Trigger.BAY_LEFT: _bay_left,
    Trigger.STOPPED: _stopped,
    Trigger.RELEASE: _command,
    Trigger.AUTO_RELEASE: _auto_release,
    Trigger.SEND_ASIDE: _command,
    Trigger.WARN_DONE: lambda v: v.now - v.state.phase_since >= v.config.warn_ms,
    Trigger.UP_FRESH: lambda v: v.up and v.cycle and not v.crossed,
    Trigger.UP_CROSSED: lambda v: v.up and v.cycle,
    Trigger.UP_EMERGENCY: lambda v: v.up and v.mode is Mode.EMERGENCY_OPEN,
    Trigger.UP_REACHED: lambda v: v.up,
    Trigger.CROSSED: lambda v: v.crossed,
    Trigger.CLEAR: _clear,
    Trigger.PRESENCE: lambda v: not v.clear,
    Trigger.DOWN_BAY: lambda v: v.down and v.cycle and v.bay,
    Trigger.DOWN_CYCLE: lambda v: v.down and v.cycle,
    Trigger.DOWN_REACHED: lambda v: v.down,
    Trigger.MANUAL_RAISE: _command,
    Trigger.MANUAL_LOWER: _command,
    Trigger.MECHANICAL_FAULT: lambda v: v.halt,
    Trigger.LOWERING_ONTO_PRESENCE: _lowering_onto_presence,
}
"""The predicate of every CYCLE, HALT and REVERSAL trigger (the ENTRY rows' are in
``mode.ENTRY_GUARDS``)."""
