"""The step benchmark: ``core.scan`` timed scan by scan on inputs a lane really produces.

Timing ``scan`` on one constant input would only time its fast path; timing it
on random inputs would time faults and alarms a lane rarely sees. So the
suite first records a full vehicle cycle model-in-the-loop (the vehicle
arrives, stops, waits for the operator's RELEASE, the boom goes up, it drives
off, the boom comes down) at the runtime's scan period, then replays that
input sequence through ``scan`` many times in a row, the lane carrying its
state from one cycle into the next as it would on site, and times every
call. The result is the distribution a lane's scan loop pays per scan.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.bench.loop import CoreController, run_loop
from controller.bench.stats import summary
from controller.core import scan as core
from controller.core.types import Inputs, LaneConfig

__all__ = ["CYCLE_SCAN_MS", "Recording", "ready_state", "record_cycle", "replay_timed", "run"]

CYCLE_SCAN_MS = 10
"""The runtime's default scan period (``io.scan_ms``)."""
_ARRIVAL_S = 2.0
_CYCLE_MS = 45_000
_SEED = 7


@dataclass(frozen=True, slots=True)
class Recording:
    """One vehicle cycle as the core saw it: the scans' inputs, times and the lane's config."""

    config: LaneConfig
    inputs: tuple[Inputs, ...]
    times_ms: tuple[int, ...]
    span_ms: int
    """Time from the first recorded scan to one scan after the last: the cycle's length."""


def record_cycle(config: LaneConfig | None = None, *, scan_ms: int = CYCLE_SCAN_MS) -> Recording:
    """Run one car through the simulated lane and keep every scan's inputs (no wall clock)."""
    from hw_sim.plant import Plant
    from hw_sim.scenario import Behaviour, OperatorSpec, Scenario, TrafficSpec, VehicleKind

    config = config or LaneConfig()
    scenario = Scenario(
        name="step-cycle",
        traffic=TrafficSpec(
            rate_per_hour=None,
            schedule_s=(_ARRIVAL_S,),
            kinds=((VehicleKind.CAR, 1.0),),
            behaviours=((Behaviour.COMPLIANT, 1.0),),
        ),
        operator=OperatorSpec(dwell_s=(5.0, 5.0), aside_share=0.0),
    )
    plant = Plant(scenario, _SEED, probe=False)
    loop = run_loop(
        plant, CoreController(config), duration_ms=_CYCLE_MS, scan_ms=scan_ms, record=True
    )
    crossed = [v for v in plant.truth.vehicles.values() if v.crossing == "passed"]
    if len(crossed) != 1:
        raise RuntimeError(f"step: the recorded cycle passed {len(crossed)} vehicles, expected 1")
    # Skip the scans before the lane is open and READY; the cycle starts with an empty lane.
    first = next(
        (i for i, s in enumerate(loop.samples) if s.outputs.entry_green and not s.inputs.commands),
        None,
    )
    if first is None:
        raise RuntimeError("step: the lane never showed entry green in the recorded cycle")
    kept = loop.samples[first:]
    inputs = tuple(s.inputs for s in kept)
    times = tuple(s.now_ms - kept[0].now_ms for s in kept)
    return Recording(config=config, inputs=inputs, times_ms=times, span_ms=times[-1] + scan_ms)


def replay_timed(recording: Recording, repeats: int) -> list[int]:
    """Nanoseconds of each ``scan`` call over ``repeats`` back-to-back replays of the cycle."""
    if repeats < 1:
        raise ValueError(f"repeats: must be at least 1, got {repeats}")
    state = ready_state(recording)
    scan = core.scan
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    offset = recording.span_ms
    pairs: Sequence[tuple[Inputs, int]] = list(
        zip(recording.inputs, recording.times_ms, strict=True)
    )
    for k in range(repeats):
        base = offset * (k + 1)
        for inputs, t in pairs:
            start = clock()
            result = scan(state, inputs, base + t)
            append(clock() - start)
            state = result.state
    return samples


def ready_state(recording: Recording) -> core.ScanState:
    """A core opened and settled on the recording's first inputs, as on the lane before a cycle."""
    from controller.core.types import Command, CommandKind

    first = recording.inputs[0]
    state = core.initial_state(recording.config)
    opening = Inputs(
        loop_approach=first.loop_approach,
        loop_bay=first.loop_bay,
        photocell=first.photocell,
        loop_exit=first.loop_exit,
        barrier_up=first.barrier_up,
        barrier_down=first.barrier_down,
        commands=(Command(CommandKind.OPEN_LANE, "bench"),),
    )
    state = core.scan(state, opening, 0).state
    for t in range(CYCLE_SCAN_MS, recording.span_ms, CYCLE_SCAN_MS):
        state = core.scan(state, first, t).state
    return state


def run(quick: bool = False) -> dict[str, Any]:
    """The ``step`` suite: p50/p99/max microseconds per ``core.scan`` over a repeated cycle."""
    recording = record_cycle()
    repeats = 5 if quick else 40
    replay_timed(recording, 1)  # warm-up: imports, caches, first-call costs
    ns = replay_timed(recording, repeats)
    us = [n / 1000.0 for n in ns]
    stats = summary(us, digits=2)
    return {
        "step_p50_us": stats["p50"],
        "step_p99_us": stats["p99"],
        "step_max_us": stats["max"],
        "step_mean_us": stats["mean"],
        "scans": stats["n"],
        "cycle_scans": len(recording.inputs),
        "cycle_s": recording.span_ms / 1000.0,
        "scan_ms": CYCLE_SCAN_MS,
        "repeats": repeats,
    }
