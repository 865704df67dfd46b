"""The compiled zone-edge counts against their numpy reference, to the count."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from controller.vision.edge_bodies import EdgeBodies
from controller.vision.zones import Zone, edge_bodies, edge_counts, zone_grid
from controller.vision.zones_reference import edge_counts_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle


@pytest.mark.parametrize("condition", [Condition.DAY, Condition.NIGHT, Condition.RAIN])
@pytest.mark.parametrize(("width", "height", "cell"), [(320, 180, 4), (333, 187, 5), (641, 359, 4)])
@pytest.mark.parametrize(("gain_q8", "offset"), [(256, 0), (0, 255), (1024, -255), (301, -17)])
def test_edge_counts_are_the_reference(
    condition: Condition, width: int, height: int, cell: int, gain_q8: int, offset: int
) -> None:
    """Rendered frames with a vehicle against an empty reference, odd sizes, extreme gains."""
    cam = LaneCamera(CameraSpec(width=width, height=height), condition, seed=2)
    reference = cam.render([], 0, 0)
    frame = cam.render([Vehicle(id=1, front_x_m=-4.0)], 0, 400)
    grid = zone_grid(cam.zones(), height, width, cell)
    for threshold in (0, 20, 255):
        for edge in grid.edges.values():
            got = edge_counts(
                frame, reference, edge, gain_q8=gain_q8, offset=offset, threshold=threshold
            )
            want = edge_counts_reference(
                frame, reference, edge, gain_q8=gain_q8, offset=offset, threshold=threshold
            )
            assert got.dtype == np.int32
            assert np.array_equal(got, want)


def test_edge_counts_see_a_bumper_in_the_zones_own_pixels() -> None:
    """A zone whose edge cuts cells at x = 2: a change in its own pixels counts, next door not."""
    zone = Zone("z", ((2.0, 0.0), (16.0, 0.0), (16.0, 8.0), (2.0, 8.0)))
    grid = zone_grid([zone], height=8, width=16, cell=4)
    edge = grid.edges["z"]
    reference = np.full((8, 16), 100, np.uint8)
    frame = reference.copy()
    frame[:, :2] = 0  # outside the zone
    assert edge_counts(frame, reference, edge, gain_q8=256, offset=0, threshold=20).tolist() == [
        0,
        0,
    ]
    frame[:4, 2] = 255  # four of the zone's pixels in the top cell
    counts = edge_counts(frame, reference, edge, gain_q8=256, offset=0, threshold=20)
    assert counts.tolist() == [4, 0]
    out = np.full(2, 99, np.int32)
    assert edge_counts(frame, reference, edge, gain_q8=256, offset=0, threshold=20, out=out) is out
    assert out.tolist() == [4, 0]


def test_bad_arguments_are_named() -> None:
    """Wrong images, gains, offsets, buffers and a grid of another frame are named errors."""
    zone = Zone("z", ((2.0, 0.0), (16.0, 0.0), (16.0, 8.0), (2.0, 8.0)))
    edge = zone_grid([zone], height=8, width=16, cell=4).edges["z"]
    image = np.zeros((8, 16), np.uint8)
    kw = {"gain_q8": 256, "offset": 0, "threshold": 20}
    with pytest.raises(ValueError, match="reference: shape"):
        edge_counts(image, np.zeros((8, 17), np.uint8), edge, **kw)
    with pytest.raises(ValueError, match="gain_q8"):
        edge_counts(image, image, edge, gain_q8=5000, offset=0, threshold=20)
    with pytest.raises(ValueError, match="offset"):
        edge_counts(image, image, edge, gain_q8=256, offset=300, threshold=20)
    with pytest.raises(ValueError, match="out: expected int32"):
        edge_counts(image, image, edge, out=np.zeros(2, np.int64), **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="edge: pixel"):
        edge_counts(np.zeros((4, 16), np.uint8), np.zeros((4, 16), np.uint8), edge, **kw)


@pytest.mark.parametrize("condition", [Condition.DAY, Condition.NIGHT, Condition.RAIN])
@pytest.mark.parametrize(("width", "height", "cell"), [(320, 180, 4), (333, 187, 5), (641, 359, 4)])
def test_every_zone_in_one_pass_is_edge_bodies_zone_by_zone(
    condition: Condition, width: int, height: int, cell: int
) -> None:
    """``EdgeBodies.find`` gives ``zones.edge_bodies``'s answer, zone by zone, on rendered
    frames at odd sizes and gains, with a light-only verdict that clears some windows; a
    second zone layout (the zones moved) is taken up on the next frame."""
    cam = LaneCamera(CameraSpec(width=width, height=height), condition, seed=2)
    reference = cam.render([], 0, 0)
    limit = (height - cell, width - cell)
    asked: list[int] = []

    def light(ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        asked.append(ys.size)
        verdict: npt.NDArray[np.bool_] = ((ys // cell) * 5 + (xs // cell) * 2) % 7 < 3
        return verdict

    moved = [Zone(z.name, tuple((x + 3.0, y - 2.0) for x, y in z.polygon)) for z in cam.zones()]
    batched = EdgeBodies(height, width, cell, 0.3, limit)
    for zones in (cam.zones(), moved):
        grid = zone_grid(zones, height, width, cell)
        for front, gain_q8, offset in ((-4.0, 256, 0), (-1.0, 301, -17), (2.0, 1024, 40)):
            frame = cam.render([Vehicle(id=1, front_x_m=front)], 0, 400)
            want = edge_bodies(
                frame,
                reference,
                grid,
                cell=cell,
                gain_q8=gain_q8,
                offset=offset,
                threshold=20,
                fraction=0.3,
                light=light,
                limit=limit,
            )
            calls = len(asked)
            got = batched.find(
                frame, reference, grid, gain_q8=gain_q8, offset=offset, threshold=20, light=light
            )
            assert len(asked) - calls <= 1
            assert list(got) == list(want)
            for name in want:
                assert got[name].dtype == np.bool_
                assert np.array_equal(got[name], want[name]), name
    assert any(asked), "no window was ever looked at"


def _no_light(ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    raise AssertionError("no window should be looked at")


def test_one_pass_names_a_frame_of_the_wrong_size() -> None:
    cam = LaneCamera(CameraSpec(width=320, height=180))
    grid = zone_grid(cam.zones(), 180, 320, 4)
    batched = EdgeBodies(180, 320, 4, 0.3, (176, 316))
    good = cam.render([], 0, 0)
    with pytest.raises(ValueError, match="frame"):
        batched.find(
            good[:, :300].copy(), good, grid, gain_q8=256, offset=0, threshold=20, light=_no_light
        )
    with pytest.raises(ValueError, match="offset"):
        batched.find(good, good, grid, gain_q8=256, offset=999, threshold=20, light=_no_light)
