"""Outputs: the entry signal's own small machine, the boom motor and lights from the phase,
the alarm, and when the next timer can expire (the scan cache's wake-up)."""

from __future__ import annotations

from controller.core.lane.names import Motion, Signal
from controller.core.lane.state import LaneState
from controller.core.lane.tables import EARLY_ENTRY_PHASES, PHASE_OUTPUTS
from controller.core.lane.view import View
from controller.core.types import CameraHealth, Mode, Outputs, Phase

__all__ = ["NEVER", "outputs", "wake"]

NEVER = 2**62


def outputs(v: View, mode: Mode, phase: Phase, crossed: bool) -> Outputs:
    """This scan's coils; the entry signal and motor changes go into the scan's changes."""
    s, i, sc, cfg = v.state, v.inputs, v, v.config
    ch = sc.changes
    now = sc.now
    # The entry signal: green -> amber for amber_ms -> red; red -> green only when S5 allows.
    want_green = (
        mode is Mode.OPEN
        and i.bus_ok
        and not v.bay
        and (
            (phase is Phase.READY and v.down)
            or (
                cfg.early_entry
                and (phase in EARLY_ENTRY_PHASES or (phase is Phase.RAISING and crossed))
            )
        )
    )
    entry = s.entry
    if mode is Mode.ESTOP:
        entry = Signal.RED
    elif entry is Signal.GREEN:
        entry = Signal.GREEN if want_green else Signal.AMBER
    elif entry is Signal.AMBER:
        entry = Signal.RED if now - s.entry_since >= cfg.amber_ms else Signal.AMBER
    else:
        entry = Signal.GREEN if want_green else Signal.RED
    if entry is not s.entry:
        ch["entry"] = entry
        ch["entry_since"] = now
    raise_, lower, exit_green, warn = PHASE_OUTPUTS[phase]
    # A limit that reads on stops the drive toward it, except just after a reversal: the
    # boom driven the other way has left that limit while the read is one scan behind the
    # coil, so it is driven back until it reads the limit again with this drive on (else
    # its leaving the limit would look like S8's "limit lost" at rest).
    if raise_ and i.barrier_up and s.motion is not Motion.LOWERING:
        raise_ = False
    if lower and i.barrier_down and s.motion is not Motion.RAISING:
        lower = False
    if not i.bus_ok or i.motor_fault:
        # Stale inputs: the boom's position and what is under it are unknown.
        raise_ = lower = False
    motion = Motion.RAISING if raise_ else Motion.LOWERING if lower else Motion.IDLE
    if motion is not s.motion:
        ch["motion"] = motion
        ch["motion_since"] = now
    camera = ch.get("camera", s.camera)
    stuck = ch.get("stuck", s.stuck)
    alarm = (
        mode is Mode.ESTOP
        or mode is Mode.FAULT
        or mode is Mode.EMERGENCY_OPEN
        or camera is CameraHealth.FAULT
        or bool(stuck)
        or not i.bus_ok
    )
    return _outputs(raise_, lower, entry, exit_green, mode is Mode.OPEN, warn, alarm)


_OUTPUT_CACHE: dict[tuple[bool, bool, Signal, bool, bool, bool, bool], Outputs] = {}


def _outputs(
    raise_: bool,
    lower: bool,
    entry: Signal,
    exit_green: bool,
    lane_open: bool,
    warn: bool,
    alarm: bool,
) -> Outputs:
    key = (raise_, lower, entry, exit_green, lane_open, warn, alarm)
    out = _OUTPUT_CACHE.get(key)
    if out is None:
        out = Outputs(
            barrier_raise=raise_,
            barrier_lower=lower,
            entry_red=entry is Signal.RED,
            entry_amber=entry is Signal.AMBER,
            entry_green=entry is Signal.GREEN,
            exit_red=not exit_green,
            exit_green=exit_green,
            lane_open=lane_open,
            lane_closed=not lane_open,
            warn=warn,
            alarm=alarm,
        )
        _OUTPUT_CACHE[key] = out
    return out


def wake(s: LaneState, now: int) -> int:
    """The earliest time after ``now`` at which any timer of ``s`` can expire."""
    cfg = s.config
    candidates = [
        s.phase_since + 1,
        s.phase_since + cfg.warn_ms,
        s.bay_since + cfg.presence_on_ms,
        s.bay_since + cfg.presence_off_ms,
        s.loop_bay_since + cfg.stop_debounce_ms,
        s.loop_bay_since + cfg.stop_debounce_ms + cfg.standstill_timeout_ms,
        s.clear_since + cfg.clear_delay_ms,
        s.entry_since + cfg.amber_ms,
        s.motion_since + cfg.travel_timeout_ms + 1,
        s.approach_since + cfg.stuck_loop_ms,
        s.loop_bay_since + cfg.stuck_loop_ms,
        s.exit_since + cfg.stuck_loop_ms,
    ]
    if cfg.auto_release_ms is not None:
        candidates.append(s.phase_since + cfg.auto_release_ms)
    if s.disagree_since is not None:
        candidates.append(s.disagree_since + cfg.disagreement_ms)
    return min((c for c in candidates if c > now), default=NEVER)
