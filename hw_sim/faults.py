"""Faults on a schedule in simulated time: a test or a soak meets each failure at a known moment.

The schedule is data: each fault has a kind, a start, a duration and an
optional repeat period. The plant asks it which input, boom and operator-side
faults are active each step; the Modbus server asks it which bus fault (if
any) applies to the request in hand; the camera may ask for its own kinds.
A model-in-the-loop run without Modbus can read ``bus_fault`` to emulate the
same bus trouble.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from controller.iomap import DISCRETE_INPUTS

__all__ = [
    "BUS_KINDS",
    "INPUT_NAMES",
    "ActiveFaults",
    "FaultKind",
    "FaultSchedule",
    "FaultSpec",
]

INPUT_NAMES: tuple[str, ...] = tuple(r.name for r in DISCRETE_INPUTS)


class FaultKind(enum.Enum):
    """Every fault the simulated lane can inject."""

    STUCK_ON = "stuck_on"
    """A discrete input reads 1 whatever the lane does (``input`` names it)."""
    STUCK_OFF = "stuck_off"
    """A discrete input reads 0 whatever the lane does."""
    BARRIER_JAM = "barrier_jam"
    """The boom does not move although its motor is driven; no motor-fault input."""
    SLOW_BARRIER = "slow_barrier"
    """Boom travel takes ``factor`` times as long."""
    MOTOR_FAULT = "motor_fault"
    """The drive reports a fault (DI 8) and the boom does not move."""
    ESTOP = "estop"
    """The console emergency stop is pressed."""
    BUS_DELAY = "bus_delay"
    """Every reply is delayed by ``delay_ms``."""
    BUS_DROP = "bus_drop"
    """Requests are read and never answered."""
    DISCONNECT = "disconnect"
    """The I/O module closes every connection and closes new ones at once."""
    GARBAGE_REPLY = "garbage_reply"
    """Replies have a malformed MBAP header or PDU."""
    EXCEPTION_REPLY = "exception_reply"
    """Requests are answered with Modbus exception ``code``."""
    CAMERA_FREEZE = "camera_freeze"
    """The camera keeps sending its last frame (rendered by hw_sim.camera)."""
    CAMERA_BLACKOUT = "camera_blackout"
    """The camera sends black frames (rendered by hw_sim.camera)."""


BUS_KINDS: frozenset[FaultKind] = frozenset(
    {
        FaultKind.BUS_DELAY,
        FaultKind.BUS_DROP,
        FaultKind.DISCONNECT,
        FaultKind.GARBAGE_REPLY,
        FaultKind.EXCEPTION_REPLY,
    }
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One scheduled fault: active on [at_ms, at_ms + duration_ms), again every repeat_ms if set."""

    kind: FaultKind
    at_ms: int
    duration_ms: int
    repeat_ms: int | None = None
    input: str | None = None
    """STUCK_ON / STUCK_OFF: the discrete input's name from the register map."""
    factor: float = 1.0
    """SLOW_BARRIER: travel time multiplier (> 1)."""
    delay_ms: int = 0
    """BUS_DELAY: added before each reply."""
    code: int = 4
    """EXCEPTION_REPLY: the Modbus exception code (default 4, device failure)."""

    def __post_init__(self) -> None:
        if self.at_ms < 0:
            raise ValueError(f"at_ms: must not be negative, got {self.at_ms}")
        if self.duration_ms <= 0:
            raise ValueError(f"duration_ms: must be positive, got {self.duration_ms}")
        if self.repeat_ms is not None and self.repeat_ms <= self.duration_ms:
            raise ValueError(
                f"repeat_ms: must exceed duration_ms ({self.duration_ms}), got {self.repeat_ms}"
            )
        stuck = self.kind in (FaultKind.STUCK_ON, FaultKind.STUCK_OFF)
        if stuck and self.input not in INPUT_NAMES:
            raise ValueError(f"input: {self.input!r} is not a discrete input ({INPUT_NAMES})")
        if not stuck and self.input is not None:
            raise ValueError(
                f"input: only stuck_on / stuck_off take an input, not {self.kind.value}"
            )
        if self.kind is FaultKind.SLOW_BARRIER and self.factor <= 1.0:
            raise ValueError(f"factor: slow_barrier needs a factor above 1, got {self.factor}")
        if self.kind is FaultKind.BUS_DELAY and self.delay_ms <= 0:
            raise ValueError(f"delay_ms: bus_delay needs a positive delay, got {self.delay_ms}")
        if self.kind is FaultKind.EXCEPTION_REPLY and not 1 <= self.code <= 255:
            raise ValueError(f"code: a Modbus exception code is 1..255, got {self.code}")

    def active(self, now_ms: int) -> bool:
        if now_ms < self.at_ms:
            return False
        elapsed = now_ms - self.at_ms
        if self.repeat_ms is not None:
            elapsed %= self.repeat_ms
        return elapsed < self.duration_ms

    def next_change_ms(self, now_ms: int) -> int | None:
        """The first time after ``now_ms`` at which ``active`` changes, or None if never."""
        if now_ms < self.at_ms:
            return self.at_ms
        elapsed = now_ms - self.at_ms
        if self.repeat_ms is None:
            return self.at_ms + self.duration_ms if elapsed < self.duration_ms else None
        cycle, phase = divmod(elapsed, self.repeat_ms)
        start = self.at_ms + cycle * self.repeat_ms
        return start + self.duration_ms if phase < self.duration_ms else start + self.repeat_ms

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind.value,
            "at_ms": self.at_ms,
            "duration_ms": self.duration_ms,
        }
        if self.repeat_ms is not None:
            out["repeat_ms"] = self.repeat_ms
        if self.input is not None:
            out["input"] = self.input
        if self.kind is FaultKind.SLOW_BARRIER:
            out["factor"] = self.factor
        if self.kind is FaultKind.BUS_DELAY:
            out["delay_ms"] = self.delay_ms
        if self.kind is FaultKind.EXCEPTION_REPLY:
            out["code"] = self.code
        return out


@dataclass(frozen=True, slots=True)
class ActiveFaults:
    """What the schedule imposes at one instant (computed once per plant step)."""

    stuck: tuple[tuple[int, bool], ...] = ()
    """(discrete input index, forced value) pairs."""
    barrier_jam: bool = False
    motor_fault: bool = False
    estop: bool = False
    slow_factor: float = 1.0
    bus: FaultSpec | None = None
    camera: frozenset[FaultKind] = frozenset()

    @property
    def any(self) -> bool:
        return bool(
            self.stuck
            or self.barrier_jam
            or self.motor_fault
            or self.estop
            or self.slow_factor != 1.0
            or self.bus
            or self.camera
        )


_NONE = ActiveFaults()


class FaultSchedule:
    """The scenario's faults, asked by time; cheap when nothing is scheduled near ``now``."""

    def __init__(self, faults: Iterable[FaultSpec] = ()) -> None:
        self.faults: tuple[FaultSpec, ...] = tuple(faults)
        self._cached: ActiveFaults = _NONE
        self._valid_from = 0
        self._valid_until = -1

    def at(self, now_ms: int) -> ActiveFaults:
        """Everything active at ``now_ms``; later faults of a kind win over earlier ones.

        The answer is cached until the next scheduled change, so asking every
        plant step costs nothing between changes.
        """
        if self._valid_from <= now_ms < self._valid_until:
            return self._cached
        changes = [c for f in self.faults if (c := f.next_change_ms(now_ms)) is not None]
        self._cached = self._compute(now_ms)
        self._valid_from = now_ms
        self._valid_until = min(changes, default=2**62)
        return self._cached

    def _compute(self, now_ms: int) -> ActiveFaults:
        active = [f for f in self.faults if f.active(now_ms)]
        if not active:
            return _NONE
        stuck: dict[int, bool] = {}
        jam = motor = estop = False
        slow = 1.0
        bus: FaultSpec | None = None
        camera: set[FaultKind] = set()
        for f in active:
            if f.kind is FaultKind.STUCK_ON or f.kind is FaultKind.STUCK_OFF:
                assert f.input is not None
                stuck[INPUT_NAMES.index(f.input)] = f.kind is FaultKind.STUCK_ON
            elif f.kind is FaultKind.BARRIER_JAM:
                jam = True
            elif f.kind is FaultKind.MOTOR_FAULT:
                motor = True
            elif f.kind is FaultKind.ESTOP:
                estop = True
            elif f.kind is FaultKind.SLOW_BARRIER:
                slow = max(slow, f.factor)
            elif f.kind in BUS_KINDS:
                bus = f
            else:
                camera.add(f.kind)
        return ActiveFaults(
            stuck=tuple(sorted(stuck.items())),
            barrier_jam=jam,
            motor_fault=motor,
            estop=estop,
            slow_factor=slow,
            bus=bus,
            camera=frozenset(camera),
        )

    def bus_fault(self, now_ms: int) -> FaultSpec | None:
        """The bus fault active at ``now_ms`` (the last scheduled wins), or None."""
        return self.at(now_ms).bus

    def active(self, now_ms: int) -> list[FaultSpec]:
        return [f for f in self.faults if f.active(now_ms)]
