"""The compiled sway undo against its numpy reference, bit for bit, and against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.vision import _warp
from controller.vision.warp import shift_into, split_shift
from controller.vision.warp_reference import shift_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle

Frame = npt.NDArray[np.uint8]


def _rendered(width: int, height: int, condition: Condition = Condition.DAY) -> Frame:
    cam = LaneCamera(CameraSpec(width=width, height=height), condition, seed=4)
    return cam.render([Vehicle(id=1, front_x_m=-5.0)], 0, 1234)


SHIFTS = [
    (0.0, 0.0),
    (2.0, -3.0),
    (0.5, 0.5),
    (-0.5, 1.5),
    (1.37, -2.81),
    (-15.99, 15.99),
    (255 / 256, -1 / 256),
    (0.001, -0.001),
    (40.25, -60.75),
]


LEVELS = list(range(_warp.cpu_simd_level() + 1))
"""Every row pass this CPU can run (portable, then AVX2 where it has it)."""


@pytest.fixture(params=LEVELS, ids=lambda level: f"level{level}")
def level(request: pytest.FixtureRequest) -> object:
    """Each row pass in turn; the best one is restored after the test."""
    assert _warp.set_simd_level(request.param) == request.param
    yield request.param
    _warp.set_simd_level(_warp.cpu_simd_level())


@pytest.mark.parametrize(("dx", "dy"), SHIFTS)
@pytest.mark.parametrize(("width", "height"), [(320, 180), (333, 187), (9, 8), (64, 1), (1283, 7)])
def test_shift_is_the_reference_bit_for_bit(
    dx: float, dy: float, width: int, height: int, level: int
) -> None:
    """Rendered frames of odd sizes, shifts with every kind of fraction and beyond the frame,
    at every row pass level."""
    frame = _rendered(max(width, 64), max(height, 36))[:height, :width].copy()
    out = np.full_like(frame, 77)
    shift_into(frame, dx, dy, out)
    assert np.array_equal(out, shift_reference(frame, dx, dy))


def test_level_is_clamped_to_the_cpu() -> None:
    """A level above the CPU's is capped to it, below the portable one raised to it."""
    try:
        assert _warp.set_simd_level(99) == _warp.cpu_simd_level()
        assert _warp.set_simd_level(-5) == 0
        assert _warp.simd_level() == 0
    finally:
        _warp.set_simd_level(_warp.cpu_simd_level())


def test_edge_values_do_not_wrap(level: int) -> None:
    """All 0 and all 255 frames, and a checkerboard of both, stay in range at any fraction."""
    board = (np.indices((37, 53)).sum(axis=0) % 2 * 255).astype(np.uint8)
    for frame in (np.zeros((37, 53), np.uint8), np.full((37, 53), 255, np.uint8), board):
        for dx, dy in SHIFTS:
            out = shift_into(frame, dx, dy, np.empty_like(frame))
            assert np.array_equal(out, shift_reference(frame, dx, dy))
    assert (shift_into(board, 0.5, 0.5, np.empty_like(board))[1:-1, 1:-1] == 128).all()
    full = np.full((37, 53), 255, np.uint8)
    assert (shift_into(full, 0.3, 0.7, np.empty_like(full)) == 255).all()


def test_whole_pixel_shift_moves_the_picture_and_repeats_the_edge() -> None:
    """out(y, x) = frame(y + 2, x - 3), the edge rows and columns repeated."""
    frame = _rendered(320, 180)
    out = shift_into(frame, -3.0, 2.0, np.empty_like(frame))
    assert np.array_equal(out[:-2, 3:], frame[2:, :-3])
    assert np.array_equal(out[-2:, 3:], np.repeat(frame[-1:, :-3], 2, axis=0))
    assert np.array_equal(out[:-2, :3], np.repeat(frame[2:, :1], 3, axis=1))


def test_close_to_opencv_bilinear_warp() -> None:
    """The same picture OpenCV's warpAffine gives (it keeps 5 bits of fraction, this 8)."""
    frame = _rendered(320, 180, Condition.NIGHT)
    dx, dy = 1.37, -2.81
    want = cv2.warpAffine(
        frame,
        np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]]),
        (320, 180),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    got = shift_into(frame, dx, dy, np.empty_like(frame))
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert int(diff.max()) <= 3
    assert float(diff.mean()) < 0.3


def test_split_shift_and_bad_arguments_are_named() -> None:
    """A shift splits into whole pixels and a Q8 fraction; bad arrays are named errors."""
    assert split_shift(-0.5) == (-1, 128)
    assert split_shift(2.999) == (3, 0)
    assert split_shift(-1 / 256) == (-1, 255)
    frame = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="shift"):
        split_shift(float("nan"))
    with pytest.raises(ValueError, match="out: shape"):
        shift_into(frame, 0.0, 0.0, np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="frame: expected a 2-D uint8"):
        shift_into(frame.astype(np.float32), 0.0, 0.0, frame)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out: must not overlap"):
        shift_into(frame, 0.0, 0.0, frame)
    with pytest.raises(ValueError, match="C-contiguous"):
        shift_into(np.zeros((8, 16), np.uint8)[:, ::2], 0.0, 0.0, frame)
