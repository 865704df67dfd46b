"""Which command is allowed now: ``commands.refusal`` gives the reason the next scan gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from controller.core.commands import refusal, refusals
from controller.core.lane import Step, step
from controller.core.types import Command, CommandKind, Inputs

from .helpers import DOWN
from .helpers import Drive as _Drive


class Drive(_Drive):
    """The test drive, remembering the inputs of its last scan (what the runtime has)."""

    inputs: Inputs | None = None

    def step(self, inputs: Inputs, dt: int = 5, **changes: object) -> Step:
        if changes:
            inputs = replace(inputs, **changes)  # type: ignore[arg-type]
        self.inputs = replace(inputs, commands=())
        return super().step(inputs, dt)


PREFIXES: dict[str, Callable[[Drive], object]] = {
    "start": lambda d: d.step(DOWN),
    "no_bus_yet": lambda d: d.step(Inputs(bus_ok=False)),
    "ready": Drive.open_ready,
    "entering": Drive.entering,
    "inspecting": Drive.inspecting,
    "warning": Drive.warning,
    "raising": Drive.raising,
    "passing": Drive.passing,
    "clearing": Drive.clearing,
    "lowering": Drive.lowering,
    "maintenance": Drive.maintenance,
    "estop": lambda d: (d.open_ready(), d.step(DOWN, estop=True)),
    "bus_lost": lambda d: (d.inspecting(), d.step(DOWN, loop_bay=True, bus_ok=False)),
    "motor_fault": lambda d: (d.open_ready(), d.step(DOWN, motor_fault=True)),
    "fault_cleared": lambda d: (d.open_ready(), d.step(DOWN, motor_fault=True), d.step(DOWN)),
    "emergency": lambda d: (
        d.open_ready(),
        d.step(DOWN, commands=(Command(CommandKind.EMERGENCY_OPEN_ON),)),
    ),
}


def _core_reason(d: Drive, kind: CommandKind) -> str:
    """The reason the next scan (same inputs, same instant) rejects ``kind`` with, or ""."""
    assert d.inputs is not None
    inputs = replace(d.inputs, commands=(Command(kind, "test"),))
    result = step(d.state, inputs, d.now)
    reasons = [str(e.get("reason")) for e in result.events if e.kind == "command_rejected"]
    assert len(reasons) <= 1
    return reasons[0] if reasons else ""


@pytest.mark.parametrize("where", sorted(PREFIXES))
def test_refusal_is_the_reason_the_core_gives(where: str) -> None:
    """In every phase and mode walked, each command's predicted refusal is the core's own."""
    d = Drive()
    PREFIXES[where](d)
    predicted = refusals(d.state, d.inputs)
    actual = {kind.value: _core_reason(d, kind) for kind in CommandKind}
    assert predicted == actual


def test_release_is_allowed_only_while_a_vehicle_is_inspected() -> None:
    """An empty bay refuses release with its phase; an inspected vehicle may be released."""
    d = Drive()
    d.open_ready()
    assert refusal(d.state, d.inputs, CommandKind.RELEASE) == "not valid in phase READY"
    d = Drive()
    d.inspecting()
    assert refusal(d.state, d.inputs, CommandKind.RELEASE) == ""
    assert refusal(d.state, d.inputs, CommandKind.MANUAL_RAISE) == "lane is OPEN"
    assert refusal(d.state, d.inputs, CommandKind.RESET_FAULT) == "no fault latched"


def test_reset_names_the_cause_still_present() -> None:
    """A latched motor fault cannot be reset while the drive still reports it."""
    d = Drive()
    d.open_ready()
    d.step(DOWN, motor_fault=True)
    assert refusal(d.state, d.inputs, CommandKind.RESET_FAULT) == "motor fault still present"
    d.step(DOWN)
    assert refusal(d.state, d.inputs, CommandKind.RESET_FAULT) == ""


def test_no_inputs_yet_refuses_table_commands() -> None:
    """Without fresh inputs a table command is refused as stale, a reset as bus not restored."""
    d = Drive()
    assert refusal(d.state, None, CommandKind.RELEASE) == "not valid in phase START"
    assert refusal(d.state, None, CommandKind.OPEN_LANE) == ""
    d.maintenance()
    assert refusal(d.state, d.inputs, CommandKind.MANUAL_RAISE) == ""
    assert refusal(d.state, None, CommandKind.MANUAL_RAISE) == "inputs stale: I/O bus lost"
    d.step(Inputs(bus_ok=False))
    assert refusal(d.state, d.inputs, CommandKind.RESET_FAULT) == "I/O bus not restored"
