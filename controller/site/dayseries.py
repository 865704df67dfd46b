"""The site page's chart: vehicles arriving against the vehicles the open lanes can serve.

Pure (the caller passes wall time in seconds). Each sample carries what the
supervisor knows at that moment: vehicles served so far by all lanes, the total
queue estimate, and the open lanes' capacity in vehicles per hour. A bucket's
arrivals are the vehicles served in it plus the queue's growth over it (as the
supervisor's own arrival rate); its capacity is the open capacity integrated over
the time it covers. Both are vehicles per bucket, so the two bars compare directly.
Buckets older than ``keep_s`` are dropped (the chart shows a day).
"""

from __future__ import annotations

import datetime as _dt
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Bucket", "DaySeries"]


@dataclass(slots=True)
class Bucket:
    start_s: float
    arrivals: float = 0.0
    capacity: float = 0.0
    """Vehicles the open lanes could serve over the time covered so far."""
    covered_s: float = 0.0
    open_lane_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        start = _dt.datetime.fromtimestamp(self.start_s, _dt.UTC)
        mean_open = self.open_lane_s / self.covered_s if self.covered_s > 0 else 0.0
        return {
            "start": start.isoformat(timespec="seconds"),
            "arrivals": round(max(0.0, self.arrivals), 2),
            "capacity": round(self.capacity, 2),
            "open_lanes": round(mean_open, 2),
            "covered_s": round(self.covered_s, 1),
        }


class DaySeries:
    """Buckets of ``bucket_s`` seconds, aligned on the epoch, the last ``keep_s`` kept."""

    def __init__(self, bucket_s: float, keep_s: float = 86_400.0) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s: must be positive, got {bucket_s}")
        self.bucket_s = float(bucket_s)
        self.keep_s = float(keep_s)
        self.buckets: deque[Bucket] = deque()
        self._last: tuple[float, int, int, float, int] | None = None

    def sample(
        self, wall_s: float, served: int, queue: int, capacity_vph: float, open_lanes: int
    ) -> None:
        """Account the time since the last sample to the bucket it ends in."""
        start = wall_s - wall_s % self.bucket_s
        if not self.buckets or self.buckets[-1].start_s < start:
            self.buckets.append(Bucket(start))
        bucket = self.buckets[-1]
        if self._last is not None and wall_s > self._last[0]:
            t0, served0, queue0, cap0, open0 = self._last
            dt = wall_s - t0
            bucket.arrivals += (served - served0) + (queue - queue0)
            bucket.capacity += cap0 * dt / 3600.0
            bucket.covered_s += dt
            bucket.open_lane_s += open0 * dt
        self._last = (wall_s, served, queue, capacity_vph, open_lanes)
        while self.buckets and self.buckets[0].start_s < wall_s - self.keep_s:
            self.buckets.popleft()

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket_s": self.bucket_s,
            "buckets": [b.as_dict() for b in self.buckets],
        }
