"""The arrival rate the supervisor plans for: today's measured rate, carried over the coming
minutes by the shape of previous days.

A lane opened now serves mostly the drivers of the next minutes (of those already queued,
only the backs of the longer lines move to it); a rule that judges the rate of the last
minutes opens lanes after a rush has built and closes them after it has gone.
``DayHistory`` holds the mean arrival rate of previous days per slot of the day (what a
site's own counts give it; the site sim draws those days from other seeds than the day it
runs). ``forecast_vph`` takes the history's mean rate over the next ``lead_ms`` and scales
it by how busy today has been against that history over the last ``window_ms`` (a busier
day than usual stays busier).
Without history it is the measured rate. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DayHistory", "forecast_vph"]

_MS_PER_HOUR = 3_600_000
_DAY_MS = 24 * _MS_PER_HOUR
_STEP_MS = 60_000
PRIOR_VEHICLES = 3.0
"""Vehicles added to today's and the history's count before their ratio: a quiet window of
few vehicles does not swing the forecast."""


@dataclass(frozen=True, slots=True)
class DayHistory:
    """Mean arrival rate (vehicles per hour) in each ``slot_ms`` of the day over past days."""

    slot_ms: int
    rates_vph: tuple[float, ...]
    days: int

    def __post_init__(self) -> None:
        if self.slot_ms < _STEP_MS or _DAY_MS % self.slot_ms:
            raise ValueError(f"slot_ms: must divide a day and be >= 60000, got {self.slot_ms}")
        if len(self.rates_vph) != _DAY_MS // self.slot_ms:
            raise ValueError(
                f"rates_vph: need {_DAY_MS // self.slot_ms} slots, got {len(self.rates_vph)}"
            )
        if any(not (math.isfinite(r) and r >= 0) for r in self.rates_vph):
            raise ValueError("rates_vph: every rate must be a non-negative number")

    @classmethod
    def from_days(cls, days: Iterable[Iterable[int]], slot_ms: int = 900_000) -> DayHistory:
        """From each past day's arrival times (ms after that day's midnight)."""
        if slot_ms < _STEP_MS or _DAY_MS % slot_ms:
            raise ValueError(f"slot_ms: must divide a day and be >= 60000, got {slot_ms}")
        counts = [0] * (_DAY_MS // slot_ms)
        n = 0
        for day in days:
            n += 1
            for at in day:
                counts[(at % _DAY_MS) // slot_ms] += 1
        if n == 0:
            raise ValueError("days: need at least one past day")
        per_hour = _MS_PER_HOUR / slot_ms / n
        return cls(slot_ms, tuple(c * per_hour for c in counts), n)

    def rate_at(self, t_ms: float) -> float:
        """The rate at ``t_ms`` (time of day, wrapping), between the slots' centres."""
        x = (t_ms % _DAY_MS) / self.slot_ms - 0.5
        i = math.floor(x)
        f = x - i
        n = len(self.rates_vph)
        return self.rates_vph[i % n] * (1 - f) + self.rates_vph[(i + 1) % n] * f

    def mean_over(self, t0_ms: int, t1_ms: int) -> float:
        """The mean rate over [t0, t1], sampled each minute."""
        steps = max(1, (t1_ms - t0_ms) // _STEP_MS)
        return sum(self.rate_at(t0_ms + k * _STEP_MS) for k in range(steps + 1)) / (steps + 1)


def forecast_vph(
    history: DayHistory | None, now_ms: int, recent: int, window_ms: int, lead_ms: int
) -> float:
    """The arrival rate over the next ``lead_ms``, from ``recent`` arrivals in the last
    ``window_ms`` and the history (the measured rate alone without one)."""
    if window_ms <= 0:
        raise ValueError(f"window_ms: must be positive, got {window_ms}")
    if lead_ms < 0:
        raise ValueError(f"lead_ms: must be non-negative, got {lead_ms}")
    if recent < 0:
        raise ValueError(f"recent: must be non-negative, got {recent}")
    measured = recent * _MS_PER_HOUR / window_ms
    if history is None:
        return measured
    expected = history.mean_over(now_ms - window_ms, now_ms) * window_ms / _MS_PER_HOUR
    ratio = (recent + PRIOR_VEHICLES) / (expected + PRIOR_VEHICLES)
    return history.mean_over(now_ms, now_ms + lead_ms) * ratio
