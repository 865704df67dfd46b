"""The compiled light-only window test against its numpy reference, and what it tells apart.

The misfit, the pixels left out and their count are exact integers on both
sides and must be equal. The plane fits, covariances and the residual are
float sums taken in a different order: they agree to 1e-9 (relative, 1e-7
absolute). A verdict may differ only for a window whose figures lie within
that tolerance of a threshold (none did in these cases).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from controller.vision.light_only import LightOnly, LightOnlySettings
from controller.vision.light_only_reference import STATS, light_windows_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle

Frame = npt.NDArray[np.uint8]
Idx = npt.NDArray[np.intp]

DEFAULTS = {
    "texture_min": 3.5,
    "light_corr": 0.75,
    "light_contrast": 1.35,
    "light_residual": 12.0,
}


def _settings(win: int, trim: float = 0.2, across: int = 3) -> LightOnlySettings:
    return LightOnlySettings(win=win, trim=trim, across=across, **DEFAULTS)


def _near_threshold(stats: npt.NDArray[np.float64], s: LightOnlySettings) -> npt.NDArray[np.bool_]:
    col = {name: stats[:, k] for k, name in enumerate(STATS)}
    tol = 1e-6
    return (
        (np.abs(col["corr"] - s.light_corr) < tol)
        | (np.abs(col["slope"] - 0.2) < tol)
        | (np.abs(col["slope"] - 5.0) < tol)
        | (np.abs(col["var_r"] - s.texture_min**2) < tol)
        | (np.abs(col["left"] - s.light_residual) < tol)
    )


def _check(
    test: LightOnly,
    frame: Frame,
    reference: Frame,
    ys: Idx,
    xs: Idx,
    *,
    steady: bool,
    gain: float = 1.0,
    offset: float = 0.0,
) -> npt.NDArray[np.bool_]:
    s = test.settings
    got = test.windows(frame, reference, ys, xs, steady=steady, gain=gain, offset=offset).copy()
    want, want_stats = light_windows_reference(
        frame,
        reference,
        ys,
        xs,
        win=s.win,
        trim=s.trim,
        steady=steady,
        across=s.across,
        gain=gain,
        offset=offset,
        **DEFAULTS,
    )
    stats = test.stats
    np.testing.assert_array_equal(stats[:, 0], want_stats[:, 0])  # pixels kept: exact
    np.testing.assert_allclose(stats[:, 1:], want_stats[:, 1:], rtol=1e-9, atol=1e-7)
    differ = got != want
    assert not (differ & ~_near_threshold(want_stats, s)).any()
    return got


def _all_windows(shape: tuple[int, int], win: int, step: int) -> tuple[Idx, Idx]:
    ys, xs = np.mgrid[0 : shape[0] - win + 1 : step, 0 : shape[1] - win + 1 : step]
    return ys.ravel().astype(np.intp), xs.ravel().astype(np.intp)


@pytest.mark.parametrize(
    "condition", [Condition.DAY, Condition.NIGHT, Condition.SHADOWS], ids=lambda c: c.value
)
@pytest.mark.parametrize("steady", [True, False], ids=["steady", "swaying"])
def test_rendered_frames_match_the_reference(condition: Condition, steady: bool) -> None:
    camera = LaneCamera(CameraSpec(width=320, height=180), condition, seed=3)
    reference = camera.render([], 0, 0)
    car = Vehicle(id=1, front_x_m=2.0)
    frame = camera.render([car], 0, 4000)
    test = LightOnly(_settings(8))
    ys, xs = _all_windows(frame.shape, 8, 4)
    light = _check(test, frame, reference, ys, xs, steady=steady)
    # Both answers occur: the comparison covers verdicts of each kind.
    assert light.any() and not light.all()


@pytest.mark.parametrize(
    ("height", "width", "win"),
    # 16: the quantile bounded in lanes seven deep; 56: misfits past 32-bit integers.
    [(37, 53, 7), (41, 29, 9), (23, 61, 6), (40, 44, 16), (118, 61, 56)],
)
@pytest.mark.parametrize("trim", [0.0, 0.2, 0.35])
def test_odd_sizes_windows_and_trims_match_the_reference(
    height: int, width: int, win: int, trim: float
) -> None:
    rng = np.random.default_rng(height * width + win)
    reference = rng.integers(0, 256, (height, width), dtype=np.uint8)
    # Half the picture a shadow over the same texture, the rest noise or a new texture.
    frame = np.clip(reference * 0.6 + rng.normal(0, 3, reference.shape), 0, 255).astype(np.uint8)
    frame[height // 2 :] = rng.integers(0, 256, (height - height // 2, width), dtype=np.uint8)
    test = LightOnly(_settings(win, trim=trim))
    ys, xs = _all_windows(frame.shape, win, 1)
    for steady in (True, False):
        light = _check(test, frame, reference, ys, xs, steady=steady, gain=0.9, offset=-3.0)
        assert light.any() and not light.all()


@pytest.mark.parametrize("win", [8, 56], ids=["win8", "win56"])
@pytest.mark.parametrize("kind", ["binary", "black", "white", "black_on_white"])
def test_edge_values_match_the_reference(kind: str, win: int) -> None:
    """Black against white, the largest misfits there are; at 56 pixels a side they no
    longer fit 32-bit integers, and the pass must not wrap them."""
    rng = np.random.default_rng(7)
    shape = (33 + win - 8, 47 + win - 8)
    binary = (rng.integers(0, 2, shape) * 255).astype(np.uint8)
    zeros, full = np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)
    frame, reference = {
        "binary": (binary, binary[::-1].copy()),
        "black": (zeros, binary),
        "white": (full, full),
        "black_on_white": (zeros, full),
    }[kind]
    test = LightOnly(_settings(win))
    ys, xs = _all_windows(shape, win, 1)
    for steady in (True, False):
        _check(test, frame, reference, ys, xs, steady=steady)
    # A flat picture has no texture to follow: never light only.
    if kind in ("white", "black_on_white"):
        assert not test.windows(frame, reference, ys, xs, steady=True, gain=1.0, offset=0.0).any()


def test_a_shadow_is_light_and_a_body_is_not() -> None:
    rng = np.random.default_rng(11)
    reference = np.clip(rng.normal(120, 25, (40, 40)), 0, 255).astype(np.uint8)
    shadow = (reference * 0.55).astype(np.uint8)
    body = reference.copy()
    body[8:32, 8:32] = 200
    test = LightOnly(_settings(8))
    ys = np.array([8, 16, 24], dtype=np.intp)
    xs = np.array([16, 16, 16], dtype=np.intp)
    assert _check(test, shadow, reference, ys, xs, steady=True).all()
    assert not _check(test, body, reference, ys, xs, steady=True).any()
    kept = test.stats[:, 0]
    # The trim leaves out a fifth of the 64 pixels, never more.
    assert (kept >= 51).all() and (kept <= 64).all()


def test_a_thin_line_is_left_out_on_a_steady_camera_only() -> None:
    """A cable across a shadowed window: left out (light) when steady; a thick bar is not."""
    rng = np.random.default_rng(5)
    reference = np.clip(rng.normal(120, 20, (24, 24)), 0, 255).astype(np.uint8)
    cable = (reference * 0.6).astype(np.uint8)
    cable[11, :] = 255
    bar = cable.copy()
    bar[9:15, :] = 255
    test = LightOnly(_settings(8, trim=0.2))
    ys, xs = np.array([8], dtype=np.intp), np.array([8], dtype=np.intp)
    assert _check(test, cable, reference, ys, xs, steady=True).all()
    assert test.stats[0, 0] <= 56  # the cable's 8 pixels among those left out
    assert not _check(test, bar, reference, ys, xs, steady=True).any()


def test_bad_arguments_are_named_errors() -> None:
    test = LightOnly(_settings(8))
    image = np.zeros((20, 20), np.uint8)
    one = np.array([0], dtype=np.intp)
    with pytest.raises(ValueError, match="frame"):
        test.windows(image.astype(np.int16), image, one, one, steady=True, gain=1.0, offset=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference"):
        test.windows(image, image[:10], one, one, steady=True, gain=1.0, offset=0.0)
    with pytest.raises(ValueError, match="ys, xs"):
        test.windows(image, image, np.array([13]), one, steady=True, gain=1.0, offset=0.0)
    with pytest.raises(ValueError, match="gain"):
        test.windows(image, image, one, one, steady=True, gain=0.0, offset=0.0)
    with pytest.raises(ValueError, match="across"):
        LightOnly(_settings(8, across=9))
    with pytest.raises(ValueError, match="trim"):
        LightOnly(_settings(8, trim=1.0))


@pytest.mark.parametrize(
    ("height", "width", "margin", "past"), [(180, 320, 2, 4), (67, 93, 3, 0), (41, 71, 1, 5)]
)
def test_margin_reads_the_images_as_padded(height: int, width: int, margin: int, past: int) -> None:
    """Windows on images read as padded (edge pixels repeated) are the windows on padded
    copies, to the verdict and every figure, over every place a window may take: the
    corners and edges included."""
    camera = LaneCamera(CameraSpec(width=width, height=height), Condition.SHADOWS, seed=5)
    reference = camera.render([], 0, 0)
    frame = camera.render([Vehicle(id=1, front_x_m=-3.0)], 0, 3000)
    win = 8
    pad = ((margin, margin + past), (margin, margin + past))
    padded_frame = np.pad(frame, pad, mode="edge")
    padded_ref = np.pad(reference, pad, mode="edge")
    ys, xs = _all_windows(padded_frame.shape, win, 1)
    test = LightOnly(_settings(win))
    for steady in (True, False):
        want = _check(test, padded_frame, padded_ref, ys, xs, steady=steady, gain=1.1, offset=2.0)
        want_stats = test.stats.copy()
        got = test.windows(
            frame, reference, ys, xs, steady=steady, gain=1.1, offset=2.0, margin=margin, past=past
        )
        assert np.array_equal(got, want)
        assert np.array_equal(test.stats, want_stats)
    with pytest.raises(ValueError, match="leaves the padded"):
        test.windows(
            frame,
            reference,
            ys[-1:] + 1,
            xs[-1:],
            steady=True,
            gain=1.0,
            offset=0.0,
            margin=margin,
            past=past,
        )


@pytest.mark.parametrize(("win", "across"), [(7, 1), (7, 2), (8, 4), (6, 6), (9, 5)])
def test_every_opening_width_matches_the_reference(win: int, across: int) -> None:
    """The steady camera's opening (taken one axis at a time) for every width up to the
    window's own, on a shadow over texture with thin and thick bodies in it."""
    rng = np.random.default_rng(win * 10 + across)
    reference = rng.integers(0, 256, (40, 52), dtype=np.uint8)
    frame = np.clip(reference * 0.7 + rng.normal(0, 2, reference.shape), 0, 255).astype(np.uint8)
    frame[5:7, :] = 250  # a cable two pixels thick
    frame[20:30, 10:22] = rng.integers(0, 256, (10, 12), dtype=np.uint8)  # a body
    test = LightOnly(_settings(win, across=across))
    ys, xs = _all_windows(frame.shape, win, 1)
    light = _check(test, frame, reference, ys, xs, steady=True)
    assert light.any() and not light.all()


def test_cells_to_look_at_are_the_references_frame_after_frame() -> None:
    """``select_cells`` against its numpy reference over frames with state carried: the
    verdicts kept and dropped, the cells marked valid and the windows' corners, in order,
    on random grids and boxes that reach the grid's edges."""
    from controller.vision import _light_only
    from controller.vision.light_only_reference import select_cells_reference

    rng = np.random.default_rng(21)
    rows, cols, cell = 23, 37, 4
    valid = np.zeros((rows, cols), dtype=bool)
    verdict = np.zeros((rows, cols), dtype=bool)
    want_valid, want_verdict = valid.copy(), verdict.copy()
    ys = np.zeros(rows * cols, dtype=np.intp)
    xs = np.zeros(rows * cols, dtype=np.intp)
    outside = rng.random((rows, cols)) < 0.3
    looked = kept = 0
    for frame in range(12):
        occupied = rng.random((rows, cols)) < 0.6
        motion = ((rng.random((rows, cols)) < 0.4) * rng.integers(1, 9)).astype(np.int32)
        box = (
            (0, rows, 0, cols)
            if frame % 3 == 0
            else (int(rng.integers(0, 5)), rows - 2, 3, int(rng.integers(20, cols + 1)))
        )
        # Some verdicts set, as the light-only test leaves them.
        light = rng.random((rows, cols)) < 0.5
        verdict |= valid & light
        want_verdict |= want_valid & light
        kept += int((verdict & valid).sum())
        count = _light_only.select_cells(
            occupied.view(np.uint8),
            np.ascontiguousarray(motion),
            outside.view(np.uint8),
            valid.view(np.uint8),
            verdict.view(np.uint8),
            *box,
            cell,
            ys,
            xs,
        )
        want_ys, want_xs = select_cells_reference(
            occupied, motion, outside, want_valid, want_verdict, box, cell
        )
        looked += count
        assert np.array_equal(ys[:count], want_ys), frame
        assert np.array_equal(xs[:count], want_xs), frame
        assert np.array_equal(valid, want_valid), frame
        assert np.array_equal(verdict, want_verdict), frame
    assert looked and kept


def test_cells_name_a_box_outside_the_grid() -> None:
    from controller.vision.light_only import LightCells
    from controller.vision.settings import DetectorSettings

    cells = LightCells(DetectorSettings().light_only(2), 40, 60, 4, 2)
    grid = np.zeros((10, 15), dtype=bool)
    with pytest.raises(ValueError, match="box"):
        cells.cells(grid, np.zeros((10, 15), dtype=np.int32), grid, (0, 11, 0, 15))
    with pytest.raises(ValueError, match="motion_count"):
        cells.cells(grid, np.zeros((10, 15), dtype=np.int64), grid, (0, 10, 0, 15))


def test_a_refresh_drops_only_the_verdicts_its_cells_reach() -> None:
    """After a refresh that blended some cells, only the cells whose windows take pixels
    from those are looked at again; the rest keep their verdicts while nothing moves (a
    vehicle standing in the bay is not judged again every refresh). Another reference
    drops every verdict."""
    from controller.vision.light_only import LightCells
    from controller.vision.settings import DetectorSettings

    rng = np.random.default_rng(7)
    h, w, cell = 40, 60, 4
    cells = LightCells(DetectorSettings().light_only(2), h, w, cell, 2)
    assert cells.reach == 1
    reference = rng.integers(60, 200, (h, w), dtype=np.uint8)
    frame = (reference // 2).astype(np.uint8)
    grid = (h // cell, w // cell)
    occupied = np.ones(grid, dtype=bool)
    still = np.zeros(grid, dtype=np.int32)
    outside = np.zeros(grid, dtype=bool)
    looked: list[set[tuple[int, int]]] = []
    real = cells.windows

    def record(ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        looked.append({(int(y) // cell, int(x) // cell) for y, x in zip(ys, xs, strict=True)})
        return real(ys, xs)

    cells.windows = record  # type: ignore[method-assign]

    def look() -> set[tuple[int, int]]:
        looked.clear()
        cells.cells(occupied, still, outside, (0, grid[0], 0, grid[1]))
        return set().union(*looked)

    everything = {(r, c) for r in range(grid[0]) for c in range(grid[1])}
    cells.new_reference(reference)
    cells.new_frame(frame, steady=True, gain=1.0, offset=0.0)
    assert look() == everything
    assert look() == set()
    changed = np.zeros(grid, dtype=bool)
    changed[5, 7] = True
    changed[0, 0] = True
    cells.new_reference(reference, changed)
    near = {(r, c) for r in range(4, 7) for c in range(6, 9)} | {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert look() == near
    cells.new_reference(reference)
    assert look() == everything
    with pytest.raises(ValueError, match="changed"):
        cells.new_reference(reference, np.zeros((3, 3), dtype=bool))
