"""The independent safety monitor: it vets every Outputs against the Inputs before they are written.

It does not import the lane package and does not trust its decisions (it shares only
``presence.py``, what the raw inputs say is in the bay and under the boom): it sees only
the raw inputs of the scan, the outputs the lane proposes, the config, whether
the lane's mode of record is OPEN, and its own short history (the outputs it
let through last scan and when the entry amber came on). If a proposal breaks
S1-S7 it substitutes safe outputs; the caller latches a fault and journals the
snapshot. An override is always a bug in the lane: the tests prove the checks
are not vacuous by feeding them deliberately broken variants of ``step``.

Where rules meet: S4 (ESTOP: entry red within one scan) wins over S6 (amber
first), so the amber rules do not apply while ESTOP is pressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.core.presence import bay_occupied, camera_barrier
from controller.core.types import Inputs, LaneConfig, Outputs

__all__ = [
    "RULES",
    "SafetyState",
    "Verdict",
    "Violation",
    "check",
    "presence_under_boom",
    "safe_outputs",
    "vet",
]

RULES: tuple[str, ...] = ("S1", "S2", "S3", "S4", "S5", "S6", "S7")
"""The rules this monitor checks on every scan (S8-S11 are properties of the whole system)."""


@dataclass(frozen=True, slots=True)
class SafetyState:
    """The monitor's own history: the outputs written last scan and when amber came on."""

    prev: Outputs = field(default_factory=Outputs)
    amber_since: int = 0
    """``now_ms`` of the scan the entry amber was first written (valid while it is on)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, with the reason in words."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to write this scan, the monitor's next state, and what (if anything) was wrong."""

    state: SafetyState
    outputs: Outputs
    violations: tuple[Violation, ...]


def presence_under_boom(inputs: Inputs) -> bool:
    """S1: photocell, safety edge or the healthy camera's barrier zone; stale inputs count."""
    return not inputs.bus_ok or inputs.photocell or inputs.safety_edge or camera_barrier(inputs)


def check(
    state: SafetyState,
    inputs: Inputs,
    proposed: Outputs,
    now_ms: int,
    config: LaneConfig,
    *,
    lane_open: bool,
) -> tuple[Violation, ...]:
    """Every rule of S1-S7 that ``proposed`` would break; empty when it may be written.

    ``lane_open`` is whether the lane's mode of record is OPEN (no fault, no
    special mode): the only thing the monitor takes from the lane besides its
    proposal.
    """
    found: list[Violation] = []
    prev = state.prev
    raise_, lower = proposed.barrier_raise, proposed.barrier_lower
    estop = inputs.estop

    if lower and presence_under_boom(inputs):
        found.append(Violation("S1", "LOWER commanded with presence under the boom"))
    if raise_ and lower:
        found.append(Violation("S2", "RAISE and LOWER both on"))
    if (
        prev.barrier_lower
        and inputs.safety_edge
        and not raise_
        and not estop
        and not inputs.barrier_up
        and not inputs.motor_fault
        and inputs.bus_ok
    ):
        found.append(Violation("S3", "safety edge while lowering and the boom does not reverse"))
    if estop and (
        raise_ or lower or not proposed.entry_red or proposed.entry_amber or proposed.entry_green
    ):
        found.append(Violation("S4", "ESTOP pressed and the motor or entry signal is not stopped"))
    if proposed.entry_green:
        reason = ""
        if not lane_open or not proposed.lane_open:
            reason = "entry green while the lane is not OPEN"
        elif not inputs.bus_ok or estop or inputs.io_watchdog_tripped:
            reason = "entry green with stale inputs or ESTOP"
        elif bay_occupied(inputs):
            reason = "entry green with the bay occupied"
        elif not config.early_entry and not (
            inputs.barrier_down and not inputs.barrier_up and not raise_ and not lower
        ):
            reason = "entry green with the barrier not confirmed down"
        if reason:
            found.append(Violation("S5", reason))
    colours = int(proposed.entry_red) + int(proposed.entry_amber) + int(proposed.entry_green)
    if colours != 1:
        found.append(Violation("S6", f"entry signal shows {colours} colours"))
    elif proposed.exit_red == proposed.exit_green:
        found.append(Violation("S6", "exit light shows red and green together or neither"))
    elif not estop and proposed.entry_red:
        if prev.entry_green:
            found.append(Violation("S6", "entry green to red without amber"))
        elif prev.entry_amber and now_ms - state.amber_since < config.amber_ms:
            found.append(Violation("S6", "entry amber shorter than amber_ms"))
    if lower and (proposed.exit_green or (not prev.barrier_lower and prev.exit_green)):
        found.append(Violation("S7", "boom goes down while EXIT is green"))
    return tuple(found)


def safe_outputs(
    state: SafetyState, inputs: Inputs, proposed: Outputs, now_ms: int, config: LaneConfig
) -> Outputs:
    """What the monitor writes instead of a rejected proposal (fail state, S10, never LOWER)."""
    prev = state.prev
    estop = inputs.estop
    reverse = (
        prev.barrier_lower
        and presence_under_boom(inputs)
        and inputs.bus_ok
        and not estop
        and not inputs.barrier_up
        and not inputs.motor_fault
    )
    if estop:
        red, amber = True, False
    elif prev.entry_green:
        red, amber = False, True
    elif prev.entry_amber:
        done = now_ms - state.amber_since >= config.amber_ms
        red, amber = done, not done
    else:
        red, amber = True, False
    return Outputs(
        barrier_raise=reverse,
        barrier_lower=False,
        entry_red=red,
        entry_amber=amber,
        entry_green=False,
        exit_red=True,
        exit_green=False,
        lane_open=False,
        lane_closed=True,
        warn=reverse,
        alarm=True,
    )


def vet(
    state: SafetyState,
    inputs: Inputs,
    proposed: Outputs,
    now_ms: int,
    config: LaneConfig,
    *,
    lane_open: bool,
) -> Verdict:
    """Check ``proposed``; pass it through, or substitute ``safe_outputs`` and say why."""
    violations = check(state, inputs, proposed, now_ms, config, lane_open=lane_open)
    written = safe_outputs(state, inputs, proposed, now_ms, config) if violations else proposed
    prev = state.prev
    if written is prev:
        return Verdict(state, written, violations)
    amber_since = state.amber_since
    if written.entry_amber and not prev.entry_amber:
        amber_since = now_ms
    return Verdict(SafetyState(prev=written, amber_since=amber_since), written, violations)
