"""The lane state machine: all of the lane's decisions live in this package.

Read it in this order: ``names`` (faults, signals, triggers, stages), ``tables`` (the
transition table and the other tables, as data), ``state`` (``LaneState``), ``mode``
(the mode from its flags by priority, ESTOP > EMERGENCY_OPEN > FAULT > MAINTENANCE >
CLOSED > OPEN, and the phase each mode starts in), ``view`` (one scan's presence
facts, computed once), ``guards`` (one predicate per trigger over the view),
``supervision`` and ``crossings`` (bookkeeping, S8 checks, S11 counting) and
``outputs``. ``step`` below walks them: supervise, derive the mode, then the table's
stages in order (ENTRY, HALT, CYCLE, REVERSAL), then the outputs. Timers are kept as
"since" timestamps so a scan where no input changes returns the very same state object
(cheap, and easy to hash).

Everything here is pure: no clock (``now_ms`` is an argument), no I/O, no logging,
no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.commands import (
    PHASE_COMMAND_MODES,
    mode_command_refusal,
    phase_command_refusal,
)
from controller.core.lane.crossings import crossings
from controller.core.lane.guards import GUARDS, Guard
from controller.core.lane.mode import (
    derive_mode,
    entry_phase,
    initial_lane,
    latch_fault,
)
from controller.core.lane.names import (
    CYCLE_MODES,
    FAULT_BOTH_LIMITS,
    FAULT_BUS,
    FAULT_DOWN_LIMIT_LOST,
    FAULT_ESTOP,
    FAULT_IO_WATCHDOG,
    FAULT_LOWER_TIMEOUT,
    FAULT_MOTOR,
    FAULT_OBSTRUCTION,
    FAULT_PHOTOCELL,
    FAULT_RAISE_TIMEOUT,
    FAULT_UP_LIMIT_LOST,
    MECHANICAL_FAULTS,
    PASS_BOOM_UP,
    PASS_RELEASE,
    Effect,
    Motion,
    Signal,
    Stage,
    Trigger,
)
from controller.core.lane.outputs import outputs, wake
from controller.core.lane.state import BarrierWitness, LaneState, Step, replace_state, sync_outputs
from controller.core.lane.supervision import first_observation, supervise
from controller.core.lane.tables import (
    ENTRY_ROWS,
    MODE_COMMAND_EFFECTS,
    PHASE_COMMANDS,
    REST_PHASES,
    ROWS_BY_STAGE,
    TRANSITIONS,
    Transition,
)
from controller.core.lane.view import View
from controller.core.types import Command, CommandKind, EventValue, Inputs, Mode, Phase

__all__ = [
    "CYCLE_MODES",
    "ENTRY_ROWS",
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
    "PHASE_COMMANDS",
    "TRANSITIONS",
    "WALK",
    "BarrierWitness",
    "Effect",
    "LaneState",
    "Motion",
    "Signal",
    "Stage",
    "Step",
    "Transition",
    "Trigger",
    "Walk",
    "derive_mode",
    "entry_phase",
    "initial_lane",
    "latch_fault",
    "quiet",
    "step",
    "sync_outputs",
]


def quiet(state: LaneState, inputs: Inputs, now_ms: int) -> bool:
    """True when ``step`` would return ``state`` itself, its last outputs and no event.

    That is when the last full step changed nothing, the inputs equal that
    step's inputs and no timer can have expired since.
    """
    return (
        state.settled
        and now_ms < state.wake_ms
        and (inputs is state.last_inputs or inputs == state.last_inputs)
    )


def step(state: LaneState, inputs: Inputs, now_ms: int) -> Step:
    """One scan of the lane: supervise, derive the mode, walk the table, compute outputs."""
    if quiet(state, inputs, now_ms):
        assert state.last_outputs is not None
        return Step(state, state.last_outputs, ())
    s = state if state.observed else first_observation(state, inputs, now_ms)
    v = sc = View(s, inputs, now_ms)
    ch = sc.changes
    bus_ok = inputs.bus_ok
    estop = _bus_and_estop(v)
    if inputs.commands or inputs.release_button or inputs.send_aside_button:
        lane_open, maintenance, emergency, reset, phase_cmds = _commands(v)
    else:
        lane_open, maintenance, emergency, reset, phase_cmds = (
            s.lane_open,
            s.maintenance,
            s.emergency,
            False,
            [],
        )
    faults = s.faults
    if reset:
        # Faults latched in this very scan stay: the operator has not seen them yet.
        faults = tuple(sorted(sc.faults_added))
        sc.emit("fault_reset", faults=",".join(s.faults))
        lane_open = False
        # A latched fault whose cause shows again in the reset's own scan (a limit lost
        # as the reset came) latches anew (S8: only a reset after the cause clears it).
        again = [f for f in sc.faults_seen if f not in sc.faults_added]
        if again:
            for name in again:
                sc.emit("fault_latched", fault=name)
            faults = tuple(sorted((*faults, *again)))
    elif sc.faults_added:
        faults = tuple(sorted((*faults, *sc.faults_added)))
    mode = derive_mode(estop, emergency, faults, maintenance, lane_open)
    phase, phase_since = s.phase, s.phase_since

    # Stage ENTRY: a new mode (or a fault latched in FAULT) starts in its own phase.
    forced = False
    if mode is not s.mode or (mode is Mode.FAULT and (sc.faults_added or "bus_lost" in ch)):
        if mode is not s.mode:
            sc.emit("mode_changed", mode=mode.name, previous=s.mode.name)
        if not (mode in CYCLE_MODES and s.mode in CYCLE_MODES):
            phase = entry_phase(mode, faults, not bus_ok, s.config)
            phase_since = now_ms
            forced = True
    # Stage HALT: a jammed, faulted or confused boom is not driven any further.
    if sc.halt:  # the HALT rows' guard: skip the walk when it cannot hold
        halt = _first(WALK.halt[phase], v)
        if halt is not None:
            phase = halt.target
            phase_since = now_ms
            forced = True

    trigger_cmds = _phase_commands(v, phase_cmds, mode, phase, forced) if phase_cmds else {}
    crossed = bool(ch.get("crossed", s.crossed))
    pending = str(ch.get("pending", s.pending))
    reversals = 0 if reset else s.reversals
    fired: Trigger | None = None
    # Stage CYCLE: at most one row, fresh inputs only.
    if not forced and bus_ok:
        v.mode = mode
        v.cycle = mode in CYCLE_MODES
        v.crossed = crossed
        v.cmds = trigger_cmds
        row = None
        for candidate, guard in WALK.cycle[phase]:
            if guard(v) or candidate.trigger in trigger_cmds:
                row = candidate
                break
        if row is not None:
            fired = row.trigger
            effect = row.effect
            data: dict[str, EventValue] = {}
            by = trigger_cmds.get(row.trigger)
            if by is not None:
                data["source"] = by.source
            elif row.source is not None:
                data["source"] = row.source
            if effect is Effect.ARM_PASS:
                crossed = False
                reversals = 0
                pending = PASS_RELEASE
                ch["photocell_seen"] = inputs.photocell
                ch["camera_seen"] = v.cam_barrier
            elif effect is Effect.FORGET_PASS:
                pending = ""
            elif effect is Effect.FOUND_AT_BOOM and not pending and (v.bay or not v.clear):
                pending = PASS_BOOM_UP
            elif effect is Effect.REVERSE:
                reversals += 1
                data["reversals"] = reversals
            if row.event is not None:
                sc.emit(row.event, **data)
            phase = row.target
            phase_since = now_ms
            if effect is Effect.REVERSE and reversals >= s.config.max_reversals:
                # The obstruction fault latches: the new mode's ENTRY rows follow at once.
                sc.fault(s, FAULT_OBSTRUCTION)
                faults = tuple(sorted((*faults, *sc.faults_added)))
                mode = _remode(sc, mode, estop, emergency, faults, maintenance, lane_open)
                phase = entry_phase(mode, faults, False, s.config)
        resting = phase is Phase.HALTED and inputs.barrier_down
        if phase is Phase.READY or resting:
            reversals = 0
        if phase in REST_PHASES or resting:
            pending = ""
    # Stage REVERSAL: S3 over everything but ESTOP.
    v.mode = mode
    reverse = None
    if s.motion is Motion.LOWERING:  # part of the REVERSAL rows' guard
        reverse = _first(WALK.reversal[phase], v)
    if reverse is not None:
        reversals += 1
        assert reverse.event is not None
        sc.emit(reverse.event, reversals=reversals, fault=",".join(sc.faults_added))
        phase = reverse.target
        phase_since = now_ms
        if reversals >= s.config.max_reversals:
            sc.fault(s, FAULT_OBSTRUCTION)
            faults = tuple(sorted({*faults, *sc.faults_added}))
            mode = _remode(sc, mode, estop, emergency, faults, maintenance, lane_open)

    for trig, cmd in trigger_cmds.items():
        if trig is not fired:
            sc.emit(
                "command_rejected",
                command=cmd.kind.value,
                source=cmd.source,
                reason=f"overtaken in phase {s.phase.name}"
                if bus_ok
                else "inputs stale: I/O bus lost",
            )

    if phase is not s.phase or phase_since != s.phase_since:
        ch["phase"] = phase
        ch["phase_since"] = phase_since
    if mode is not s.mode:
        ch["mode"] = mode
    if faults != s.faults:
        ch["faults"] = faults
    if lane_open != s.lane_open:
        ch["lane_open"] = lane_open
    if maintenance != s.maintenance:
        ch["maintenance"] = maintenance
    if emergency != s.emergency:
        ch["emergency"] = emergency
    if reversals != s.reversals:
        ch["reversals"] = reversals
    if crossed != s.crossed:
        ch["crossed"] = crossed
    if pending != s.pending:
        ch["pending"] = pending
    if pending != PASS_RELEASE:
        ch["photocell_seen"] = ch["camera_seen"] = False
    for name, before in (("photocell_seen", s.photocell_seen), ("camera_seen", s.camera_seen)):
        if name in ch and ch[name] is before:
            del ch[name]
    out = outputs(v, mode, phase, crossed)
    if ch:
        if s.settled:
            ch["settled"] = False
        s = replace_state(s, **ch)
    elif not sc.events:
        due = wake(s, now_ms)
        same = s.settled and s.wake_ms == due and s.last_outputs is out
        if not (same and s.last_inputs == inputs):
            s = replace_state(s, settled=True, wake_ms=due, last_inputs=inputs, last_outputs=out)
    return Step(s, out, tuple(sc.events) if sc.events else ())


Rows = dict[Phase, tuple[tuple[Transition, Guard], ...]]


@dataclass(frozen=True, slots=True)
class Walk:
    """The rows ``step`` walks, by stage and phase, each with its guard (the ENTRY rows are
    walked by ``entry_phase``)."""

    halt: Rows
    cycle: Rows
    reversal: Rows


def _walk(stage: Stage) -> Rows:
    return {
        phase: tuple((row, GUARDS[row.trigger]) for row in ROWS_BY_STAGE[stage, phase])
        for phase in Phase
    }


WALK = Walk(_walk(Stage.HALT), _walk(Stage.CYCLE), _walk(Stage.REVERSAL))


def _first(rows: tuple[tuple[Transition, Guard], ...], v: View) -> Transition | None:
    """The first row whose trigger holds (a command trigger holds when its command came)."""
    cmds = v.cmds
    if cmds:
        for row, guard in rows:
            if row.trigger in cmds or guard(v):
                return row
        return None
    for row, guard in rows:
        if guard(v):
            return row
    return None


def _bus_and_estop(v: View) -> bool:
    """The bus and the I/O watchdog, supervision or (bus lost) crossings; the ESTOP reading."""
    s, inputs, sc = v.state, v.inputs, v
    ch = sc.changes
    bus_ok = inputs.bus_ok
    if not bus_ok:
        if not s.bus_lost:
            ch["bus_lost"] = True
            sc.emit("bus_lost")
        sc.fault(s, FAULT_BUS)
    elif s.bus_lost:
        ch["bus_lost"] = False
        sc.emit("bus_restored")
    if bus_ok:
        tripped = inputs.io_watchdog_tripped
        if tripped is not s.p_io_tripped:
            ch["p_io_tripped"] = tripped
        if tripped:
            # The outputs were not under this controller's control for a while (a stall, a
            # crash and restart) and the I/O applied its fail state: an operator looks first.
            sc.fault(s, FAULT_IO_WATCHDOG)
        supervise(v)
        return inputs.estop
    # With the bus lost the inputs are stale: an ESTOP either reading shows still counts.
    crossings(v)
    v.settle()
    return s.p_estop or inputs.estop


def _commands(v: View) -> tuple[bool, bool, bool, bool, list[Command]]:
    """Mode commands applied to the mode flags (``MODE_COMMAND_EFFECTS``): lane_open,
    maintenance, emergency, reset; phase commands (and the console buttons' rising
    edges) set aside for the table."""
    s, inputs, sc = v.state, v.inputs, v
    commands = inputs.commands
    if inputs.bus_ok:
        if inputs.release_button and not s.p_release:
            commands = (*commands, Command(CommandKind.RELEASE, "console"))
        if inputs.send_aside_button and not s.p_aside:
            commands = (*commands, Command(CommandKind.SEND_ASIDE, "console"))
    flags = {
        "lane_open": s.lane_open,
        "maintenance": s.maintenance,
        "emergency": s.emergency,
        "reset": False,
    }
    phase_cmds: list[Command] = []
    for cmd in commands:
        kind = cmd.kind
        if kind in PHASE_COMMANDS:
            phase_cmds.append(cmd)
            continue
        reason = mode_command_refusal(
            kind,
            mode=s.mode,
            phase=s.phase,
            lane_open=flags["lane_open"],
            maintenance=flags["maintenance"],
            emergency=flags["emergency"],
            faults=s.faults,
            inputs=inputs,
        )
        if reason:
            sc.emit("command_rejected", command=kind.value, source=cmd.source, reason=reason)
        else:
            flags.update(MODE_COMMAND_EFFECTS[kind])
    return flags["lane_open"], flags["maintenance"], flags["emergency"], flags["reset"], phase_cmds


def _phase_commands(
    v: View, phase_cmds: list[Command], mode: Mode, phase: Phase, forced: bool
) -> dict[Trigger, Command]:
    """The phase commands that may fire a row this scan, by trigger; the others refused."""
    sc = v
    trigger_cmds: dict[Trigger, Command] = {}
    for cmd in phase_cmds:
        trig = PHASE_COMMANDS[cmd.kind]
        reason = ""
        if forced:
            reason = "mode changed this scan"
        elif mode in PHASE_COMMAND_MODES[cmd.kind] and trig in trigger_cmds:
            reason = "duplicate command this scan"
        else:
            valid = any(t.trigger is trig for t in TRANSITIONS[phase])
            reason = phase_command_refusal(cmd.kind, mode, valid, phase)
        if reason:
            sc.emit("command_rejected", command=cmd.kind.value, source=cmd.source, reason=reason)
        else:
            trigger_cmds[trig] = cmd
    return trigger_cmds


def _remode(
    sc: View,
    mode: Mode,
    estop: bool,
    emergency: bool,
    faults: tuple[str, ...],
    maintenance: bool,
    lane_open: bool,
) -> Mode:
    new_mode = derive_mode(estop, emergency, faults, maintenance, lane_open)
    if new_mode is not mode:
        sc.emit("mode_changed", mode=new_mode.name, previous=mode.name)
    return new_mode
