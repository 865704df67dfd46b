"""The compiled cell grouping against its numpy reference: integer results, equal exactly."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from controller.bench.detector import render_clip
from controller.vision import _cells
from controller.vision.cells import (
    CellGroups,
    CellVerdicts,
    bodies,
    has_neighbour,
    lattice_moments,
    same_values,
)
from controller.vision.cells_reference import (
    bodies_reference,
    has_neighbour_reference,
    largest_group_reference,
    lattice_moments_reference,
    still_cells_reference,
    verdicts_reference,
    zones_any_reference,
)
from controller.vision.detector import Detector
from controller.vision.kernel import MAX_CELL, frame_stats, new_cell_stats
from controller.vision.zones import Zone, ZoneBodies, ZoneGrid, largest_body, zone_grid
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle

Mask = npt.NDArray[np.bool_]


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 17), (23, 1), (19, 31), (64, 45)])
@pytest.mark.parametrize("density", [0.0, 0.2, 0.45, 0.6, 1.0])
def test_random_masks_match_the_reference(rows: int, cols: int, density: float) -> None:
    rng = np.random.default_rng(rows * 1000 + cols + int(density * 100))
    groups = CellGroups()
    for _ in range(20):
        cells = rng.random((rows, cols)) < density
        may_bridge = rng.random((rows, cols)) < 0.5
        assert groups.largest(cells, may_bridge) == largest_group_reference(cells, may_bridge)


def test_bridges_join_without_counting_and_corners_do_not_touch() -> None:
    groups = CellGroups()
    cells = np.zeros((5, 7), dtype=bool)
    cells[2, 0:3] = True
    cells[2, 4:7] = True
    gap = np.zeros_like(cells)
    gap[2, 3] = True
    assert groups.largest(cells, np.zeros_like(cells)) == 3
    assert groups.largest(cells, gap) == 6  # joined through the gap, which does not count
    diagonal = np.eye(5, dtype=bool)
    assert groups.largest(diagonal, np.ones_like(diagonal)) == 1
    assert groups.largest(np.zeros((4, 4), bool), np.ones((4, 4), bool)) == 0


def test_every_grouping_of_a_rendered_clip_matches_the_reference() -> None:
    """The detector's one pass over all zones (``ZoneBodies.counts_flat``) gives, frame by
    frame and zone by zone, what the numpy reference gives on the zone's own cells; its
    one pass saying which zones touch a moving cell (``touched_any_trusted``) gives what
    ``cells_reference.zones_any_reference`` gives on the detector's moving cells."""
    zones, clip = render_clip(320, 180, "shadows", 60)
    detector = Detector(zones, 180, 320)
    compiled = detector._bodies.counts_flat
    compiled_any = detector._bodies.touched_any_trusted
    seen: list[int] = []
    moved: list[bool] = []

    def checked(grid: ZoneGrid, body: Mask, differs: Mask, edge_hit: Mask) -> list[int]:
        got = compiled(grid, body, differs, edge_hit)
        start = 0
        for name, count in zip(grid.masks, got, strict=True):
            r0, r1, c0, c1 = grid.boxes[name]
            cells = body[r0:r1, c0:c1] & grid.interior[name][r0:r1, c0:c1]
            edge = grid.edges[name]
            hit = edge_hit[start : start + edge.rows.size]
            start += edge.rows.size
            cells[edge.rows[hit] - r0, edge.cols[hit] - c0] = True
            may_bridge = differs[r0:r1, c0:c1] & grid.touched[name][r0:r1, c0:c1]
            assert count == largest_group_reference(cells, may_bridge), name
            assert count == largest_body(grid, name, CellGroups(), body, differs, hit)
            seen.append(count)
        assert start == edge_hit.size
        return got

    def checked_any(grid: ZoneGrid, cells: Mask) -> list[bool]:
        got = compiled_any(grid, cells)
        assert got == zones_any_reference(cells, list(grid.touched.values()))
        moved.extend(got)
        return got

    detector._bodies.counts_flat = checked  # type: ignore[method-assign]
    detector._bodies.touched_any_trusted = checked_any  # type: ignore[method-assign]
    for t, frame in clip:
        detector.process(frame, t)
    # Vehicles passed: groups of more than a few cells were compared, zones moved and not.
    assert seen and max(seen) >= 10
    assert any(moved) and not all(moved)


def _overlapping_grids(cell: int) -> list[ZoneGrid]:
    """Overlapping zones of an odd-sized frame (one cut by the frame's edge, one the whole
    frame), then the same moved: their two grids."""
    height, width = 97, 143
    zones = [
        Zone("a", ((3.5, 2.0), (70.2, 5.0), (60.0, 50.5), (1.0, 44.0))),
        Zone("b", ((50.0, 30.0), (150.0, 20.0), (150.0, 100.0), (40.0, 90.0))),
        Zone("tri", ((10.0, 60.0), (80.0, 95.0), (5.0, 96.0))),
        Zone("all", ((0.0, 0.0), (143.0, 0.0), (143.0, 97.0), (0.0, 97.0))),
    ]
    moved = [Zone(z.name, tuple((x + 2.25, y - 1.5) for x, y in z.polygon)) for z in zones]
    return [zone_grid(zones, height, width, cell), zone_grid(moved, height, width, cell)]


@pytest.mark.parametrize("cell", [4, 5])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.05, 1.0])
def test_zones_touched_by_cells_are_the_reference(cell: int, density: float) -> None:
    """``ZoneBodies.touched_any`` against the reference on random maps over overlapping
    zones of an odd-sized frame (one cut by the frame's edge, one the whole frame), for
    two grids in turn; single cells at each zone's box corners and just outside them."""
    grids = _overlapping_grids(cell)
    rng = np.random.default_rng(cell * 100 + int(density * 1000))
    bodies = ZoneBodies()
    shape = grids[0].masks["a"].shape
    for k in range(20):
        grid = grids[k % 2]
        cells = rng.random(shape) < density
        want = zones_any_reference(cells, list(grid.touched.values()))
        assert bodies.touched_any(grid, cells) == want
    grid = grids[0]
    for name, (r0, r1, c0, c1) in grid.boxes.items():
        for y, x in itertools.product((r0 - 1, r0, r1 - 1, r1), (c0 - 1, c0, c1 - 1, c1)):
            if 0 <= y < shape[0] and 0 <= x < shape[1]:
                cells = np.zeros(shape, dtype=bool)
                cells[y, x] = True
                got = bodies.touched_any(grid, cells)
                assert got == zones_any_reference(cells, list(grid.touched.values())), (name, y, x)
    with pytest.raises(ValueError, match="cells"):
        bodies.touched_any(grid, np.zeros((shape[0], shape[1] + 1), dtype=bool))


@pytest.mark.parametrize("cell", [4, 5])
def test_zone_bodies_answer_largest_body_for_every_zone(cell: int) -> None:
    """Random body, differs and edge cells over overlapping zones of an odd-sized frame
    (a zone cut by the frame's edge, one whole-frame zone): one compiled pass gives each
    zone what ``largest_body`` gives it, for two grids in turn and back (kept stacks)."""
    grids = _overlapping_grids(cell)
    rng = np.random.default_rng(cell)
    bodies = ZoneBodies()
    shape = grids[0].masks["a"].shape
    for k in range(30):
        grid = grids[k % 3 == 1]
        density = rng.uniform(0.05, 0.8)
        body = rng.random(shape) < density
        differs = body | (rng.random(shape) < 0.3)
        edge_body = {n: rng.random(e.rows.size) < density for n, e in grid.edges.items()}
        got = bodies.counts(grid, body, differs, edge_body)
        want = {
            n: largest_body(grid, n, CellGroups(), body, differs, edge_body[n]) for n in grid.masks
        }
        assert got == want
        # The per-frame entry: the grid's arrays taken in once (``_cells.ZonePass``).
        flat = np.concatenate([edge_body[n] for n in grid.edges])
        assert bodies.counts_flat(grid, body, differs, flat) == [want[n] for n in grid.masks]
    assert max(got.values()) > 0


def test_zone_bodies_name_a_wrong_argument() -> None:
    grid = zone_grid([Zone("z", ((0.0, 0.0), (32.0, 0.0), (30.0, 20.0)))], 24, 40, 4)
    bodies = ZoneBodies()
    body = np.zeros((6, 10), bool)
    edges = {"z": np.zeros(grid.edges["z"].rows.size, bool)}
    with pytest.raises(ValueError, match="body"):
        bodies.counts(grid, np.zeros((6, 9), bool), body, edges)
    with pytest.raises(ValueError, match="differs"):
        bodies.counts(grid, body, body.astype(np.uint8), edges)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"edge_body\['z'\]"):
        bodies.counts(grid, body, body, {"z": np.zeros(1, bool)})
    with pytest.raises(ValueError, match=r"edge_body\['z'\]"):
        bodies.counts(grid, body, body, {})


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 9), (7, 1), (2, 2), (19, 31), (90, 160)])
def test_has_neighbour_is_its_reference(rows: int, cols: int) -> None:
    """Random maps of every density, strips one cell wide, views that are not contiguous."""
    rng = np.random.default_rng(rows * 100 + cols)
    for density in (0.0, 0.1, 0.5, 0.9, 1.0):
        cells = rng.random((rows, cols)) < density
        assert np.array_equal(has_neighbour(cells), has_neighbour_reference(cells))
        wide = rng.random((rows, 2 * cols)) < density
        assert np.array_equal(has_neighbour(wide[:, ::2]), has_neighbour_reference(wide[:, ::2]))
    lone = np.zeros((5, 5), bool)
    lone[2, 2] = True
    assert has_neighbour(lone).tolist() == has_neighbour_reference(lone).tolist()
    assert int(has_neighbour(lone).sum()) == 4 and not has_neighbour(lone)[2, 2]
    with pytest.raises(ValueError, match="cells"):
        has_neighbour(lone.astype(np.uint8))  # type: ignore[arg-type]


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (3, 17), (90, 160), (45, 81)])
def test_cell_verdicts_are_their_reference(rows: int, cols: int) -> None:
    """Counts at, under and over their per-cell minimums (the most pixels a cell can have
    in every cell: the total passes 2 ** 31), motion only outside the zones or only
    inside: the same maps, total and flag."""
    rng = np.random.default_rng(rows + cols)
    occupied_min = rng.integers(0, 20, (rows, cols)).astype(np.int32)
    moving_min = rng.integers(0, 20, (rows, cols)).astype(np.int32)
    verdicts = CellVerdicts(occupied_min, moving_min)
    for k in range(12):
        ref_count = (occupied_min + rng.integers(-2, 3, (rows, cols))).astype(np.int32)
        motion_count = (moving_min + rng.integers(-2, 3, (rows, cols))).astype(np.int32)
        if k == 1:
            motion_count[...] = 0
        if k == 2:
            # A cell's count is a pixel count: at most MAX_CELL ** 2, all cells at once.
            ref_count.flat[0] = np.iinfo(np.int32).min
            motion_count[...] = MAX_CELL**2
        outside = rng.random((rows, cols)) < (0.0 if k == 3 else 0.3)
        if k == 4:
            motion_count = np.where(outside, 0, motion_count).astype(np.int32)
        got = verdicts.judge(ref_count, motion_count, outside)
        want = verdicts_reference(ref_count, motion_count, occupied_min, moving_min, outside)
        assert np.array_equal(got[0], want[0]) and got[0].dtype == np.bool_
        assert np.array_equal(got[1], want[1]) and got[1].dtype == np.bool_
        assert got[2:] == want[2:]
        # The detector's per-frame entry (``_cells.VerdictPass``) into its own maps.
        occupied = np.ones((rows, cols), dtype=bool)
        moving = np.ones((rows, cols), dtype=bool)
        answer = verdicts.judge_into(ref_count, motion_count, outside, occupied, moving)
        assert np.array_equal(occupied, want[0]) and np.array_equal(moving, want[1])
        assert answer == want[2:] and type(answer[0]) is int and type(answer[1]) is bool
    with pytest.raises(ValueError, match="outside"):
        verdicts.judge(ref_count, motion_count, outside.astype(np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ref_count"):
        verdicts.judge(ref_count[:, :-1], motion_count, outside)


def _still(
    view: npt.NDArray[np.uint8],
    last: npt.NDArray[np.uint8],
    cell: int,
    gain_q8: int,
    offset: int,
    threshold: int,
    fraction: float,
    area: npt.NDArray[np.float64],
    touched: Mask,
    before: Mask | None,
    differs: Mask,
) -> int:
    """The standstill clock's two compiled steps: the kernel's count of changed pixels
    per cell, then ``_cells.still_cells`` (as ``stillness.ZoneStillness.update``)."""
    rows, cols = touched.shape
    stats = frame_stats(
        view,
        last,
        np.empty_like(view),
        cell=cell,
        gain_q8=gain_q8,
        offset=offset,
        ref_threshold=threshold,
        motion_threshold=255,
        out=new_cell_stats(view.shape[0], view.shape[1], cell),
    )
    return _cells.still_cells(
        stats.ref_count,
        np.ceil(fraction * area).astype(np.int32),
        touched.view(np.uint8),
        (differs if before is None else before).view(np.uint8),
        before is not None,
        np.empty((rows, cols), dtype=np.uint8),
        differs.view(np.uint8),
    )


@pytest.mark.parametrize(("height", "width", "cell"), [(36, 64, 4), (37, 53, 5), (9, 130, 8)])
def test_still_cells_are_their_reference(height: int, width: int, cell: int) -> None:
    """A rendered zone box against a picture of it taken earlier (a vehicle crept),
    partial cells at the right and bottom, gains and offsets at their extremes, with and
    without last frame's cells: the same cells and the same count of both."""
    cam = LaneCamera(CameraSpec(width=max(width, 64), height=max(height, 36)), Condition.RAIN)
    last = cam.render([Vehicle(id=1, front_x_m=-5.0)], 0, 0)[:height, :width].copy()
    view = cam.render([Vehicle(id=1, front_x_m=-4.6)], 0, 40)[:height, :width].copy()
    rows, cols = -(-height // cell), -(-width // cell)
    area = np.full((rows, cols), float(cell * cell))
    area[-1, :] = cell * (height - (rows - 1) * cell)
    area[:, -1] = (width - (cols - 1) * cell) * (area[:, -1] / cell)
    rng = np.random.default_rng(height)
    touched = rng.random((rows, cols)) < 0.8
    noise = rng.integers(0, 256, (2, height, width), dtype=np.uint8)
    pictures = [(view, last), ((last // 2).astype(np.uint8), last), (noise[0], noise[1])]
    seen = 0
    for (view, last), (gain_q8, offset, threshold, fraction) in itertools.product(
        pictures, ((256, 0, 12, 0.3), (1024, -255, 0, 0.0), (0, 255, 255, 1.0), (97, 13, 60, 0.5))
    ):
        before = rng.random((rows, cols)) < 0.5
        for prior in (None, before):
            differs = np.empty((rows, cols), dtype=bool)
            both = _still(
                view,
                last,
                cell,
                gain_q8,
                offset,
                threshold,
                fraction,
                area,
                touched,
                prior,
                differs,
            )
            want, want_both = still_cells_reference(
                view,
                last,
                cell=cell,
                gain_q8=gain_q8,
                offset=offset,
                threshold=threshold,
                fraction=fraction,
                area=area,
                touched=touched,
                before=prior,
            )
            assert np.array_equal(differs, want)
            assert both == want_both
            seen += int(want.any())
    assert seen >= 6


@pytest.mark.parametrize("density", [0.1, 0.3, 0.6])
def test_still_cells_keep_only_cells_beside_another(density: float) -> None:
    """Whole cells changed at random (a sparse, a medium and a dense pattern): a changed
    cell counts only beside another changed one, at every edge and corner of the box."""
    rng = np.random.default_rng(int(density * 10))
    rows, cols, cell = 40, 61, 4
    pattern = rng.random((rows, cols)) < density
    last = np.zeros((rows * cell, cols * cell - 2), dtype=np.uint8)
    view = np.kron(pattern, np.ones((cell, cell), dtype=np.uint8))[:, : cols * cell - 2] * 200
    area = np.full((rows, cols), 16.0)
    area[:, -1] = 8.0
    touched = rng.random((rows, cols)) < 0.9
    before = rng.random((rows, cols)) < 0.5
    differs = np.empty((rows, cols), dtype=bool)
    both = _still(
        view.astype(np.uint8), last, cell, 256, 0, 12, 0.5, area, touched, before, differs
    )
    want = pattern & has_neighbour_reference(pattern) & touched
    assert np.array_equal(differs, want)
    assert both == int(np.count_nonzero(want & before))


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 9), (7, 1), (2, 2), (19, 31), (45, 80)])
def test_bodies_are_their_reference(rows: int, cols: int) -> None:
    """The one pass after the light-only test (body, occupied, the occupied cells believed
    empty) against the numpy reference: random maps at every density, all set, none set,
    non-contiguous inputs; a wrong argument is named."""
    rng = np.random.default_rng(rows * 100 + cols)
    for density in (0.0, 0.1, 0.3, 0.6, 1.0):
        for _ in range(8):
            differs = rng.random((rows, cols)) < density
            light = rng.random((rows, cols)) < 0.3
            believed = rng.random((rows, cols)) < 0.5
            got = bodies(differs, light, believed)
            want = bodies_reference(differs, light, believed)
            assert np.array_equal(got[0], want[0])
            assert np.array_equal(got[1], want[1])
            assert got[2] == want[2]
    wide = rng.random((rows, 2 * cols)) < 0.5
    got = bodies(wide[:, ::2], wide[:, 1::2], wide[:, ::2])
    want = bodies_reference(wide[:, ::2], wide[:, 1::2], wide[:, ::2])
    assert all(np.array_equal(g, w) for g, w in zip(got[:2], want[:2], strict=True))
    assert got[2] == want[2]
    ones = np.ones((rows, cols), dtype=bool)
    assert bodies(ones, ~ones, ones)[2] == (rows * cols if rows * cols > 1 else 0)
    with pytest.raises(ValueError, match="light"):
        bodies(ones, ones.astype(np.uint8), ones)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="believed"):
        bodies(ones, ones, np.ones((rows + 1, cols), dtype=bool))


def test_same_values_is_array_equal() -> None:
    """The freeze check's comparison: equal, one value off (first, middle, last), other
    shapes, dtypes and strides, as np.array_equal says."""
    rng = np.random.default_rng(3)
    a = rng.integers(-(2**40), 2**40, (45, 80), dtype=np.int64)
    assert same_values(a, a.copy())
    for index in ((0, 0), (22, 40), (44, 79)):
        b = a.copy()
        b[index] += 1
        assert not same_values(a, b)
    assert not same_values(a, a.reshape(80, 45).copy())
    assert same_values(a[:, ::2], a[:, ::2].copy())
    assert not same_values(a[:, ::2], a[:, 1::2].copy())
    assert same_values(a.astype(np.int32), a.astype(np.int32)) == np.array_equal(a, a)
    empty = np.zeros((0, 3), dtype=np.int64)
    assert same_values(empty, empty.copy())


def _moments(grey_sum: npt.NDArray[np.int64], step: int, area: npt.NDArray[np.float64]) -> None:
    inv_area = 1.0 / area[::step, ::step]
    means = np.zeros(inv_area.shape)
    squares = np.zeros(inv_area.shape)
    got = lattice_moments(grey_sum, step, inv_area, means, squares, np.zeros(2))
    want = lattice_moments_reference(grey_sum, step, inv_area)
    assert np.float64(got[0]).tobytes() == np.float64(want[0]).tobytes(), (grey_sum.shape, step)
    assert np.float64(got[1]).tobytes() == np.float64(want[1]).tobytes(), (grey_sum.shape, step)
    assert np.array_equal(means, grey_sum[::step, ::step] * inv_area)
    # The diagnostics' per-frame entry: the lattice's arrays taken in once, twice in a row.
    kept = _cells.MomentsPass(
        step, inv_area, np.zeros(inv_area.shape), np.zeros(inv_area.shape), np.zeros(2)
    )
    for _ in range(2):
        again = kept.run(np.ascontiguousarray(grey_sum))
        assert np.array(again).tobytes() == np.array(want, dtype=np.float64).tobytes()


@pytest.mark.parametrize(
    ("rows", "cols"),
    [
        (1, 1),
        (1, 7),
        (2, 4),
        (1, 9),
        (8, 16),
        (1, 127),
        (1, 129),
        (3, 43),
        (16, 16),
        (45, 80),
        (90, 160),
        (64, 64),
        (65, 63),
        (180, 320),
    ],
)
def test_lattice_moments_are_numpys_to_the_bit(rows: int, cols: int) -> None:
    """The diagnostics' sums of the lattice's cell means and squares against numpy's
    (pairwise) sums, bit for bit: lattices of 1 to 4096 cells across the sizes where
    numpy's summation changes (8, 128, each split), every lattice step, partial edge
    cells, random, flat, black and saturated sums, and a rendered frame's."""
    rng = np.random.default_rng(rows * 1000 + cols)
    cell = 4
    area = np.full((rows, cols), float(cell * cell))
    area[-1, :] = 8.0
    area[:, -1] = 12.0
    for step in (1, 2, 3, 4):
        for grey_sum in (
            rng.integers(0, 255 * cell * cell + 1, (rows, cols), dtype=np.int64),
            np.zeros((rows, cols), dtype=np.int64),
            np.full((rows, cols), 255 * cell * cell, dtype=np.int64),
            np.full((rows, cols), 1234, dtype=np.int64),
        ):
            _moments(grey_sum, step, area)


@pytest.mark.parametrize(("width", "height"), [(320, 180), (333, 187), (1280, 720)])
def test_lattice_moments_of_rendered_frames(width: int, height: int) -> None:
    """On rendered frames' grey sums (day and night), at the detector's lattice step."""
    from controller.vision.diagnostics import LATTICE_CELLS
    from controller.vision.light import lattice_step

    for condition in (Condition.DAY, Condition.NIGHT):
        camera = LaneCamera(CameraSpec(width=width, height=height), condition, seed=3)
        frame = camera.render([Vehicle(id=1, front_x_m=-2.0)], 0, 500)
        stats = frame_stats(
            frame, frame, frame.copy(), cell=4, ref_threshold=255, motion_threshold=255
        )
        ones = np.ones((height, width), dtype=np.uint8)
        area = frame_stats(
            ones, ones, ones.copy(), cell=4, ref_threshold=255, motion_threshold=255
        ).grey_sum.astype(np.float64)
        step = lattice_step(area.shape[0], area.shape[1], LATTICE_CELLS)
        _moments(stats.grey_sum, step, area)


def test_lattice_moments_name_a_wrong_argument() -> None:
    grey_sum = np.zeros((8, 8), dtype=np.int64)
    inv_area = np.ones((4, 4))
    means, squares, out = np.zeros((4, 4)), np.zeros((4, 4)), np.zeros(2)
    with pytest.raises(ValueError, match="step"):
        lattice_moments(grey_sum, 0, inv_area, means, squares, out)
    with pytest.raises(ValueError, match="grey_sum"):
        lattice_moments(grey_sum.astype(np.int32), 2, inv_area, means, squares, out)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grey_sum"):
        lattice_moments(grey_sum, 3, inv_area, means, squares, out)
    with pytest.raises(ValueError, match="squares"):
        lattice_moments(grey_sum, 2, inv_area, means, np.zeros((4, 5)), out)
    with pytest.raises(ValueError, match="out"):
        lattice_moments(grey_sum, 2, inv_area, means, squares, np.zeros(3))
