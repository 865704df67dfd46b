"""Hypothesis: random input sequences, commands and time steps never break S1-S8."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from controller.core.scan import ScanResult, ScanState, initial_state, persisted, scan
from controller.core.types import (
    CameraHealth,
    CameraZones,
    Command,
    CommandKind,
    FailMode,
    Inputs,
    LaneConfig,
    Mode,
)
from tests.core.helpers import s8_problems

_CAMERA = st.builds(
    CameraZones,
    health=st.sampled_from(list(CameraHealth)),
    approach=st.booleans(),
    bay=st.booleans(),
    barrier=st.booleans(),
    exit=st.booleans(),
)
_INPUTS = st.builds(
    Inputs,
    loop_approach=st.booleans(),
    loop_bay=st.booleans(),
    photocell=st.booleans(),
    loop_exit=st.booleans(),
    barrier_up=st.booleans(),
    barrier_down=st.booleans(),
    safety_edge=st.booleans(),
    estop=st.booleans(),
    motor_fault=st.booleans(),
    release_button=st.booleans(),
    send_aside_button=st.booleans(),
    bus_ok=st.booleans(),
    io_watchdog_tripped=st.booleans(),
    camera=_CAMERA,
    commands=st.lists(st.builds(Command, st.sampled_from(list(CommandKind))), max_size=2).map(
        tuple
    ),
)
_FLAGS = (
    "loop_bay",
    "loop_bay",
    "photocell",
    "photocell",
    "loop_exit",
    "barrier_up",
    "barrier_down",
    "barrier_up",
    "barrier_down",
    "safety_edge",
    "estop",
    "motor_fault",
    "release_button",
    "send_aside_button",
    "bus_ok",
)
_CONFIGS = st.builds(
    LaneConfig,
    amber_ms=st.integers(2700, 4000),
    warn_ms=st.integers(0, 2000),
    clear_delay_ms=st.integers(0, 1000),
    auto_release_ms=st.none() | st.integers(0, 3000),
    early_entry=st.booleans(),
    fail_mode=st.sampled_from(list(FailMode)),
    max_reversals=st.integers(1, 4),
)


class LaneMachine(RuleBasedStateMachine):
    """Scan the core with arbitrary inputs; check every written output from the outside."""

    def __init__(self) -> None:
        super().__init__()
        self.state: ScanState | None = None
        self.now = 0
        self.last: ScanResult | None = None
        self.inputs = Inputs(barrier_down=True)
        self.problems: list[str] = []

    @rule(config=_CONFIGS)
    def start(self, config: LaneConfig) -> None:
        if self.state is None:
            self.state = initial_state(config)

    @rule(inputs=_INPUTS, dt=st.sampled_from((1, 5, 10, 100, 500, 1000, 3000, 7000)))
    def scan_once(self, inputs: Inputs, dt: int) -> None:
        if self.state is None:
            self.state = initial_state(LaneConfig())
        before = self.state
        self.now += dt
        result = scan(before, inputs, self.now)
        self.problems += s8_problems(before, inputs, self.now, result.state)
        self._check_outputs(before, inputs, result)
        self.state, self.last, self.inputs = result.state, result, inputs

    @rule(name=st.sampled_from(_FLAGS), dt=st.sampled_from((5, 50, 300, 1000)))
    def toggle(self, name: str, dt: int) -> None:
        """Flip one input, as a vehicle, the boom or a fault would."""
        flipped = replace(self.inputs, commands=(), **{name: not getattr(self.inputs, name)})
        self.scan_once(flipped, dt)

    @rule(kind=st.sampled_from(list(CommandKind)))
    def command(self, kind: CommandKind) -> None:
        """An operator command with the inputs held."""
        self.scan_once(replace(self.inputs, commands=(Command(kind),)), 5)

    @rule(dt=st.sampled_from((5, 100, 1000, 3000)), repeat=st.integers(1, 12))
    def hold(self, dt: int, repeat: int) -> None:
        """The same inputs for a while, so timers run out (no commands repeated)."""
        held = Inputs(
            **{f: getattr(self.inputs, f) for f in Inputs.__dataclass_fields__ if f != "commands"}
        )  # type: ignore[arg-type]
        for _ in range(repeat):
            self.scan_once(held, dt)

    def _check_outputs(self, before: ScanState, inputs: Inputs, result: ScanResult) -> None:
        out = result.outputs
        kinds = [e.kind for e in result.events]
        if "safety_override" in kinds:
            self.problems.append(f"override: {[e for e in result.events]}")
        if out.barrier_raise and out.barrier_lower:
            self.problems.append("S2")
        presence = (
            not inputs.bus_ok
            or inputs.photocell
            or inputs.safety_edge
            or (inputs.camera.health is CameraHealth.OK and inputs.camera.barrier)
        )
        if out.barrier_lower and presence:
            self.problems.append("S1")
        if inputs.estop and (out.barrier_raise or out.barrier_lower or not out.entry_red):
            self.problems.append("S4")
        if out.entry_green and result.state.lane.mode is not Mode.OPEN:
            self.problems.append("S5 mode")
        if out.entry_green + out.entry_amber + out.entry_red != 1:
            self.problems.append("S6 colours")
        prev = before.safety.prev
        if prev.entry_green and out.entry_red and not inputs.estop:
            self.problems.append("S6 green to red")
        if out.barrier_lower and not prev.barrier_lower and prev.exit_green:
            self.problems.append("S7")
        if persisted(result.state).faults != result.state.lane.faults:
            self.problems.append("persisted faults differ")

    @invariant()
    def nothing_broken(self) -> None:
        assert self.problems == []


TestLaneProperties = LaneMachine.TestCase
TestLaneProperties.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, derandomize=True
)
