"""A recording model-in-the-loop driver for the benchmarks: plant, I/O module and a controller.

The step benchmark needs the inputs a real lane feeds the core, scan by scan;
the report's timeline needs the boom's position next to the signals and the
sensors. Both come from running the simulated plant against a controller on
a simulated clock and keeping every scan, which is what this module does: one
scan reads the discrete inputs and input registers from the plant's I/O
module, asks the controller, writes all coils and the heartbeat, then the
plant advances one scan period. Nothing here reads a wall clock, so a run is
a pure function of scenario, seed, controller and period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from controller.core import scan as core
from controller.core.types import Command, CommandKind, Event, Inputs, LaneConfig, Outputs
from controller.iomap import coils_from_outputs, inputs_from_bits

if TYPE_CHECKING:
    from hw_sim.camera_model import CameraModel
    from hw_sim.plant import Plant

__all__ = [
    "CoreController",
    "LaneController",
    "LoopRun",
    "Sample",
    "run_loop",
]


class LaneController(Protocol):
    """Anything that turns one scan's inputs into outputs and events (the core, a baseline)."""

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]: ...


class CoreController:
    """The product's core (``core.scan``) behind ``LaneController``; opens the lane on scan one."""

    def __init__(self, config: LaneConfig) -> None:
        self.state = core.initial_state(config)
        self._opened = False

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        if not self._opened:
            self._opened = True
            inputs = _with_command(inputs, Command(CommandKind.OPEN_LANE, "bench"))
        result = core.scan(self.state, inputs, now_ms)
        self.state = result.state
        return result.outputs, result.events


def _with_command(inputs: Inputs, command: Command) -> Inputs:
    return Inputs(
        loop_approach=inputs.loop_approach,
        loop_bay=inputs.loop_bay,
        photocell=inputs.photocell,
        loop_exit=inputs.loop_exit,
        barrier_up=inputs.barrier_up,
        barrier_down=inputs.barrier_down,
        safety_edge=inputs.safety_edge,
        estop=inputs.estop,
        motor_fault=inputs.motor_fault,
        release_button=inputs.release_button,
        send_aside_button=inputs.send_aside_button,
        bus_ok=inputs.bus_ok,
        io_watchdog_tripped=inputs.io_watchdog_tripped,
        camera=inputs.camera,
        commands=(*inputs.commands, command),
    )


@dataclass(frozen=True, slots=True)
class Sample:
    """One scan as the lane saw it: inputs read, outputs written, the boom where it stood."""

    now_ms: int
    inputs: Inputs
    outputs: Outputs
    boom_permille: int


@dataclass(slots=True)
class LoopRun:
    """What ``run_loop`` returns: the plant at the end, every scan if asked, and all events."""

    plant: Plant
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    scans: int = 0


def run_loop(
    plant: Plant,
    controller: LaneController,
    *,
    duration_ms: int,
    scan_ms: int = 10,
    record: bool = False,
    until: Callable[[Plant], bool] | None = None,
    camera: CameraModel | None = None,
) -> LoopRun:
    """Run ``controller`` against ``plant`` for ``duration_ms`` simulated ms (or until ``until``).

    ``record`` keeps a ``Sample`` per scan (the timeline and the step benchmark use it);
    ``camera`` adds the presence camera model's zones and standstill to the inputs.
    """
    if scan_ms < 1:
        raise ValueError(f"scan_ms: must be at least 1, got {scan_ms}")
    if duration_ms < 0:
        raise ValueError(f"duration_ms: must not be negative, got {duration_ms}")
    run = LoopRun(plant=plant)
    io = plant.io
    heartbeat = 0
    end = plant.now_ms + duration_ms
    while plant.now_ms < end:
        now = plant.now_ms
        bits = io.read_discrete_inputs()
        status = io.read_input_registers()[0]
        zones = (
            camera.scan(now, plant.vehicles, plant.geometry, plant.active_faults.camera)
            if camera is not None
            else None
        )
        inputs = inputs_from_bits(bits, io_status=status, camera=zones)
        outputs, events = controller.step(inputs, now)
        io.write_coils(coils_from_outputs(outputs))
        heartbeat = (heartbeat + 1) & 0xFFFF
        io.write_holding(0, [heartbeat])
        if events:
            run.events.extend(events)
        if record:
            run.samples.append(Sample(now, inputs, outputs, plant.boom_position))
        run.scans += 1
        plant.advance(scan_ms)
        if until is not None and until(plant):
            break
    return run
