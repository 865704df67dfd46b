"""One day of arrivals at a checkpoint: a night trickle, a day level, morning and evening peaks.

The site sim and the fixed staffing plan read the same profile: the plan from
each hour's mean rate (what a site knows from past days), the sim from one
seeded draw of it (a non-homogeneous Poisson stream, by thinning), so the
plan never sees the day's own randomness and the live policy has to meet it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["DayProfile", "Peak", "arrivals", "hourly_means"]

_MS_PER_HOUR = 3_600_000
_DAY_MS = 24 * _MS_PER_HOUR


@dataclass(frozen=True, slots=True)
class Peak:
    """A bell-shaped rush: ``vph`` more vehicles per hour at ``hour``, spread ``width_h``."""

    hour: float
    width_h: float
    vph: float


@dataclass(frozen=True, slots=True)
class DayProfile:
    """Arrival rate over a day (vehicles per hour), repeating every 24 h."""

    night_vph: float = 15.0
    day_vph: float = 110.0
    """Added between ``day_start_h`` and ``day_end_h`` (smooth edges of about an hour)."""
    day_start_h: float = 6.0
    day_end_h: float = 22.0
    morning: Peak = Peak(hour=8.0, width_h=1.0, vph=240.0)
    evening: Peak = Peak(hour=17.5, width_h=1.3, vph=200.0)

    def __post_init__(self) -> None:
        for name in ("night_vph", "day_vph"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a non-negative number, got {value}")
        for name in ("morning", "evening"):
            peak = getattr(self, name)
            if not (math.isfinite(peak.vph) and peak.vph >= 0 and peak.width_h > 0):
                raise ValueError(f"{name}: needs vph >= 0 and width_h > 0, got {peak}")

    def rate_vph(self, t_ms: int) -> float:
        """The arrival rate at ``t_ms`` after midnight."""
        h = (t_ms % _DAY_MS) / _MS_PER_HOUR
        day = _sigmoid(h - self.day_start_h) * _sigmoid(self.day_end_h - h)
        rate = self.night_vph + self.day_vph * day
        for peak in (self.morning, self.evening):
            rate += peak.vph * math.exp(-0.5 * ((h - peak.hour) / peak.width_h) ** 2)
        return rate

    def max_vph(self) -> float:
        """An upper bound of the rate over the day (for thinning)."""
        return self.night_vph + self.day_vph + self.morning.vph + self.evening.vph


def _sigmoid(x_h: float) -> float:
    return 1.0 / (1.0 + math.exp(-4.0 * x_h))


def arrivals(
    profile: DayProfile, seed: int, start_ms: int, end_ms: int, day: int = 0
) -> tuple[int, ...]:
    """Arrival times (ms after midnight, increasing) in [start_ms, end_ms), one seeded draw.

    ``day`` other than 0 draws another day of the same seed (a negative one: a day before the
    run, for the supervisor's history), independent of the run's own.
    """
    if start_ms < 0 or end_ms < start_ms:
        raise ValueError(f"start_ms, end_ms: need 0 <= start <= end, got {start_ms}, {end_ms}")
    rng = random.Random(
        f"lanectl-site-arrivals-{seed}" if day == 0 else f"lanectl-site-arrivals-{seed}-day{day}"
    )
    top = profile.max_vph()
    if top <= 0:
        return ()
    out: list[int] = []
    t = float(start_ms)
    while True:
        t += rng.expovariate(top / _MS_PER_HOUR)
        if t >= end_ms:
            break
        at = math.floor(t)
        if rng.random() * top < profile.rate_vph(at):
            out.append(at)
    return tuple(out)


def hourly_means(profile: DayProfile, start_ms: int, hours: int) -> tuple[float, ...]:
    """Mean rate over each whole hour from ``start_ms`` (the demand a fixed plan is made from)."""
    means = []
    for hour in range(hours):
        t0 = start_ms + hour * _MS_PER_HOUR
        samples = [profile.rate_vph(t0 + minute * 60_000 + 30_000) for minute in range(60)]
        means.append(sum(samples) / len(samples))
    return tuple(means)
