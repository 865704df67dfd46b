"""The compiled registration pass against its numpy reference, and the sway it measures.

Integer results (every Lucas-Kanade sum) must be equal; the float results
(shifts, texture) agree to 1e-9 px: both sides do the same float operations,
only the order of the profile sums' float statistics differs.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.vision import _registration
from controller.vision.kernel import grid_shape
from controller.vision.registration import Registration
from controller.vision.registration_reference import keep_pixels, lk_sums, register_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera

TOL = 1e-9

LEVELS = list(range(_registration.cpu_simd_level() + 1))
"""Every Lucas-Kanade chunk loop this CPU can run (portable, then AVX2 where it has it)."""


@pytest.fixture(params=LEVELS, ids=lambda level: f"level{level}")
def level(request: pytest.FixtureRequest) -> object:
    """Each chunk loop in turn; the best one is restored after the test."""
    assert _registration.set_simd_level(request.param) == request.param
    yield request.param
    _registration.set_simd_level(_registration.cpu_simd_level())


Frame = npt.NDArray[np.uint8]


def _moved(frame: Frame, dx: float, dy: float) -> Frame:
    """The frame as a camera moved by (dx, dy) sees it: moved(x) = frame(x - d)."""
    h, w = frame.shape
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    out = cv2.warpAffine(
        frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, dtype=np.uint8)


def _compare(reg: Registration, frame: Frame, ref: Frame, mask: Frame) -> None:
    shift = reg.measure(frame, ref, mask)
    compiled = tuple(float(v) for v in reg._out)
    want = register_reference(
        frame,
        ref,
        mask,
        cell=reg.cell,
        box=reg.box,
        reach=reg.reach,
        iterations=reg.iterations,
        fine=reg.fine,
    )
    assert compiled == pytest.approx(want, abs=TOL)
    if want[4] >= 0.5:
        assert (shift.dx, shift.dy) == pytest.approx(want[:2], abs=TOL)


@pytest.fixture(scope="module")
def scene() -> tuple[Frame, Frame]:
    camera = LaneCamera(CameraSpec(width=640, height=360), Condition.DAY, seed=4)
    return camera.render([], 0, 0), camera.render([], 0, 67)


@pytest.mark.parametrize(
    ("dx", "dy"), [(0.0, 0.0), (1.37, -0.84), (-2.6, 2.2), (0.31, 0.07), (-4.5, -3.25)]
)
def test_compiled_matches_reference_and_measures_the_sway(
    scene: tuple[Frame, Frame], dx: float, dy: float, level: int
) -> None:
    """On a rendered road moved by a known subpixel shift, both agree and find it to 0.05 px."""
    ref, frame = scene
    reg = Registration(360, 640, 4, (212, 360, 0, 640), max_shift_px=16.0)
    mask = np.ones(reg.grid, dtype=np.uint8)
    moved = _moved(frame, dx, dy)
    _compare(reg, moved, ref, mask)
    shift = reg.measure(moved, ref, mask)
    assert shift.dx == pytest.approx(dx, abs=0.05)
    assert shift.dy == pytest.approx(dy, abs=0.05)
    assert not shift.beyond


@pytest.mark.parametrize(("dx", "dy"), [(1.37, -0.84), (-4.6, 3.2), (7.3, -6.1)])
def test_larger_blocks_match_the_reference_and_measure_the_sway(
    dx: float, dy: float, level: int
) -> None:
    """At 1280x720 the blocks are 8 pixels (the same stretch of road as 4 at 640x360):
    both sides agree, the sway is found to 0.05 px, and odd masks and cells still agree
    (blocks cut across cells, and blocks made of whole cells)."""
    camera = LaneCamera(CameraSpec(width=1280, height=720), Condition.DAY, seed=4)
    ref, frame = camera.render([], 0, 0), camera.render([], 0, 67)
    reg = Registration(720, 1280, 4, (504, 632, 384, 896), max_shift_px=16.0, fine=8)
    assert reg.fine == 8
    moved = _moved(frame, dx, dy)
    _compare(reg, moved, ref, np.ones(reg.grid, dtype=np.uint8))
    shift = reg.measure(moved, ref, np.ones(reg.grid, dtype=np.uint8))
    assert shift.dx == pytest.approx(dx, abs=0.05)
    assert shift.dy == pytest.approx(dy, abs=0.05)
    rng = np.random.default_rng(8)
    # Blocks cut across cells (odd corners, 5-pixel cells), and blocks of whole cells
    # (8 = 2 x 4 and 4 x 2 pixels: the 1280x720 detector's case) under holed masks.
    for cell, box in (
        (4, (501, 637, 381, 899)),
        (5, (500, 640, 380, 900)),
        (4, (504, 632, 384, 896)),
        (2, (502, 634, 382, 894)),
    ):
        odd = Registration(720, 1280, cell, box, max_shift_px=16.0, fine=8)
        mask = (rng.random(odd.grid) < 0.8).astype(np.uint8)
        _compare(odd, moved, ref, mask)
        # Lucas-Kanade samples every 8th row with 8-pixel blocks.
        assert odd.row_step == 8
        keep = keep_pixels(mask, cell, box)
        got = odd.lk_sums(moved, ref, mask, dx, dy)
        assert got == lk_sums(moved, ref, keep, box, dx, dy, 8)
        assert got != lk_sums(moved, ref, keep, box, dx, dy, 4)


def test_lucas_kanade_sums_are_exact(scene: tuple[Frame, Frame], level: int) -> None:
    """Every integer sum of a step equals numpy's, at shifts that sample outside the frame too."""
    ref, frame = scene
    rng = np.random.default_rng(5)
    for box in ((212, 360, 0, 640), (0, 37, 3, 611), (100, 229, 17, 330)):
        reg = Registration(360, 640, 4, box, max_shift_px=16.0)
        mask = (rng.random(reg.grid) > 0.3).astype(np.uint8)
        keep = keep_pixels(mask, 4, box)
        for dx, dy in ((0.0, 0.0), (-3.7, 2.2), (5.999, -0.001), (-0.5, -7.5)):
            got = reg.lk_sums(frame, ref, mask, dx, dy)
            assert got == lk_sums(frame, ref, keep, box, dx, dy, reg.row_step), (box, dx, dy)
            assert got["n"] > 0


@pytest.fixture(scope="module")
def motorway() -> Frame:
    """Frame 0 of the real motorway clip (tests/data/README.md)."""
    from pathlib import Path

    from controller.io.camera import read_video

    clip = Path(__file__).resolve().parents[1] / "data" / "motorway_shadows.mp4"
    _, _, frame = next(iter(read_video(str(clip))))
    return frame


@pytest.mark.parametrize("box", [(100, 260, 40, 200), (100, 260, 520, 680), (100, 260, 760, 920)])
@pytest.mark.parametrize(("dx", "dy"), [(1.3, 2.4), (2.5, -1.5), (-0.7, 1.6), (1.0, 2.0)])
def test_lucas_kanade_carries_a_block_search_a_block_off_to_the_shift(
    motorway: Frame, box: tuple[int, int, int, int], dx: float, dy: float, level: int
) -> None:
    """On the real road (the sway meter's boxes at 960x540) the block search lands up to
    ~2.7 px off at these shifts; Lucas-Kanade must still reach the shift to 0.05 px, and
    the compiled pass keep the same answer as numpy."""
    reg = Registration(540, 960, 4, box, max_shift_px=16.0)
    mask = np.ones(reg.grid, dtype=np.uint8)
    moved = _moved(motorway, dx, dy)
    _compare(reg, moved, motorway, mask)
    shift = reg.measure(moved, motorway, mask)
    assert (shift.dx, shift.dy) == pytest.approx((dx, dy), abs=0.05)


@pytest.mark.parametrize(("height", "width", "cell"), [(197, 333, 4), (181, 259, 5), (64, 97, 3)])
def test_odd_sizes_masks_and_cells_match_the_reference(
    height: int, width: int, cell: int, level: int
) -> None:
    """Odd frame sizes, cells that do not divide them, masks with holes, boxes at the edges."""
    rng = np.random.default_rng(height)
    base = cv2.GaussianBlur(rng.integers(0, 256, (height, width)).astype(np.uint8), (0, 0), 1.5)
    ref = np.ascontiguousarray(base)
    frame = _moved(base, 1.3, -0.6)
    grid = grid_shape(height, width, cell)
    for box in ((0, height, 0, width), (height // 3, height, 1, width - 2)):
        reg = Registration(height, width, cell, box, max_shift_px=6.0)
        for keep_share in (1.0, 0.7):
            mask = (rng.random(grid) < keep_share).astype(np.uint8)
            _compare(reg, frame, ref, mask)


@pytest.mark.parametrize("value", [0, 255])
def test_flat_pictures_measure_nothing(value: int) -> None:
    """A black or saturated picture has no texture: the shift is 0, not noise or a NaN."""
    flat = np.full((120, 200), value, dtype=np.uint8)
    reg = Registration(120, 200, 4, (0, 120, 0, 200), max_shift_px=8.0)
    mask = np.ones(reg.grid, dtype=np.uint8)
    _compare(reg, flat, flat, mask)
    shift = reg.measure(flat, flat, mask)
    assert (shift.dx, shift.dy, shift.beyond, shift.measured) == (0.0, 0.0, False, False)


def test_a_fully_masked_box_measures_nothing(scene: tuple[Frame, Frame]) -> None:
    """With every cell left out there is nothing to compare: shift 0, both sides agree."""
    ref, frame = scene
    reg = Registration(360, 640, 4, (212, 360, 0, 640), max_shift_px=16.0)
    mask = np.zeros(reg.grid, dtype=np.uint8)
    _compare(reg, frame, ref, mask)
    assert reg.measure(frame, ref, mask).size == 0.0


def test_a_view_moved_beyond_the_search_says_so(scene: tuple[Frame, Frame]) -> None:
    """Moved 17 rows, it is measured; moved 30 (past the 24 px the search reaches), the
    search hits its bound (``beyond``); moved 60, no shift searched matches (not
    ``measured``, shift 0)."""
    ref, _ = scene
    reg = Registration(360, 640, 4, (212, 360, 0, 640), max_shift_px=16.0)
    mask = np.ones(reg.grid, dtype=np.uint8)
    assert reg.reach == 3
    near = reg.measure(np.roll(ref, 17, axis=0), ref, mask)
    assert near.measured and not near.beyond
    assert near.dy == pytest.approx(17.0, abs=0.05)
    assert reg.measure(np.roll(ref, 30, axis=0), ref, mask).beyond
    far = reg.measure(np.roll(ref, 60, axis=0), ref, mask)
    assert (far.measured, far.dx, far.dy) == (False, 0.0, 0.0)


def test_a_vehicle_in_the_box_is_left_out_by_the_mask(scene: tuple[Frame, Frame]) -> None:
    """A bright block crossing the box drags the shift unless its cells are masked out."""
    ref, frame = scene
    moved = _moved(frame, 0.8, 0.4)
    moved[230:300, 100:260] = 230
    reg = Registration(360, 640, 4, (212, 360, 0, 640), max_shift_px=16.0)
    mask = np.ones(reg.grid, dtype=np.uint8)
    mask[230 // 4 : 300 // 4 + 1, 100 // 4 : 260 // 4 + 1] = 0
    shift = reg.measure(moved, ref, mask)
    assert shift.dx == pytest.approx(0.8, abs=0.05)
    assert shift.dy == pytest.approx(0.4, abs=0.05)
    _compare(reg, moved, ref, mask)


def test_bad_arguments_are_named_errors() -> None:
    """Wrong dtype, shape, mask grid or box: a ValueError naming the argument."""
    reg = Registration(64, 96, 4, (0, 64, 0, 96), max_shift_px=8.0)
    good = np.zeros((64, 96), dtype=np.uint8)
    mask = np.ones(reg.grid, dtype=np.uint8)
    with pytest.raises(ValueError, match="fine"):
        Registration(100, 100, 4, (0, 100, 0, 100), max_shift_px=8.0, fine=1)
    with pytest.raises(ValueError, match="frame"):
        reg.measure(good.astype(np.int16), good, mask)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference"):
        reg.measure(good, good[:, :90], mask)
    with pytest.raises(ValueError, match="mask"):
        reg.measure(good, good, mask[:, :3])
    with pytest.raises(ValueError, match="box"):
        Registration(64, 96, 4, (0, 65, 0, 96), max_shift_px=8.0)
    with pytest.raises(ValueError, match="cell"):
        Registration(64, 96, 0, (0, 64, 0, 96), max_shift_px=8.0)


@pytest.mark.parametrize(
    ("height", "width", "cell", "box", "fine"),
    [(360, 640, 4, (212, 360, 0, 640), 4), (187, 333, 5, (101, 187, 3, 331), 4)],
)
def test_what_is_kept_of_the_reference_gives_the_same_shift(
    height: int, width: int, cell: int, box: tuple[int, int, int, int], fine: int
) -> None:
    """Frame after frame against one reference, the pass that keeps the reference's sums
    (``same_reference``) writes what a fresh pass writes, to the bit; a changed mask or a
    new reference is taken up even when the caller says the reference is the same."""
    camera = LaneCamera(CameraSpec(width=width, height=height), Condition.DAY, seed=6)
    ref = camera.render([], 0, 0)
    other = camera.render([], 0, 5000)
    kept = Registration(height, width, cell, box, max_shift_px=16.0, fine=fine)
    fresh = Registration(height, width, cell, box, max_shift_px=16.0, fine=fine)
    rng = np.random.default_rng(11)
    full = np.ones(kept.grid, dtype=np.uint8)
    holed = (rng.random(kept.grid) < 0.9).astype(np.uint8)
    steps = [
        (ref, full, 0.0, 0.0),
        (ref, full, 0.4, -0.3),
        (ref, full, -1.7, 2.2),
        (ref, holed, -1.7, 2.2),
        (ref, holed, 0.9, 0.1),
        (ref, full, 0.9, 0.1),
        (other, full, 0.2, 0.6),
        (other, full, -0.6, -0.2),
    ]
    reused = 0
    for k, (reference, mask, dx, dy) in enumerate(steps):
        frame = _moved(camera.render([], 0, 67 * (k + 1)), dx, dy)
        same = k > 0 and reference is steps[k - 1][0]
        before = kept._kept.copy()
        got = kept.measure(frame, reference, mask, same_reference=same)
        want = fresh.measure(frame, reference, mask)
        reused += same and bool(before[0]) and np.array_equal(before[5:], kept._kept[5:])
        assert (got.dx, got.dy) == (want.dx, want.dy), k
        assert np.array_equal(kept._out, fresh._out), k
    assert reused >= 2, "the kept sums were never used"


def test_a_reference_changed_in_place_is_not_taken_for_the_same() -> None:
    """``SwayMeter``: the same array changed in place after ``reference_changed`` measures
    what a fresh meter measures."""
    from controller.vision.registration import SwayMeter

    camera = LaneCamera(CameraSpec(width=640, height=360), Condition.DAY, seed=6)
    any_zone = np.zeros(grid_shape(360, 640, 4), dtype=bool)
    any_zone[:40, :] = True
    differs = np.zeros_like(any_zone)
    reference = camera.render([], 0, 0)
    frame = _moved(camera.render([], 0, 67), 0.8, -0.5)
    meter = SwayMeter(any_zone, 360, 640, 4, 16.0)
    meter.measure(frame, reference, differs)
    reference[...] = _moved(reference, 1.5, 0.0)
    meter.reference_changed()
    fresh = SwayMeter(any_zone, 360, 640, 4, 16.0)
    assert meter.measure(frame, reference, differs) == fresh.measure(frame, reference, differs)
