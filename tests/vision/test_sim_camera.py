"""The simulated camera's renderer: deterministic frames, zones and truth from geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hw_sim.camera import (
    ZONE_NAMES,
    CameraSpec,
    Condition,
    LaneCamera,
    Vehicle,
    truth_row,
    zone_truth,
)
from hw_sim.geometry import LaneGeometry

CAR = Vehicle(id=1, front_x_m=-5.0)


def test_same_seed_and_time_give_the_same_frame() -> None:
    """A frame depends only on (seed, time, scene): rendering twice is bit-identical."""
    a = LaneCamera(seed=3).render([CAR], 0, 1234)
    b = LaneCamera(seed=3).render([CAR], 0, 1234)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, LaneCamera(seed=4).render([CAR], 0, 1234))
    assert not np.array_equal(a, LaneCamera(seed=3).render([CAR], 0, 1301))


def test_frame_sizes() -> None:
    """Default 640x360 grey; 1280x720 is available."""
    assert LaneCamera().render([], 0, 0).shape == (360, 640)
    big = LaneCamera(CameraSpec(width=1280, height=720, fps=25.0)).render([CAR], 0, 0)
    assert big.shape == (720, 1280) and big.dtype == np.uint8


def test_zone_polygons_follow_geometry() -> None:
    """Each zone's pixel rectangle spans its geometry span along the lane."""
    spec = CameraSpec()
    zones = {z.name: z for z in LaneCamera(spec).zones()}
    assert tuple(zones) == ZONE_NAMES
    g = LaneGeometry()
    xs = [p[0] for p in zones["barrier"].polygon]
    assert min(xs) == pytest.approx(spec.col(g.zone_barrier.start), abs=0.1)
    assert max(xs) == pytest.approx(spec.col(g.zone_barrier.end), abs=0.1)


def test_truth_is_body_overlap_with_the_span() -> None:
    """A body overlapping a zone's span counts; a vehicle far off the lane does not."""
    g = LaneGeometry()
    straddle = Vehicle(id=2, length_m=4.0, front_x_m=g.zone_barrier.start + 0.01)
    truth = zone_truth([straddle], g)
    assert truth == {"approach": False, "bay": True, "barrier": True, "exit": False}
    aside = Vehicle(id=3, front_x_m=-5.0, lateral_y_m=g.aside_y_m)
    assert not any(zone_truth([aside], g).values())
    assert truth_row(7, truth) == "7,0,1,1,0"


def test_vehicle_changes_pixels_inside_its_zone_only() -> None:
    """A car in the bay changes the bay's pixels and leaves the other zones' untouched."""
    cam = LaneCamera(seed=1)
    empty = cam.render([], 0, 0).astype(int)
    full = cam.render([Vehicle(id=5, front_x_m=-10.0)], 0, 0).astype(int)
    changed = np.abs(full - empty) > 40
    for zone in cam.zones():
        xs = [int(p[0]) for p in zone.polygon]
        ys = [int(p[1]) for p in zone.polygon]
        part = changed[min(ys) : max(ys), min(xs) : max(xs)]
        assert part.any() == (zone.name == "bay"), zone.name


@pytest.mark.parametrize("condition", list(Condition), ids=lambda c: c.value)
def test_conditions_render_distinct_pictures(condition: Condition) -> None:
    """Every condition renders, and each differs from the plain day picture."""
    frame = LaneCamera(condition=condition, seed=2).render([CAR], 0, 10_000)
    day = LaneCamera(condition=Condition.DAY, seed=2).render([CAR], 0, 10_000)
    assert frame.shape == day.shape
    if condition is Condition.DAY:
        assert np.array_equal(frame, day)
    else:
        assert np.abs(frame.astype(int) - day).mean() > 1.0


def test_night_headlights_light_the_road_ahead() -> None:
    """At night the road just ahead of a car is brighter than without the car."""
    cam = LaneCamera(condition=Condition.NIGHT, seed=2)
    spec = cam.spec
    with_car = cam.render([CAR], 0, 0).astype(int)
    without = cam.render([], 0, 0).astype(int)
    col = round(spec.col(CAR.front_x_m + 1.5))
    row = round(spec.row(0.0))
    assert (with_car - without)[row - 3 : row + 3, col - 3 : col + 3].mean() > 15


def test_boom_position_moves_the_boom() -> None:
    """A raised boom looks different from a lowered one at the barrier line."""
    cam = LaneCamera(seed=2)
    assert not np.array_equal(cam.render([], 0, 0), cam.render([], 1000, 0))


def test_bad_spec_is_rejected() -> None:
    """Frame sizes and rates out of range are named errors."""
    with pytest.raises(ValueError, match="width/height"):
        CameraSpec(width=10, height=10)
    with pytest.raises(ValueError, match="fps"):
        CameraSpec(fps=0.0)


def test_camera_truth_samples_the_geometry_at_pixel_centres() -> None:
    """A body in a zone by less than reaches the centre of its first pixel is not in it
    for the camera (the renderer draws none of it there); from that centre on it is."""
    spec, g = CameraSpec(), LaneGeometry()
    camera = LaneCamera(spec)
    edge = spec.col(g.zone_barrier.start)
    first_centre = math.ceil(edge - 0.5) + 0.5
    short = (first_centre - edge - 0.05) / spec.px_per_m
    reach = (first_centre - edge + 0.05) / spec.px_per_m
    before = Vehicle(id=4, length_m=4.0, front_x_m=g.zone_barrier.start + short)
    after = Vehicle(id=5, length_m=4.0, front_x_m=g.zone_barrier.start + reach)
    assert zone_truth([before], g)["barrier"]
    assert not camera.truth([before])["barrier"]
    assert camera.truth([after])["barrier"]
    # What the truth says is what the picture shows: the body's pixels reach the zone.
    empty = camera.render([], 0, 0).astype(int)
    col = int(first_centre)
    assert np.abs(camera.render([before], 0, 0).astype(int)[:, col] - empty[:, col]).max() == 0
    assert np.abs(camera.render([after], 0, 0).astype(int)[:, col] - empty[:, col]).max() > 0
