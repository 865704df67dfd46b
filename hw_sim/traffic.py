"""Who arrives when, in what, driven how; and the operator who decides at the console.

Everything random about a vehicle is drawn once, when it arrives, from the
traffic stream of the seeded generator, in arrival order. The controller's
timing therefore never changes which vehicles come or what their drivers and
the operator will do: two runs with one seed meet the same traffic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TypeVar

from hw_sim.scenario import Behaviour, OperatorSpec, Range, TrafficSpec, VehicleKind

__all__ = ["Arrivals", "ButtonPress", "Operator", "VehicleSpec"]

_T = TypeVar("_T")

_WIDTH_M = {VehicleKind.CAR: 1.8, VehicleKind.VAN: 2.0, VehicleKind.TRUCK: 2.5}
_ACCEL = {VehicleKind.CAR: 2.0, VehicleKind.VAN: 1.5, VehicleKind.TRUCK: 0.8}
_DECEL = {VehicleKind.CAR: 3.0, VehicleKind.VAN: 2.5, VehicleKind.TRUCK: 2.0}


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """A vehicle and its driver as drawn on arrival (speeds m/s, times ms)."""

    id: int
    kind: VehicleKind
    behaviour: Behaviour
    length_m: float
    width_m: float
    arrival_ms: int
    approach_mps: float
    bay_mps: float
    accel_mps2: float
    decel_mps2: float
    reaction_ms: int
    hesitation_ms: int
    reverse_after_ms: int
    dwell_ms: int
    aside: bool


def _uniform(rng: random.Random, span: Range) -> float:
    lo, hi = span
    return lo if hi == lo else rng.uniform(lo, hi)


def _choose(rng: random.Random, weights: tuple[tuple[_T, float], ...]) -> _T:
    total = sum(w for _, w in weights)
    pick = rng.random() * total
    for item, weight in weights:
        pick -= weight
        if pick < 0:
            return item
    return weights[-1][0]


class Arrivals:
    """Arrival times (Poisson or a schedule) and the vehicle drawn for each."""

    def __init__(self, traffic: TrafficSpec, operator: OperatorSpec, seed: int) -> None:
        self.traffic = traffic
        self.operator = operator
        self._rng = random.Random(f"lanectl-traffic-{seed}")
        self._count = 0
        self._schedule = list(traffic.schedule_s or ())
        self._next_ms: int | None = (
            self._draw_next(0)
            if traffic.first_arrival_s is None or traffic.schedule_s is not None
            else round(traffic.first_arrival_s * 1000)
        )

    def _draw_next(self, after_ms: int) -> int | None:
        limit = self.traffic.max_vehicles
        if limit is not None and self._count >= limit:
            return None
        if self.traffic.schedule_s is not None:
            if self._count >= len(self._schedule):
                return None
            return round(self._schedule[self._count] * 1000)
        rate = self.traffic.rate_per_hour or 0.0
        gap_ms = self._rng.expovariate(rate / 3_600_000.0)
        return after_ms + max(1, math.ceil(gap_ms))

    def due(self, now_ms: int) -> list[VehicleSpec]:
        """Every vehicle whose arrival time is at or before ``now_ms`` and not yet handed out."""
        out: list[VehicleSpec] = []
        while self._next_ms is not None and self._next_ms <= now_ms:
            at = self._next_ms
            out.append(self._draw_vehicle(at))
            self._next_ms = self._draw_next(at)
        return out

    def _draw_vehicle(self, arrival_ms: int) -> VehicleSpec:
        t, rng = self.traffic, self._rng
        self._count += 1
        kind = _choose(rng, t.kinds)
        behaviour = _choose(rng, t.behaviours)
        length_range = {
            VehicleKind.CAR: t.car_length_m,
            VehicleKind.VAN: t.van_length_m,
            VehicleKind.TRUCK: t.truck_length_m,
        }[kind]
        length = round(_uniform(rng, length_range), 2)
        approach = _uniform(rng, t.approach_speed_kmh) / 3.6
        bay = min(approach, _uniform(rng, t.bay_speed_kmh) / 3.6)
        reaction = round(_uniform(rng, t.reaction_ms))
        hesitation = round(_uniform(rng, t.hesitation_s) * 1000)
        reverse_after = round(_uniform(rng, t.reverse_after_s) * 1000)
        dwell = round(_uniform(rng, self.operator.dwell_s) * 1000)
        aside = rng.random() < self.operator.aside_share
        return VehicleSpec(
            id=self._count,
            kind=kind,
            behaviour=behaviour,
            length_m=length,
            width_m=_WIDTH_M[kind],
            arrival_ms=arrival_ms,
            approach_mps=approach,
            bay_mps=bay,
            accel_mps2=_ACCEL[kind],
            decel_mps2=_DECEL[kind],
            reaction_ms=reaction,
            hesitation_ms=hesitation,
            reverse_after_ms=reverse_after,
            dwell_ms=dwell,
            aside=aside,
        )


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A button the operator starts pressing this step, for which vehicle."""

    vehicle_id: int
    aside: bool


class Operator:
    """The console operator: after the vehicle's dwell, holds RELEASE or SEND ASIDE for hold_ms.

    The operator looks at the vehicle waiting at the stop line. If the lane has
    not answered a RELEASE (no exit green) within ``retry_s`` the operator
    presses again; a vehicle sent aside needs one press.
    """

    def __init__(self, spec: OperatorSpec) -> None:
        self.spec = spec
        self.release = False
        self.send_aside = False
        self._target: int | None = None
        self._due_ms = 0
        self._hold_until_ms = 0
        self._aside_done = False

    def step(
        self,
        now_ms: int,
        waiting_id: int | None,
        stop_ms: int,
        dwell_ms: int,
        aside: bool,
        answered: bool,
    ) -> ButtonPress | None:
        """Update the buttons for this step; returns a new press when one starts."""
        if now_ms >= self._hold_until_ms:
            self.release = self.send_aside = False
        if waiting_id != self._target:
            self._target = waiting_id
            self._due_ms = stop_ms + dwell_ms
            self._aside_done = False
        if waiting_id is None or self.release or self.send_aside:
            return None
        if answered or self._aside_done or now_ms < self._due_ms:
            return None
        self._hold_until_ms = now_ms + self.spec.hold_ms
        self._due_ms = now_ms + round(self.spec.retry_s * 1000)
        if aside:
            self.send_aside = True
            self._aside_done = True
        else:
            self.release = True
        return ButtonPress(vehicle_id=waiting_id, aside=aside)
