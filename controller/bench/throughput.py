"""The throughput benchmark: vehicles per hour and lost time per vehicle, model in the loop.

A saturated lane (the ``rush`` traffic at twice its rate, so a queue always
waits at the entry signal) is worked by auto-release, model-in-the-loop
(``hw_sim.mil.run_mil``, simulated clock, no faults, with the presence camera
model), three ways: the core with early entry, the core without it, and the
naive fixed-timer controller of ``controller.bench.baseline``. One seed means
the same vehicles and drivers in the same order for all three.

The physical bound is computed from the plant's own parameters for those very
vehicles: each one drives from the head of the queue to the stop line (its
acceleration, braking and bay speed), stands for the auto-release dwell, the
warn light flashes (``warn_ms``: DESIGN has it before any boom motion), the
boom rises (``raise_ms``), the driver reacts (his drawn reaction time, plus his
hesitation if he is hesitant), the vehicle drives off until its rear is clear
of the boom (its length), and the boom comes down (``lower_ms``) before the
next release. The next vehicle may set off as soon as the released one's
rear has left the bay (the earliest S5 lets anyone in): past the bay's end,
where the camera's bay zone ends, 1.2 m beyond the end of the bay loop, which
does not cover the last metres before the barrier zone. It may stop at the
line while the boom is still coming down. That is an ideal controller
that waits for nothing but physics and the contract; ``serial_bound`` is the
same without the overlap (next vehicle in only once the boom is down).

Cycles are measured in the steady state: the mean interval between crossing
events after the first few vehicles, against the bound's mean interval over
the same vehicles. Lost time per vehicle = measured cycle - bound cycle;
``lost_vs_serial_bound_s`` is the same against the serial bound (what a
controller without early entry loses to an ideal one of its own policy).

The bound counts the dwell from the moment the vehicle stands still at the
line. So does the core: the camera model reports how long the bay has stood
still (``bay_still_ms``, from the plant's truth with the real detector's lags);
the core starts INSPECTING once that reaches ``standstill_ms`` and auto-releases
once it reaches the dwell. ``standstill_to_stopped_event_s`` is the mean time from a
traced vehicle's true standstill to the core's ``vehicle_stopped`` (the
standstill confirmation plus the camera's frame and latency; the bay loop rule
alone fired about 1.8 s before standstill and let the core beat the bound).
``standstill_to_raise_s`` is how long vehicles really stood before the boom
started up: the dwell plus the warn light's ``warn_ms`` plus the camera's lag.
``early_entry_lost_time_at_full_dwell_s`` is the early-entry lost time had the
boom started up exactly the dwell and the warn after true standstill, i.e.
without the camera's lag.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.bench.baseline import FixedTimerController, FixedTimings, travel_s
from controller.core.types import Event, Inputs, LaneConfig, Outputs

if TYPE_CHECKING:
    from controller.bench.loop import Sample
    from hw_sim.geometry import LaneGeometry
    from hw_sim.scenario import Scenario
    from hw_sim.traffic import VehicleSpec
    from hw_sim.truth import VehicleRecord

__all__ = [
    "AUTO_RELEASE_MS",
    "CONTROLLERS",
    "WARMUP_VEHICLES",
    "Bound",
    "CrossingRecorder",
    "bound_crossings",
    "fixed_timings",
    "measure",
    "run",
    "saturated_scenario",
    "timeline",
    "vehicle_specs",
]

AUTO_RELEASE_MS = 2000
"""The dwell of a toll-like lane: released 2 s after the vehicle stands at the line."""
WARMUP_VEHICLES = 3
"""Crossings skipped before the steady state (the queue forms behind the first vehicles)."""
CONTROLLERS: tuple[str, ...] = ("early_entry", "no_early_entry", "fixed_timer")
SEED = 11
_RATE_FACTOR = 2.0
_MARGIN = 1.1
"""The fixed timer's travel timers are 10 % over the nominal time, as a commissioning engineer
would set them."""


def saturated_scenario() -> Scenario:
    """``rush`` at twice its arrival rate, nobody at the console: only auto-release releases."""
    from hw_sim.scenario import load_scenario

    rush = load_scenario("rush")
    rate = (rush.traffic.rate_per_hour or 600.0) * _RATE_FACTOR
    return dataclasses.replace(
        rush,
        name="rush-saturated",
        description="rush traffic at twice the rate; released by auto-release only",
        traffic=dataclasses.replace(rush.traffic, rate_per_hour=rate),
        operator=dataclasses.replace(rush.operator, dwell_s=(86_400.0, 86_400.0)),
        faults=(),
    )


def vehicle_specs(scenario: Scenario, seed: int, duration_ms: int) -> list[VehicleSpec]:
    """The vehicles the plant will meet in ``duration_ms``, drawn exactly as the plant draws."""
    from hw_sim.traffic import Arrivals

    return Arrivals(scenario.traffic, scenario.operator, seed).due(duration_ms)


def _reaction_ms(spec: VehicleSpec) -> int:
    from hw_sim.scenario import Behaviour

    extra = spec.hesitation_ms if spec.behaviour is Behaviour.HESITANT else 0
    return spec.reaction_ms + extra


@dataclass(frozen=True, slots=True)
class Bound:
    """Per vehicle, when an ideal controller would have it cross the barrier line (ms)."""

    crossings_ms: tuple[float, ...]
    serial_crossings_ms: tuple[float, ...]


def bound_crossings(
    specs: Sequence[VehicleSpec],
    scenario: Scenario,
    dwell_ms: int,
    geometry: LaneGeometry | None = None,
    warn_ms: int = 0,
) -> Bound:
    """The ideal crossing times of ``specs`` in order, with and without early entry; the
    boom starts up ``warn_ms`` after the dwell (the warn light before any motion)."""
    from hw_sim.geometry import LaneGeometry

    g = geometry or LaneGeometry()
    raise_ms = scenario.boom.raise_ms
    lower_ms = scenario.boom.lower_ms
    queue_head_x = g.bay_entry_x_m - 0.5
    out: dict[bool, list[float]] = {True: [], False: []}
    for overlap in (True, False):
        enter = 0.0
        down = 0.0
        for spec in specs:
            v, a, b, length = spec.bay_mps, spec.accel_mps2, spec.decel_mps2, spec.length_m
            stopped = enter + 1000.0 * travel_s(g.stop_line_x_m - queue_head_x, v, a, b)
            start_up = max(stopped + dwell_ms + warn_ms, down)
            go = start_up + raise_ms + _reaction_ms(spec)
            cross = go + 1000.0 * travel_s(g.boom_x_m - g.stop_line_x_m, v, a)
            rear_clear = go + 1000.0 * travel_s(g.boom_span.end - g.stop_line_x_m + length, v, a)
            left_bay = go + 1000.0 * travel_s(g.zone_bay.end - g.stop_line_x_m + length, v, a)
            down = rear_clear + lower_ms
            enter = max(left_bay, cross) if overlap else down
            out[overlap].append(cross)
    return Bound(tuple(out[True]), tuple(out[False]))


def fixed_timings(
    specs: Sequence[VehicleSpec],
    scenario: Scenario,
    config: LaneConfig,
    dwell_ms: int,
    geometry: LaneGeometry | None = None,
) -> FixedTimings:
    """Timers for the worst vehicle among ``specs`` (hesitant drivers aside), with a margin."""
    from hw_sim.geometry import LaneGeometry
    from hw_sim.scenario import Behaviour

    if not specs:
        raise ValueError("specs: no vehicles to size the fixed timers for")
    g = geometry or LaneGeometry()
    drive_in = max(
        travel_s(g.stop_line_x_m - g.bay_loop.start, s.bay_mps, s.accel_mps2, s.decel_mps2)
        for s in specs
    )
    clear = max(
        travel_s(g.photocell.end - g.stop_line_x_m + s.length_m, s.bay_mps, s.accel_mps2)
        for s in specs
    )
    reaction = max(
        (s.reaction_ms for s in specs if s.behaviour is not Behaviour.HESITANT),
        default=max(s.reaction_ms for s in specs),
    )
    return FixedTimings(
        amber_ms=config.amber_ms,
        hold_ms=max(config.amber_ms + 1, round(_MARGIN * 1000 * drive_in) + dwell_ms),
        warn_ms=config.warn_ms,
        raise_ms=round(_MARGIN * scenario.boom.raise_ms),
        pass_ms=reaction + round(_MARGIN * 1000 * clear),
        lower_ms=round(_MARGIN * scenario.boom.lower_ms),
    )


class CrossingRecorder:
    """Wraps a ``LaneController`` and keeps the time of every crossing event it emits."""

    KINDS = frozenset({"vehicle_passed", "tailgate", "run_through"})

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.crossings_ms: list[int] = []

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        outputs, events = self.inner.step(inputs, now_ms)
        for e in events:
            if e.kind in self.KINDS:
                self.crossings_ms.append(e.at_ms)
        return outputs, events

    def restart(self) -> None:
        restart = getattr(self.inner, "restart", None)
        if restart is not None:
            restart()


def _steady_cycle_s(times_ms: Sequence[float], first: int, last: int) -> float:
    return (times_ms[last] - times_ms[first]) / (last - first) / 1000.0


def measure(name: str, *, minutes: float, seed: int = SEED) -> dict[str, Any]:
    """One controller (a name of ``CONTROLLERS``) on the saturated lane: cycle, bound, vph."""
    from hw_sim.mil import CoreController, run_mil

    if name not in CONTROLLERS:
        raise ValueError(f"name: {name!r} is not one of {', '.join(CONTROLLERS)}")
    scenario = saturated_scenario()
    duration_ms = round(minutes * 60_000)
    specs = vehicle_specs(scenario, seed, duration_ms)
    config = LaneConfig(auto_release_ms=AUTO_RELEASE_MS, early_entry=name == "early_entry")
    inner: Any
    if name == "fixed_timer":
        inner = FixedTimerController(fixed_timings(specs, scenario, config, AUTO_RELEASE_MS))
    else:
        inner = CoreController(config)
    recorder = CrossingRecorder(inner)
    report = run_mil(
        scenario,
        hours=minutes / 60.0,
        seed=seed,
        controller=recorder,
        config=config,
        random_faults=False,
        camera=True,
    )
    times = recorder.crossings_ms
    last = len(times) - 1
    if last - WARMUP_VEHICLES < 3:
        raise RuntimeError(
            f"throughput {name}: only {len(times)} crossings in {minutes} min; run longer"
        )
    bound = bound_crossings(specs, scenario, AUTO_RELEASE_MS, warn_ms=config.warn_ms)
    cycle = _steady_cycle_s(times, WARMUP_VEHICLES, last)
    bound_cycle = _steady_cycle_s(bound.crossings_ms, WARMUP_VEHICLES, last)
    serial_cycle = _steady_cycle_s(bound.serial_crossings_ms, WARMUP_VEHICLES, last)
    result: dict[str, Any] = {
        "cycle_s": round(cycle, 3),
        "bound_cycle_s": round(bound_cycle, 3),
        "serial_bound_cycle_s": round(serial_cycle, 3),
        "lost_time_per_vehicle_s": round(cycle - bound_cycle, 3),
        "lost_vs_serial_bound_s": round(cycle - serial_cycle, 3),
        "throughput_vph": round(3600.0 / cycle, 1),
        "bound_vph": round(3600.0 / bound_cycle, 1),
        "vehicles_measured": last - WARMUP_VEHICLES,
        "crossed": report.crossed,
        "boom_contacts": report.boom_contacts,
        "lost": report.lost,
        "sim_minutes": minutes,
    }
    if name == "fixed_timer":
        result["timings_ms"] = dataclasses.asdict(inner.timings)
    return result


_TRACE_OUTPUTS = (
    "entry_green",
    "entry_amber",
    "entry_red",
    "warn",
    "barrier_raise",
    "barrier_lower",
    "exit_green",
    "exit_red",
)
_TRACE_INPUTS = (
    "loop_approach",
    "loop_bay",
    "photocell",
    "loop_exit",
    "barrier_up",
    "barrier_down",
)


def timeline(vehicle_index: int = WARMUP_VEHICLES, every_ms: int = 50) -> dict[str, Any]:
    """One vehicle's cycle, core with early entry, sampled every ``every_ms``: for the plot."""
    from controller.bench.loop import CoreController as LoopController
    from controller.bench.loop import run_loop
    from hw_sim.camera_model import CameraModel, CameraModelSpec
    from hw_sim.plant import Plant

    scenario = saturated_scenario()
    config = LaneConfig(auto_release_ms=AUTO_RELEASE_MS, early_entry=True)
    plant = Plant(scenario, SEED, probe=False)

    def done(p: Plant) -> bool:
        crossed = sorted(
            (r for r in p.truth.vehicles.values() if r.cleared_ms is not None),
            key=lambda r: r.cleared_ms or 0,
        )
        return len(crossed) > vehicle_index and p.now_ms > (
            crossed[vehicle_index].cleared_ms or 0
        ) + (scenario.boom.lower_ms + 3000)

    loop = run_loop(
        plant,
        LoopController(config),
        duration_ms=600_000,
        record=True,
        until=done,
        camera=CameraModel(CameraModelSpec()),
    )
    records = sorted(
        (r for r in plant.truth.vehicles.values() if r.cleared_ms is not None),
        key=lambda r: r.cleared_ms or 0,
    )
    if len(records) <= vehicle_index:
        raise RuntimeError("timeline: too few vehicles crossed in the traced run")
    rec = records[vehicle_index]
    start = (rec.bay_entry_ms or 0) - 2000
    end = (rec.cleared_ms or 0) + scenario.boom.lower_ms + 2000
    rows = [s for s in loop.samples if start <= s.now_ms <= end and s.now_ms % every_ms == 0]
    trace: dict[str, Any] = {
        "vehicle": {"id": rec.id, "kind": rec.kind, "length_m": rec.length_m},
        "t_s": [round((s.now_ms - start) / 1000.0, 3) for s in rows],
        "boom_permille": [s.boom_permille for s in rows],
    }
    for name in _TRACE_OUTPUTS:
        trace[name] = [int(getattr(s.outputs, name)) for s in rows]
    for name in _TRACE_INPUTS:
        trace[name] = [int(getattr(s.inputs, name)) for s in rows]
    marks = {
        "bay_entry": rec.bay_entry_ms,
        "stopped": rec.stop_ms,
        "release_seen": rec.release_seen_ms,
        "crossing": rec.crossing_ms,
        "rear_clear": rec.cleared_ms,
    }
    trace["marks_s"] = {
        k: round((v - start) / 1000.0, 3) for k, v in marks.items() if v is not None
    }
    trace["standstill_to_raise_s"] = _standstill_to_raise_s(loop.samples, records)
    trace["standstill_to_stopped_event_s"] = _standstill_to_stopped_s(loop.events, records)
    return trace


def _standstill_to_stopped_s(events: Sequence[Event], records: Sequence[VehicleRecord]) -> float:
    """Mean time from a vehicle's true standstill to the core's ``vehicle_stopped`` for it
    (the first between its entry into the bay and its crossing): negative when the core
    calls it stopped while it still rolls."""
    stops = [e.at_ms for e in events if e.kind == "vehicle_stopped"]
    gaps = []
    for rec in records:
        if rec.stop_ms is None or rec.bay_entry_ms is None or rec.crossing_ms is None:
            continue
        mine = [t for t in stops if rec.bay_entry_ms <= t <= rec.crossing_ms]
        if mine:
            gaps.append(mine[0] - rec.stop_ms)
    return round(sum(gaps) / len(gaps) / 1000.0, 3) if gaps else 0.0


def _standstill_to_raise_s(samples: Sequence[Sample], records: Sequence[VehicleRecord]) -> float:
    """Mean time a vehicle stood at the line before the boom started up: the dwell it really got."""
    starts = [
        b.now_ms
        for a, b in itertools.pairwise(samples)
        if b.outputs.barrier_raise and not a.outputs.barrier_raise
    ]
    waits = []
    for rec in records:
        if rec.stop_ms is None:
            continue
        after = [t for t in starts if t >= rec.stop_ms]
        if after and (rec.crossing_ms is None or after[0] <= rec.crossing_ms):
            waits.append(after[0] - rec.stop_ms)
    return round(sum(waits) / len(waits) / 1000.0, 3) if waits else 0.0


def run(quick: bool = False) -> dict[str, Any]:
    """The ``throughput`` suite: per controller, lost time per vehicle and vehicles per hour."""
    from hw_sim.camera_model import CameraModelSpec

    minutes = 5.0 if quick else 60.0
    results = {name: measure(name, minutes=minutes) for name in CONTROLLERS}
    trace = timeline()
    return {
        "lost_time_per_vehicle_s": {
            name: r["lost_time_per_vehicle_s"] for name, r in results.items()
        },
        "throughput_vph": {name: r["throughput_vph"] for name, r in results.items()},
        "controllers": results,
        "auto_release_ms": AUTO_RELEASE_MS,
        "scenario": saturated_scenario().name,
        "seed": SEED,
        "standstill_to_raise_s": trace["standstill_to_raise_s"],
        "standstill_to_stopped_event_s": trace["standstill_to_stopped_event_s"],
        "standstill_ms": LaneConfig().standstill_ms,
        "warn_ms": LaneConfig().warn_ms,
        "camera_model": CameraModelSpec().as_dict(),
        "early_entry_lost_time_at_full_dwell_s": round(
            results["early_entry"]["lost_time_per_vehicle_s"]
            + (AUTO_RELEASE_MS + LaneConfig().warn_ms) / 1000.0
            - trace["standstill_to_raise_s"],
            3,
        ),
        "plot": {"timeline": trace},
    }
