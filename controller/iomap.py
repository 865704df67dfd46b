"""The lane's Modbus register map: the one source of truth.

The controller's I/O adapter, the simulated lane (hw_sim) and ``lanectl iomap``
all read it from here. Addresses are zero-based protocol addresses (what goes
on the wire), each table shifted by a configurable base offset.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, fields

from controller.core.types import CameraZones, Command, Inputs, Outputs

__all__ = [
    "COILS",
    "DISCRETE_INPUTS",
    "HOLDING_REGISTERS",
    "INPUT_REGISTERS",
    "IO_STATUS_WATCHDOG_TRIPPED",
    "Register",
    "RegisterMap",
    "Table",
    "coils_from_outputs",
    "inputs_from_bits",
    "join_u32",
    "markdown_table",
    "outputs_from_coils",
    "split_u32",
]


class Table(enum.Enum):
    DISCRETE_INPUT = "discrete input"
    COIL = "coil"
    HOLDING_REGISTER = "holding register"
    INPUT_REGISTER = "input register"


@dataclass(frozen=True, slots=True)
class Register:
    table: Table
    address: int
    name: str
    doc: str


DISCRETE_INPUTS: tuple[Register, ...] = tuple(
    Register(Table.DISCRETE_INPUT, i, name, doc)
    for i, (name, doc) in enumerate(
        (
            ("loop_approach", "vehicle on the approach loop"),
            ("loop_bay", "vehicle on the bay loop"),
            ("photocell", "beam under the boom interrupted"),
            ("loop_exit", "vehicle on the exit loop"),
            ("barrier_up", "boom at its up limit"),
            ("barrier_down", "boom at its down limit"),
            ("safety_edge", "safety edge on the boom pressed"),
            ("estop", "emergency stop pressed"),
            ("motor_fault", "barrier motor drive reports a fault"),
            ("release_button", "console RELEASE push button"),
            ("send_aside_button", "console SEND ASIDE push button"),
        )
    )
)

COILS: tuple[Register, ...] = tuple(
    Register(Table.COIL, i, name, doc)
    for i, (name, doc) in enumerate(
        (
            ("barrier_raise", "boom motor: raise"),
            ("barrier_lower", "boom motor: lower"),
            ("entry_red", "entry signal red"),
            ("entry_amber", "entry signal amber"),
            ("entry_green", "entry signal green"),
            ("exit_red", "exit light red"),
            ("exit_green", "exit light green"),
            ("lane_open", "lane-use signal OPEN (green arrow)"),
            ("lane_closed", "lane-use signal CLOSED (red X)"),
            ("warn", "warn light (boom about to move or moving)"),
            ("alarm", "alarm beacon"),
        )
    )
)

HOLDING_REGISTERS: tuple[Register, ...] = (
    Register(Table.HOLDING_REGISTER, 0, "heartbeat", "controller increments every scan (S9)"),
    Register(Table.HOLDING_REGISTER, 1, "watchdog_ms", "written by the controller on connect"),
    Register(Table.HOLDING_REGISTER, 2, "mode_phase", "controller mode (high byte), phase (low)"),
    Register(Table.HOLDING_REGISTER, 3, "vehicle_count_hi", "vehicles passed, high word"),
    Register(Table.HOLDING_REGISTER, 4, "vehicle_count_lo", "vehicles passed, low word"),
)

INPUT_REGISTERS: tuple[Register, ...] = (
    Register(Table.INPUT_REGISTER, 0, "io_status", "bit 0: watchdog tripped, fail state applied"),
    Register(
        Table.INPUT_REGISTER, 1, "barrier_position", "boom angle, 0 down .. 1000 up (per mille)"
    ),
    Register(Table.INPUT_REGISTER, 2, "io_cycle", "I/O side cycle counter (wraps at 65536)"),
)

IO_STATUS_WATCHDOG_TRIPPED = 0x0001

_DI_NAMES = tuple(r.name for r in DISCRETE_INPUTS)
_COIL_NAMES = tuple(r.name for r in COILS)
assert set(_COIL_NAMES) == {f.name for f in fields(Outputs)}, "coil map and Outputs disagree"


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Base offsets of each table on a site's I/O (defaults match the table in DESIGN.md)."""

    discrete_input_base: int = 0
    coil_base: int = 0
    holding_register_base: int = 0
    input_register_base: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0 <= value <= 65535 - 16:
                raise ValueError(f"{f.name}: {value} is outside 0..65519")

    def address(self, register: Register) -> int:
        base = {
            Table.DISCRETE_INPUT: self.discrete_input_base,
            Table.COIL: self.coil_base,
            Table.HOLDING_REGISTER: self.holding_register_base,
            Table.INPUT_REGISTER: self.input_register_base,
        }[register.table]
        return base + register.address


def inputs_from_bits(
    bits: Sequence[bool],
    *,
    io_status: int = 0,
    bus_ok: bool = True,
    camera: CameraZones | None = None,
    commands: tuple[Command, ...] = (),
) -> Inputs:
    """Build core ``Inputs`` from the discrete-input bits read in one request (FC2)."""
    if len(bits) < len(DISCRETE_INPUTS):
        raise ValueError(f"bits: expected {len(DISCRETE_INPUTS)} discrete inputs, got {len(bits)}")
    values = {name: bool(bits[i]) for i, name in enumerate(_DI_NAMES)}
    return Inputs(
        **values,
        bus_ok=bus_ok,
        io_watchdog_tripped=bool(io_status & IO_STATUS_WATCHDOG_TRIPPED),
        camera=camera if camera is not None else CameraZones(),
        commands=commands,
    )


def coils_from_outputs(outputs: Outputs) -> list[bool]:
    """All coils in address order, for one FC15 write."""
    return [bool(getattr(outputs, name)) for name in _COIL_NAMES]


def outputs_from_coils(bits: Sequence[bool]) -> Outputs:
    """Inverse of ``coils_from_outputs`` (used by the simulated lane and tests)."""
    if len(bits) < len(COILS):
        raise ValueError(f"bits: expected {len(COILS)} coils, got {len(bits)}")
    return Outputs(**{name: bool(bits[i]) for i, name in enumerate(_COIL_NAMES)})


def split_u32(value: int) -> tuple[int, int]:
    """A 32-bit count as (high word, low word)."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"value: {value} does not fit 32 bits")
    return (value >> 16) & 0xFFFF, value & 0xFFFF


def join_u32(high: int, low: int) -> int:
    return ((high & 0xFFFF) << 16) | (low & 0xFFFF)


def markdown_table(regmap: RegisterMap | None = None) -> str:
    """The register map as a Markdown table (``lanectl iomap``, the README)."""
    regmap = regmap or RegisterMap()
    lines = ["| table | address | name | meaning |", "|---|---|---|---|"]
    for group in (DISCRETE_INPUTS, COILS, HOLDING_REGISTERS, INPUT_REGISTERS):
        for reg in group:
            lines.append(f"| {reg.table.value} | {regmap.address(reg)} | {reg.name} | {reg.doc} |")
    return "\n".join(lines) + "\n"
