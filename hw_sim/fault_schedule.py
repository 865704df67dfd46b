"""A seeded random fault schedule, so a long soak meets faults nobody thought to script.

The named scenarios hold hand-placed faults on fixed periods; a 24-hour soak
also needs faults at moments no one chose: an input sticking while a vehicle
is under the boom, the motor failing mid-travel, a bus drop during a release.
``random_faults`` draws such a schedule from its own seeded generator (never
the traffic's), as plain ``FaultSpec`` values that ``hw_sim.faults`` applies
like any scenario fault. Same seed, same schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hw_sim.faults import FaultKind, FaultSpec

__all__ = ["RANDOM_KINDS", "STUCK_INPUTS", "RandomFaultSpec", "random_faults"]

STUCK_INPUTS: tuple[str, ...] = (
    "loop_approach",
    "loop_bay",
    "photocell",
    "loop_exit",
    "barrier_up",
    "barrier_down",
    "safety_edge",
)
"""Field inputs a random stuck_on / stuck_off fault may hit (not the console buttons or ESTOP)."""

RANDOM_KINDS: tuple[tuple[FaultKind, float], ...] = (
    (FaultKind.STUCK_ON, 0.2),
    (FaultKind.STUCK_OFF, 0.2),
    (FaultKind.BARRIER_JAM, 0.12),
    (FaultKind.SLOW_BARRIER, 0.12),
    (FaultKind.MOTOR_FAULT, 0.12),
    (FaultKind.BUS_DROP, 0.24),
)
"""Kinds the random schedule draws, with their relative weights."""


@dataclass(frozen=True, slots=True)
class RandomFaultSpec:
    """How dense and how long the random faults are (seconds of simulated time)."""

    mean_interval_s: float = 900.0
    """Mean gap between fault starts (exponential gaps)."""
    first_after_s: float = 120.0
    """No random fault before this: the lane opens and settles first."""
    stuck_s: tuple[float, float] = (2.0, 60.0)
    jam_s: tuple[float, float] = (2.0, 20.0)
    slow_s: tuple[float, float] = (30.0, 600.0)
    slow_factor: tuple[float, float] = (1.3, 3.0)
    motor_s: tuple[float, float] = (1.0, 15.0)
    bus_drop_s: tuple[float, float] = (0.01, 3.0)
    """A drop as short as one scan tests the runtime's missed-scan tolerance."""

    def __post_init__(self) -> None:
        if self.mean_interval_s <= 0:
            raise ValueError(f"mean_interval_s: must be positive, got {self.mean_interval_s}")
        if self.first_after_s < 0:
            raise ValueError(f"first_after_s: must not be negative, got {self.first_after_s}")
        for name in ("stuck_s", "jam_s", "slow_s", "slow_factor", "motor_s", "bus_drop_s"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name}: expected 0 < min <= max, got ({lo}, {hi})")
        if self.slow_factor[0] <= 1.0:
            raise ValueError(f"slow_factor: must be above 1, got {self.slow_factor}")


def _pick(rng: random.Random) -> FaultKind:
    total = sum(w for _, w in RANDOM_KINDS)
    x = rng.random() * total
    for kind, weight in RANDOM_KINDS:
        x -= weight
        if x < 0:
            return kind
    return RANDOM_KINDS[-1][0]


def _ms(rng: random.Random, span: tuple[float, float]) -> int:
    return max(1, round(rng.uniform(*span) * 1000))


def random_faults(
    seed: int, duration_ms: int, spec: RandomFaultSpec | None = None
) -> tuple[FaultSpec, ...]:
    """Faults starting in [first_after_s, duration_ms), in time order, drawn from ``seed``."""
    if duration_ms < 0:
        raise ValueError(f"duration_ms: must not be negative, got {duration_ms}")
    spec = spec or RandomFaultSpec()
    rng = random.Random(f"lanectl-faults-{seed}")
    out: list[FaultSpec] = []
    t = spec.first_after_s * 1000.0
    while True:
        t += rng.expovariate(1.0 / (spec.mean_interval_s * 1000.0))
        at_ms = round(t)
        if at_ms >= duration_ms:
            break
        kind = _pick(rng)
        if kind is FaultKind.STUCK_ON or kind is FaultKind.STUCK_OFF:
            name = STUCK_INPUTS[rng.randrange(len(STUCK_INPUTS))]
            out.append(FaultSpec(kind, at_ms, _ms(rng, spec.stuck_s), input=name))
        elif kind is FaultKind.BARRIER_JAM:
            out.append(FaultSpec(kind, at_ms, _ms(rng, spec.jam_s)))
        elif kind is FaultKind.SLOW_BARRIER:
            factor = round(rng.uniform(*spec.slow_factor), 2)
            out.append(FaultSpec(kind, at_ms, _ms(rng, spec.slow_s), factor=max(factor, 1.01)))
        elif kind is FaultKind.MOTOR_FAULT:
            out.append(FaultSpec(kind, at_ms, _ms(rng, spec.motor_s)))
        else:
            out.append(FaultSpec(kind, at_ms, _ms(rng, spec.bus_drop_s)))
    return tuple(out)
