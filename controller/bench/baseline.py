"""The naive fixed-timer lane controller the throughput benchmark holds the core against.

This is what a lane without a lane controller's intelligence would run: one
fixed sequence of timers, each long enough for the worst vehicle the site
sees (the slowest, longest truck, the slowest driver), and only the sensors
it cannot be safe without:

- the bay loop ends the entry green (else a queue would drive in together)
  and keeps the next green off while the bay is occupied (S5); a vehicle
  still in the bay when the boom is back down is simply released again;
- the down limit gates the entry green (S5);
- the photocell and the safety edge stop and reverse the boom (S1, S3);
- the limit switches cut the motor at the end of travel, as any drive's do.

Everything else (when the vehicle has stopped, when the boom is up, when the
vehicle has gone) is a timer. It emits ``vehicle_passed`` when the photocell
clears during the exit window, only so the benchmark can count crossings.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields

from controller.core.types import Event, Inputs, LaneConfig, Outputs

__all__ = ["FixedTimerController", "FixedTimings", "travel_s"]


def travel_s(distance_m: float, vmax: float, accel: float, decel: float | None = None) -> float:
    """Seconds to cover ``distance_m`` from standstill at ``accel`` up to ``vmax``.

    With ``decel`` the body also comes to a stop at the end (a trapezoid, or a
    triangle when the distance is too short to reach ``vmax``).
    """
    if distance_m <= 0:
        return 0.0
    if vmax <= 0 or accel <= 0 or (decel is not None and decel <= 0):
        raise ValueError(f"vmax, accel, decel: must be positive, got {vmax}, {accel}, {decel}")
    if decel is None:
        ramp = vmax * vmax / (2 * accel)
        if distance_m <= ramp:
            return math.sqrt(2 * distance_m / accel)
        return vmax / accel + (distance_m - ramp) / vmax
    ramps = vmax * vmax / (2 * accel) + vmax * vmax / (2 * decel)
    if distance_m >= ramps:
        return vmax / accel + vmax / decel + (distance_m - ramps) / vmax
    peak = math.sqrt(2 * distance_m * accel * decel / (accel + decel))
    return peak / accel + peak / decel


@dataclass(frozen=True, slots=True)
class FixedTimings:
    """The timer of each phase, in ms; ``hold_ms`` runs from the bay loop's first detection."""

    amber_ms: int
    hold_ms: int
    """The slowest vehicle's drive from the bay loop to the stop line, plus the dwell."""
    warn_ms: int
    raise_ms: int
    pass_ms: int
    """Exit green: the slowest reaction plus the longest, slowest vehicle clearing the boom."""
    lower_ms: int

    def __post_init__(self) -> None:
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer (ms), got {value!r}")


class _Phase(enum.Enum):
    GREEN = "green"
    AMBER = "amber"
    HOLD = "hold"
    WARN = "warn"
    RAISE = "raise"
    PASS = "pass"
    LOWER = "lower"


_OPEN: dict[str, bool] = {"lane_open": True, "lane_closed": False}


class FixedTimerController:
    """A ``LaneController`` that runs ``FixedTimings`` round and round (see the module text)."""

    def __init__(self, timings: FixedTimings, config: LaneConfig | None = None) -> None:
        self.timings = timings
        self.config = config or LaneConfig()
        if timings.amber_ms < self.config.amber_ms:
            raise ValueError(
                f"amber_ms: {timings.amber_ms} is under the lane's amber_ms {self.config.amber_ms}"
            )
        self.phase = _Phase.LOWER
        self.since_ms = 0
        self.count = 0
        self._photocell_seen = False

    def _go(self, phase: _Phase, now_ms: int) -> None:
        self.phase = phase
        self.since_ms = now_ms

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        t = self.timings
        elapsed = now_ms - self.since_ms
        presence = inputs.photocell or inputs.safety_edge
        events: tuple[Event, ...] = ()
        p = self.phase
        if p is _Phase.GREEN and inputs.loop_bay:
            self._go(_Phase.AMBER, now_ms)
        elif p is _Phase.AMBER and elapsed >= t.amber_ms:
            self._go(_Phase.HOLD, now_ms)
        elif p is _Phase.HOLD and elapsed >= t.hold_ms - t.amber_ms:
            self._go(_Phase.WARN, now_ms)
        elif p is _Phase.WARN and elapsed >= t.warn_ms:
            self._go(_Phase.RAISE, now_ms)
        elif p is _Phase.RAISE and elapsed >= t.raise_ms:
            self._go(_Phase.PASS, now_ms)
            self._photocell_seen = False
        elif p is _Phase.PASS:
            if inputs.photocell:
                self._photocell_seen = True
            elif self._photocell_seen:
                self._photocell_seen = False
                self.count += 1
                events = (Event.make("vehicle_passed", now_ms, count=self.count),)
            if elapsed >= t.pass_ms and not presence:
                self._go(_Phase.LOWER, now_ms)
        elif p is _Phase.LOWER:
            if presence:
                # S1/S3: never down onto presence; reverse and give the vehicle its window again.
                self._go(_Phase.PASS, now_ms)
            elif elapsed >= t.lower_ms and inputs.barrier_down:
                if inputs.loop_bay:
                    self._go(_Phase.WARN, now_ms)
                else:
                    self._go(_Phase.GREEN, now_ms)
        return self._outputs(inputs, now_ms), events

    def _outputs(self, inputs: Inputs, now_ms: int) -> Outputs:
        p = self.phase
        if p is _Phase.GREEN:
            green = not inputs.loop_bay and inputs.barrier_down
            return Outputs(entry_red=not green, entry_green=green, **_OPEN)
        if p is _Phase.AMBER:
            return Outputs(entry_red=False, entry_amber=True, **_OPEN)
        if p is _Phase.HOLD:
            return Outputs(**_OPEN)
        if p is _Phase.WARN:
            return Outputs(warn=True, **_OPEN)
        if p is _Phase.RAISE:
            return Outputs(barrier_raise=not inputs.barrier_up, warn=True, **_OPEN)
        if p is _Phase.PASS:
            return Outputs(
                barrier_raise=not inputs.barrier_up,
                exit_red=False,
                exit_green=not inputs.safety_edge,
                **_OPEN,
            )
        return Outputs(barrier_lower=not inputs.barrier_down, warn=True, **_OPEN)
