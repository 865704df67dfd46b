"""The lane's names: fault and pass names, the signal and motor aspects, the triggers and
the stages a scan walks the table in."""

from __future__ import annotations

import enum

from controller.core.types import Mode

__all__ = [
    "CYCLE_MODES",
    "FAULT_BOTH_LIMITS",
    "FAULT_BUS",
    "FAULT_DOWN_LIMIT_LOST",
    "FAULT_ESTOP",
    "FAULT_IO_WATCHDOG",
    "FAULT_LOWER_TIMEOUT",
    "FAULT_MOTOR",
    "FAULT_OBSTRUCTION",
    "FAULT_PHOTOCELL",
    "FAULT_RAISE_TIMEOUT",
    "FAULT_UP_LIMIT_LOST",
    "MECHANICAL_FAULTS",
    "PASS_BOOM_UP",
    "PASS_RELEASE",
    "Effect",
    "Motion",
    "Signal",
    "Stage",
    "Trigger",
]

FAULT_ESTOP = "estop"
FAULT_MOTOR = "motor"
FAULT_BOTH_LIMITS = "both_limits"
FAULT_DOWN_LIMIT_LOST = "down_limit_lost"
FAULT_UP_LIMIT_LOST = "up_limit_lost"
FAULT_RAISE_TIMEOUT = "raise_timeout"
FAULT_LOWER_TIMEOUT = "lower_timeout"
FAULT_OBSTRUCTION = "obstruction"
FAULT_BUS = "bus"
FAULT_IO_WATCHDOG = "io_watchdog"
FAULT_PHOTOCELL = "photocell"
"""The photocell missed a released vehicle the loops saw go across: until an operator reset
it counts as occupied (S1) and the exit loop's rising edge is the crossing (S11)."""

PASS_RELEASE = "release"
PASS_BOOM_UP = "boom_up_at_start"
"""Why the vehicle expected across the line may cross (``LaneState.pending``): an operator
or auto release, or a vehicle found under or before a raised boom at power-on."""

MECHANICAL_FAULTS = frozenset(
    {
        FAULT_MOTOR,
        FAULT_BOTH_LIMITS,
        FAULT_DOWN_LIMIT_LOST,
        FAULT_UP_LIMIT_LOST,
        FAULT_RAISE_TIMEOUT,
        FAULT_LOWER_TIMEOUT,
    }
)
"""Faults after which the controller does not drive the boom again until a reset."""

CYCLE_MODES = frozenset({Mode.OPEN, Mode.CLOSED})
"""Modes in which the vehicle cycle runs (CLOSED only keeps the entry red)."""


class Signal(enum.Enum):
    """The aspect of the entry signal."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class Motion(enum.Enum):
    """What the boom motor was commanded to do in the last written outputs."""

    IDLE = "idle"
    RAISING = "raising"
    LOWERING = "lowering"


class Stage(enum.Enum):
    """When in a scan a row may fire; ``step`` walks the stages in this order."""

    ENTRY = "entry"
    """The mode changed (or a fault latched): the phase that mode starts in, from any phase."""
    HALT = "halt"
    """A mechanical fault seen this scan stops a moving boom."""
    CYCLE = "cycle"
    """The vehicle cycle: at most one row per scan, fresh inputs only. When its PRESENCE
    row latches the obstruction fault, the ENTRY rows of the new mode follow at once."""
    REVERSAL = "reversal"
    """S3 over everything but ESTOP: a boom coming down onto something goes back up."""


class Trigger(enum.Enum):
    """Named conditions the transition table is written in."""

    BOOM_DOWN = "boom down"
    """Down limit on, up limit off."""
    OTHERWISE = "otherwise"
    BAY_ARRIVED = "vehicle in bay"
    """Bay presence (bay loop, or the camera's bay zone when healthy) for presence_on_ms."""
    BAY_LEFT = "bay left"
    """Bay empty for presence_off_ms and nothing under the boom."""
    STOPPED = "stopped"
    """Bay occupied and the camera's bay zone still for standstill_ms; without a healthy
    camera that reports standstill, the bay loop occupied for stop_debounce_ms."""
    RELEASE = "release"
    """A release command or the rising edge of the RELEASE button."""
    AUTO_RELEASE = "auto release"
    """auto_release_ms set and the vehicle has stood that long."""
    SEND_ASIDE = "send aside"
    WARN_DONE = "warn_ms elapsed"
    UP_FRESH = "up, vehicle not yet across"
    UP_CROSSED = "up, vehicle across"
    UP_EMERGENCY = "up, emergency open"
    UP_REACHED = "up"
    CROSSED = "vehicle across"
    """The released vehicle crossed the barrier line."""
    CLEAR = "clear for clear_delay_ms"
    PRESENCE = "presence under boom"
    DOWN_BAY = "down, bay occupied"
    DOWN_CYCLE = "down"
    DOWN_REACHED = "down (not cycling)"
    MANUAL_RAISE = "manual raise"
    MANUAL_LOWER = "manual lower"
    # Stage.ENTRY: the phase a mode starts in (S10 for FAULT).
    ENTER_ESTOP = "ESTOP entered"
    ENTER_EMERGENCY = "EMERGENCY_OPEN entered"
    ENTER_FAULT_HALTED = "FAULT entered (bus lost, ESTOP or mechanical fault)"
    ENTER_FAULT_UP = "FAULT entered (obstruction or fail_mode safe)"
    ENTER_FAULT_DOWN = "FAULT entered (fail_mode secure)"
    ENTER_MAINTENANCE = "MAINTENANCE entered"
    ENTER_CYCLE = "OPEN or CLOSED entered from another mode"
    # Stage.HALT
    MECHANICAL_FAULT = "mechanical fault this scan"
    # Stage.REVERSAL
    LOWERING_ONTO_PRESENCE = "lowering onto presence (S3)"


class Effect(enum.Enum):
    """What a row does to the cycle's memory besides moving the phase."""

    ARM_PASS = "arm pass"
    """A release: the vehicle is expected across (``pending``), reversals start over."""
    FORGET_PASS = "forget pass"
    """The vehicle backed out: none is expected across any more."""
    FOUND_AT_BOOM = "found at boom"
    """Power-on with a vehicle at a boom not down: it may go on through."""
    REVERSE = "reverse"
    """One more reversal this cycle; ``max_reversals`` of them latch the obstruction fault."""
