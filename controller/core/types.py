"""Values that cross the core's boundary: inputs, outputs, commands, events, config.

All are frozen, slotted dataclasses or enums so a scan can be recorded, hashed
and replayed bit for bit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

__all__ = [
    "EVENT_KINDS",
    "CameraHealth",
    "CameraZones",
    "Command",
    "CommandKind",
    "Event",
    "EventValue",
    "FailMode",
    "Inputs",
    "LaneConfig",
    "Mode",
    "Outputs",
    "Phase",
]

EventValue = int | str | bool


class Mode(enum.Enum):
    """Lane modes; a lower code is a higher priority (ESTOP wins over everything)."""

    ESTOP = 1
    EMERGENCY_OPEN = 2
    FAULT = 3
    MAINTENANCE = 4
    CLOSED = 5
    OPEN = 6


class Phase(enum.Enum):
    """Where the lane is in its cycle (OPEN/CLOSED) or what the boom does in the other modes.

    The value is the low byte of holding register 2 (mode code << 8 | phase code).
    """

    START = 0
    """Just started or back from a special mode: the boom position is being reconciled."""
    READY = 1
    """Boom down, no vehicle in the bay (entry green when the lane is OPEN)."""
    ENTERING = 2
    """A vehicle is in the bay and not yet stopped (entry amber, then red)."""
    INSPECTING = 3
    """The vehicle stands in the bay waiting for release or send-aside."""
    ASIDE = 4
    """The vehicle was sent aside: waiting for the bay to clear."""
    WARNING = 5
    """Released: the warn light flashes before the boom moves."""
    RAISING = 6
    """The boom goes up to its up limit."""
    PASSING = 7
    """Boom up, exit green: the released vehicle crosses the barrier line."""
    CLEARING = 8
    """Exit red: waiting until nothing is under the boom for ``clear_delay_ms``."""
    LOWERING = 9
    """The boom goes down; any presence reverses it."""
    HALTED = 10
    """Motor off, no cycle (ESTOP, maintenance, a latched fault, the boom at its fail position)."""
    OPENED = 11
    """Emergency open: boom up, exit green, motor off."""


EVENT_KINDS: tuple[str, ...] = (
    "vehicle_arrived",
    "vehicle_stopped",
    "vehicle_released",
    "vehicle_passed",
    "tailgate",
    "run_through",
    "vehicle_sent_aside",
    "vehicle_backed_out",
    "boom_reversed",
    "fault_latched",
    "fault_reset",
    "mode_changed",
    "command_rejected",
    "safety_override",
    "bus_lost",
    "bus_restored",
    "sensor_disagreement",
    "stuck_loop",
    "camera_fault",
    "camera_restored",
    "motor_fault",
    "standstill_fallback",
)
"""Every event kind the core emits; the journal, logs and tests rely on these names.

``vehicle_passed``, ``tailgate`` and ``run_through`` are the three crossing
events (S11): each carries ``count``, the running total of ALL crossings, and
``detected_by``: ``photocell`` (it cleared with the exit loop occupied, or the
released vehicle with the bay empty past a dead exit loop), ``exit_loop`` (the
loops saw the vehicle go across while the photocell did not: it is then latched
faulted and reported by ``sensor_disagreement`` with ``sensor="photocell"``; or
the photocell is latched blind and the exit loop came on), ``camera`` (the
healthy camera's barrier zone saw it: with the loops while the photocell did
not, or the zone emptied with the exit side occupied and nothing else counted
the vehicle: a photocell stuck on or off or blind, a dead exit loop, a bus drop)
or ``bus_restored`` (the released vehicle was at the line when the bus dropped
and is gone forward when it returns). A crossing counted on the barrier zone
emptying also carries ``seen_by``, the sensors that saw the vehicle,
comma-separated (``camera_barrier``, ``camera_exit``, ``loop_exit``,
``photocell``). ``vehicle_passed`` also carries ``authorised``: ``release``,
``emergency_open`` or ``boom_up_at_start`` (found at a raised boom when the controller started).
"""


class FailMode(enum.Enum):
    """Where the boom goes in the fail state (S10): down to secure the lane, or up to keep it
    safe."""

    SECURE = "secure"
    SAFE = "safe"


class CameraHealth(enum.Enum):
    """Whether camera zone states can be believed this scan."""

    ABSENT = "absent"
    """No camera is configured: the lane runs on loops and photocell alone."""
    OK = "ok"
    FAULT = "fault"
    """Frozen, blinded, shaken or stale: the zone flags mean nothing."""


@dataclass(frozen=True, slots=True)
class CameraZones:
    """Debounced presence per camera zone, with the camera's health."""

    health: CameraHealth = CameraHealth.ABSENT
    approach: bool = False
    bay: bool = False
    barrier: bool = False
    exit: bool = False
    bay_still_ms: int | None = None
    """How long the body in the bay zone has not moved; None when the camera does not
    report standstill (no camera, an older journal). Believed only while healthy."""


class CommandKind(enum.Enum):
    """Operator commands, from the console buttons or the control API."""

    RELEASE = "release"
    SEND_ASIDE = "send_aside"
    OPEN_LANE = "open_lane"
    CLOSE_LANE = "close_lane"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"
    MANUAL_RAISE = "manual_raise"
    MANUAL_LOWER = "manual_lower"
    EMERGENCY_OPEN_ON = "emergency_open_on"
    EMERGENCY_OPEN_OFF = "emergency_open_off"
    RESET_FAULT = "reset_fault"


@dataclass(frozen=True, slots=True)
class Command:
    """One operator command arriving in a scan; ``source`` says who sent it (console, api, ...)."""

    kind: CommandKind
    source: str = "api"


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the core sees in one scan.

    Discrete inputs are True when active (vehicle present, limit reached, edge
    pressed, ESTOP pressed, fault present, button pressed). When ``bus_ok`` is
    False the discrete inputs are the last values read and must not be trusted.
    """

    loop_approach: bool = False
    loop_bay: bool = False
    photocell: bool = False
    loop_exit: bool = False
    barrier_up: bool = False
    barrier_down: bool = False
    safety_edge: bool = False
    estop: bool = False
    motor_fault: bool = False
    release_button: bool = False
    send_aside_button: bool = False
    bus_ok: bool = True
    io_watchdog_tripped: bool = False
    camera: CameraZones = field(default_factory=CameraZones)
    commands: tuple[Command, ...] = ()


@dataclass(frozen=True, slots=True)
class Outputs:
    """Every coil of the register map, True = energised."""

    barrier_raise: bool = False
    barrier_lower: bool = False
    entry_red: bool = True
    entry_amber: bool = False
    entry_green: bool = False
    exit_red: bool = True
    exit_green: bool = False
    lane_open: bool = False
    lane_closed: bool = True
    warn: bool = False
    alarm: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Event:
    """A named thing that happened, at the scan time it was seen.

    ``kind`` is a snake_case name (``vehicle_passed``, ``boom_reversed``, ...);
    ``data`` holds its values as sorted (key, value) pairs so events hash and
    compare exactly.
    """

    kind: str
    at_ms: int
    data: tuple[tuple[str, EventValue], ...] = ()

    @classmethod
    def make(cls, kind: str, at_ms: int, **data: EventValue) -> Event:
        return cls(kind=kind, at_ms=at_ms, data=tuple(sorted(data.items())))

    def get(self, key: str, default: EventValue | None = None) -> EventValue | None:
        for k, v in self.data:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict[str, EventValue]:
        out: dict[str, EventValue] = {"event": self.kind, "at_ms": self.at_ms}
        out.update(self.data)
        return out


@dataclass(frozen=True, slots=True)
class LaneConfig:
    """Timings (integer milliseconds) and policies of one lane."""

    amber_ms: int = 3000
    """S6: green to red passes amber at least this long; never under AMBER_MIN_MS."""
    warn_ms: int = 1500
    """Warn light flashes this long before the boom starts to move."""
    travel_timeout_ms: int = 6000
    """S8: raise or lower must reach its limit within this."""
    clear_delay_ms: int = 500
    """The barrier zone must stay clear this long before the boom starts down."""
    stop_debounce_ms: int = 1000
    """A vehicle on the bay loop this long counts as stopped (the approach loop may be
    occupied: a stopped 18 m truck covers it), unless the camera reports standstill."""
    standstill_ms: int = 500
    """With a healthy camera that reports it, a vehicle in the bay counts as stopped once
    the bay zone has been still this long (``CameraZones.bay_still_ms``)."""
    standstill_timeout_ms: int = 5000
    """How long past the loop rule (bay loop for ``stop_debounce_ms``) a healthy camera that
    never sees the bay zone still may hold the vehicle back; then the loop rule decides and
    ``standstill_fallback`` (``never_still``) is journaled. Moving shadows across a standing
    vehicle must not keep it from inspection for ever."""
    presence_on_ms: int = 100
    presence_off_ms: int = 300
    max_reversals: int = 3
    """S3: this many safety-edge reversals in one cycle latch an obstruction fault."""
    auto_release_ms: int | None = None
    """None: an operator releases. Otherwise release after this dwell in the bay."""
    early_entry: bool = False
    """Entry green as soon as the released vehicle has left the bay."""
    fail_mode: FailMode = FailMode.SECURE
    stuck_loop_ms: int = 600_000
    """A loop occupied this long without the other sensors agreeing is reported stuck."""
    disagreement_ms: int = 5000
    """Camera and loops disagreeing this long is a sensor-disagreement event."""
    watchdog_ms: int = 500
    """S9: the I/O side applies the fail state when the heartbeat stops this long."""

    AMBER_MIN_MS = 2700

    def __post_init__(self) -> None:
        if self.amber_ms < self.AMBER_MIN_MS:
            raise ValueError(f"amber_ms: {self.amber_ms} is under the minimum {self.AMBER_MIN_MS}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{f.name}: must not be negative, got {value}")
        if self.max_reversals < 1:
            raise ValueError(f"max_reversals: must be at least 1, got {self.max_reversals}")
