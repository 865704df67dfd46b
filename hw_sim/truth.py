"""Ground truth of a simulated run: what really happened, to hold the controller's journal against.

The plant fills it as vehicles move; nothing in it comes from the controller.
``to_dict`` is JSON-able and ordered, ``digest`` hashes it so two runs with the
same seed can be compared in one line, and ``summary`` gives the counts a soak
or a demo prints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BoomContact", "GroundTruth", "VehicleRecord"]


@dataclass(slots=True)
class VehicleRecord:
    """One vehicle's life in the lane; times in simulated ms, None if it never happened."""

    id: int
    kind: str
    behaviour: str
    length_m: float
    arrival_ms: int
    """When it was due to arrive (it may have queued out of sight before it appeared)."""
    planned_dwell_ms: int
    planned_aside: bool
    spawn_ms: int | None = None
    bay_entry_ms: int | None = None
    """Front past the entry signal."""
    stop_ms: int | None = None
    """First standstill in the bay."""
    release_pressed_ms: int | None = None
    aside_pressed_ms: int | None = None
    release_seen_ms: int | None = None
    """First moment exit green and boom up while it waited in the bay."""
    crossing_ms: int | None = None
    """Front across the barrier line (x = 0)."""
    crossing: str | None = None
    """How it crossed: ``passed`` (on its own release), ``tailgate`` or ``run_through``."""
    cleared_ms: int | None = None
    """Rear across the barrier line."""
    exit_ms: int | None = None
    """Left the simulation beyond the exit."""
    aside_ms: int | None = None
    """Finished pulling out of the lane sideways (sent aside)."""
    reversed_ms: int | None = None
    """Finished backing out of the bay and left the lane."""

    @property
    def outcome(self) -> str:
        if self.crossing is not None:
            return self.crossing
        if self.aside_ms is not None:
            return "aside"
        if self.reversed_ms is not None:
            return "reversed"
        return "in_lane" if self.spawn_ms is not None else "queued"


@dataclass(frozen=True, slots=True)
class BoomContact:
    """The boom touched a vehicle.

    ``cause`` is ``boom_lowered`` when the boom was being driven down onto the
    vehicle (the controller's doing) and ``vehicle_pushed`` when the vehicle
    drove into a boom that was not up (the driver's). ``sensor_health`` says, per
    presence sensor, whether it was free of any injected fault at that moment.
    """

    at_ms: int
    vehicle_id: int
    behaviour: str
    cause: str
    boom_position: int
    sensor_health: tuple[tuple[str, bool], ...]
    lower_commanded: bool

    @property
    def sensors_healthy(self) -> bool:
        return all(ok for _, ok in self.sensor_health)


@dataclass(slots=True)
class GroundTruth:
    vehicles: dict[int, VehicleRecord] = field(default_factory=dict)
    contacts: list[BoomContact] = field(default_factory=list)
    seed: int = 0
    scenario: str = ""
    now_ms: int = 0

    def record(self, vehicle_id: int) -> VehicleRecord:
        return self.vehicles[vehicle_id]

    def to_dict(self) -> dict[str, Any]:
        vehicles = []
        for rec in self.vehicles.values():
            item = asdict(rec)
            item["outcome"] = rec.outcome
            vehicles.append(item)
        contacts = []
        for c in self.contacts:
            item = asdict(c)
            item["sensor_health"] = dict(c.sensor_health)
            item["sensors_healthy"] = c.sensors_healthy
            contacts.append(item)
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "now_ms": self.now_ms,
            "summary": self.summary(),
            "vehicles": vehicles,
            "contacts": contacts,
        }

    def digest(self) -> str:
        """sha256 of the canonical JSON: equal for equal runs."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def summary(self) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        for rec in self.vehicles.values():
            outcomes[rec.outcome] = outcomes.get(rec.outcome, 0) + 1
        lowered = [c for c in self.contacts if c.cause == "boom_lowered"]
        return {
            "vehicles": len(self.vehicles),
            "passed": outcomes.get("passed", 0),
            "tailgate": outcomes.get("tailgate", 0),
            "run_through": outcomes.get("run_through", 0),
            "aside": outcomes.get("aside", 0),
            "reversed": outcomes.get("reversed", 0),
            "in_lane": outcomes.get("in_lane", 0),
            "queued": outcomes.get("queued", 0),
            "crossed": sum(1 for r in self.vehicles.values() if r.crossing is not None),
            "boom_contacts": len(self.contacts),
            "boom_lowered_onto_vehicle": len(lowered),
            "boom_lowered_onto_vehicle_healthy_sensors": sum(
                1 for c in lowered if c.sensors_healthy
            ),
            "vehicle_pushed_boom": len(self.contacts) - len(lowered),
        }
