"""The lane's tables as data: transitions, mode-command effects, phase outputs and the
phase sets the entry signal and the cycle's memory are read from.

``TRANSITIONS`` holds every transition the lane can take, one row per (phase, trigger),
in the order ``step`` tries them: the ENTRY rows (a mode change forces the phase that
mode starts in, from any phase), the HALT rows (a mechanical fault stops a moving boom),
the CYCLE rows (first that holds wins, one per scan) and the REVERSAL rows (S3). What a
row does besides moving the phase is its ``effect``; ``lanectl states`` draws them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.lane.names import Effect, Stage, Trigger
from controller.core.types import CommandKind, Phase

__all__ = [
    "AFTER_RELEASE_PHASES",
    "EARLY_ENTRY_PHASES",
    "ENTRY_ROWS",
    "MODE_COMMAND_EFFECTS",
    "MOVING_PHASES",
    "PHASE_COMMANDS",
    "PHASE_OUTPUTS",
    "RELEASED_PHASES",
    "REST_PHASES",
    "ROWS_BY_STAGE",
    "TRANSITIONS",
    "Transition",
]


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the table: when ``trigger`` holds, go to ``target`` and emit ``event``."""

    trigger: Trigger
    target: Phase
    event: str | None = None
    effect: Effect | None = None
    stage: Stage = Stage.CYCLE
    source: str | None = None
    """Who the row's event names as its source when no command fired it."""


_T = Transition
_CYCLE: dict[Phase, tuple[Transition, ...]] = {
    Phase.START: (
        _T(Trigger.BOOM_DOWN, Phase.READY, effect=Effect.FOUND_AT_BOOM),
        _T(Trigger.OTHERWISE, Phase.CLEARING, effect=Effect.FOUND_AT_BOOM),
    ),
    Phase.READY: (_T(Trigger.BAY_ARRIVED, Phase.ENTERING, "vehicle_arrived"),),
    Phase.ENTERING: (
        _T(Trigger.SEND_ASIDE, Phase.ASIDE, "vehicle_sent_aside"),
        _T(Trigger.BAY_LEFT, Phase.READY, "vehicle_backed_out", Effect.FORGET_PASS),
        _T(Trigger.STOPPED, Phase.INSPECTING, "vehicle_stopped"),
    ),
    Phase.INSPECTING: (
        _T(Trigger.RELEASE, Phase.WARNING, "vehicle_released", Effect.ARM_PASS),
        _T(Trigger.SEND_ASIDE, Phase.ASIDE, "vehicle_sent_aside"),
        _T(Trigger.BAY_LEFT, Phase.READY, "vehicle_backed_out", Effect.FORGET_PASS),
        _T(Trigger.AUTO_RELEASE, Phase.WARNING, "vehicle_released", Effect.ARM_PASS, source="auto"),
    ),
    Phase.ASIDE: (
        _T(Trigger.RELEASE, Phase.WARNING, "vehicle_released", Effect.ARM_PASS),
        _T(Trigger.BAY_LEFT, Phase.READY),
    ),
    Phase.WARNING: (_T(Trigger.WARN_DONE, Phase.RAISING),),
    Phase.RAISING: (
        _T(Trigger.MANUAL_LOWER, Phase.CLEARING),
        _T(Trigger.UP_FRESH, Phase.PASSING),
        _T(Trigger.UP_CROSSED, Phase.CLEARING),
        _T(Trigger.UP_EMERGENCY, Phase.OPENED),
        _T(Trigger.UP_REACHED, Phase.HALTED),
    ),
    Phase.PASSING: (
        _T(Trigger.CROSSED, Phase.CLEARING),
        _T(Trigger.BAY_LEFT, Phase.CLEARING, "vehicle_backed_out", Effect.FORGET_PASS),
    ),
    Phase.CLEARING: (
        _T(Trigger.MANUAL_RAISE, Phase.RAISING),
        _T(Trigger.CLEAR, Phase.LOWERING),
    ),
    Phase.LOWERING: (
        _T(Trigger.PRESENCE, Phase.RAISING, "boom_reversed", Effect.REVERSE),
        _T(Trigger.MANUAL_RAISE, Phase.RAISING),
        _T(Trigger.DOWN_BAY, Phase.ENTERING, "vehicle_arrived"),
        _T(Trigger.DOWN_CYCLE, Phase.READY),
        _T(Trigger.DOWN_REACHED, Phase.HALTED),
    ),
    Phase.HALTED: (
        _T(Trigger.MANUAL_RAISE, Phase.RAISING),
        _T(Trigger.MANUAL_LOWER, Phase.CLEARING),
    ),
    Phase.OPENED: (),
}

ENTRY_ROWS: tuple[Transition, ...] = (
    _T(Trigger.ENTER_ESTOP, Phase.HALTED, stage=Stage.ENTRY),
    _T(Trigger.ENTER_MAINTENANCE, Phase.HALTED, stage=Stage.ENTRY),
    _T(Trigger.ENTER_EMERGENCY, Phase.RAISING, stage=Stage.ENTRY),
    _T(Trigger.ENTER_FAULT_HALTED, Phase.HALTED, stage=Stage.ENTRY),
    _T(Trigger.ENTER_FAULT_UP, Phase.RAISING, stage=Stage.ENTRY),
    _T(Trigger.ENTER_FAULT_DOWN, Phase.CLEARING, stage=Stage.ENTRY),
    _T(Trigger.ENTER_CYCLE, Phase.START, stage=Stage.ENTRY),
)
"""The phase a mode starts in (S10: the fail state puts the boom at ``fail_mode``), first
that holds wins; the same rows from every phase."""

MOVING_PHASES = frozenset({Phase.RAISING, Phase.LOWERING})
_HALT_ROW = _T(Trigger.MECHANICAL_FAULT, Phase.HALTED, stage=Stage.HALT)
_REVERSAL_ROW = _T(
    Trigger.LOWERING_ONTO_PRESENCE,
    Phase.RAISING,
    "boom_reversed",
    Effect.REVERSE,
    stage=Stage.REVERSAL,
)


def _rows(phase: Phase) -> tuple[Transition, ...]:
    halt = (_HALT_ROW,) if phase in MOVING_PHASES else ()
    # The boom may still be lowering when the phase already moved on (a forced mode
    # phase, a halt): every phase but RAISING has the S3 reversal row.
    reverse = (_REVERSAL_ROW,) if phase is not Phase.RAISING else ()
    return (*ENTRY_ROWS, *halt, *_CYCLE[phase], *reverse)


TRANSITIONS: dict[Phase, tuple[Transition, ...]] = {phase: _rows(phase) for phase in Phase}
"""The lane's transition table, by phase, rows in the order ``step`` tries them."""

ROWS_BY_STAGE: dict[tuple[Stage, Phase], tuple[Transition, ...]] = {
    (stage, phase): tuple(r for r in rows if r.stage is stage)
    for phase, rows in TRANSITIONS.items()
    for stage in Stage
}
"""``TRANSITIONS`` split by stage, for the walk."""

PHASE_COMMANDS: dict[CommandKind, Trigger] = {
    CommandKind.RELEASE: Trigger.RELEASE,
    CommandKind.SEND_ASIDE: Trigger.SEND_ASIDE,
    CommandKind.MANUAL_RAISE: Trigger.MANUAL_RAISE,
    CommandKind.MANUAL_LOWER: Trigger.MANUAL_LOWER,
}
"""Commands that act through the table (the others change mode flags)."""

MODE_COMMAND_EFFECTS: dict[CommandKind, tuple[tuple[str, bool], ...]] = {
    CommandKind.OPEN_LANE: (("lane_open", True),),
    CommandKind.CLOSE_LANE: (("lane_open", False),),
    CommandKind.MAINTENANCE_ON: (("maintenance", True), ("lane_open", False)),
    CommandKind.MAINTENANCE_OFF: (("maintenance", False),),
    CommandKind.EMERGENCY_OPEN_ON: (("emergency", True),),
    CommandKind.EMERGENCY_OPEN_OFF: (("emergency", False), ("lane_open", False)),
    CommandKind.RESET_FAULT: (("reset", True),),
}
"""The flags each accepted mode command sets; the mode is derived from the flags."""

PHASE_OUTPUTS: dict[Phase, tuple[bool, bool, bool, bool]] = {
    Phase.START: (False, False, False, False),
    Phase.READY: (False, False, False, False),
    Phase.ENTERING: (False, False, False, False),
    Phase.INSPECTING: (False, False, False, False),
    Phase.ASIDE: (False, False, False, False),
    Phase.WARNING: (False, False, False, True),
    Phase.RAISING: (True, False, False, True),
    Phase.PASSING: (False, False, True, False),
    Phase.CLEARING: (False, False, False, True),
    Phase.LOWERING: (False, True, False, True),
    Phase.HALTED: (False, False, False, False),
    Phase.OPENED: (False, False, True, False),
}
"""Phase -> (raise, lower, exit_green, warn); raise and lower stop at their limit."""

RELEASED_PHASES = frozenset({Phase.WARNING, Phase.RAISING, Phase.PASSING})
"""A crossing in these phases (cycle modes) is the released vehicle's."""
AFTER_RELEASE_PHASES = frozenset({Phase.RAISING, Phase.PASSING, Phase.CLEARING, Phase.LOWERING})
"""A second crossing in these phases, after the released one, is a tailgate."""
EARLY_ENTRY_PHASES = frozenset({Phase.PASSING, Phase.CLEARING, Phase.LOWERING})
"""With ``early_entry`` the entry signal may go green in these phases (the bay is empty)."""
REST_PHASES = frozenset({Phase.READY, Phase.ENTERING, Phase.LOWERING})
"""The boom is going or came down: no vehicle is expected across any more."""
