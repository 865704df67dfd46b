"""The site sim's lanes: one plant per lane, fed with the drivers the site sends it.

Each lane is a whole ``hw_sim.plant.Plant`` (physics, drivers, the console
operator, the I/O module with its watchdog) that gets no traffic of its own:
the site sim draws one arrival stream for the site and hands each driver to
the lane it joins. Vehicles and drivers are drawn from one seeded generator in
arrival order, so the vehicle a driver brings does not depend on the lane it
picks or on the policy. ``controller.site.sim`` drives these through its
``LanePlant`` interface; ``lanectl site sim`` imports this module lazily.

A driver who has not yet reached the approach loop (still out of sight behind the
spawn point, or driving up short of the loop) may leave the lane for another
(``withdraw`` here, ``join`` there, the site sim decides when): the vehicle is taken out
of this plant as if it had pulled out of the line and reappears at the back of the
other lane's line, the same vehicle and driver. A driver on the loop or in the bay is
committed and never moves.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque

from hw_sim.plant import DriverState, Plant, Vehicle
from hw_sim.scenario import OperatorSpec, Scenario, TrafficSpec, load_scenario
from hw_sim.traffic import Arrivals, VehicleSpec

__all__ = ["SiteLanes", "SitePlant"]

_HR_HEARTBEAT = 0


class _Drawer(Arrivals):
    """The scenario's vehicle and driver mix, drawn one vehicle at a time for given times."""

    def __init__(self, traffic: TrafficSpec, operator: OperatorSpec, seed: int) -> None:
        super().__init__(_no_traffic(traffic), operator, seed)
        self.traffic = traffic

        self.moving: dict[int, VehicleSpec] = {}
        """Drivers between two lanes: withdrawn from one, not yet joined to another."""

    def draw(self, arrival_ms: int) -> VehicleSpec:
        return self._draw_vehicle(arrival_ms)


class _Routed(Arrivals):
    """A lane's arrivals: exactly the drivers the site sent it, when it sent them."""

    def __init__(self, traffic: TrafficSpec, operator: OperatorSpec, seed: int) -> None:
        super().__init__(traffic, operator, seed)
        self.sent: deque[VehicleSpec] = deque()

    def due(self, now_ms: int) -> list[VehicleSpec]:
        out: list[VehicleSpec] = []
        while self.sent and self.sent[0].arrival_ms <= now_ms:
            out.append(self.sent.popleft())
        return out

    def send(self, spec: VehicleSpec) -> None:
        """Due at ``spec.arrival_ms``, in order of due time (a switching driver may be due
        after a driver who arrived later)."""
        if not self.sent or self.sent[-1].arrival_ms <= spec.arrival_ms:
            self.sent.append(spec)
            return
        index = bisect.bisect_right([s.arrival_ms for s in self.sent], spec.arrival_ms)
        self.sent.insert(index, spec)


def _no_traffic(traffic: TrafficSpec) -> TrafficSpec:
    return dataclasses.replace(traffic, rate_per_hour=None, schedule_s=(), first_arrival_s=None)


class SitePlant:
    """One lane of the site: its plant, and the drivers it was sent, by id."""

    def __init__(self, plant: Plant, drawer: _Drawer, start_ms: int) -> None:
        self.plant = plant
        self._drawer = drawer
        routed = _Routed(plant.scenario.traffic, plant.scenario.operator, plant.seed)
        plant.arrivals = routed
        self._routed = routed
        self._start_ms = start_ms
        self._waiting: list[int] = []
        """Sent here and not yet in the bay, in arrival order."""
        self._inside: list[int] = []
        """In the bay or beyond, not yet gone across the line or aside."""

    def _now(self) -> int:
        return self._start_ms + self.plant.now_ms

    def read(self) -> tuple[list[bool], int]:
        io = self.plant.io
        return io.read_discrete_inputs(), io.read_input_registers()[0]

    def write(self, coils: list[bool] | None, heartbeat: int) -> None:
        io = self.plant.io
        if coils is not None:
            io.write_coils(coils)
        io.write_holding(_HR_HEARTBEAT, (heartbeat,))

    def advance(self, ms: int) -> None:
        self.plant.advance(ms)

    def empty(self) -> bool:
        """No vehicle anywhere in the plant, none sent and not yet there."""
        return not (self.plant.vehicles or self._waiting or self._routed.sent)

    def skip(self, ms: int) -> None:
        """Let ``ms`` pass in a lane with no vehicle and a boom at rest: only the clocks move.

        The site sim calls this for a closed, empty lane instead of stepping it, and the
        controller writes its heartbeat on its next scan, before the I/O module's next tick.
        """
        plant = self.plant
        if not self.empty():
            raise RuntimeError("skip: the lane is not empty")
        plant.now_ms += ms
        plant.truth.now_ms = plant.now_ms
        plant.io.now_ms = plant.now_ms

    def admit(self, arrival_ms: int) -> int:
        """A driver arriving at ``arrival_ms`` (site time) joins this lane; returns its id."""
        spec = self._drawer.draw(arrival_ms - self._start_ms)
        self._routed.send(spec)
        self._waiting.append(spec.id)
        return spec.id

    def _uncommitted(self) -> list[Vehicle]:
        """Drivers in sight, driving up or standing short of the approach loop, front first."""
        start = self.plant.geometry.approach_loop.start
        return sorted(
            (
                v
                for v in self.plant.vehicles
                if v.state is DriverState.APPROACH and v.front_x_m < start
            ),
            key=lambda v: -v.front_x_m,
        )

    def queued(self) -> int:
        """Drivers here not yet committed: not yet on the approach loop (those on their way
        here from another lane included)."""
        return len(self._routed.sent) + len(self._behind()) + len(self._uncommitted())

    def _behind(self) -> list[VehicleSpec]:
        """Due here but out of sight: queued behind the spawn point until there is room (the
        plant's own line, which it spawns from the front)."""
        return self.plant._pending

    def withdraw(self) -> int | None:
        """The driver at the back of the line leaves for another lane; returns its id, or None
        when nobody here may move (nobody uncommitted, or only drivers still on their way
        here). A driver out of sight leaves from the line behind the spawn point; one in sight
        pulls out of the lane."""
        plant = self.plant
        behind = self._behind()
        if behind:
            spec = behind.pop()
        else:
            line = self._uncommitted()
            if not line:
                return None
            back = line[-1]
            plant.vehicles.remove(back)
            if back.spec is None:
                raise RuntimeError(f"withdraw: vehicle {back.id} has no spec")
            spec = back.spec
        del plant.truth.vehicles[spec.id]
        self._waiting.remove(spec.id)
        self._drawer.moving[spec.id] = spec
        return spec.id

    def join(self, vid: int, arrival_ms: int) -> None:
        """Driver ``vid``, withdrawn from another lane, reaches the back of this lane's line at
        ``arrival_ms`` (site time): the same vehicle and driver; its record here starts then."""
        spec = self._drawer.moving.pop(vid)
        self._routed.send(dataclasses.replace(spec, arrival_ms=arrival_ms - self._start_ms))
        self._waiting.append(vid)

    def entered(self) -> list[tuple[int, int]]:
        """(vehicle id, site time) of each vehicle that entered the bay since the last call."""
        records = self.plant.truth.vehicles
        out: list[tuple[int, int]] = []
        still: list[int] = []
        for vid in self._waiting:
            rec = records.get(vid)
            if rec is not None and rec.bay_entry_ms is not None:
                out.append((vid, self._start_ms + rec.bay_entry_ms))
                self._inside.append(vid)
            else:
                still.append(vid)
        if out:
            self._waiting = still
        return out

    def in_lane(self) -> int:
        """Vehicles sent here that have not yet gone across the barrier line or aside."""
        records = self.plant.truth.vehicles
        self._inside = [
            vid
            for vid in self._inside
            if (rec := records[vid]).crossing_ms is None
            and rec.aside_ms is None
            and rec.reversed_ms is None
        ]
        return len(self._waiting) + len(self._inside)


class SiteLanes:
    """Builds the site's lanes from one scenario (its mix, operator and boom; no faults)."""

    def __init__(
        self,
        seed: int,
        *,
        scenario: Scenario | None = None,
        step_ms: int = 100,
        start_ms: int = 0,
    ) -> None:
        base = scenario if scenario is not None else load_scenario("checkpoint")
        self.scenario = dataclasses.replace(base, traffic=_no_traffic(base.traffic), faults=())
        self.seed = seed
        self.step_ms = step_ms
        self.start_ms = start_ms
        self._drawer = _Drawer(base.traffic, base.operator, seed)

    def __call__(self, index: int) -> SitePlant:
        plant = Plant(
            self.scenario,
            self.seed * 1000 + index,
            step_ms=self.step_ms,
            probe=False,
        )
        return SitePlant(plant, self._drawer, self.start_ms)
