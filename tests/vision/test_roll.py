"""A view that turns about its axis: the sway meter measures the roll, and the warp undoes it.

The scene is frame 0 of the real motorway clip (tests/data/README.md): dashed
markings repeat down the road, and its camera turns by ~15 mrad over the clip,
which moves one side of the zones ~10 px up against the other. A view turned
by a known roll about the zones' centre and moved by a known shift there is
rendered with OpenCV, and the meter must find both.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.io.camera import read_video
from controller.vision.kernel import grid_shape
from controller.vision.registration import SwayMeter, fit_roll
from controller.vision.registration_reference import fit_roll_reference
from controller.vision.warp import roll_into, shift_into
from controller.vision.zones import load_zones, zone_grid

Frame = npt.NDArray[np.uint8]
DATA = Path(__file__).resolve().parents[1] / "data"
CELL = 4


@pytest.fixture(scope="module")
def motorway() -> tuple[Frame, npt.NDArray[np.bool_]]:
    """Frame 0 of the clip and its zones' cells (rows 360-480)."""
    _, _, frame = next(iter(read_video(str(DATA / "motorway_shadows.mp4"))))
    grid = zone_grid(load_zones(DATA / "motorway_zones.toml"), 540, 960, CELL)
    any_zone = np.zeros(grid_shape(540, 960, CELL), dtype=bool)
    for mask in grid.masks.values():
        any_zone |= mask
    return frame, any_zone


def _turned(
    reference: Frame, dx: float, dy: float, roll: float, centre: tuple[float, float]
) -> Frame:
    """What a camera sees that turned by roll about centre and moved by (dx, dy) there:
    frame(c + d + R(roll) (p - c)) = reference(p)."""
    cx, cy = centre
    c, s = math.cos(roll), math.sin(roll)
    forward = np.array(
        [[c, -s, cx + dx - c * cx + s * cy], [s, c, cy + dy - s * cx - c * cy]], dtype=np.float64
    )
    h, w = reference.shape
    out = cv2.warpAffine(
        reference, forward, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, dtype=np.uint8)


def _settled(
    meter: SwayMeter,
    reference: Frame,
    dx: float,
    dy: float,
    roll: float,
    steps: int = 12,
) -> tuple[Frame, tuple[float, float]]:
    """The view turning and moving there over ``steps`` frames (a mast turns slowly:
    the clip's ~15 mrad took some 200 frames), then a few frames at rest; the last
    frame and the sway measured on it."""
    still = np.zeros(meter._keep_all.shape, dtype=bool)
    shift = (0.0, 0.0)
    frame = reference
    for k in [*range(1, steps + 1), *[steps] * 3]:
        f = k / steps
        frame = _turned(reference, dx * f, dy * f, roll * f, meter.centre)
        shift = meter.measure(frame, reference, still)
    return frame, shift


@pytest.mark.parametrize(
    ("dx", "dy", "roll"),
    [
        (4.0, -9.0, -0.015),
        (-5.2, -12.5, -0.0085),
        (2.5, -1.5, 0.0),
        (1.3, 2.4, 0.006),
    ],
)
def test_a_turned_view_is_measured_at_the_zones_centre(
    motorway: tuple[Frame, npt.NDArray[np.bool_]], dx: float, dy: float, roll: float
) -> None:
    """The roll to 0.5 mrad and the shift at the zones' centre to 0.2 px; a view that only
    moved reports no roll."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    _, got = _settled(meter, reference, dx, dy, roll)
    assert meter.roll == pytest.approx(roll, abs=5e-4)
    assert got == pytest.approx((dx, dy), abs=0.2)


@pytest.mark.parametrize("roll", [-0.012, -0.004, 0.004, 0.012])
@pytest.mark.parametrize(("dx", "dy"), [(1.3, 2.4), (-0.7, 1.6), (1.0, 2.0)])
def test_turns_of_either_sign_settle_at_the_true_roll(
    motorway: tuple[Frame, npt.NDArray[np.bool_]], dx: float, dy: float, roll: float
) -> None:
    """At shifts where a box's block search lands 1-2 px off (the dashes repeat down the
    road), Lucas-Kanade must carry it the rest of the way: a box left there reads as a
    roll ~1.2 mrad off, whichever way the view turned."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    _, got = _settled(meter, reference, dx, dy, roll)
    assert meter.roll == pytest.approx(roll, abs=3e-4)
    assert got == pytest.approx((dx, dy), abs=0.1)


def test_the_real_clips_turn_is_followed_as_opencv_finds_it(
    motorway: tuple[Frame, npt.NDArray[np.bool_]],
) -> None:
    """Over the clip's first 211 frames the view turns by ~15 mrad and moves ~10 px: at
    every 30th frame the meter's roll is within 0.4 mrad of ``cv2.findTransformECC``'s
    (rotation and shift, whole frame, against frame 0), and the zones' corners it places
    within 0.5 px of where ECC puts them."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    still = np.zeros(meter._keep_all.shape, dtype=bool)
    corners = np.array(
        [p for z in load_zones(DATA / "motorway_zones.toml") for p in z.polygon], dtype=float
    )
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    checked = 0
    for index, _, frame in read_video(str(DATA / "motorway_shadows.mp4")):
        dx, dy = meter.measure(frame, reference, still)
        if index % 30 or index == 0:
            if index >= 210:
                break
            continue
        _, ecc = cv2.findTransformECC(
            reference,
            frame,
            np.eye(2, 3, dtype=np.float32),
            cv2.MOTION_EUCLIDEAN,
            criteria,
            np.full_like(reference, 255),
            5,
        )
        assert meter.roll == pytest.approx(math.atan2(ecc[1, 0], ecc[0, 0]), abs=4e-4), index
        placed = cv2.transform(corners[None], ecc.astype(np.float64))[0]
        c, s = math.cos(meter.roll), math.sin(meter.roll)
        cx, cy = meter.centre
        px, py = corners[:, 0] - cx, corners[:, 1] - cy
        ours = np.stack([cx + dx + c * px - s * py, cy + dy + s * px + c * py], axis=1)
        assert float(np.hypot(*(ours - placed).T).max()) < 0.5, index
        checked += 1
    assert checked == 7


def test_the_turn_undone_gives_the_reference_back(
    motorway: tuple[Frame, npt.NDArray[np.bool_]],
) -> None:
    """Over the zones' rows the frame turned back matches the reference (the markings'
    edges included), where undoing the shift alone leaves the markings pixels off."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    frame, (dx, dy) = _settled(meter, reference, 4.0, -9.0, -0.015)
    band = np.s_[370:470, 120:880]
    rolled = roll_into(frame, dx, dy, meter.roll, meter.centre, np.empty_like(frame))
    shifted = shift_into(frame, dx, dy, np.empty_like(frame))
    off_rolled = np.abs(rolled[band].astype(int) - reference[band]).mean()
    off_shifted = np.abs(shifted[band].astype(int) - reference[band]).mean()
    assert off_rolled < 1.5, off_rolled
    assert off_shifted > 3 * off_rolled, (off_shifted, off_rolled)


def test_a_box_a_vehicle_fools_is_outvoted(
    motorway: tuple[Frame, npt.NDArray[np.bool_]],
) -> None:
    """A bright block moving through one box (not masked) leaves the sway as it was."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    frame, _ = _settled(meter, reference, 3.0, -6.0, -0.01)
    r0, r1, c0, c1 = meter.boxes[1]
    fooled = frame.copy()
    fooled[r0 + 20 : r1 - 40, c0 + 10 : c1 - 30] = reference[r0 + 40 : r1 - 20, c0 + 30 : c1 - 10]
    got = meter.measure(fooled, reference, np.zeros(meter._keep_all.shape, dtype=bool))
    assert meter.roll == pytest.approx(-0.01, abs=5e-4)
    assert got == pytest.approx((3.0, -6.0), abs=0.2)


def test_roll_is_fitted_exactly() -> None:
    """Shifts made by a known roll and shift at four points give that roll back."""
    roll, t = -0.012, (2.0, -3.0)
    points = [(100.0, 180.0), (340.0, 180.0), (580.0, 180.0), (820.0, 200.0)]
    shifts = [(t[0] - roll * (y - 300.0), t[1] + roll * (x - 500.0)) for x, y in points]
    assert fit_roll(points, shifts) == pytest.approx(roll, abs=1e-12)


def test_roll_into_without_a_roll_is_the_shift(
    motorway: tuple[Frame, npt.NDArray[np.bool_]],
) -> None:
    """OpenCV's affine resampling and the compiled shift agree to interpolation rounding."""
    reference, _ = motorway
    a = roll_into(reference, 1.37, -2.81, 0.0, (480.0, 420.0), np.empty_like(reference))
    b = shift_into(reference, 1.37, -2.81, np.empty_like(reference))
    assert int(np.abs(a.astype(int) - b).max()) <= 2


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"roll": 0.8}, "roll"), ({"roll": math.nan}, "roll"), ({"dx": math.inf}, "dx")],
)
def test_bad_rolls_are_named_errors(kwargs: dict[str, float], word: str) -> None:
    frame = np.zeros((36, 64), dtype=np.uint8)
    args: dict[str, float] = {"dx": 0.0, "dy": 0.0, "roll": 0.01} | kwargs
    with pytest.raises(ValueError, match=word):
        roll_into(frame, args["dx"], args["dy"], args["roll"], (32.0, 18.0), np.empty_like(frame))


def test_a_view_that_only_moved_measures_the_outer_boxes_alone(
    motorway: tuple[Frame, npt.NDArray[np.bool_]],
) -> None:
    """No roll and outer boxes that agree: the inner boxes are not searched (the meter
    costs what one box did); a turned view searches them all."""
    reference, any_zone = motorway
    meter = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    _settled(meter, reference, 2.5, -1.5, 0.0)
    assert [r is not None for r in meter._references] == [True, False, False, True]
    turned = SwayMeter(any_zone, 540, 960, CELL, 16.0)
    _settled(turned, reference, 4.0, -9.0, -0.015)
    assert all(r is not None for r in turned._references)


def test_fit_roll_is_its_reference_to_the_bit() -> None:
    """Two to six boxes anywhere, shifts of either sign and zero: the loops give the very
    float the sums give (the sway's rounding to a hundredth must not move)."""
    rng = np.random.default_rng(5)
    for _ in range(2000):
        n = int(rng.integers(2, 7))
        points = [(float(x), float(y)) for x, y in rng.uniform(-500.0, 1500.0, (n, 2))]
        shifts = [(float(x), float(y)) for x, y in rng.uniform(-20.0, 20.0, (n, 2))]
        shifts[0] = (0.0, -0.0)
        got, want = fit_roll(points, shifts), fit_roll_reference(points, shifts)
        assert got == want or (math.isnan(got) and math.isnan(want))
    with pytest.raises(ValueError, match="shifts"):
        fit_roll([(0.0, 0.0), (1.0, 1.0)], [(0.0, 0.0)])
