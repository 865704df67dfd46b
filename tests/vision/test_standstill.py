"""Standstill from the camera: how long the body in a zone has not moved (``still_ms``).

The vehicle is moved by the simulated plant's own law of motion (hw_sim.plant:
speed toward the bay speed, braking to stop at the stop line), so the moment it
stands still is the plant's truth, to its 10 ms step.
"""

from __future__ import annotations

import numpy as np
import pytest

from controller.vision.detector import Detector, DetectorSettings
from hw_sim.camera import CameraSpec, Condition, LaneCamera
from hw_sim.plant import Plant, Vehicle
from hw_sim.scenario import Behaviour, Scenario, TrafficSpec, VehicleKind

FRAME_MS = 40
STEP_MS = 10
STOP_X = -1.0
EMPTY = Scenario(name="empty", traffic=TrafficSpec(rate_per_hour=None, schedule_s=()))


def _roll_in_and_stop(
    condition: Condition, size: tuple[int, int] = (640, 360)
) -> tuple[list[tuple[int, int, bool]], int]:
    """(t_ms, bay still_ms, bay on) per frame, and the plant's time of standstill."""
    cam = LaneCamera(CameraSpec(width=size[0], height=size[1], fps=25), condition, seed=5)
    det = Detector(cam.zones(), size[1], size[0], DetectorSettings())
    plant = Plant(EMPTY, 1, watchdog_ms=0)
    car = Vehicle(
        id=1,
        kind=VehicleKind.CAR,
        behaviour=Behaviour.COMPLIANT,
        length_m=4.5,
        width_m=1.8,
        front_x_m=-14.0,
        speed_mps=4.0,
    )
    out: list[tuple[int, int, bool]] = []
    stopped_at: int | None = None
    for t in range(0, 2000, FRAME_MS):
        det.process(cam.render([], 0, t), t)
    t = 2000
    while t < 11000:
        if t % FRAME_MS == 0:
            d = det.process(cam.render([car], 0, t), t)
            out.append((t, d.still("bay"), d.zone("bay")))
        # The plant's own motion law, at its own step.
        plant._move(car, STEP_MS / 1000.0, car.bay_mps, STOP_X)
        t += STEP_MS
        if stopped_at is None and car.speed_mps == 0.0 and car.front_x_m >= STOP_X - 1e-9:
            stopped_at = t
    assert stopped_at is not None
    return out, stopped_at


@pytest.mark.parametrize(
    "condition", [Condition.DAY, Condition.NIGHT, Condition.RAIN, Condition.SHAKE]
)
def test_still_ms_rises_only_once_the_vehicle_stands(condition: Condition) -> None:
    """While the car rolls in, still_ms stays within three frames of 0; from the plant's
    moment of standstill on it follows the time since then to within two frames, and
    keeps rising while the car stands (here 5 s: rain and a shaking mast do not restart it).

    The last 200 ms before the stop are left out: braking, the car covers less than
    a pixel there, which no picture can tell from standing.
    """
    frames, stop = _roll_in_and_stop(condition)
    on = [t for t, _, bay in frames if bay]
    assert on and on[0] < stop - 1000, "the bay never saw the car roll in"
    rolling = [still for t, still, bay in frames if bay and t < stop - 200]
    assert rolling and max(rolling) <= 3 * FRAME_MS, rolling
    standing = [(t, still) for t, still, _ in frames if t >= stop]
    errors = [abs(still - (t - stop)) for t, still in standing]
    assert max(errors) <= 2 * FRAME_MS, (stop, standing[:5])
    stills = [still for _, still in standing]
    assert stills == sorted(stills) and stills[-1] >= 5000


def test_still_ms_is_zero_for_an_empty_zone_and_restarts_when_the_body_moves() -> None:
    """An empty zone reports 0; a standing car that creeps forward restarts the count, and
    the count then runs from its last move."""
    cam = LaneCamera(CameraSpec(width=640, height=360, fps=25), Condition.DAY, seed=5)
    det = Detector(cam.zones(), 360, 640, DetectorSettings())
    from hw_sim.camera import Vehicle as Snap

    for t in range(0, 2000, FRAME_MS):
        d = det.process(cam.render([], 0, t), t)
    assert all(v == 0 for _, v in d.still_ms)
    t = 2000
    for t in range(2000, 4000, FRAME_MS):
        d = det.process(cam.render([Snap(id=1, front_x_m=-6.0)], 0, t), t)
    assert d.zone("bay") and d.still("bay") >= 1000
    assert d.still("exit") == 0
    # It creeps 40 cm forward in four frames, then stands again. A body has moved
    # when the same cells differ from its last picture in two frames running: the
    # count restarts within the first three frames of the creep.
    restarts = []
    for k in range(1, 5):
        t += FRAME_MS
        d = det.process(cam.render([Snap(id=1, front_x_m=-6.0 + 0.1 * k)], 0, t), t)
        if d.still("bay") == 0:
            restarts.append(k)
    assert restarts and restarts[0] <= 3, restarts
    for _ in range(10):
        t += FRAME_MS
        d = det.process(cam.render([Snap(id=1, front_x_m=-5.6)], 0, t), t)
    assert 10 * FRAME_MS <= d.still("bay") <= 12 * FRAME_MS
    with pytest.raises(KeyError, match="no zone"):
        d.still("nowhere")
    assert np.all([v >= 0 for _, v in d.still_ms])
