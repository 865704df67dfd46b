"""Drive the lane core by hand in tests: a clock, the last step, and the events seen."""

from __future__ import annotations

from dataclasses import replace

from controller.core.lane import (
    FAULT_BOTH_LIMITS,
    FAULT_DOWN_LIMIT_LOST,
    FAULT_LOWER_TIMEOUT,
    FAULT_OBSTRUCTION,
    FAULT_RAISE_TIMEOUT,
    FAULT_UP_LIMIT_LOST,
    LaneState,
    Step,
    initial_lane,
    step,
)
from controller.core.scan import ScanState
from controller.core.types import Command, CommandKind, Event, Inputs, LaneConfig

__all__ = ["DOWN", "UP", "Drive", "cmd", "s8_problems"]

DOWN = Inputs(barrier_down=True)
UP = Inputs(barrier_up=True)


def cmd(*kinds: CommandKind, source: str = "api") -> tuple[Command, ...]:
    return tuple(Command(k, source) for k in kinds)


class Drive:
    """A lane plus a clock; every call steps the lane once."""

    def __init__(self, config: LaneConfig | None = None, now: int = 1000) -> None:
        self.state: LaneState = initial_lane(config or LaneConfig())
        self.now = now
        self.last: Step | None = None
        self.events: list[Event] = []

    def step(self, inputs: Inputs, dt: int = 5, **changes: object) -> Step:
        """One scan ``dt`` ms after the last one; ``changes`` edit ``inputs`` first."""
        if changes:
            inputs = replace(inputs, **changes)  # type: ignore[arg-type]
        self.now += dt
        result = step(self.state, inputs, self.now)
        self.state = result.state
        self.last = result
        self.events.extend(result.events)
        return result

    def hold(self, inputs: Inputs, ms: int, dt: int = 5, **changes: object) -> Step:
        """Scan every ``dt`` ms for ``ms`` ms with the same inputs."""
        result = self.step(inputs, dt, **changes)
        elapsed = dt
        while elapsed < ms:
            result = self.step(inputs, dt, **changes)
            elapsed += dt
        return result

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    # -- common prefixes ------------------------------------------------------------

    def open_ready(self) -> Drive:
        """Boom down, lane OPEN, READY with the entry green."""
        self.step(DOWN, commands=cmd(CommandKind.OPEN_LANE))
        self.step(DOWN)
        return self

    def entering(self) -> Drive:
        """A vehicle on the bay loop, arrived, not yet stopped."""
        self.open_ready()
        self.step(DOWN, loop_bay=True)
        self.step(DOWN, dt=self.state.config.presence_on_ms, loop_bay=True)
        return self

    def inspecting(self) -> Drive:
        self.entering()
        self.hold(DOWN, self.state.config.stop_debounce_ms, dt=50, loop_bay=True)
        return self

    def warning(self) -> Drive:
        self.inspecting()
        self.step(DOWN, loop_bay=True, commands=cmd(CommandKind.RELEASE))
        return self

    def raising(self) -> Drive:
        self.warning()
        self.hold(DOWN, self.state.config.warn_ms, dt=50, loop_bay=True)
        self.step(Inputs(), loop_bay=True)
        return self

    def passing(self) -> Drive:
        self.raising()
        self.step(UP, loop_bay=True)
        return self

    def clearing(self) -> Drive:
        """The released vehicle crossed: boom up, exit red, waiting for clear."""
        self.passing()
        self.step(UP, loop_bay=True, photocell=True)
        self.step(UP, photocell=True, loop_exit=True)
        self.step(UP, loop_exit=True)
        return self

    def lowering(self) -> Drive:
        self.clearing()
        self.hold(UP, self.state.config.clear_delay_ms, dt=50)
        self.step(Inputs())
        return self

    def maintenance(self) -> Drive:
        """MAINTENANCE with the boom down and the motor off (HALTED)."""
        self.step(DOWN)
        self.step(DOWN, commands=cmd(CommandKind.MAINTENANCE_ON))
        return self


def s8_problems(before: ScanState, inputs: Inputs, now: int, after: ScanState) -> list[str]:
    """S8 and S3's reversal limit, checked from the outside."""
    problems = []
    lane, new = before.lane, after.lane
    written = before.safety.prev
    moving = written.barrier_raise or written.barrier_lower
    if inputs.bus_ok:
        up, down = inputs.barrier_up, inputs.barrier_down
        if up and down and FAULT_BOTH_LIMITS not in new.faults:
            problems.append("both limits on, no fault")
        if not moving and lane.observed:
            if lane.p_down and not down and not up and FAULT_DOWN_LIMIT_LOST not in new.faults:
                problems.append("down limit lost at rest, no fault")
            if lane.p_up and not up and not down and FAULT_UP_LIMIT_LOST not in new.faults:
                problems.append("up limit lost at rest, no fault")
        overdue = now - lane.motion_since > lane.config.travel_timeout_ms
        if written.barrier_raise and overdue and not up and FAULT_RAISE_TIMEOUT not in new.faults:
            problems.append("raise timeout, no fault")
        if written.barrier_lower and overdue and not down and FAULT_LOWER_TIMEOUT not in new.faults:
            problems.append("lower timeout, no fault")
    reset = any(c.kind is CommandKind.RESET_FAULT for c in inputs.commands)
    if not reset and not set(lane.faults) <= set(new.faults):
        problems.append("a fault cleared without a reset")
    if new.reversals >= new.config.max_reversals and FAULT_OBSTRUCTION not in new.faults:
        problems.append("too many reversals, no obstruction fault")
    return problems
