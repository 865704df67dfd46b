"""The core declares a vehicle stopped only once it truly stands, with the camera model.

The loop rule (bay loop occupied for ``stop_debounce_ms``) fires while the
vehicle still rolls to the line; with the camera's ``bay_still_ms`` the core
waits for true standstill. Judged against the plant's truth
(``VehicleRecord.stop_ms``) over simulated minutes of the mixed scenario, its
fault schedule left out: a faulted camera falls back to the loop rule on
purpose (and journals it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controller.core.types import Event, Inputs, LaneConfig, Outputs
from hw_sim import mil
from hw_sim.camera_model import CameraModel
from hw_sim.mil import CoreController, run_mil
from hw_sim.plant import Plant
from hw_sim.scenario import load_scenario
from hw_sim.truth import VehicleRecord

HOURS = 0.3


class _Stops:
    """The core, keeping the time of every ``vehicle_stopped`` event."""

    def __init__(self) -> None:
        self.inner = CoreController(LaneConfig())
        self.stops_ms: list[int] = []

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        outputs, events = self.inner.step(inputs, now_ms)
        self.stops_ms += [e.at_ms for e in events if e.kind == "vehicle_stopped"]
        return outputs, events

    def restart(self) -> None:
        self.inner.restart()


def _gone(rec: VehicleRecord, t: int) -> bool:
    return any(x is not None and x <= t for x in (rec.crossing_ms, rec.aside_ms, rec.reversed_ms))


def _early_stops(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, int | None]], int]:
    """Run the core with the camera; per ``vehicle_stopped`` that came before the true first
    standstill of the vehicle at the head of the bay: (event ms, true stop ms); and how many
    events were judged."""
    plants: list[Plant] = []

    class _Kept(Plant):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            plants.append(self)

    monkeypatch.setattr(mil, "Plant", _Kept)
    scenario = dataclasses.replace(load_scenario("mixed"), faults=())
    ctl = _Stops()
    report = run_mil(
        scenario, hours=HOURS, seed=11, controller=ctl, random_faults=False, camera=True
    )
    assert report.crossed >= 10, "too little traffic to judge"
    records = list(plants[0].truth.vehicles.values())
    early: list[tuple[int, int | None]] = []
    for t in ctl.stops_ms:
        in_bay = [
            r
            for r in records
            if r.bay_entry_ms is not None and r.bay_entry_ms <= t and not _gone(r, t)
        ]
        assert in_bay, f"vehicle_stopped at {t} ms with no vehicle in the bay"
        head = min(in_bay, key=lambda r: r.bay_entry_ms or 0)
        if head.stop_ms is None or head.stop_ms > t:
            early.append((t, head.stop_ms))
    return early, len(ctl.stops_ms)


def test_no_vehicle_is_declared_stopped_before_it_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    early, judged = _early_stops(monkeypatch)
    assert judged >= 10
    assert early == []


def test_the_loop_rule_declares_vehicles_stopped_while_they_roll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same run with the camera's standstill withheld (``bay_still_ms`` None): the core's
    loop rule calls vehicles stopped before they stand, which the test above would catch."""
    monkeypatch.setattr(CameraModel, "_still", lambda self, t_ms, bodies: None)
    early, judged = _early_stops(monkeypatch)
    assert judged >= 10
    assert len(early) >= judged // 2, early
    assert all(stop is None or stop - t > 0 for t, stop in early)
