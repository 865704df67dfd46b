"""The ``shadows`` condition: moving shadows that darken what they fall on, and a through lane."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from hw_sim.camera import CONDITIONS, ZONE_NAMES, CameraSpec, Condition, LaneCamera, Vehicle
from hw_sim.neighbour import NEIGHBOUR_ID_BASE, NeighbourLane
from hw_sim.shadows import ShadowScene

SPEC = CameraSpec()
BAY_CAR = Vehicle(id=1, front_x_m=-4.0, speed_mps=0.0)


def _zone_boxes(camera: LaneCamera) -> dict[str, tuple[slice, slice]]:
    """Each zone's pixel rectangle as (rows, cols) slices."""
    out: dict[str, tuple[slice, slice]] = {}
    for zone in camera.zones():
        xs = [p[0] for p in zone.polygon]
        ys = [p[1] for p in zone.polygon]
        out[zone.name] = (
            slice(round(min(ys)), round(max(ys))),
            slice(round(min(xs)), round(max(xs))),
        )
    return out


def _shade(camera: LaneCamera, t_ms: int) -> npt.NDArray[np.float32]:
    shade = camera.shade([], t_ms)
    assert shade is not None
    return shade


def test_shadows_render_is_deterministic_per_seed() -> None:
    """Same seed and time give the same frame, shadows and through traffic included;
    another seed or another moment gives another."""
    frames = []
    for t in (0, 4_000, 17_333):
        a = LaneCamera(SPEC, Condition.SHADOWS, seed=5).render([BAY_CAR], 0, t)
        b = LaneCamera(SPEC, Condition.SHADOWS, seed=5).render([BAY_CAR], 0, t)
        assert np.array_equal(a, b), t
        assert not np.array_equal(
            a, LaneCamera(SPEC, Condition.SHADOWS, seed=6).render([BAY_CAR], 0, t)
        )
        frames.append(a)
    assert not np.array_equal(frames[0], frames[1])
    # A camera that rendered other moments first still renders t the same: no hidden state.
    warm = LaneCamera(SPEC, Condition.SHADOWS, seed=5)
    for t in range(0, 30_000, 997):
        warm.render([], 0, t)
    assert np.array_equal(warm.render([BAY_CAR], 0, 4_000), frames[1])


def test_other_conditions_have_no_shadow_scene() -> None:
    """Only ``shadows`` has the shadow scene and the through lane."""
    for condition in Condition:
        camera = LaneCamera(SPEC, condition, seed=1)
        has = condition is Condition.SHADOWS
        assert (camera.shade([], 1000) is not None) == has, condition
        assert bool(camera.through_traffic(30_000)) == has, condition


@pytest.mark.parametrize("t_ms", [3_000, 21_000, 44_000])
def test_a_shadow_multiplies_the_ground_and_keeps_its_texture(t_ms: int) -> None:
    """Inside the zones, the shadowed frame over the same frame without shadows is the
    shade factor (0.4-0.5 in full shadow), and the asphalt's fine texture is still there."""
    shadowed = LaneCamera(SPEC, Condition.SHADOWS, seed=3)
    plain = LaneCamera(SPEC, Condition.DAY, seed=3)
    a = shadowed.render([], 0, t_ms).astype(np.float64)
    b = plain.render([], 0, t_ms).astype(np.float64)
    shade = _shade(shadowed, t_ms)
    rows = _zone_boxes(shadowed)["approach"][0]
    region = np.zeros(a.shape, dtype=bool)
    region[rows, :] = True
    umbra = region & (shade < float(shade.min()) + 0.02)
    sun = region & (shade == 1.0)
    assert umbra.sum() > 500 and sun.sum() > 500
    sky = float(shade[umbra].mean())
    assert 0.4 <= sky <= 0.56
    # Darker by the factor, not by an offset: the ratio holds over bright and dark texture.
    ratio = a[umbra] / np.maximum(b[umbra], 1.0)
    assert abs(float(np.median(ratio)) - sky) < 0.06
    bright = b[umbra] > np.percentile(b[umbra], 80)
    dark = b[umbra] < np.percentile(b[umbra], 20)
    spread_a = float(a[umbra][bright].mean() - a[umbra][dark].mean())
    spread_b = float(b[umbra][bright].mean() - b[umbra][dark].mean())
    assert spread_a == pytest.approx(sky * spread_b, rel=0.25)
    assert np.array_equal(a[sun], b[sun])
    # The texture kept: high-pass detail of both frames correlates in the shadow.
    hp_a = a - cv2.GaussianBlur(a, (0, 0), 2.0)
    hp_b = b - cv2.GaussianBlur(b, (0, 0), 2.0)
    inner = cv2.erode(umbra.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert inner.sum() > 200
    assert np.corrcoef(hp_a[inner], hp_b[inner])[0, 1] > 0.75


def test_shadow_edges_are_soft() -> None:
    """Between sun and full shadow the factor passes through intermediate values."""
    shade = _shade(LaneCamera(SPEC, Condition.SHADOWS, seed=3), 10_000)
    low, high = float(shade.min()), 1.0
    middle = (shade > low + 0.1 * (high - low)) & (shade < high - 0.1 * (high - low))
    assert middle.sum() > 0.02 * (shade < 0.999).sum()


def test_through_lane_vehicles_are_never_in_the_zone_truth() -> None:
    """Over two minutes the through lane passes a dozen vehicles; none is ever in any
    zone's truth, none adds to the bay lane's truth, and no body reaches a zone's pixels."""
    camera = LaneCamera(SPEC, Condition.SHADOWS, seed=3)
    boxes = _zone_boxes(camera)
    top = min(rows.start for rows, _ in boxes.values())
    bottom = max(rows.stop for rows, _ in boxes.values())
    seen: set[int] = set()
    for t in range(0, 120_000, 100):
        through = camera.through_traffic(t)
        seen |= {v.id for v in through}
        assert not any(camera.truth(through).values()), t
        assert camera.truth([*through, BAY_CAR]) == camera.truth([BAY_CAR]), t
        for v in through:
            assert v.id >= NEIGHBOUR_ID_BASE
            near = SPEC.row(v.lateral_y_m - v.width_m / 2.0)
            far = SPEC.row(v.lateral_y_m + v.width_m / 2.0)
            assert near < top or far > bottom, (t, v)
    assert len(seen) >= 12


def test_shadows_reach_every_zone_and_move() -> None:
    """Every zone is partly in shadow at some time, and what is shaded in it changes from
    one frame to the next (swaying crowns, passing vehicles), not only slowly."""
    camera = LaneCamera(SPEC, Condition.SHADOWS, seed=3)
    boxes = _zone_boxes(camera)
    shaded: dict[str, list[float]] = {z: [] for z in ZONE_NAMES}
    step_change: dict[str, list[float]] = {z: [] for z in ZONE_NAMES}
    prev: npt.NDArray[np.float32] | None = None
    for t in range(0, 60_000, 67 * 5):
        shade = _shade(camera, t)
        nxt = _shade(camera, t + 67)
        for name, (rows, cols) in boxes.items():
            shaded[name].append(float((shade[rows, cols] < 0.8).mean()))
            step_change[name].append(float(np.abs(nxt[rows, cols] - shade[rows, cols]).max()))
        prev = shade
    assert prev is not None
    for name in ZONE_NAMES:
        assert max(shaded[name]) > 0.1, (name, max(shaded[name]))
        assert max(shaded[name]) - min(shaded[name]) > 0.05, name
        # Within one frame interval some pixel of the zone goes well into or out of shadow.
        assert max(step_change[name]) > 0.3, (name, max(step_change[name]))


def test_through_lane_shadows_cross_the_bay_lane() -> None:
    """The through lane's vehicles alone shade the bay lane's zones under the low sun."""
    scene = ShadowScene(SPEC.width, SPEC.height, SPEC.px_per_m, SPEC.x_min_m, seed=3)
    lane = NeighbourLane(3, 4.0, SPEC.x_min_m - 30.0, SPEC.x_max_m + 30.0)
    centre = round(SPEC.row(0.0))
    reached = 0
    for t in range(0, 60_000, 250):
        occ = np.zeros((SPEC.height, SPEC.width), dtype=np.float32)
        scene.add_vehicles(occ, lane.vehicles(t), t)
        if (occ[centre, :] > 0.9).any():
            reached += 1
    assert reached > 20


def test_bay_vehicle_shadow_falls_away_from_the_through_lane() -> None:
    """A bay car's own shadow lies on its sun-away side (towards -y), outside its body."""
    camera = LaneCamera(SPEC, Condition.SHADOWS, seed=3)
    t = 10_000
    with_car = camera.shade([BAY_CAR], t)
    without = camera.shade([], t)
    assert with_car is not None and without is not None
    darker = (with_car < without - 0.2).nonzero()
    rows_m = [(SPEC.height / 2.0 - r) / SPEC.px_per_m for r in darker[0]]
    assert rows_m and min(rows_m) < BAY_CAR.lateral_y_m - BAY_CAR.width_m / 2.0 - 1.0


def test_neighbour_lane_rejects_bad_arguments() -> None:
    """A stretch that ends before it starts, or gaps too short to keep vehicles apart, are
    named errors."""
    with pytest.raises(ValueError, match="end_x_m"):
        NeighbourLane(0, 4.0, 10.0, -10.0)
    with pytest.raises(ValueError, match="mean_gap_s"):
        NeighbourLane(0, 4.0, -60.0, 40.0, mean_gap_s=2.0)


def test_readme_lists_every_condition() -> None:
    """The README's condition list is the renderer's."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    line = text.split("Camera conditions", 1)[1].split("the list is", 1)[0]
    assert all(f"`{name}`" in line for name in CONDITIONS)
