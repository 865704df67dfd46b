"""A small scripted lane for the vision tests: vehicles that queue, stop, wait and leave.

The quality suite must not depend on the plant's physics, only on what the
camera sees, so it drives its own vehicles: each arrives at a time, cruises,
stops at the stop line (or behind the vehicle in front), dwells, is released
(the boom rises first) and drives out. Everything is integer milliseconds and
fixed steps, so a scenario is the same on every run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hw_sim.camera import LaneCamera, Vehicle
from hw_sim.geometry import LaneGeometry

__all__ = ["Arrival", "ScriptedLane", "clip_frames", "standard_arrivals"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One vehicle of a script."""

    at_ms: int
    dwell_ms: int = 4000
    """Time stopped at the stop line before release; 0 drives straight through."""
    kind: str = "car"
    length_m: float = 4.5
    width_m: float = 1.8
    cruise_mps: float = 7.0


@dataclass(slots=True)
class _Car:
    id: int
    arrival: Arrival
    x: float
    v: float
    stopped_at: int | None = None
    released_at: int | None = None


class ScriptedLane:
    """Deterministic vehicles and boom for a list of arrivals."""

    BRAKE = 2.5
    ACCEL = 2.0
    BOOM_MS = 2000
    GAP_M = 2.5

    def __init__(self, arrivals: Sequence[Arrival], geometry: LaneGeometry | None = None):
        self.geometry = geometry or LaneGeometry()
        self._pending = sorted(arrivals, key=lambda a: a.at_ms)
        self._cars: list[_Car] = []
        self._next_id = 1
        self.now_ms = 0
        self.boom_position = 0
        self._boom_target = 0
        self.passed = 0

    @property
    def vehicles(self) -> list[Vehicle]:
        return [
            Vehicle(
                id=c.id,
                kind=c.arrival.kind,
                length_m=c.arrival.length_m,
                width_m=c.arrival.width_m,
                front_x_m=c.x,
                lateral_y_m=0.0,
                speed_mps=c.v,
            )
            for c in self._cars
        ]

    def advance_to(self, t_ms: int, step_ms: int = 10) -> None:
        while self.now_ms < t_ms:
            self._step(min(step_ms, t_ms - self.now_ms))

    def _step(self, dt_ms: int) -> None:
        g = self.geometry
        dt = dt_ms / 1000.0
        self.now_ms += dt_ms
        while self._pending and self._pending[0].at_ms <= self.now_ms:
            a = self._pending.pop(0)
            car = _Car(id=self._next_id, arrival=a, x=g.spawn_x_m + 15.0, v=a.cruise_mps)
            self._cars.append(car)
            self._next_id += 1
        ahead_rear: float | None = None
        for car in self._cars:
            a = car.arrival
            released = car.released_at is not None and self.now_ms >= car.released_at + self.BOOM_MS
            must_stop = not released
            target = g.stop_line_x_m if must_stop and a.dwell_ms > 0 else None
            if ahead_rear is not None:
                behind = ahead_rear - self.GAP_M
                target = behind if target is None else min(target, behind)
            if target is not None:
                room = target - car.x
                if room <= 0.02:
                    car.v = 0.0
                else:
                    safe = (2.0 * self.BRAKE * room) ** 0.5
                    car.v = min(a.cruise_mps, safe, car.v + self.ACCEL * dt)
            else:
                car.v = min(a.cruise_mps, car.v + self.ACCEL * dt)
            car.x += car.v * dt
            if target is not None and car.x > target and car.v == 0.0:
                car.x = target
            at_line = target is not None and abs(car.x - g.stop_line_x_m) < 0.05 and car.v == 0.0
            if at_line and car.stopped_at is None:
                car.stopped_at = self.now_ms
            if (
                car.stopped_at is not None
                and car.released_at is None
                and self.now_ms - car.stopped_at >= a.dwell_ms
            ):
                car.released_at = self.now_ms
            ahead_rear = car.x - a.length_m
        self._boom_target = 0
        for car in self._cars:
            if car.released_at is not None and car.x - car.arrival.length_m < g.boom_x_m + 1.0:
                self._boom_target = 1000
        rate = 1000 * dt_ms // self.BOOM_MS
        if self.boom_position < self._boom_target:
            self.boom_position = min(self._boom_target, self.boom_position + rate)
        else:
            self.boom_position = max(self._boom_target, self.boom_position - rate)
        before = len(self._cars)
        self._cars = [c for c in self._cars if c.x - c.arrival.length_m < g.despawn_x_m]
        self.passed += before - len(self._cars)


def clip_frames(
    camera: LaneCamera,
    lane: ScriptedLane,
    seconds: float,
    interval_ms: int,
) -> Iterator[tuple[int, npt.NDArray[np.uint8], dict[str, bool]]]:
    """Frames of a scripted lane every interval_ms: (t_ms, grey frame, zone truth)."""
    t = 0
    end = int(seconds * 1000)
    while t < end:
        lane.advance_to(t)
        vehicles = lane.vehicles
        yield t, camera.render(vehicles, lane.boom_position, t), camera.truth(vehicles)
        t += interval_ms


def standard_arrivals(count: int = 6, every_ms: int = 9000) -> list[Arrival]:
    """The suite's traffic: cars of three lengths and a truck every fourth, each stopping."""
    out: list[Arrival] = []
    for i in range(count):
        truck = i % 4 == 3
        out.append(
            Arrival(
                at_ms=2000 + i * every_ms,
                dwell_ms=3000 + (i % 3) * 1500,
                kind="truck" if truck else "car",
                length_m=9.0 if truck else 4.2 + 0.2 * (i % 3),
                width_m=2.4 if truck else 1.8,
            )
        )
    return out
