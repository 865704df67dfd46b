"""Tests of the register map shared by the controller, the simulator and the CLI."""

from __future__ import annotations

import pytest

from controller import iomap
from controller.core.types import Outputs


def test_discrete_input_addresses_match_design() -> None:
    """The discrete inputs sit at the addresses DESIGN.md gives, in order."""
    names = [r.name for r in iomap.DISCRETE_INPUTS]
    assert names[:9] == [
        "loop_approach", "loop_bay", "photocell", "loop_exit", "barrier_up",
        "barrier_down", "safety_edge", "estop", "motor_fault",
    ]  # fmt: skip
    assert names[9:] == ["release_button", "send_aside_button"]
    assert [r.address for r in iomap.DISCRETE_INPUTS] == list(range(11))


def test_coils_round_trip_through_outputs() -> None:
    """Outputs -> coil bits -> Outputs gives back the same value, bit by bit."""
    bits = [False] * len(iomap.COILS)
    bits[0] = True
    bits[4] = True
    bits[10] = True
    out = iomap.outputs_from_coils(bits)
    assert out.barrier_raise and out.entry_green and out.alarm
    assert not out.barrier_lower and not out.entry_red
    assert iomap.coils_from_outputs(out) == bits


def test_inputs_from_bits_sets_names_and_watchdog_flag() -> None:
    """Bit i lands on the input named at address i; io_status bit 0 is the watchdog flag."""
    bits = [i == 2 for i in range(11)]
    inputs = iomap.inputs_from_bits(bits, io_status=1)
    assert inputs.photocell and not inputs.loop_bay
    assert inputs.io_watchdog_tripped


def test_short_reply_is_named_error() -> None:
    """Too few bits is a ValueError naming the argument, never an IndexError."""
    with pytest.raises(ValueError, match="bits"):
        iomap.inputs_from_bits([True] * 3)


def test_u32_split_and_join() -> None:
    """The 32-bit vehicle count goes high word first and comes back whole."""
    assert iomap.split_u32(0x0001_0002) == (1, 2)
    assert iomap.join_u32(*iomap.split_u32(123_456_789)) == 123_456_789
    with pytest.raises(ValueError, match="value"):
        iomap.split_u32(-1)


def test_register_map_offsets_apply_per_table() -> None:
    """A site's base offset moves one table only."""
    regmap = iomap.RegisterMap(coil_base=100)
    assert regmap.address(iomap.COILS[0]) == 100
    assert regmap.address(iomap.DISCRETE_INPUTS[0]) == 0
    with pytest.raises(ValueError, match="coil_base"):
        iomap.RegisterMap(coil_base=-1)


def test_markdown_lists_every_register() -> None:
    """The printed table has one row per register of every table."""
    table = iomap.markdown_table()
    total = sum(len(t) for t in (iomap.DISCRETE_INPUTS, iomap.COILS,
                                 iomap.HOLDING_REGISTERS, iomap.INPUT_REGISTERS))  # fmt: skip
    assert len(table.strip().splitlines()) == total + 2
    assert "| coil | 0 | barrier_raise |" in table
    assert Outputs().entry_red
