"""Which operator command is allowed now and, if not, why: decided once, here.

The lane's ``step`` asks these functions for every command it receives (the
refusal becomes a ``command_rejected`` event), and the console and the API ask
``refusals`` before they queue one, so a button is disabled with the very
reason the core would give. An empty string means allowed. Pure: the lane's
state and its last inputs in, a reason out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.types import CommandKind, Inputs, Mode, Phase

if TYPE_CHECKING:
    from controller.core.lane import LaneState

__all__ = [
    "MODE_COMMANDS",
    "PHASE_COMMAND_MODES",
    "mode_command_refusal",
    "phase_command_refusal",
    "refusal",
    "refusals",
    "reset_refusal",
]

_CYCLE = frozenset({Mode.OPEN, Mode.CLOSED})

PHASE_COMMAND_MODES: dict[CommandKind, frozenset[Mode]] = {
    CommandKind.RELEASE: _CYCLE,
    CommandKind.SEND_ASIDE: _CYCLE,
    CommandKind.MANUAL_RAISE: frozenset({Mode.MAINTENANCE}),
    CommandKind.MANUAL_LOWER: frozenset({Mode.MAINTENANCE}),
}
"""Commands that act through the transition table, and the modes they act in."""

MODE_COMMANDS = frozenset(CommandKind) - frozenset(PHASE_COMMAND_MODES)
"""Commands that change the flags the mode is derived from."""

_MAINTENANCE_PHASES = frozenset({Phase.READY, Phase.START, Phase.HALTED})


def reset_refusal(faults: tuple[str, ...], inputs: Inputs | None) -> str:
    """Why a fault reset is refused: nothing latched, or a cause still present."""
    if not faults:
        return "no fault latched"
    if inputs is None or not inputs.bus_ok:
        return "I/O bus not restored"
    if inputs.estop:
        return "ESTOP still pressed"
    if inputs.motor_fault:
        return "motor fault still present"
    if inputs.barrier_up and inputs.barrier_down:
        return "both limits still on"
    if inputs.io_watchdog_tripped:
        return "I/O watchdog still tripped"
    return ""


def mode_command_refusal(
    kind: CommandKind,
    *,
    mode: Mode,
    phase: Phase,
    lane_open: bool,
    maintenance: bool,
    emergency: bool,
    faults: tuple[str, ...],
    inputs: Inputs | None,
) -> str:
    """Why a mode-level command is refused; ``mode``/``phase`` as the scan began, the flags
    as the commands before it in the same scan left them."""
    if kind is CommandKind.OPEN_LANE:
        return "" if mode is Mode.CLOSED else f"lane is {mode.name}"
    if kind is CommandKind.CLOSE_LANE:
        return "" if lane_open else "lane is not open"
    if kind is CommandKind.MAINTENANCE_ON:
        if mode not in _CYCLE:
            return f"lane is {mode.name}"
        if phase not in _MAINTENANCE_PHASES:
            return f"vehicle cycle in progress ({phase.name})"
        return ""
    if kind is CommandKind.MAINTENANCE_OFF:
        return "" if maintenance else "not in maintenance"
    if kind is CommandKind.EMERGENCY_OPEN_ON:
        return "emergency open already on" if emergency else ""
    if kind is CommandKind.EMERGENCY_OPEN_OFF:
        return "" if emergency else "emergency open is not on"
    if kind is CommandKind.RESET_FAULT:
        return reset_refusal(faults, inputs)
    raise ValueError(f"command: {kind.value} acts through the table, not on the mode")


def phase_command_refusal(kind: CommandKind, mode: Mode, valid_in_phase: bool, phase: Phase) -> str:
    """Why a table command is refused: wrong mode, or no row for it in ``phase``."""
    modes = PHASE_COMMAND_MODES.get(kind)
    if modes is None:
        raise ValueError(f"command: {kind.value} changes the mode, it has no table row")
    if mode not in modes:
        return f"lane is {mode.name}"
    if not valid_in_phase:
        return f"not valid in phase {phase.name}"
    return ""


def refusal(state: LaneState, inputs: Inputs | None, kind: CommandKind) -> str:
    """Why ``kind`` would be refused if it arrived in the next scan ("" = allowed).

    Judged on the state after the last scan and the inputs that scan read (None: none
    read yet); a command that passes here can still be overtaken by the next scan.
    """
    from controller.core.lane import PHASE_COMMANDS, TRANSITIONS

    if kind in MODE_COMMANDS:
        return mode_command_refusal(
            kind,
            mode=state.mode,
            phase=state.phase,
            lane_open=state.lane_open,
            maintenance=state.maintenance,
            emergency=state.emergency,
            faults=state.faults,
            inputs=inputs,
        )
    trig = PHASE_COMMANDS[kind]
    valid = any(t.trigger is trig for t in TRANSITIONS[state.phase])
    reason = phase_command_refusal(kind, state.mode, valid, state.phase)
    if not reason and (inputs is None or not inputs.bus_ok):
        return "inputs stale: I/O bus lost"
    return reason


def refusals(state: LaneState, inputs: Inputs | None) -> dict[str, str]:
    """Every command's refusal by wire name ("" = allowed now)."""
    return {kind.value: refusal(state, inputs, kind) for kind in CommandKind}
