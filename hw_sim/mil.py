"""Model in the loop: the lane core against the simulated lane, on a simulated clock.

Hardware-in-the-loop proves the wiring in real time; this proves the logic
over days of traffic in minutes. No Modbus and no threads: every scan reads
the I/O module's inputs, builds ``Inputs`` exactly as the runtime does
(``controller.iomap.inputs_from_bits``), runs the controller, writes the
coils and the heartbeat, and advances the plant by one scan. Bus faults of
the schedule become failed scans (the runtime's view of a dead bus), a slow
bus stretches the scan, a simulated operator opens the lane and resets
latched faults after a few minutes, and a crash of the controller is caught,
counted and followed by a restart from its persisted state, as on a lane.

What is judged comes from the plant's ground truth, never from the
controller: boom contacts and whether the presence sensors were healthy at
that moment, and every vehicle that crossed the barrier line matched against
the controller's crossing events (S11).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from controller.core.scan import Persisted, ScanState, initial_state, persisted, scan
from controller.core.types import (
    CameraHealth,
    CameraZones,
    Command,
    CommandKind,
    Event,
    Inputs,
    LaneConfig,
    Mode,
    Outputs,
)
from controller.iomap import DISCRETE_INPUTS, coils_from_outputs, inputs_from_bits
from hw_sim import fault_schedule
from hw_sim.camera_model import CameraModel, CameraModelSpec
from hw_sim.fault_schedule import RandomFaultSpec
from hw_sim.faults import FaultKind
from hw_sim.plant import Plant
from hw_sim.scenario import Scenario
from hw_sim.sightings import Sightings
from hw_sim.truth import GroundTruth

__all__ = [
    "CROSSING_EVENTS",
    "CoreController",
    "Incident",
    "IncidentKind",
    "LaneController",
    "MilReport",
    "OperatorPolicy",
    "Restartable",
    "run_mil",
]

CROSSING_EVENTS = frozenset({"vehicle_passed", "tailgate", "run_through"})
"""The controller's events that each record one vehicle across the barrier line (S11)."""

_MATCH_GRACE_MS = 5000
"""A crossing event may come this long after the vehicle's rear crossed the line."""
_MAX_INCIDENTS = 50
_NO_CAMERA = CameraZones()
_HR_HEARTBEAT = 0
_DI_PHOTOCELL = next(n for n, d in enumerate(DISCRETE_INPUTS) if d.name == "photocell")
_DI_LOOP_EXIT = next(n for n, d in enumerate(DISCRETE_INPUTS) if d.name == "loop_exit")


class LaneController(Protocol):
    """Anything that turns one scan's inputs into outputs and events (the core, or a test's)."""

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]: ...


@runtime_checkable
class Restartable(Protocol):
    """A controller that can be restarted after a crash, from what it had persisted."""

    def restart(self) -> None: ...


class CoreController:
    """``controller.core.scan`` as a ``LaneController``: the state lives here between scans.

    What the runtime would journal as its persisted state (latched faults, the
    vehicle count) is kept after every scan that emitted events; ``restart``
    starts over from it, as a restarted process would.
    """

    def __init__(self, config: LaneConfig, persisted: Persisted | None = None) -> None:
        self.config = config
        self.saved = persisted or Persisted()
        self.state: ScanState = initial_state(config, self.saved)
        self.restarts = 0

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        result = scan(self.state, inputs, now_ms)
        self.state = result.state
        if result.events:
            self.saved = persisted(result.state)
        return result.outputs, result.events

    def restart(self) -> None:
        self.state = initial_state(self.config, self.saved)
        self.restarts += 1


@dataclass(frozen=True, slots=True)
class OperatorPolicy:
    """The simulated operator at the HMI (console buttons come from the plant's own operator)."""

    reset_after_ms: int = 180_000
    """A latched fault is reset this long after it was first seen (the lane must go on)."""
    retry_ms: int = 5000
    """A refused or unanswered command is sent again after this."""
    open_lane: bool = True
    """Open the lane at start and again after every reset (``open_on_start``)."""

    def __post_init__(self) -> None:
        for name in ("reset_after_ms", "retry_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")


class _Operator:
    """Knows the lane only from its events, like an operator watching the HMI."""

    def __init__(self, policy: OperatorPolicy) -> None:
        self.policy = policy
        self.mode = Mode.CLOSED
        self.fault_since: int | None = None
        self.next_ms = 0
        self.resets_sent = 0

    def observe(self, events: Iterable[Event]) -> None:
        for e in events:
            kind = e.kind
            if kind == "mode_changed":
                self.mode = Mode[str(e.get("mode"))]
            elif kind == "fault_latched":
                if self.fault_since is None:
                    self.fault_since = e.at_ms
            elif kind == "fault_reset":
                self.fault_since = None
                self.next_ms = 0
            elif kind == "command_rejected" and e.get("command") == CommandKind.OPEN_LANE.value:
                reason = str(e.get("reason", ""))
                if reason.startswith("lane is ") and reason[8:] in Mode.__members__:
                    self.mode = Mode[reason[8:]]

    def restarted(self) -> None:
        """The controller restarted: its mode is not known until it says so."""
        self.mode = Mode.CLOSED
        self.next_ms = 0

    def commands(self, now_ms: int) -> tuple[Command, ...]:
        if now_ms < self.next_ms:
            return ()
        if self.fault_since is None and (self.mode is Mode.FAULT or self.mode is Mode.ESTOP):
            self.fault_since = now_ms
        if self.fault_since is not None:
            if now_ms - self.fault_since < self.policy.reset_after_ms:
                return ()
            self.next_ms = now_ms + self.policy.retry_ms
            self.resets_sent += 1
            return (Command(CommandKind.RESET_FAULT, "operator"),)
        if self.policy.open_lane and self.mode is Mode.CLOSED:
            self.next_ms = now_ms + self.policy.retry_ms
            return (Command(CommandKind.OPEN_LANE, "operator"),)
        return ()


class IncidentKind(enum.Enum):
    """What an incident of the report is about (its ``kind`` string)."""

    LOST = "lost"
    LOST_FAULTY_SENSORS = "lost_faulty_sensors"
    """Lost while a crossing sensor was faulty or unread; the detail says whether a working
    sensor saw the vehicle on its own (``seen alone by``) or none did (``seen by no
    working sensor``)."""
    DOUBLE_COUNT = "double_count"
    CONTACT_HEALTHY = "boom_contact_healthy_sensors"
    CRASH = "crash"
    SAFETY_OVERRIDE = "safety_override"


@dataclass(frozen=True, slots=True)
class Incident:
    """One thing that went wrong, with enough detail to replay it (seed, time, what)."""

    kind: str
    at_ms: int
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "at_ms": self.at_ms, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class MilReport:
    """Totals of one model-in-the-loop run; everything but ``wall_s`` is deterministic."""

    scenario: str
    seed: int
    sim_hours: float
    wall_s: float
    scan_ms: int
    camera: bool
    """Whether the run had a camera (see ``run_mil``)."""
    camera_model: dict[str, int] | None
    """The camera's lags and fault detection times, None without a camera."""
    scans: int
    arrived: int
    """Vehicles that arrived (ground truth), whether or not they reached the lane."""
    passed: int
    """Vehicles that crossed on their own release (ground truth)."""
    tailgates: int
    run_throughs: int
    sent_aside: int
    reversed: int
    crossed: int
    """Every vehicle across the barrier line (ground truth)."""
    counted: int
    """The controller's crossing events (vehicle_passed + tailgate + run_through)."""
    lost: int
    """Crossings not matched by exactly one crossing event, plus crossing events with no
    crossing (double counts)."""
    double_counted: int
    lost_healthy_sensors: int
    """Of ``lost``: crossings while photocell and exit loop were free of injected faults and
    the controller could read them (bus up, not restarting), plus double counts."""
    lost_unseen: int
    """Of the faulty-sensor losses: vehicles no working crossing sensor saw on their own
    (``hw_sim.sightings``): beyond what any logic could count."""
    boom_contacts: int
    """Every boom contact with a vehicle, including runners pushing into a boom not up."""
    boom_contacts_lowered: int
    """Contacts where the boom was being driven down onto the vehicle."""
    boom_contacts_healthy_sensors: int
    """Of those, contacts while every presence sensor was free of injected faults."""
    vehicle_pushed_boom: int
    faults: int
    """``fault_latched`` events."""
    fault_kinds: tuple[tuple[str, int], ...]
    resets: int
    """``fault_reset`` events (operator resets the lane accepted)."""
    safety_overrides: int
    crashes: int
    restarts: int
    watchdog_trips: int
    bus_failed_scans: int
    scheduled_faults: int
    """Scenario faults plus random ones."""
    random_faults: int
    throughput_vph: float
    """Crossings per simulated hour."""
    lost_time_s: float
    """Median over released vehicles: seconds from the RELEASE press to exit green with the
    boom up, minus the boom's raise time (the lane's own delay: warn light, scan, reaction)."""
    downtime_s: float
    """Simulated seconds the lane was not OPEN after it first opened."""
    events: tuple[tuple[str, int], ...]
    truth_digest: str
    incidents: tuple[Incident, ...]

    @property
    def lost_faulty_sensors(self) -> int:
        """Of ``lost``: crossings while the photocell or exit loop had an injected fault, or
        the controller could not read them; each is an incident that names the cause."""
        return self.lost - self.lost_healthy_sensors

    @property
    def ok(self) -> bool:
        """The soak's verdict: every crossing the sensors could see counted once, no boom
        lowered onto a vehicle the sensors could see, no unsafe proposal, no crash.

        A crossing while a crossing sensor was stuck or unread can be beyond any
        sensor (a tailgater merged with the released car behind a dead photocell, a
        car across during a bus drop): it is reported, named and counted in
        ``lost``, and judged by the reader, not by this verdict.
        """
        return (
            self.boom_contacts_healthy_sensors == 0
            and self.lost_healthy_sensors == 0
            and self.safety_overrides == 0
            and self.crashes == 0
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("fault_kinds", "events"):
                value = dict(value)
            elif f.name == "incidents":
                value = [i.as_dict() for i in value]
            out[f.name] = value
        out["lost_faulty_sensors"] = self.lost_faulty_sensors
        out["ok"] = self.ok
        return out


def _plant_step_ms(scan_ms: int) -> int:
    return math.gcd(scan_ms, 10)


def _blind(blind: list[list[int]], start: int, end: int) -> None:
    """Note that the controller could not read the lane over [start, end)."""
    if blind and blind[-1][1] >= start:
        blind[-1][1] = max(blind[-1][1], end)
    else:
        blind.append([start, end])


class _Excuses:
    """Why a crossing could not be seen: a crossing sensor stuck, or the controller blind."""

    _SENSORS = ("photocell", "loop_exit")

    def __init__(self, plant: Plant, blind: list[list[int]]) -> None:
        self.faults = [
            f
            for f in plant.faults.faults
            if f.kind in (FaultKind.STUCK_ON, FaultKind.STUCK_OFF) and f.input in self._SENSORS
        ]
        self.blind = blind
        self.step = plant.step_ms

    def __call__(self, start: int, end: int) -> str:
        reasons: list[str] = []
        for f in self.faults:
            if any(f.active(t) for t in range(start, end + 1, self.step)):
                reasons.append(f"{f.input} {f.kind.value}")
        if any(b0 < end and start < b1 for b0, b1 in self.blind):
            reasons.append("inputs not read (bus down or controller restarting)")
        return ", ".join(dict.fromkeys(reasons))


def _match_crossings(
    truth: GroundTruth,
    crossings: Sequence[Event],
    end_ms: int,
    excuses: Callable[[int, int], str] | None = None,
    seen_alone: Callable[[int], tuple[str, ...]] | None = None,
) -> tuple[list[Incident], list[Incident]]:
    """Pair truth crossings with crossing events in time order; return (lost, double counts)."""
    recs = sorted(
        (r for r in truth.vehicles.values() if r.crossing_ms is not None),
        key=lambda r: (r.crossing_ms or 0, r.id),
    )
    events = sorted(crossings, key=lambda e: e.at_ms)
    used = [False] * len(events)
    lost: list[Incident] = []
    j = 0
    for rec in recs:
        start = rec.crossing_ms or 0
        in_flight = rec.cleared_ms is None or rec.cleared_ms + _MATCH_GRACE_MS > end_ms
        limit = math.inf if rec.cleared_ms is None else rec.cleared_ms + _MATCH_GRACE_MS
        while j < len(events) and (used[j] or events[j].at_ms < start):
            j += 1
        if j < len(events) and events[j].at_ms <= limit:
            used[j] = True
            j += 1
        elif not in_flight:
            cleared = rec.cleared_ms or start
            why = excuses(start - 1000, cleared + _MATCH_GRACE_MS) if excuses else ""
            kind = IncidentKind.LOST_FAULTY_SENSORS if why else IncidentKind.LOST
            if why and seen_alone is not None:
                seen = seen_alone(rec.id)
                why += "; " + (
                    f"seen alone by {', '.join(seen)}" if seen else "seen by no working sensor"
                )
            lost.append(
                Incident(
                    kind.value,
                    start,
                    f"vehicle {rec.id} ({rec.kind}, {rec.behaviour}) crossed as {rec.crossing} "
                    f"at {start} ms, rear clear at {cleared} ms: no crossing event"
                    + (f" ({why})" if why else ""),
                )
            )
    doubles = [
        Incident(
            IncidentKind.DOUBLE_COUNT.value,
            e.at_ms,
            f"{e.kind} count={e.get('count')} with no vehicle crossing",
        )
        for e, u in zip(events, used, strict=True)
        if not u
    ]
    return lost, doubles


def run_mil(
    scenario: Scenario,
    *,
    hours: float,
    seed: int,
    controller: LaneController | None = None,
    config: LaneConfig | None = None,
    random_faults: bool = True,
    scan_ms: int = 10,
    progress: Callable[[float], None] | None = None,
    operator: OperatorPolicy | None = None,
    fault_spec: RandomFaultSpec | None = None,
    missed_scans: int = 1,
    restart_ms: int = 2000,
    camera: bool = False,
    camera_model: CameraModelSpec | None = None,
) -> MilReport:
    """Run ``controller`` (the core by default) against the plant for ``hours`` simulated.

    ``config`` is the core's configuration when ``controller`` is None; either
    way its ``fail_mode`` and ``watchdog_ms`` set up the plant's I/O module.

    ``missed_scans`` failed bus scans are bridged with the last inputs before
    the controller is told ``bus_ok=False`` (the runtime's default);
    ``restart_ms`` is how long a crashed controller is away before it restarts
    (no heartbeat meanwhile: the I/O side's watchdog applies the fail state);
    a controller that is not ``Restartable`` goes on as it is after that pause.
    ``progress`` is called with the finished fraction about every simulated minute.

    ``camera`` adds the presence camera as ``camera_model`` describes it (by
    default the real detector's measured lags and fault detection times;
    ``CameraModelSpec.ideal()`` for the plant's zone truth each frame): each
    frame shows the plant's geometric zone truth and how long the bodies in the
    bay zone have not moved (the core's standstill, ``bay_still_ms``), and the
    schedule's camera faults (freeze, blackout) become a camera fault once detected. Without it
    the lane runs on loops and photocell alone and camera faults have no effect.
    """
    if not (isinstance(hours, int | float) and math.isfinite(hours) and hours > 0):
        raise ValueError(f"hours: must be a positive number, got {hours!r}")
    if isinstance(scan_ms, bool) or not isinstance(scan_ms, int) or not 1 <= scan_ms <= 1000:
        raise ValueError(f"scan_ms: must be an integer in 1..1000, got {scan_ms!r}")
    if not 0 <= missed_scans <= 10:
        raise ValueError(f"missed_scans: must be in 0..10, got {missed_scans}")
    if restart_ms < 0:
        raise ValueError(f"restart_ms: must not be negative, got {restart_ms}")
    model_spec = (camera_model or CameraModelSpec()) if camera else None
    cam = CameraModel(model_spec) if model_spec is not None else None
    config = config or LaneConfig()
    ctl: LaneController = controller if controller is not None else CoreController(config)
    duration_ms = round(hours * 3_600_000)
    extra = fault_schedule.random_faults(seed, duration_ms, fault_spec) if random_faults else ()
    plant = Plant(
        dataclasses.replace(scenario, faults=(*scenario.faults, *extra)),
        seed,
        step_ms=_plant_step_ms(scan_ms),
        fail_mode=config.fail_mode,
        watchdog_ms=config.watchdog_ms,
        probe=False,
    )
    io = plant.io
    op = _Operator(operator or OperatorPolicy())
    sightings = Sightings(plant.geometry)
    unread = (None, None, None, None)

    wall0 = time.perf_counter()
    t = 0
    scans = 0
    missed = 0
    heartbeat = 0
    bus_failed = 0
    crashes = 0
    restarts = 0
    down_until: int | None = None
    opened = False
    downtime_ms = 0
    bits = io.read_discrete_inputs()
    io_status = io.read_input_registers()[0]
    zones = _NO_CAMERA
    blind: list[list[int]] = []
    last_key: tuple[list[bool], int, bool, CameraZones] | None = None
    last_inputs: Inputs | None = None
    written: Outputs | None = None
    counts: dict[str, int] = {}
    fault_kinds: dict[str, int] = {}
    crossings: list[Event] = []
    incidents: list[Incident] = []
    next_progress = 0
    delay_kind = FaultKind.BUS_DELAY

    while t < duration_ms:
        if progress is not None and t >= next_progress:
            progress(t / duration_ms)
            next_progress = t + 60_000
        if down_until is not None:
            # The controller is restarting: no reads, no writes, no heartbeat.
            if t >= down_until:
                down_until = None
                restarts += 1
                if isinstance(ctl, Restartable):
                    ctl.restart()
                op.restarted()
                missed = 0
                last_key = None
            else:
                sightings.scan(unread, plant.vehicles)
                plant.advance(scan_ms)
                t += scan_ms
                if opened:
                    downtime_ms += scan_ms
                continue
        bus = plant.active_faults.bus
        delay_ms = 0
        if bus is None or bus.kind is delay_kind:
            bits = io.read_discrete_inputs()
            io_status = io.read_input_registers()[0]
            missed = 0
            if bus is not None:
                delay_ms = bus.delay_ms
        else:
            missed += 1
            bus_failed += 1
            _blind(blind, t, t + scan_ms)
        bus_ok = missed <= missed_scans
        if cam is not None:
            zones = cam.scan(t, plant.vehicles, plant.geometry, plant.active_faults.camera)
        commands = op.commands(t)
        if commands or last_key is None or last_inputs is None:
            inputs = inputs_from_bits(
                bits, io_status=io_status, bus_ok=bus_ok, camera=zones, commands=commands
            )
            last_key = None if commands else (bits, io_status, bus_ok, zones)
            last_inputs = None if commands else inputs
        elif (
            last_key[0] == bits
            and last_key[1] == io_status
            and last_key[2] is bus_ok
            and last_key[3] is zones
        ):
            inputs = last_inputs
        else:
            inputs = inputs_from_bits(bits, io_status=io_status, bus_ok=bus_ok, camera=zones)
            last_key = (bits, io_status, bus_ok, zones)
            last_inputs = inputs
        scans += 1
        cam_ok = zones.health is CameraHealth.OK
        sightings.scan(
            (
                None if missed else bits[_DI_PHOTOCELL],
                None if missed else bits[_DI_LOOP_EXIT],
                zones.barrier if cam_ok else None,
                zones.exit if cam_ok else None,
            ),
            plant.vehicles,
        )
        try:
            outputs, events = ctl.step(inputs, t)
        except Exception as exc:  # a crash of the controller under test is a result
            crashes += 1
            if len(incidents) < _MAX_INCIDENTS:
                incidents.append(Incident(IncidentKind.CRASH.value, t, repr(exc)))
            down_until = t + restart_ms
            _blind(blind, t, down_until + scan_ms)
            written = None
            plant.advance(scan_ms)
            t += scan_ms
            continue
        if events:
            op.observe(events)
            for e in events:
                kind = e.kind
                counts[kind] = counts.get(kind, 0) + 1
                if kind in CROSSING_EVENTS:
                    crossings.append(e)
                elif kind == "fault_latched":
                    name = str(e.get("fault"))
                    fault_kinds[name] = fault_kinds.get(name, 0) + 1
                elif kind == "safety_override" and len(incidents) < _MAX_INCIDENTS:
                    incidents.append(
                        Incident(
                            IncidentKind.SAFETY_OVERRIDE.value,
                            e.at_ms,
                            f"rule {e.get('rule')}: {e.get('reason')} "
                            f"(mode {e.get('mode')}, phase {e.get('phase')})",
                        )
                    )
        if op.mode is Mode.OPEN:
            opened = True
        period = scan_ms
        elapsed = 0
        if missed == 0:
            if delay_ms:
                # Two reads and the coil write each wait for their reply; the heartbeat one more.
                elapsed = 3 * delay_ms
                plant.advance(elapsed)
                period = max(scan_ms, 4 * delay_ms)
            if outputs is not written:
                io.write_coils(coils_from_outputs(outputs))
                written = outputs
            heartbeat = (heartbeat + 1) & 0xFFFF
            io.write_holding(_HR_HEARTBEAT, (heartbeat,))
        plant.advance(period - elapsed)
        t += period
        if opened and op.mode is not Mode.OPEN:
            downtime_ms += period
    if progress is not None:
        progress(1.0)
    wall_s = time.perf_counter() - wall0
    return _report(
        scenario=scenario,
        seed=seed,
        plant=plant,
        t=t,
        wall_s=wall_s,
        scan_ms=scan_ms,
        camera_model=model_spec,
        scans=scans,
        counts=counts,
        fault_kinds=fault_kinds,
        crossings=crossings,
        blind=blind,
        incidents=incidents,
        sightings=sightings,
        crashes=crashes,
        restarts=restarts,
        bus_failed=bus_failed,
        scheduled=len(scenario.faults) + len(extra),
        random_count=len(extra),
        downtime_ms=downtime_ms,
    )


def _report(
    *,
    scenario: Scenario,
    seed: int,
    plant: Plant,
    t: int,
    wall_s: float,
    scan_ms: int,
    camera_model: CameraModelSpec | None,
    scans: int,
    counts: dict[str, int],
    fault_kinds: dict[str, int],
    crossings: list[Event],
    blind: list[list[int]],
    incidents: list[Incident],
    sightings: Sightings,
    crashes: int,
    restarts: int,
    bus_failed: int,
    scheduled: int,
    random_count: int,
    downtime_ms: int,
) -> MilReport:
    truth = plant.truth
    summary = truth.summary()
    lost, doubles = _match_crossings(
        truth, crossings, t, _Excuses(plant, blind), seen_alone=sightings.saw
    )
    lost_healthy = sum(1 for i in lost if i.kind == IncidentKind.LOST.value)
    lost_unseen = sum(1 for i in lost if i.detail.endswith("seen by no working sensor)"))
    healthy: list[Incident] = []
    for c in truth.contacts:
        if c.cause == "boom_lowered" and c.sensors_healthy:
            healthy.append(
                Incident(
                    IncidentKind.CONTACT_HEALTHY.value,
                    c.at_ms,
                    f"boom lowered onto vehicle {c.vehicle_id} ({c.behaviour}) at position "
                    f"{c.boom_position}, lower commanded: {c.lower_commanded}",
                )
            )
    all_incidents = sorted([*incidents, *lost, *doubles, *healthy], key=lambda i: i.at_ms)
    raise_ms = scenario.boom.raise_ms
    waits = [
        (r.release_seen_ms - r.release_pressed_ms - raise_ms) / 1000.0
        for r in truth.vehicles.values()
        if r.crossing == "passed"
        and r.release_pressed_ms is not None
        and r.release_seen_ms is not None
        and r.release_seen_ms >= r.release_pressed_ms
    ]
    hours = t / 3_600_000
    return MilReport(
        scenario=scenario.name,
        seed=seed,
        sim_hours=round(hours, 6),
        wall_s=round(wall_s, 3),
        scan_ms=scan_ms,
        camera=camera_model is not None,
        camera_model=camera_model.as_dict() if camera_model is not None else None,
        scans=scans,
        arrived=summary["vehicles"],
        passed=summary["passed"],
        tailgates=summary["tailgate"],
        run_throughs=summary["run_through"],
        sent_aside=summary["aside"],
        reversed=summary["reversed"],
        crossed=summary["crossed"],
        counted=len(crossings),
        lost=len(lost) + len(doubles),
        double_counted=len(doubles),
        lost_healthy_sensors=lost_healthy + len(doubles),
        lost_unseen=lost_unseen,
        boom_contacts=summary["boom_contacts"],
        boom_contacts_lowered=summary["boom_lowered_onto_vehicle"],
        boom_contacts_healthy_sensors=len(healthy),
        vehicle_pushed_boom=summary["vehicle_pushed_boom"],
        faults=counts.get("fault_latched", 0),
        fault_kinds=tuple(sorted(fault_kinds.items())),
        resets=counts.get("fault_reset", 0),
        safety_overrides=counts.get("safety_override", 0),
        crashes=crashes,
        restarts=restarts,
        watchdog_trips=plant.io.trips,
        bus_failed_scans=bus_failed,
        scheduled_faults=scheduled,
        random_faults=random_count,
        throughput_vph=round(summary["crossed"] / hours, 2) if hours else 0.0,
        lost_time_s=round(statistics.median(waits), 3) if waits else 0.0,
        downtime_s=round(downtime_ms / 1000.0, 3),
        events=tuple(sorted(counts.items())),
        truth_digest=truth.digest(),
        incidents=tuple(all_incidents[:_MAX_INCIDENTS]),
    )
