"""The lane state machine: all of the lane's decisions live in this module.

``TRANSITIONS`` is the cycle as data, one row per (phase, trigger) in priority
order; ``step`` evaluates at most one row per scan, after the mode has been
derived from its flags by priority (ESTOP > EMERGENCY_OPEN > FAULT >
MAINTENANCE > CLOSED > OPEN). A mode change forces the phase that mode starts
in (``entry_phase``). Timers are kept as "since" timestamps so a scan where no
input changes returns the very same state object (cheap, and easy to hash).

Outputs are a function of (mode, phase, entry signal, limits, alarm): the
entry signal is its own small machine (green -> amber for ``amber_ms`` -> red,
red -> green only when S5 allows) and the boom motor follows the phase.

Everything here is pure: no clock (``now_ms`` is an argument), no I/O, no
logging, no randomness.
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass, field

from controller.core.commands import (
    PHASE_COMMAND_MODES,
    mode_command_refusal,
    phase_command_refusal,
)
from controller.core.types import (
    CameraHealth,
    Command,
    CommandKind,
    Event,
    EventValue,
    FailMode,
    Inputs,
    LaneConfig,
    Mode,
    Outputs,
    Phase,
)

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
    "PHASE_COMMANDS",
    "TRANSITIONS",
    "BarrierWitness",
    "LaneState",
    "Motion",
    "Signal",
    "Step",
    "Transition",
    "Trigger",
    "derive_mode",
    "entry_phase",
    "initial_lane",
    "latch_fault",
    "quiet",
    "step",
    "sync_outputs",
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
    """Bay loop occupied for stop_debounce_ms."""
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


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the table: when ``trigger`` holds, go to ``target`` and emit ``event``."""

    trigger: Trigger
    target: Phase
    event: str | None = None


_T = Transition
TRANSITIONS: dict[Phase, tuple[Transition, ...]] = {
    Phase.START: (
        _T(Trigger.BOOM_DOWN, Phase.READY),
        _T(Trigger.OTHERWISE, Phase.CLEARING),
    ),
    Phase.READY: (_T(Trigger.BAY_ARRIVED, Phase.ENTERING, "vehicle_arrived"),),
    Phase.ENTERING: (
        _T(Trigger.SEND_ASIDE, Phase.ASIDE, "vehicle_sent_aside"),
        _T(Trigger.BAY_LEFT, Phase.READY, "vehicle_backed_out"),
        _T(Trigger.STOPPED, Phase.INSPECTING, "vehicle_stopped"),
    ),
    Phase.INSPECTING: (
        _T(Trigger.RELEASE, Phase.WARNING, "vehicle_released"),
        _T(Trigger.SEND_ASIDE, Phase.ASIDE, "vehicle_sent_aside"),
        _T(Trigger.BAY_LEFT, Phase.READY, "vehicle_backed_out"),
        _T(Trigger.AUTO_RELEASE, Phase.WARNING, "vehicle_released"),
    ),
    Phase.ASIDE: (
        _T(Trigger.RELEASE, Phase.WARNING, "vehicle_released"),
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
        _T(Trigger.BAY_LEFT, Phase.CLEARING, "vehicle_backed_out"),
    ),
    Phase.CLEARING: (
        _T(Trigger.MANUAL_RAISE, Phase.RAISING),
        _T(Trigger.CLEAR, Phase.LOWERING),
    ),
    Phase.LOWERING: (
        _T(Trigger.PRESENCE, Phase.RAISING, "boom_reversed"),
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
"""The lane's transition table, by phase, rows in priority order (first that holds wins)."""

PHASE_COMMANDS: dict[CommandKind, Trigger] = {
    CommandKind.RELEASE: Trigger.RELEASE,
    CommandKind.SEND_ASIDE: Trigger.SEND_ASIDE,
    CommandKind.MANUAL_RAISE: Trigger.MANUAL_RAISE,
    CommandKind.MANUAL_LOWER: Trigger.MANUAL_LOWER,
}
"""Commands that act through the table (the others change mode flags)."""

# Phase -> (raise, lower, exit_green, warn). raise/lower stop at their limit.
_PHASE_OUTPUTS: dict[Phase, tuple[bool, bool, bool, bool]] = {
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

_RELEASED_PHASES = frozenset({Phase.WARNING, Phase.RAISING, Phase.PASSING})
_AFTER_RELEASE_PHASES = frozenset({Phase.RAISING, Phase.PASSING, Phase.CLEARING, Phase.LOWERING})
_MOVING_PHASES = frozenset({Phase.RAISING, Phase.LOWERING})
_EARLY_ENTRY_PHASES = frozenset({Phase.PASSING, Phase.CLEARING, Phase.LOWERING})
_REST_PHASES = frozenset({Phase.READY, Phase.ENTERING, Phase.LOWERING})
"""The boom is going or came down: no vehicle is expected across any more."""
_VEHICLE_PHASES = frozenset({Phase.ENTERING, Phase.INSPECTING, Phase.ASIDE})
_LOOPS = ("loop_approach", "loop_bay", "loop_exit")


@dataclass(frozen=True, slots=True)
class BarrierWitness:
    """What the healthy camera's barrier zone has seen of its current occupancy (S11).

    The camera is the crossing's witness when the photocell is stuck or blind: the
    barrier zone emptying with the exit side occupied is a vehicle across, unless a
    crossing was already counted since the zone last emptied.
    """

    occupied: bool = False
    """The barrier zone read occupied in the last scan (camera healthy)."""
    counted: bool = False
    """A crossing was counted since the barrier zone last emptied."""
    photocell_fell: bool = False
    """The photocell cleared during this occupancy."""
    counted_unread: bool = False
    """The camera counted a crossing while the loops and photocell went unread (bus lost):
    their edges across that gap are that vehicle's, not another."""


_NO_WITNESS = BarrierWitness()


@dataclass(frozen=True, slots=True)
class LaneState:
    """The whole state of the lane between two scans (times are ``now_ms`` values)."""

    config: LaneConfig = field(default_factory=LaneConfig)
    mode: Mode = Mode.CLOSED
    phase: Phase = Phase.START
    phase_since: int = 0
    entry: Signal = Signal.RED
    entry_since: int = 0
    motion: Motion = Motion.IDLE
    motion_since: int = 0
    lane_open: bool = False
    """The operator's choice (OPEN_LANE / CLOSE_LANE); the mode is OPEN only without a
    higher-priority reason."""
    maintenance: bool = False
    emergency: bool = False
    faults: tuple[str, ...] = ()
    """Latched faults, sorted; only RESET_FAULT clears them and they survive a restart."""
    count: int = 0
    """Vehicles that crossed the barrier line (passed + tailgate + run-through)."""
    reversals: int = 0
    crossed: bool = False
    """The released vehicle of this cycle has crossed the barrier line."""
    pending: str = ""
    """How the vehicle expected across the line was let go (``PASS_RELEASE``,
    ``PASS_BOOM_UP``), until it is counted, backs out or the boom is down at rest; empty
    when none is expected (a crossing then is a tailgate or a run-through)."""
    photocell_seen: bool = False
    """The photocell was interrupted since the release: without that, the loops seeing the
    vehicle go across mean the photocell is blind."""
    camera_seen: bool = False
    """The healthy camera's barrier zone was occupied since the release."""
    witness: BarrierWitness = _NO_WITNESS
    """The camera barrier zone's view of the vehicle under the boom (``_crossings``)."""
    observed: bool = False
    """False until the first scan: the "since" times below start there."""
    bay: bool = False
    bay_since: int = 0
    loop_bay_since: int = 0
    """Since when loop_bay has held its value (``p_loop_bay``)."""
    clear: bool = False
    """Nothing under the boom (photocell, safety edge, camera barrier zone)."""
    clear_since: int = 0
    approach_since: int = 0
    exit_since: int = 0
    stuck: tuple[str, ...] = ()
    """Loops reported stuck (event sent once per episode)."""
    camera: CameraHealth = CameraHealth.ABSENT
    disagree_since: int | None = None
    disagree_reported: bool = False
    bus_lost: bool = False
    p_loop_approach: bool = False
    p_loop_bay: bool = False
    p_loop_exit: bool = False
    p_photocell: bool = False
    p_up: bool = False
    p_down: bool = False
    p_estop: bool = False
    p_motor_fault: bool = False
    p_release: bool = False
    p_aside: bool = False
    p_io_tripped: bool = False
    # Scan cache: when a full step changed nothing, the next scans with equal inputs
    # before ``wake_ms`` (the next moment any timer can expire) give the same result.
    settled: bool = False
    wake_ms: int = 0
    last_inputs: Inputs | None = None
    last_outputs: Outputs | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """What one scan of the lane produced."""

    state: LaneState
    outputs: Outputs
    events: tuple[Event, ...]


def initial_lane(
    config: LaneConfig, faults: tuple[str, ...] = (), count: int = 0, now_ms: int = 0
) -> LaneState:
    """The lane at power-on: CLOSED, boom position unknown, or FAULT when faults persisted."""
    faults = tuple(sorted(set(faults)))
    mode = derive_mode(False, False, faults, False, False)
    phase = entry_phase(mode, faults, False, config)
    return LaneState(config=config, mode=mode, phase=phase, faults=faults, count=count)


def derive_mode(
    estop: bool, emergency: bool, faults: tuple[str, ...], maintenance: bool, lane_open: bool
) -> Mode:
    """The mode by priority: ESTOP > EMERGENCY_OPEN > FAULT > MAINTENANCE > CLOSED > OPEN."""
    if estop:
        return Mode.ESTOP
    if emergency:
        return Mode.EMERGENCY_OPEN
    if faults:
        return Mode.FAULT
    if maintenance:
        return Mode.MAINTENANCE
    return Mode.OPEN if lane_open else Mode.CLOSED


def entry_phase(mode: Mode, faults: tuple[str, ...], bus_lost: bool, config: LaneConfig) -> Phase:
    """The phase a mode starts in (S10: the fail state puts the boom at ``fail_mode``)."""
    if mode is Mode.ESTOP or mode is Mode.MAINTENANCE:
        return Phase.HALTED
    if mode is Mode.EMERGENCY_OPEN:
        return Phase.RAISING
    if mode is Mode.FAULT:
        if bus_lost or FAULT_ESTOP in faults or not MECHANICAL_FAULTS.isdisjoint(faults):
            # No motion after an ESTOP until an operator reset (ISO 13850), nor with a
            # boom that does not answer, nor with inputs that cannot be believed.
            return Phase.HALTED
        if FAULT_OBSTRUCTION in faults or config.fail_mode is FailMode.SAFE:
            return Phase.RAISING
        return Phase.CLEARING
    return Phase.START


def latch_fault(state: LaneState, fault: str, now_ms: int) -> tuple[LaneState, tuple[Event, ...]]:
    """Latch ``fault`` from outside the table (the safety monitor's override)."""
    if fault in state.faults:
        return state, ()
    faults = tuple(sorted((*state.faults, fault)))
    events: list[Event] = [Event.make("fault_latched", now_ms, fault=fault)]
    mode = derive_mode(
        state.mode is Mode.ESTOP, state.emergency, faults, state.maintenance, state.lane_open
    )
    phase, phase_since = state.phase, state.phase_since
    if mode is not state.mode or mode is Mode.FAULT:
        phase = entry_phase(mode, faults, state.bus_lost, state.config)
        phase_since = now_ms
    if mode is not state.mode:
        events.append(Event.make("mode_changed", now_ms, mode=mode.name, previous=state.mode.name))
    new = _replace(state, faults=faults, mode=mode, phase=phase, phase_since=phase_since)
    return new, tuple(events)


def sync_outputs(state: LaneState, outputs: Outputs, now_ms: int) -> LaneState:
    """Make the entry signal and motor memory agree with what was actually written."""
    entry = (
        Signal.GREEN if outputs.entry_green else Signal.AMBER if outputs.entry_amber else Signal.RED
    )
    motion = (
        Motion.RAISING
        if outputs.barrier_raise
        else Motion.LOWERING
        if outputs.barrier_lower
        else Motion.IDLE
    )
    if entry is state.entry and motion is state.motion:
        return state
    return _replace(
        state,
        entry=entry,
        entry_since=state.entry_since if entry is state.entry else now_ms,
        motion=motion,
        motion_since=state.motion_since if motion is state.motion else now_ms,
    )


def _replace(state: LaneState, **changes: object) -> LaneState:
    """A copy of ``state`` with ``changes``: ``dataclasses.replace`` without re-running
    ``__init__`` (the hot path of a scan that changes something)."""
    new = object.__new__(LaneState)
    for put, value in zip(_SETTERS, _GET_ALL(state), strict=True):
        put(new, value)
    for name, value in changes.items():
        _SETTER_BY_NAME[name](new, value)
    return new


_FIELDS = tuple(LaneState.__dataclass_fields__)
_GET_ALL = operator.attrgetter(*_FIELDS)
_SETTER_BY_NAME = {name: getattr(LaneState, name).__set__ for name in _FIELDS}
_SETTERS = tuple(_SETTER_BY_NAME[name] for name in _FIELDS)


class _Scan:
    """Mutable scratch for one call of ``step``; never escapes it."""

    __slots__ = ("changes", "events", "faults_added", "halt", "now")

    def __init__(self, now: int) -> None:
        self.now = now
        self.changes: dict[str, object] = {}
        self.events: list[Event] = []
        self.faults_added: list[str] = []
        self.halt = False
        """A mechanical fault was seen this scan (latched now or before): stop the boom."""

    def emit(self, kind: str, **data: EventValue) -> None:
        self.events.append(Event.make(kind, self.now, **data))

    def fault(self, state: LaneState, name: str) -> None:
        if name in MECHANICAL_FAULTS:
            self.halt = True
        if name not in state.faults and name not in self.faults_added:
            self.faults_added.append(name)
            self.emit("fault_latched", fault=name)


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
    """One scan of the lane: supervise, derive the mode, take one table row, compute outputs."""
    if quiet(state, inputs, now_ms):
        assert state.last_outputs is not None
        return Step(state, state.last_outputs, ())
    cfg = state.config
    sc = _Scan(now_ms)
    ch = sc.changes
    s = state
    if not s.observed:
        s = _first_observation(s, inputs, now_ms)

    bus_ok = inputs.bus_ok
    if not bus_ok:
        if not s.bus_lost:
            ch["bus_lost"] = True
            sc.emit("bus_lost")
        sc.fault(s, FAULT_BUS)
    elif s.bus_lost:
        ch["bus_lost"] = False
        sc.emit("bus_restored")

    tripped = inputs.io_watchdog_tripped
    if bus_ok:
        if tripped is not s.p_io_tripped:
            ch["p_io_tripped"] = tripped
        if tripped:
            # The outputs were not under this controller's control for a while (a stall, a
            # crash and restart) and the I/O applied its fail state: an operator looks first.
            sc.fault(s, FAULT_IO_WATCHDOG)

    # With the bus lost the inputs are stale: an ESTOP either reading shows still counts.
    estop = s.p_estop or inputs.estop
    if bus_ok:
        estop = inputs.estop
        _supervise(s, inputs, sc, cfg)
    else:
        _crossings(s, inputs, sc)

    commands = inputs.commands
    if bus_ok and (inputs.release_button and not s.p_release):
        commands = (*commands, Command(CommandKind.RELEASE, "console"))
    if bus_ok and (inputs.send_aside_button and not s.p_aside):
        commands = (*commands, Command(CommandKind.SEND_ASIDE, "console"))

    # Mode-level commands change the flags the mode is derived from.
    lane_open, maintenance, emergency = s.lane_open, s.maintenance, s.emergency
    faults = s.faults
    phase_cmds: list[Command] = []
    reset = False
    for cmd in commands:
        kind = cmd.kind
        if kind in PHASE_COMMANDS:
            phase_cmds.append(cmd)
            continue
        reason = mode_command_refusal(
            kind,
            mode=s.mode,
            phase=s.phase,
            lane_open=lane_open,
            maintenance=maintenance,
            emergency=emergency,
            faults=s.faults,
            inputs=inputs,
        )
        if reason:
            sc.emit("command_rejected", command=kind.value, source=cmd.source, reason=reason)
        elif kind is CommandKind.OPEN_LANE:
            lane_open = True
        elif kind is CommandKind.CLOSE_LANE:
            lane_open = False
        elif kind is CommandKind.MAINTENANCE_ON:
            maintenance = True
            lane_open = False
        elif kind is CommandKind.MAINTENANCE_OFF:
            maintenance = False
        elif kind is CommandKind.EMERGENCY_OPEN_ON:
            emergency = True
        elif kind is CommandKind.EMERGENCY_OPEN_OFF:
            emergency = False
            lane_open = False
        elif kind is CommandKind.RESET_FAULT:
            reset = True

    if reset:
        # Faults latched in this very scan stay: the operator has not seen them yet.
        faults = tuple(sorted(sc.faults_added))
        sc.emit("fault_reset", faults=",".join(s.faults))
        lane_open = False
    elif sc.faults_added:
        faults = tuple(sorted((*faults, *sc.faults_added)))
    mode = derive_mode(estop, emergency, faults, maintenance, lane_open)
    phase = s.phase
    phase_since = s.phase_since
    forced = False
    if mode is not s.mode or (mode is Mode.FAULT and (sc.faults_added or "bus_lost" in ch)):
        if mode is not s.mode:
            sc.emit("mode_changed", mode=mode.name, previous=s.mode.name)
        if not (mode in CYCLE_MODES and s.mode in CYCLE_MODES):
            phase = entry_phase(mode, faults, not bus_ok, cfg)
            phase_since = now_ms
            forced = True

    if phase in _MOVING_PHASES and sc.halt:
        # A jammed, faulted or confused boom is not driven any further, whatever the mode.
        phase = Phase.HALTED
        phase_since = now_ms
        forced = True

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

    crossed = bool(ch.get("crossed", s.crossed))
    pending = str(ch.get("pending", s.pending))
    reversals = 0 if reset else s.reversals
    fired: Trigger | None = None
    if not forced and bus_ok:
        for row in TRANSITIONS[phase]:
            if _holds(row.trigger, s, inputs, mode, crossed, trigger_cmds, sc, cfg):
                fired = row.trigger
                if row.event is not None:
                    data: dict[str, EventValue] = {}
                    by = trigger_cmds.get(row.trigger)
                    if by is not None:
                        data["source"] = by.source
                    elif row.trigger is Trigger.AUTO_RELEASE:
                        data["source"] = "auto"
                    if row.trigger is Trigger.PRESENCE:
                        reversals += 1
                        data["reversals"] = reversals
                    sc.emit(row.event, **data)
                if row.target is Phase.WARNING:
                    crossed = False
                    reversals = 0
                    pending = PASS_RELEASE
                    ch["photocell_seen"] = inputs.photocell
                    ch["camera_seen"] = _cam_barrier(inputs)
                elif row.event == "vehicle_backed_out":
                    pending = ""
                elif phase is Phase.START and not pending and _present(s, inputs, sc):
                    # Found with the boom not down and a vehicle at it: it may go on through.
                    pending = PASS_BOOM_UP
                phase = row.target
                phase_since = now_ms
                break
        if reversals >= cfg.max_reversals and fired is Trigger.PRESENCE:
            sc.fault(s, FAULT_OBSTRUCTION)
            faults = tuple(sorted((*faults, *sc.faults_added)))
            new_mode = derive_mode(estop, emergency, faults, maintenance, lane_open)
            if new_mode is not mode:
                sc.emit("mode_changed", mode=new_mode.name, previous=mode.name)
            mode = new_mode
            phase = entry_phase(mode, faults, False, cfg)
            phase_since = now_ms
        if phase is Phase.READY or (phase is Phase.HALTED and inputs.barrier_down):
            reversals = 0
        if phase in _REST_PHASES or (phase is Phase.HALTED and inputs.barrier_down):
            pending = ""
    if (
        s.motion is Motion.LOWERING
        and phase is not Phase.RAISING
        and bus_ok
        and mode is not Mode.ESTOP
        and not inputs.motor_fault
        and not inputs.barrier_up
        and (_photocell(s, inputs, sc) or inputs.safety_edge or _cam_barrier(inputs))
    ):
        # S3 over everything but ESTOP: a boom coming down onto something goes back up,
        # even when a fault latched in this scan (a lowering timeout may be the obstruction).
        reversals += 1
        sc.emit("boom_reversed", reversals=reversals, fault=",".join(sc.faults_added))
        phase = Phase.RAISING
        phase_since = now_ms
        if reversals >= cfg.max_reversals:
            sc.fault(s, FAULT_OBSTRUCTION)
            faults = tuple(sorted({*faults, *sc.faults_added}))
            new_mode = derive_mode(estop, emergency, faults, maintenance, lane_open)
            if new_mode is not mode:
                sc.emit("mode_changed", mode=new_mode.name, previous=mode.name)
            mode = new_mode

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

    # Outputs.
    bay_now = inputs.loop_bay or (inputs.camera.health is CameraHealth.OK and inputs.camera.bay)
    up, down = inputs.barrier_up, inputs.barrier_down
    want_green = (
        mode is Mode.OPEN
        and bus_ok
        and not bay_now
        and (
            (phase is Phase.READY and down and not up)
            or (
                cfg.early_entry
                and (phase in _EARLY_ENTRY_PHASES or (phase is Phase.RAISING and crossed))
            )
        )
    )
    entry, entry_since = s.entry, s.entry_since
    if mode is Mode.ESTOP:
        new_entry = Signal.RED
    elif entry is Signal.GREEN:
        new_entry = Signal.GREEN if want_green else Signal.AMBER
    elif entry is Signal.AMBER:
        new_entry = Signal.RED if now_ms - entry_since >= cfg.amber_ms else Signal.AMBER
    else:
        new_entry = Signal.GREEN if want_green else Signal.RED
    if new_entry is not entry:
        ch["entry"] = new_entry
        ch["entry_since"] = now_ms

    raise_, lower, exit_green, warn = _PHASE_OUTPUTS[phase]
    if raise_ and up:
        raise_ = False
    if lower and down:
        lower = False
    if not bus_ok or inputs.motor_fault:
        # Stale inputs: the boom's position and what is under it are unknown.
        raise_ = lower = False
    motion = Motion.RAISING if raise_ else Motion.LOWERING if lower else Motion.IDLE
    if motion is not s.motion:
        ch["motion"] = motion
        ch["motion_since"] = now_ms
    camera = ch.get("camera", s.camera)
    stuck = ch.get("stuck", s.stuck)
    alarm = (
        mode is Mode.ESTOP
        or mode is Mode.FAULT
        or mode is Mode.EMERGENCY_OPEN
        or camera is CameraHealth.FAULT
        or bool(stuck)
        or not bus_ok
    )
    outputs = _outputs(raise_, lower, new_entry, exit_green, mode is Mode.OPEN, warn, alarm)

    if ch:
        if s.settled:
            ch["settled"] = False
        s = _replace(s, **ch)
    elif not sc.events:
        wake = _wake(s, now_ms)
        same = s.settled and s.wake_ms == wake and s.last_outputs is outputs
        if not (same and s.last_inputs == inputs):
            s = _replace(s, settled=True, wake_ms=wake, last_inputs=inputs, last_outputs=outputs)
    events = tuple(sc.events) if sc.events else ()
    return Step(s, outputs, events)


_NEVER = 2**62


def _wake(s: LaneState, now: int) -> int:
    """The earliest time after ``now`` at which any timer of ``s`` can expire."""
    cfg = s.config
    candidates = [
        s.phase_since + 1,
        s.phase_since + cfg.warn_ms,
        s.bay_since + cfg.presence_on_ms,
        s.bay_since + cfg.presence_off_ms,
        s.loop_bay_since + cfg.stop_debounce_ms,
        s.clear_since + cfg.clear_delay_ms,
        s.entry_since + cfg.amber_ms,
        s.motion_since + cfg.travel_timeout_ms + 1,
        s.approach_since + cfg.stuck_loop_ms,
        s.loop_bay_since + cfg.stuck_loop_ms,
        s.exit_since + cfg.stuck_loop_ms,
    ]
    if cfg.auto_release_ms is not None:
        candidates.append(s.phase_since + cfg.auto_release_ms)
    if s.disagree_since is not None:
        candidates.append(s.disagree_since + cfg.disagreement_ms)
    return min((c for c in candidates if c > now), default=_NEVER)


def _first_observation(s: LaneState, i: Inputs, now: int) -> LaneState:
    blind = FAULT_PHOTOCELL in s.faults
    clear = not (i.photocell or blind or i.safety_edge or _cam_barrier(i))
    bay = i.loop_bay or (i.camera.health is CameraHealth.OK and i.camera.bay)
    return _replace(
        s,
        observed=True,
        phase_since=now,
        entry_since=now,
        motion_since=now,
        bay=bay,
        bay_since=now,
        loop_bay_since=now,
        clear=clear,
        clear_since=now,
        approach_since=now,
        exit_since=now,
        p_loop_approach=i.loop_approach,
        p_loop_bay=i.loop_bay,
        p_loop_exit=i.loop_exit,
        p_photocell=i.photocell,
        p_up=i.barrier_up,
        p_down=i.barrier_down,
        p_estop=i.estop,
        p_motor_fault=i.motor_fault,
        p_release=i.release_button,
        p_aside=i.send_aside_button,
        p_io_tripped=i.io_watchdog_tripped,
    )


def _cam_barrier(i: Inputs) -> bool:
    return i.camera.health is CameraHealth.OK and i.camera.barrier


def _supervise(s: LaneState, i: Inputs, sc: _Scan, cfg: LaneConfig) -> None:
    """Input bookkeeping and the S8 / sensor checks (only with fresh inputs)."""
    ch = sc.changes
    now = sc.now
    if i.estop and not s.p_estop:
        sc.fault(s, FAULT_ESTOP)
    if i.motor_fault and not s.p_motor_fault:
        sc.emit("motor_fault")
        sc.fault(s, FAULT_MOTOR)
    up, down = i.barrier_up, i.barrier_down
    if up and down:
        sc.fault(s, FAULT_BOTH_LIMITS)
    if s.motion is Motion.IDLE:
        if s.p_down and not down and not up:
            sc.fault(s, FAULT_DOWN_LIMIT_LOST)
        if s.p_up and not up and not down:
            sc.fault(s, FAULT_UP_LIMIT_LOST)
    elif now - s.motion_since > cfg.travel_timeout_ms:
        if s.motion is Motion.RAISING and not up:
            sc.fault(s, FAULT_RAISE_TIMEOUT)
        elif s.motion is Motion.LOWERING and not down:
            sc.fault(s, FAULT_LOWER_TIMEOUT)

    # Presence bookkeeping.
    cam = i.camera
    cam_ok = cam.health is CameraHealth.OK
    bay = i.loop_bay or (cam_ok and cam.bay)
    if bay is not s.bay:
        ch["bay"] = bay
        ch["bay_since"] = now
    _crossings(s, i, sc)
    clear = not (_photocell(s, i, sc) or i.safety_edge or (cam_ok and cam.barrier))
    if clear is not s.clear:
        ch["clear"] = clear
        ch["clear_since"] = now
    if i.loop_bay is not s.p_loop_bay:
        ch["p_loop_bay"] = i.loop_bay
        ch["loop_bay_since"] = now
    if i.loop_approach is not s.p_loop_approach:
        ch["p_loop_approach"] = i.loop_approach
        ch["approach_since"] = now
    if i.loop_exit is not s.p_loop_exit:
        ch["p_loop_exit"] = i.loop_exit
        ch["exit_since"] = now

    # Stuck loops: occupied for stuck_loop_ms while the camera (if healthy) sees nothing there.
    stuck = s.stuck
    new_stuck: list[str] = []
    limit = cfg.stuck_loop_ms
    for name, value, before, since, cam_zone in (
        ("loop_approach", i.loop_approach, s.p_loop_approach, s.approach_since, cam.approach),
        ("loop_bay", i.loop_bay, s.p_loop_bay, s.loop_bay_since, cam.bay),
        ("loop_exit", i.loop_exit, s.p_loop_exit, s.exit_since, cam.exit),
    ):
        if value and before and now - since >= limit and not (cam_ok and cam_zone):
            new_stuck.append(name)
            if name not in stuck:
                sc.emit("stuck_loop", loop=name, since_ms=since)
    if tuple(new_stuck) != stuck:
        ch["stuck"] = tuple(new_stuck)

    # Camera health and camera-vs-loop agreement.
    if cam.health is not s.camera:
        if cam.health is CameraHealth.FAULT:
            sc.emit("camera_fault")
        elif s.camera is CameraHealth.FAULT:
            sc.emit("camera_restored")
        ch["camera"] = cam.health
    disagree = cam_ok and (cam.bay != i.loop_bay or cam.barrier != i.photocell)
    if disagree:
        since_d = s.disagree_since
        if since_d is None:
            ch["disagree_since"] = now
        elif not s.disagree_reported and now - since_d >= cfg.disagreement_ms:
            ch["disagree_reported"] = True
            sc.emit(
                "sensor_disagreement",
                camera_bay=cam.bay,
                loop_bay=i.loop_bay,
                camera_barrier=cam.barrier,
                photocell=i.photocell,
                since_ms=since_d,
            )
    elif s.disagree_since is not None:
        ch["disagree_since"] = None
        ch["disagree_reported"] = False

    # Remember this scan's discrete inputs for the edges of the next one.
    for name, value, old in (
        ("p_photocell", i.photocell, s.p_photocell),
        ("p_up", up, s.p_up),
        ("p_down", down, s.p_down),
        ("p_estop", i.estop, s.p_estop),
        ("p_motor_fault", i.motor_fault, s.p_motor_fault),
        ("p_release", i.release_button, s.p_release),
        ("p_aside", i.send_aside_button, s.p_aside),
    ):
        if value is not old:
            ch[name] = value


def _present(s: LaneState, i: Inputs, sc: _Scan) -> bool:
    """A vehicle in the bay or under the boom."""
    cam = i.camera
    cam_ok = cam.health is CameraHealth.OK
    return (
        i.loop_bay or _photocell(s, i, sc) or i.safety_edge or (cam_ok and (cam.bay or cam.barrier))
    )


def _photocell(s: LaneState, i: Inputs, sc: _Scan) -> bool:
    """The photocell as S1 reads it: a photocell known to be blind counts as occupied."""
    return i.photocell or FAULT_PHOTOCELL in s.faults or FAULT_PHOTOCELL in sc.faults_added


def _crossings(s: LaneState, i: Inputs, sc: _Scan) -> None:
    """S11: count every vehicle across the barrier line once, whichever sensor saw it.

    The photocell clearing with the exit loop occupied is a crossing; with the photocell
    latched blind, the exit loop's rising edge is. The vehicle expected across
    (``pending``) is also counted when the loops alone saw it go: it left the bay loop
    forward onto the exit loop without interrupting the photocell (which is then latched
    blind), it left the exit loop with the photocell still occupied (stuck on, or a
    follower under it), it cleared the photocell with the bay loop empty but the exit
    loop not occupied (the exit loop is dead), or it is out of the bay and from under
    the boom when the bus returns, and on the exit loop or already at the line when the
    bus dropped.

    The healthy camera is the witness of what those miss (a photocell stuck on or off or
    latched blind, a dead exit loop, a bus drop: the camera is not read over the bus): its
    barrier zone emptying with the exit side occupied, when nothing counted a crossing since
    the zone last emptied, is a vehicle across (``detected_by="camera"``, ``seen_by`` the
    sensors that saw it). Without a camera, a vehicle nobody released is counted by the
    photocell and loops only as before: loops alone cannot tell it from one backing out,
    nor a photocell clearing with the bay and exit loop empty from one coming unstuck.
    """
    ch = sc.changes
    cam_ok = i.camera.health is CameraHealth.OK
    blind = FAULT_PHOTOCELL in s.faults
    pending = s.pending
    fresh = i.bus_ok
    if fresh:
        crossing, by, unseen_by, exit_unseen = _sensor_crossing(s, i, sc, cam_ok, blind)
    else:
        # Loops and photocell are stale: only the camera, read apart from the bus, can tell.
        crossing, by, unseen_by, exit_unseen = False, "", "", False
    extra: dict[str, EventValue] = {}
    missed_by = ""
    counted_unread = False
    w = s.witness
    if (
        w.occupied
        and cam_ok
        and not i.camera.barrier
        and not crossing
        and not w.counted
        and (i.camera.exit or (fresh and not s.bus_lost and i.loop_exit))
    ):
        # The barrier zone emptied forward and nothing counted this vehicle: the camera
        # is the witness of a crossing the photocell (stuck or blind) or the exit loop missed.
        crossing = True
        by = "camera"
        seen = ["camera_barrier"]
        if i.camera.exit:
            seen.append("camera_exit")
        if fresh and i.loop_exit:
            seen.append("loop_exit")
        if w.photocell_fell:
            seen.append("photocell")
        extra["seen_by"] = ",".join(seen)
        if not (fresh and not s.bus_lost):
            counted_unread = True
        elif not blind:
            missed_by = "loop_exit" if w.photocell_fell else "photocell"
    _witness(s, i, sc, w, fresh and not s.bus_lost, crossing, counted_unread)
    if not crossing:
        return
    count = s.count + 1
    ch["count"] = count
    mode, phase = s.mode, s.phase
    if mode is Mode.EMERGENCY_OPEN:
        sc.emit("vehicle_passed", count=count, authorised="emergency_open", detected_by=by, **extra)
    elif not s.crossed and (pending or (mode in CYCLE_MODES and phase in _RELEASED_PHASES)):
        ch["crossed"] = True
        ch["pending"] = ""
        ch["photocell_seen"] = ch["camera_seen"] = False
        sc.emit(
            "vehicle_passed",
            count=count,
            authorised=pending or PASS_RELEASE,
            detected_by=by,
            **extra,
        )
    elif mode in CYCLE_MODES and phase in _AFTER_RELEASE_PHASES and s.crossed:
        sc.emit("tailgate", count=count, detected_by=by, **extra)
    else:
        sc.emit(
            "run_through", count=count, phase=phase.name, mode=mode.name, detected_by=by, **extra
        )
    if missed_by:
        sc.emit(
            "sensor_disagreement",
            sensor=missed_by,
            reason=f"the camera saw a vehicle cross the barrier line that the {missed_by} missed",
        )
        if missed_by == "photocell":
            sc.fault(s, FAULT_PHOTOCELL)
    if unseen_by:
        sc.emit(
            "sensor_disagreement",
            sensor="photocell",
            reason=f"{unseen_by} left the bay onto the exit loop unseen by the photocell",
        )
        sc.fault(s, FAULT_PHOTOCELL)
    if exit_unseen:
        sc.emit(
            "sensor_disagreement",
            sensor="loop_exit",
            reason="released vehicle cleared the photocell forward unseen by the exit loop",
        )


def _sensor_crossing(
    s: LaneState, i: Inputs, sc: _Scan, cam_ok: bool, blind: bool
) -> tuple[bool, str, str, bool]:
    """The crossing the photocell and loops show this scan (fresh inputs): whether there is
    one, the sensor that detected it, who went unseen by the photocell, and whether the
    released vehicle went unseen by the exit loop."""
    ch = sc.changes
    cam_barrier = cam_ok and i.camera.barrier
    pending = s.pending
    if pending == PASS_RELEASE:
        if i.photocell and not s.photocell_seen:
            ch["photocell_seen"] = True
        if cam_barrier and not s.camera_seen:
            ch["camera_seen"] = True
    # An edge across a bus drop during which the camera counted the vehicle is not another.
    across = not (s.bus_lost and s.witness.counted_unread)
    if blind:
        crossing = i.loop_exit and not s.p_loop_exit and across
        by = "exit_loop"
    else:
        crossing = s.p_photocell and not i.photocell and i.loop_exit and across
        by = "photocell"
    unseen = exit_unseen = False
    unseen_by = "released vehicle"
    if not crossing and pending and not s.crossed:
        bay = i.loop_bay or (cam_ok and i.camera.bay)
        if (
            pending == PASS_RELEASE
            and not blind
            and not s.bus_lost
            and not s.photocell_seen
            and not i.photocell
            and s.p_loop_bay
            and not i.loop_bay
            and i.loop_exit
        ):
            crossing = unseen = True
            by = "camera" if s.camera_seen or cam_barrier else "exit_loop"
        elif (
            not blind
            and not s.bus_lost
            and i.photocell
            and s.p_loop_exit
            and not i.loop_exit
            and not bay
        ):
            # Off the exit loop while the photocell still reads occupied: one vehicle clears
            # the photocell long before the exit loop, so the photocell is stuck on or a
            # follower is under it. Either way the released one is across.
            crossing = True
            by = "exit_loop"
        elif (
            not blind
            and not s.bus_lost
            and s.p_photocell
            and not i.photocell
            and not i.loop_exit
            and not bay
        ):
            # The photocell cleared with the bay empty: a vehicle backing off the line
            # still stands on the bay loop then, so this one went forward, and the exit
            # loop (which it must cover at that moment) did not see it.
            crossing = exit_unseen = True
            by = "photocell"
        elif (
            s.bus_lost
            and (i.loop_exit or s.p_photocell or s.p_loop_exit)
            and not bay
            and not i.photocell
            and not cam_barrier
        ):
            crossing = True
            by = "bus_restored"
    return crossing, by, unseen_by if unseen else "", exit_unseen


def _witness(
    s: LaneState,
    i: Inputs,
    sc: _Scan,
    w: BarrierWitness,
    photocell_read: bool,
    counted: bool,
    counted_unread: bool,
) -> None:
    """Carry the barrier zone's view of its occupancy to the next scan.

    A count while the zone reads empty is kept for the occupancy to come: the camera
    lags the photocell and the loops, so that vehicle is the one the zone will see. What
    the photocell did is noted only while it is read (``photocell_read``): a stale
    reading tells nothing.
    """
    cam_ok = i.camera.health is CameraHealth.OK
    unread = counted_unread or (w.counted_unread and not photocell_read)
    if not cam_ok:
        new = _NO_WITNESS
    elif (
        not i.camera.barrier
        and not w.occupied
        and (w.counted or not counted)
        and unread is w.counted_unread
    ):
        new = w
    elif i.camera.barrier:
        fell = w.photocell_fell or (photocell_read and s.p_photocell and not i.photocell)
        new = BarrierWitness(True, w.counted or counted, fell, unread)
    elif w.occupied:
        new = BarrierWitness(counted_unread=unread)
    else:
        new = BarrierWitness(counted=w.counted or counted, counted_unread=unread)
    if new is not w and new != w:
        sc.changes["witness"] = new


def _holds(
    trig: Trigger,
    s: LaneState,
    i: Inputs,
    mode: Mode,
    crossed: bool,
    cmds: dict[Trigger, Command],
    sc: _Scan,
    cfg: LaneConfig,
) -> bool:
    """Whether ``trig`` holds this scan (inputs are fresh: the bus is up)."""
    now = sc.now
    ch = sc.changes
    if trig in cmds:
        return True
    if trig is Trigger.OTHERWISE:
        return True
    if trig is Trigger.BOOM_DOWN:
        return i.barrier_down and not i.barrier_up
    cycle = mode in CYCLE_MODES
    cam_ok = i.camera.health is CameraHealth.OK
    if trig is Trigger.BAY_ARRIVED:
        since = ch.get("bay_since", s.bay_since)
        assert isinstance(since, int)
        return (i.loop_bay or (cam_ok and i.camera.bay)) and now - since >= cfg.presence_on_ms
    if trig is Trigger.BAY_LEFT:
        bay = i.loop_bay or (cam_ok and i.camera.bay)
        since = ch.get("bay_since", s.bay_since)
        assert isinstance(since, int)
        return (
            not bay
            and not _photocell(s, i, sc)
            and now - since >= cfg.presence_off_ms
            and (s.phase is not Phase.PASSING or not i.loop_exit)
        )
    if trig is Trigger.STOPPED:
        since = ch.get("loop_bay_since", s.loop_bay_since)
        assert isinstance(since, int)
        return i.loop_bay and now - since >= cfg.stop_debounce_ms
    if trig is Trigger.AUTO_RELEASE:
        return (
            cfg.auto_release_ms is not None and cycle and now - s.phase_since >= cfg.auto_release_ms
        )
    if trig is Trigger.WARN_DONE:
        return now - s.phase_since >= cfg.warn_ms
    up = i.barrier_up and not i.barrier_down
    if trig is Trigger.UP_FRESH:
        return up and cycle and not crossed
    if trig is Trigger.UP_CROSSED:
        return up and cycle
    if trig is Trigger.UP_EMERGENCY:
        return up and mode is Mode.EMERGENCY_OPEN
    if trig is Trigger.UP_REACHED:
        return up
    if trig is Trigger.CROSSED:
        return crossed
    clear = not (_photocell(s, i, sc) or i.safety_edge or (cam_ok and i.camera.barrier))
    if trig is Trigger.CLEAR:
        since = ch.get("clear_since", s.clear_since)
        assert isinstance(since, int)
        return clear and now - since >= cfg.clear_delay_ms and now > s.phase_since
    if trig is Trigger.PRESENCE:
        return not clear
    down = i.barrier_down and not i.barrier_up
    if trig is Trigger.DOWN_BAY:
        return down and cycle and (i.loop_bay or (cam_ok and i.camera.bay))
    if trig is Trigger.DOWN_CYCLE:
        return down and cycle
    if trig is Trigger.DOWN_REACHED:
        return down
    return False


_OUTPUT_CACHE: dict[tuple[bool, bool, Signal, bool, bool, bool, bool], Outputs] = {}


def _outputs(
    raise_: bool,
    lower: bool,
    entry: Signal,
    exit_green: bool,
    lane_open: bool,
    warn: bool,
    alarm: bool,
) -> Outputs:
    key = (raise_, lower, entry, exit_green, lane_open, warn, alarm)
    out = _OUTPUT_CACHE.get(key)
    if out is None:
        out = Outputs(
            barrier_raise=raise_,
            barrier_lower=lower,
            entry_red=entry is Signal.RED,
            entry_amber=entry is Signal.AMBER,
            entry_green=entry is Signal.GREEN,
            exit_red=not exit_green,
            exit_green=exit_green,
            lane_open=lane_open,
            lane_closed=not lane_open,
            warn=warn,
            alarm=alarm,
        )
        _OUTPUT_CACHE[key] = out
    return out
