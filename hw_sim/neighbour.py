"""The through lane beside the bay lane: traffic that passes without stopping.

Its vehicles never enter the bay lane and are never part of any zone's truth;
the camera renders them only so their bodies and, under a low sun, their long
shadows are in the picture. Positions are a closed form of time (each vehicle
enters at a fixed time and holds its speed), so a frame at t depends on the
seed and t alone, never on the frames rendered before it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

__all__ = ["NEIGHBOUR_ID_BASE", "NeighbourLane", "Passer"]

NEIGHBOUR_ID_BASE = 1_000_000
"""Through-lane vehicle ids start here, clear of any plant or scripted vehicle id."""

_MIN_SPEED_MPS = 10.0
_KINDS = (
    # kind, length m, width m, share
    ("car", 4.4, 1.8, 0.62),
    ("van", 5.6, 2.0, 0.2),
    ("truck", 10.0, 2.5, 0.18),
)


@dataclass(frozen=True, slots=True)
class Passer:
    """One through-lane vehicle, in the renderer's ``VehicleLike`` shape."""

    id: int
    kind: str
    length_m: float
    width_m: float
    front_x_m: float
    lateral_y_m: float
    speed_mps: float


@dataclass(frozen=True, slots=True)
class _Entry:
    enter_ms: int
    kind: str
    length_m: float
    width_m: float
    speed_mps: float
    lateral_y_m: float


class NeighbourLane:
    """Deterministic through traffic for one seed, queried by time."""

    def __init__(
        self,
        seed: int,
        centre_y_m: float,
        start_x_m: float,
        end_x_m: float,
        mean_gap_s: float = 6.0,
    ) -> None:
        if end_x_m <= start_x_m:
            raise ValueError("end_x_m: must be greater than start_x_m")
        if mean_gap_s <= 3.0:
            raise ValueError(f"mean_gap_s: must be over 3 s, got {mean_gap_s}")
        self.seed = seed
        self.centre_y_m = centre_y_m
        self.start_x_m = start_x_m
        self.end_x_m = end_x_m
        self.mean_gap_s = mean_gap_s
        self._entries: list[_Entry] = []
        self._enter_ms: list[int] = []
        self._next_enter_ms = 0
        longest = max(length for _, length, _, _ in _KINDS) * 1.1
        self._transit_ms = int((end_x_m - start_x_m + longest) / _MIN_SPEED_MPS * 1000) + 1

    def _entry(self, k: int) -> _Entry:
        while len(self._entries) <= k:
            rng = np.random.default_rng([self.seed, 48_271, len(self._entries)])
            pick = float(rng.uniform())
            share = 0.0
            kind, length, width = _KINDS[0][:3]
            for name, ln, wd, sh in _KINDS:
                share += sh
                if pick < share:
                    kind, length, width = name, ln, wd
                    break
            # Gaps of at least 3 s keep a faster vehicle from catching the one ahead
            # within the stretch the camera sees (speeds differ by at most 20 %).
            gap_s = 3.0 + float(rng.exponential(self.mean_gap_s - 3.0))
            entry = _Entry(
                enter_ms=self._next_enter_ms,
                kind=kind,
                length_m=length * float(rng.uniform(0.92, 1.08)),
                width_m=width,
                speed_mps=float(rng.uniform(_MIN_SPEED_MPS, _MIN_SPEED_MPS * 1.2)),
                lateral_y_m=self.centre_y_m + float(rng.uniform(-0.2, 0.2)),
            )
            self._entries.append(entry)
            self._enter_ms.append(entry.enter_ms)
            self._next_enter_ms += round(gap_s * 1000)
        return self._entries[k]

    def vehicles(self, t_ms: int) -> list[Passer]:
        """The through-lane vehicles on the stretch at t_ms, front first."""
        out: list[Passer] = []
        while self._next_enter_ms <= t_ms:
            self._entry(len(self._entries))
        # Only vehicles that entered within one transit of t can still be on the stretch.
        k = bisect.bisect_left(self._enter_ms, t_ms - self._transit_ms)
        while True:
            e = self._entry(k)
            if e.enter_ms > t_ms:
                break
            front = self.start_x_m + e.speed_mps * (t_ms - e.enter_ms) / 1000.0
            if front - e.length_m < self.end_x_m:
                out.append(
                    Passer(
                        id=NEIGHBOUR_ID_BASE + k,
                        kind=e.kind,
                        length_m=e.length_m,
                        width_m=e.width_m,
                        front_x_m=front,
                        lateral_y_m=e.lateral_y_m,
                        speed_mps=e.speed_mps,
                    )
                )
            k += 1
        return out
