"""The physical lane: vehicles, drivers, the boom and the sensors, on a fixed time step.

Deterministic by construction: integer simulated milliseconds, one seeded
traffic stream, vehicles updated in a fixed order, no wall clock. The plant
drives its I/O module (hw_sim.io_module) as the field would: it takes the
outputs the module drives (the coil image, or the module's own fail state),
moves the boom and the vehicles, and sets the inputs the controller will read.
What really happened goes to the ground truth (hw_sim.truth).

Drivers see only what a driver sees: the entry signal, the exit light, the
boom, the vehicle ahead, and the officer's gesture when sent aside.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from controller.core.types import FailMode, Outputs
from hw_sim.faults import ActiveFaults, FaultSchedule
from hw_sim.geometry import LaneGeometry
from hw_sim.io_module import DEFAULT_WATCHDOG_MS, IoModule
from hw_sim.scenario import Behaviour, Scenario, VehicleKind
from hw_sim.traffic import Arrivals, Operator, VehicleSpec
from hw_sim.truth import BoomContact, GroundTruth, VehicleRecord

__all__ = ["DriverState", "Plant", "Vehicle"]

_GAP_M = 2.0
"""Standstill gap a driver keeps to the vehicle ahead."""
_TAILGATE_GAP_M = 0.8
_REVERSE_MPS = 1.5
_LATERAL_MPS = 1.0
_BOOM_CLEAR_M = 0.4
"""A driver stopping for the boom keeps its front this far before the boom's span."""
_STOPPED_MPS = 1e-3
_HEALTH_INPUTS = (1, 2, 3, 6)
"""Inputs whose health a boom contact records: loop_bay, photocell, loop_exit, safety_edge."""
_INPUT_NAMES = (
    "loop_approach",
    "loop_bay",
    "photocell",
    "loop_exit",
    "barrier_up",
    "barrier_down",
    "safety_edge",
    "estop",
    "motor_fault",
    "release_button",
    "send_aside_button",
)


class DriverState(enum.Enum):
    APPROACH = "approach"
    """Before the entry signal; enters when allowed."""
    ENTERING = "entering"
    """Committed into the bay, heading for the stop line (or the vehicle ahead)."""
    WAITING = "waiting"
    """Stopped at the stop line, waiting for exit green and the boom up."""
    LEAVING = "leaving"
    """Released: driving off through the barrier."""
    FOLLOWING = "following"
    """A tailgater following a released vehicle through."""
    RUNNING = "running"
    """A runner going through whatever the signals and the boom say."""
    ASIDE = "aside"
    """Pulling out of the lane sideways (sent aside, or turning away after backing out)."""
    REVERSING = "reversing"
    GONE = "gone"


@dataclass(slots=True)
class Vehicle:
    """A vehicle in the lane. x is its front bumper along the lane; y its lateral offset."""

    id: int
    kind: VehicleKind
    behaviour: Behaviour
    length_m: float
    width_m: float
    front_x_m: float
    lateral_y_m: float = 0.0
    speed_mps: float = 0.0
    state: DriverState = DriverState.APPROACH
    spec: VehicleSpec | None = None
    go_at_ms: int | None = None
    """A standing driver who has decided to move sets off at this time (reaction)."""
    reverse_at_ms: int | None = None
    aside_at_ms: int | None = None
    released: bool = False
    """Moved off on its own release (exit green, boom up)."""
    in_contact: bool = False
    pushed_boom: bool = False
    leader_id: int | None = None
    """A tailgater: the vehicle it is following in."""
    aside_sign: float = 1.0

    @property
    def rear_x_m(self) -> float:
        return self.front_x_m - self.length_m

    @property
    def accel(self) -> float:
        return self.spec.accel_mps2 if self.spec else 2.0

    @property
    def decel(self) -> float:
        return self.spec.decel_mps2 if self.spec else 3.0

    @property
    def bay_mps(self) -> float:
        return self.spec.bay_mps if self.spec else 4.0

    @property
    def approach_mps(self) -> float:
        return self.spec.approach_mps if self.spec else 8.0


@dataclass(slots=True)
class _Signals:
    entry_green: bool
    entry_amber: bool
    exit_green: bool
    boom_up: bool
    boom_low: bool
    """The boom is low enough to hit a vehicle (a tailgater will not try)."""


@dataclass(slots=True)
class _Pending:
    specs: list[VehicleSpec] = field(default_factory=list)


class Plant:
    """The simulated lane. ``advance`` runs whole fixed steps of ``step_ms``."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        geometry: LaneGeometry = LaneGeometry(),  # noqa: B008 - frozen value
        step_ms: int = 10,
        fail_mode: FailMode = FailMode.SECURE,
        watchdog_ms: int = DEFAULT_WATCHDOG_MS,
        probe: bool = True,
    ) -> None:
        if step_ms < 1:
            raise ValueError(f"step_ms: must be at least 1, got {step_ms}")
        self.scenario = scenario
        self.seed = seed
        self.geometry = geometry
        self.step_ms = step_ms
        self.now_ms = 0
        self.vehicles: list[Vehicle] = []
        self.boom_position = 0
        self._boom = 0.0
        self.io = IoModule(fail_mode=fail_mode, watchdog_ms=watchdog_ms, probe=probe)
        self.faults = FaultSchedule(scenario.faults)
        self.active_faults = ActiveFaults()
        self.truth = GroundTruth(seed=seed, scenario=scenario.name)
        self.arrivals = Arrivals(scenario.traffic, scenario.operator, seed)
        self.operator = Operator(scenario.operator)
        self.outputs = Outputs()
        self.physical_inputs: list[bool] = [False] * len(_INPUT_NAMES)
        self._pending: list[VehicleSpec] = []
        self._remainder_ms = 0
        self._moving_down = False
        self._sense()
        self.io.tick(0, 0)

    # -- public --------------------------------------------------------------------

    def advance(self, dt_ms: int) -> None:
        """Run as many whole steps as fit in ``dt_ms`` plus what was left over last time."""
        if dt_ms < 0:
            raise ValueError(f"dt_ms: must not be negative, got {dt_ms}")
        self._remainder_ms += dt_ms
        while self._remainder_ms >= self.step_ms:
            self._remainder_ms -= self.step_ms
            self.step()

    def run_until(self, t_ms: int) -> None:
        """Step until simulated time reaches ``t_ms``."""
        while self.now_ms + self.step_ms <= t_ms:
            self.step()

    def add_vehicle(self, vehicle: Vehicle) -> Vehicle:
        """Put a vehicle in the lane by hand (tests); it gets a truth record."""
        self.vehicles.append(vehicle)
        self.truth.vehicles[vehicle.id] = VehicleRecord(
            id=vehicle.id,
            kind=vehicle.kind.value,
            behaviour=vehicle.behaviour.value,
            length_m=vehicle.length_m,
            arrival_ms=self.now_ms,
            planned_dwell_ms=vehicle.spec.dwell_ms if vehicle.spec else 0,
            planned_aside=vehicle.spec.aside if vehicle.spec else False,
            spawn_ms=self.now_ms,
        )
        return vehicle

    @property
    def boom_position_exact(self) -> float:
        return self._boom

    def step(self) -> None:
        """One fixed step of the whole lane."""
        dt_ms = self.step_ms
        self.now_ms += dt_ms
        now = self.now_ms
        dt = dt_ms / 1000.0
        self.active_faults = self.faults.at(now)
        self.outputs = self.io.effective_outputs()
        self._move_boom(dt)
        self._spawn(now)
        signals = self._signals()
        self._operate(now, signals)
        g = self.geometry
        leader: Vehicle | None = None
        for v in sorted(self.vehicles, key=lambda v: -v.front_x_m):
            # Front to back: each driver sees the vehicle ahead where it has just moved to.
            self._drive(v, now, dt, signals, leader)
            if v.state is not DriverState.GONE and g.in_lane(v.lateral_y_m, v.width_m):
                leader = v
        self._contacts(now)
        self.vehicles = [v for v in self.vehicles if v.state is not DriverState.GONE]
        self._sense()
        self.io.tick(now, self.boom_position)
        self.truth.now_ms = now

    # -- boom ------------------------------------------------------------------------

    def _move_boom(self, dt: float) -> None:
        f = self.active_faults
        out = self.outputs
        boom = self.scenario.boom
        old = self._boom
        self._moving_down = False
        if f.motor_fault or f.barrier_jam or out.barrier_raise == out.barrier_lower:
            return
        if out.barrier_raise:
            self._boom = min(1000.0, old + 1000.0 * dt * 1000.0 / (boom.raise_ms * f.slow_factor))
        else:
            new = max(0.0, old - 1000.0 * dt * 1000.0 / (boom.lower_ms * f.slow_factor))
            contact = float(self.geometry.boom_contact_permille)
            if new < contact <= old and any(self._under_boom(v) for v in self.vehicles):
                new = contact
            self._moving_down = new < old
            self._boom = new
        self.boom_position = round(self._boom)

    def _under_boom(self, v: Vehicle) -> bool:
        g = self.geometry
        return g.in_lane(v.lateral_y_m, v.width_m) and g.boom_span.overlaps(v.rear_x_m, v.front_x_m)

    # -- traffic -----------------------------------------------------------------------

    def _spawn(self, now: int) -> None:
        for spec in self.arrivals.due(now):
            self._pending.append(spec)
            self.truth.vehicles[spec.id] = VehicleRecord(
                id=spec.id,
                kind=spec.kind.value,
                behaviour=spec.behaviour.value,
                length_m=spec.length_m,
                arrival_ms=spec.arrival_ms,
                planned_dwell_ms=spec.dwell_ms,
                planned_aside=spec.aside,
            )
        if not self._pending:
            return
        g = self.geometry
        last_rear = min(
            (v.rear_x_m for v in self.vehicles if g.in_lane(v.lateral_y_m, v.width_m)),
            default=math.inf,
        )
        room = last_rear - _GAP_M - g.spawn_x_m
        if room < 0:
            return
        spec = self._pending.pop(0)
        speed = min(spec.approach_mps, math.sqrt(2 * spec.decel_mps2 * room))
        self.vehicles.append(
            Vehicle(
                id=spec.id,
                kind=spec.kind,
                behaviour=spec.behaviour,
                length_m=spec.length_m,
                width_m=spec.width_m,
                front_x_m=g.spawn_x_m,
                speed_mps=speed,
                spec=spec,
            )
        )
        self.truth.vehicles[spec.id].spawn_ms = now

    def _signals(self) -> _Signals:
        out = self.outputs
        return _Signals(
            entry_green=out.entry_green and not out.entry_red,
            entry_amber=out.entry_amber,
            exit_green=out.exit_green,
            # The up limit switch's threshold: a boom the controller stopped at its up
            # limit (999.5..1000 after a partial travel) is up for the drivers too.
            boom_up=self._boom >= 999.5,
            boom_low=self._boom < self.geometry.boom_contact_permille + 150,
        )

    def _waiting(self) -> Vehicle | None:
        waiting = [v for v in self.vehicles if v.state is DriverState.WAITING]
        return max(waiting, key=lambda v: v.front_x_m) if waiting else None

    def _operate(self, now: int, signals: _Signals) -> None:
        v = self._waiting()
        rec = self.truth.vehicles.get(v.id) if v else None
        press = self.operator.step(
            now,
            v.id if v else None,
            rec.stop_ms or now if rec else now,
            v.spec.dwell_ms if v and v.spec else 0,
            bool(v and v.spec and v.spec.aside),
            answered=signals.exit_green or bool(v and v.go_at_ms is not None),
        )
        if press is None or v is None or rec is None:
            return
        if press.aside:
            rec.aside_pressed_ms = rec.aside_pressed_ms or now
            v.aside_at_ms = now + round(self.scenario.operator.aside_delay_s * 1000)
        elif rec.release_pressed_ms is None:
            rec.release_pressed_ms = now

    # -- drivers -------------------------------------------------------------------------

    def _follower(self, v: Vehicle) -> Vehicle | None:
        g = self.geometry
        best: Vehicle | None = None
        for o in self.vehicles:
            if o is v or not g.in_lane(o.lateral_y_m, o.width_m) or o.front_x_m >= v.front_x_m:
                continue
            if best is None or o.front_x_m > best.front_x_m:
                best = o
        return best

    def _in_bay(self, v: Vehicle) -> bool:
        g = self.geometry
        return v.front_x_m > g.bay_entry_x_m and v.front_x_m <= g.boom_x_m

    def _drive(self, v: Vehicle, now: int, dt: float, s: _Signals, leader: Vehicle | None) -> None:
        g = self.geometry
        rec = self.truth.vehicles[v.id]
        follow_x = leader.rear_x_m - _GAP_M if leader else None
        behaviour = v.behaviour
        state = v.state

        if state is DriverState.APPROACH:
            if behaviour is Behaviour.RUNNER:
                v.state = DriverState.RUNNING
            elif (
                behaviour is Behaviour.TAILGATER
                and leader is not None
                and self._in_bay(leader)
                and leader.state in (DriverState.ENTERING, DriverState.WAITING)
            ):
                v.state = DriverState.ENTERING
                v.leader_id = leader.id
            elif self._may_enter(v, leader, s):
                v.state = DriverState.ENTERING
            state = v.state

        if state is DriverState.APPROACH:
            stop = g.bay_entry_x_m - 0.5
            self._move(v, dt, v.approach_mps, _min(stop, follow_x))
        elif state is DriverState.ENTERING:
            gap_x = follow_x
            if v.leader_id is not None and leader is not None:
                gap_x = leader.rear_x_m - _TAILGATE_GAP_M
                if leader.id == v.leader_id and leader.state in (
                    DriverState.LEAVING,
                    DriverState.FOLLOWING,
                ):
                    v.state = DriverState.FOLLOWING
            if v.state is DriverState.ENTERING:
                self._move(v, dt, v.bay_mps, _min(g.stop_line_x_m, gap_x))
                at_line = v.front_x_m >= g.stop_line_x_m - 0.05
                if v.speed_mps <= _STOPPED_MPS and at_line:
                    v.state = DriverState.WAITING
                    v.leader_id = None
                    if rec.stop_ms is None:
                        rec.stop_ms = now
                    if behaviour is Behaviour.REVERSER and v.spec is not None:
                        v.reverse_at_ms = now + v.spec.reverse_after_ms
            else:
                self._follow_through(v, dt, leader, s)
        elif state is DriverState.WAITING:
            self._wait(v, now, rec, s)
            if v.state is DriverState.LEAVING:
                self._leave(v, dt, follow_x, s)
        elif state is DriverState.LEAVING:
            self._leave(v, dt, follow_x, s)
        elif state is DriverState.FOLLOWING:
            self._follow_through(v, dt, leader, s)
        elif state is DriverState.RUNNING:
            self._move(
                v, dt, v.bay_mps if v.front_x_m > g.bay_entry_x_m else v.approach_mps, follow_x
            )
        elif state is DriverState.REVERSING:
            self._reverse(v, dt)
        elif state is DriverState.ASIDE:
            v.speed_mps = 0.0
            v.lateral_y_m += v.aside_sign * _LATERAL_MPS * dt
            if abs(v.lateral_y_m) >= g.aside_y_m:
                v.state = DriverState.GONE
                if v.aside_sign > 0:
                    rec.aside_ms = now
                else:
                    rec.reversed_ms = now

        self._record_progress(v, rec, now)

    def _may_enter(self, v: Vehicle, leader: Vehicle | None, s: _Signals) -> bool:
        """A driver enters on green when the bay ahead is free; on amber only if it cannot stop."""
        g = self.geometry
        if (
            leader is not None
            and leader.front_x_m <= g.boom_x_m
            and leader.state is not DriverState.ASIDE
        ):
            return False
        if s.entry_green:
            return True
        if s.entry_amber:
            distance = g.bay_entry_x_m - 0.5 - v.front_x_m
            return v.speed_mps**2 / (2 * v.decel) > distance > -1.0
        return False

    def _wait(self, v: Vehicle, now: int, rec: VehicleRecord, s: _Signals) -> None:
        if v.aside_at_ms is not None and now >= v.aside_at_ms:
            v.state = DriverState.ASIDE
            v.aside_sign = 1.0
            return
        if v.reverse_at_ms is not None and now >= v.reverse_at_ms and v.go_at_ms is None:
            v.state = DriverState.REVERSING
            return
        open_now = s.exit_green and s.boom_up
        if open_now and v.go_at_ms is None and v.aside_at_ms is None:
            if rec.release_seen_ms is None:
                rec.release_seen_ms = now
            delay = v.spec.reaction_ms if v.spec else 500
            if v.behaviour is Behaviour.HESITANT and v.spec is not None:
                delay += v.spec.hesitation_ms
            v.go_at_ms = now + delay
        if v.go_at_ms is not None and now >= v.go_at_ms:
            if open_now:
                v.state = DriverState.LEAVING
                v.released = True
            else:
                v.go_at_ms = None

    def _leave(self, v: Vehicle, dt: float, follow_x: float | None, s: _Signals) -> None:
        g = self.geometry
        stop_x: float | None = None
        if not s.boom_up and v.front_x_m < g.boom_span.start:
            candidate = g.boom_span.start - _BOOM_CLEAR_M
            braking = v.speed_mps**2 / (2 * v.decel)
            if candidate - v.front_x_m >= braking or candidate >= v.front_x_m:
                stop_x = max(candidate, v.front_x_m)
        self._move(v, dt, v.bay_mps, _min(stop_x, follow_x))
        if stop_x is not None and v.speed_mps <= _STOPPED_MPS and v.front_x_m < g.boom_x_m:
            v.state = DriverState.WAITING
            v.go_at_ms = None

    def _follow_through(self, v: Vehicle, dt: float, leader: Vehicle | None, s: _Signals) -> None:
        """A tailgater keeps close behind; it gives up before a boom that is already low."""
        g = self.geometry
        gap_x = leader.rear_x_m - _TAILGATE_GAP_M if leader else None
        stop_x: float | None = None
        if s.boom_low and v.front_x_m < g.boom_span.start:
            stop_x = max(v.front_x_m, min(g.stop_line_x_m, g.boom_span.start - _BOOM_CLEAR_M))
        self._move(v, dt, max(v.bay_mps, leader.speed_mps if leader else 0.0), _min(stop_x, gap_x))
        if stop_x is not None and v.speed_mps <= _STOPPED_MPS:
            v.state = DriverState.WAITING
            v.leader_id = None
            rec = self.truth.vehicles[v.id]
            if rec.stop_ms is None:
                rec.stop_ms = self.now_ms

    def _reverse(self, v: Vehicle, dt: float) -> None:
        g = self.geometry
        follower = self._follower(v)
        limit = follower.front_x_m + _GAP_M / 2 + v.length_m if follower else -math.inf
        target_front = g.bay_loop.start - 2.0
        stop = max(limit, target_front)
        v.speed_mps = max(-_REVERSE_MPS, v.speed_mps - v.accel * dt)
        v.front_x_m = max(stop, v.front_x_m + v.speed_mps * dt)
        if v.front_x_m <= stop:
            v.speed_mps = 0.0
            v.state = DriverState.ASIDE
            v.aside_sign = -1.0

    def _move(self, v: Vehicle, dt: float, target_mps: float, stop_x: float | None) -> None:
        """Speed toward ``target_mps`` within accel/brake limits, never past ``stop_x``."""
        vmax = target_mps
        if stop_x is not None:
            d = stop_x - v.front_x_m
            vmax = 0.0 if d <= 0 else min(vmax, math.sqrt(2 * v.decel * d))
        if v.speed_mps < vmax:
            v.speed_mps = min(vmax, v.speed_mps + v.accel * dt)
        else:
            v.speed_mps = max(vmax, v.speed_mps - 3 * v.decel * dt)
        new_front = v.front_x_m + v.speed_mps * dt
        if stop_x is not None and new_front >= stop_x:
            new_front = max(v.front_x_m, stop_x)
            v.speed_mps = 0.0
        v.front_x_m = new_front

    def _record_progress(self, v: Vehicle, rec: VehicleRecord, now: int) -> None:
        g = self.geometry
        if rec.bay_entry_ms is None and v.front_x_m > g.bay_entry_x_m:
            rec.bay_entry_ms = now
        if rec.crossing_ms is None and v.front_x_m >= g.boom_x_m:
            rec.crossing_ms = now
            if v.pushed_boom:
                rec.crossing = "run_through"
            elif v.released:
                rec.crossing = "passed"
            else:
                rec.crossing = "tailgate"
        if rec.cleared_ms is None and v.rear_x_m >= g.boom_x_m:
            rec.cleared_ms = now
        if v.rear_x_m > g.despawn_x_m:
            v.state = DriverState.GONE
            rec.exit_ms = now

    # -- contacts and sensors ---------------------------------------------------------------

    def _contacts(self, now: int) -> None:
        contact_level = self.geometry.boom_contact_permille
        boom_low = self._boom <= contact_level
        for v in self.vehicles:
            touching = boom_low and self._under_boom(v)
            if touching and not v.in_contact:
                cause = "boom_lowered" if self._moving_down else "vehicle_pushed"
                if cause == "vehicle_pushed" and v.front_x_m < self.geometry.boom_x_m:
                    v.pushed_boom = True
                stuck = dict(self.active_faults.stuck)
                health = tuple((_INPUT_NAMES[i], i not in stuck) for i in _HEALTH_INPUTS)
                self.truth.contacts.append(
                    BoomContact(
                        at_ms=now,
                        vehicle_id=v.id,
                        behaviour=v.behaviour.value,
                        cause=cause,
                        boom_position=round(self._boom),
                        sensor_health=health,
                        lower_commanded=self.outputs.barrier_lower,
                    )
                )
            v.in_contact = touching

    def _sense(self) -> None:
        g = self.geometry
        approach = bay = photocell = exit_ = edge = False
        for v in self.vehicles:
            if not g.in_lane(v.lateral_y_m, v.width_m):
                continue
            rear, front = v.rear_x_m, v.front_x_m
            approach = approach or g.approach_loop.overlaps(rear, front)
            bay = bay or g.bay_loop.overlaps(rear, front)
            photocell = photocell or g.photocell.overlaps(rear, front)
            exit_ = exit_ or g.exit_loop.overlaps(rear, front)
            edge = edge or v.in_contact
        f = self.active_faults
        bits = [
            approach,
            bay,
            photocell,
            exit_,
            self._boom >= 999.5,
            self._boom <= 0.5,
            edge,
            f.estop,
            f.motor_fault,
            self.operator.release,
            self.operator.send_aside,
        ]
        self.physical_inputs = list(bits)
        for index, value in f.stuck:
            bits[index] = value
        self.io.set_inputs(bits)


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
