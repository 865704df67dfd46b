"""The compiled light fit against its numpy reference, and the light it recovers.

Both sides compute the same float sums in a different order: gain and offset
agree to 1e-9 (relative); the number of cells kept is an integer and equal.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from controller.vision.kernel import frame_stats, grid_shape
from controller.vision.light import LightFit, LightSettings, lattice_step
from controller.vision.light_reference import fit_light_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera

F64 = npt.NDArray[np.float64]


def _cell_means(image: npt.NDArray[np.uint8], cell: int) -> tuple[npt.NDArray[np.int64], F64]:
    """(grey sums, areas) per cell, the partial cells at the edges included."""
    h, w = image.shape
    stats = frame_stats(
        image, image, image.copy(), cell=cell, ref_threshold=255, motion_threshold=255
    )
    ones = np.ones((h, w), dtype=np.uint8)
    area = frame_stats(ones, ones, ones.copy(), cell=cell, ref_threshold=255, motion_threshold=255)
    return stats.grey_sum, area.grey_sum.astype(np.float64)


def _check(
    fit: LightFit,
    grey_sum: npt.NDArray[np.int64],
    area: F64,
    ref: F64,
    cells: npt.NDArray[np.bool_],
) -> tuple[float, float]:
    gain, offset = fit.fit(grey_sum, area, ref, cells)
    s = fit.settings
    step = fit.step
    selected = cells if int(cells[::step, ::step].sum()) >= s.min_cells else np.ones_like(cells)
    want = fit_light_reference(
        grey_sum,
        area,
        ref,
        selected,
        min_spread=s.min_spread,
        floor=s.floor,
        factor=s.factor,
        min_cells=s.min_cells,
        step=step,
    )
    assert gain == pytest.approx(want[0], rel=1e-9, abs=1e-12)
    assert offset == pytest.approx(want[1], rel=1e-9, abs=1e-9)
    assert int(fit._out[2]) == want[2]
    return gain, offset


@pytest.mark.parametrize("condition", [Condition.DAY, Condition.NIGHT], ids=lambda c: c.value)
def test_a_known_exposure_change_is_recovered_past_a_vehicle(condition: Condition) -> None:
    """Frame = 0.7 * reference + 12 with a bright vehicle over some cells: the fit finds
    0.7 and 12 within a grey level, and the compiled fit equals the reference."""
    camera = LaneCamera(CameraSpec(width=320, height=180), condition, seed=2)
    reference = camera.render([], 0, 0)
    frame = np.clip(reference.astype(np.float64) * 0.7 + 12.0, 0, 255).astype(np.uint8)
    frame[60:100, 100:180] = 240
    ref_sum, area = _cell_means(reference, 4)
    grey_sum, _ = _cell_means(frame, 4)
    ref_means = ref_sum / area
    fit = LightFit(grid_shape(180, 320, 4))
    cells = np.ones(fit.shape, dtype=bool)
    gain, offset = _check(fit, grey_sum, area, ref_means, cells)
    assert gain == pytest.approx(0.7, abs=0.02)
    assert offset == pytest.approx(12.0, abs=1.5)
    assert fit.fit_q8(grey_sum, area, ref_means, cells) == (round(gain * 256), round(offset))


@pytest.mark.parametrize("condition", [Condition.DAY, Condition.NIGHT], ids=lambda c: c.value)
def test_a_large_dark_shadow_does_not_drag_the_fit(condition: Condition) -> None:
    """Frame = 0.8 * reference + 6 with a hard shadow (half the light) over the left 40 %
    of the picture and a bright vehicle: the fit finds 0.8 and 6, not a mix of the shadow
    and the light (a least-squares start, then one trimming round, gave gain 1.00 by day
    and 0.93 by night here); compiled equals reference."""
    camera = LaneCamera(CameraSpec(width=320, height=180), condition, seed=2)
    reference = camera.render([], 0, 0)
    light = np.clip(reference.astype(np.float64) * 0.8 + 6.0, 0, 255)
    light[:, :128] *= 0.5
    frame = light.astype(np.uint8)
    frame[60:100, 200:260] = 240
    ref_sum, area = _cell_means(reference, 4)
    grey_sum, _ = _cell_means(frame, 4)
    fit = LightFit(grid_shape(180, 320, 4))
    cells = np.ones(fit.shape, dtype=bool)
    gain, offset = _check(fit, grey_sum, area, ref_sum / area, cells)
    assert gain == pytest.approx(0.8, abs=0.02)
    assert offset == pytest.approx(6.0, abs=1.5)
    # The shadowed cells (a third of the grid's columns and more) are the ones left out.
    assert int(fit._out[2]) < 0.62 * cells.size


@pytest.mark.parametrize(("height", "width", "cell"), [(37, 53, 4), (101, 67, 5), (9, 9, 3)])
def test_odd_grids_and_random_selections_match_the_reference(
    height: int, width: int, cell: int
) -> None:
    """Odd sizes, partial edge cells, random selections (odd and even counts for the median)."""
    rng = np.random.default_rng(height * width)
    reference = rng.integers(0, 256, (height, width)).astype(np.uint8)
    frame = np.clip(reference * 1.2 - 20 + rng.normal(0, 3, reference.shape), 0, 255).astype(
        np.uint8
    )
    ref_sum, area = _cell_means(reference, cell)
    grey_sum, _ = _cell_means(frame, cell)
    fit = LightFit(grid_shape(height, width, cell))
    for share in (1.0, 0.8, 0.5, 0.1, 0.0):
        cells = rng.random(fit.shape) < share
        _check(fit, grey_sum, area, ref_sum / area, cells)


@pytest.mark.parametrize(
    ("height", "width", "cell", "max_cells"), [(37, 53, 4, 20), (101, 67, 3, 97)]
)
def test_a_sparse_lattice_matches_the_reference(
    height: int, width: int, cell: int, max_cells: int
) -> None:
    """With a lattice coarser than the grid, the compiled fit still equals the reference."""
    rng = np.random.default_rng(height + width)
    reference = rng.integers(0, 256, (height, width)).astype(np.uint8)
    frame = np.clip(reference * 0.8 + 9 + rng.normal(0, 3, reference.shape), 0, 255).astype(
        np.uint8
    )
    ref_sum, area = _cell_means(reference, cell)
    grey_sum, _ = _cell_means(frame, cell)
    fit = LightFit(grid_shape(height, width, cell), LightSettings(max_cells=max_cells))
    assert fit.step > 1
    for share in (1.0, 0.5, 0.05):
        _check(fit, grey_sum, area, ref_sum / area, rng.random(fit.shape) < share)


def test_only_the_lattice_is_fitted() -> None:
    """Cells off the lattice lit differently change nothing; on it, the fit follows them."""
    rng = np.random.default_rng(4)
    ref = rng.uniform(30, 220, (60, 80))
    area = np.full(ref.shape, 16.0)
    fit = LightFit(ref.shape, LightSettings(max_cells=1200))
    assert fit.step == 2
    on = np.zeros(ref.shape, dtype=bool)
    on[::2, ::2] = True
    means = np.where(on, ref * 0.6 + 20, ref * 1.5 - 30)
    grey_sum = np.round(means * 16).astype(np.int64)
    gain, offset = _check(fit, grey_sum, area, ref, np.ones(ref.shape, dtype=bool))
    assert gain == pytest.approx(0.6, abs=0.01)
    assert offset == pytest.approx(20.0, abs=1.0)


def test_lattice_step_is_the_smallest_that_fits() -> None:
    """1280x720 in 4-pixel cells (180 x 320) samples every 4th cell, 3600 of them."""
    assert lattice_step(180, 320, 4096) == 4
    assert lattice_step(90, 160, 4096) == 2
    assert lattice_step(10, 10, 4096) == 1
    assert lattice_step(7, 7, 1) == 7
    with pytest.raises(ValueError, match="max_cells"):
        LightSettings(max_cells=0)


@pytest.mark.parametrize("value", [0, 255])
def test_flat_pictures_fit_a_pure_gain(value: int) -> None:
    """A flat reference (no spread) fits a pure gain; a black one gives gain 1, offset 0."""
    flat = np.full((40, 60), value, dtype=np.uint8)
    ref_sum, area = _cell_means(flat, 4)
    fit = LightFit(grid_shape(40, 60, 4))
    gain, offset = _check(fit, ref_sum, area, ref_sum / area, np.ones(fit.shape, dtype=bool))
    assert offset == 0.0
    assert gain == 1.0


def test_settings_change_what_is_left_out() -> None:
    """A tighter floor and factor leave more cells out: the count follows the settings."""
    rng = np.random.default_rng(9)
    reference = rng.integers(20, 230, (64, 64)).astype(np.uint8)
    frame = np.clip(reference + rng.normal(0, 6, reference.shape), 0, 255).astype(np.uint8)
    ref_sum, area = _cell_means(reference, 4)
    grey_sum, _ = _cell_means(frame, 4)
    cells = np.ones(grid_shape(64, 64, 4), dtype=bool)
    loose = LightFit(cells.shape, LightSettings(floor=50.0))
    tight = LightFit(cells.shape, LightSettings(floor=0.0, factor=1.0))
    _check(loose, grey_sum, area, ref_sum / area, cells)
    _check(tight, grey_sum, area, ref_sum / area, cells)
    assert int(loose._out[2]) == cells.size > int(tight._out[2])


def test_bad_arguments_are_named_errors() -> None:
    """Wrong dtype or shape of any input: a ValueError naming it."""
    fit = LightFit((4, 5))
    good = (
        np.zeros((4, 5), dtype=np.int64),
        np.ones((4, 5)),
        np.ones((4, 5)),
        np.ones((4, 5), dtype=bool),
    )
    with pytest.raises(ValueError, match="grey_sum"):
        fit.fit(good[0].astype(np.int32), *good[1:])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="area"):
        fit.fit(good[0], np.ones((4, 6)), *good[2:])
    with pytest.raises(ValueError, match="cells"):
        fit.fit(*good[:3], np.ones((4, 5), dtype=np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        LightFit((0, 5))


def _medians_cases() -> list[tuple[str, F64]]:
    rng = np.random.default_rng(15)
    cases: list[tuple[str, F64]] = []
    for n in (1, 2, 3, 16, 17, 18, 33, 1022, 1023, 1024, 1025, 3600, 3601, 4096, 10_001):
        cases.append((f"normal-{n}", rng.normal(1.0, 0.01, n)))
        cases.append((f"ties-{n}", rng.integers(0, 5, n).astype(np.float64)))
        cases.append((f"sorted-{n}", np.sort(rng.uniform(0, 9, n))))
        cases.append((f"reversed-{n}", np.sort(rng.uniform(0, 9, n))[::-1].copy()))
    for n in (17, 40, 1024, 3600, 3601):
        cases.append((f"equal-{n}", np.full(n, 0.25)))
        # Few distinct values in long runs, and a sawtooth: the partitions' equal ranges.
        cases.append((f"runs-{n}", np.repeat(rng.integers(0, 9, n // 8 + 1), 8)[:n] * 0.5))
        cases.append((f"saw-{n}", (np.arange(n) % 7).astype(np.float64)))
        cases.append((f"two-{n}", np.where(np.arange(n) < n // 2, 1.0, 2.0)))
        # The sampled places hold the smallest values: the bracket misses the middle and
        # quickselect on every value answers.
        fooled = rng.uniform(10, 20, n)
        fooled[(np.arange(256) * n) // 256] = -np.arange(256, dtype=np.float64)
        cases.append((f"fooled-{n}", fooled))
        # Half the values far out on each side, the middle between them.
        split = np.concatenate([rng.uniform(-1e9, -1e8, n // 2), rng.uniform(1e8, 1e9, n - n // 2)])
        cases.append((f"split-{n}", rng.permutation(split)))
    return cases


@pytest.mark.parametrize(("name", "values"), _medians_cases(), ids=lambda v: str(v)[:14])
def test_the_fits_median_is_numpys_to_the_bit(name: str, values: F64) -> None:
    """The compiled median (a sample brackets the middle, then a pass and a small select,
    each select a quickselect without data-dependent branches) against np.median: the same
    float, bit for bit, for odd and even counts, ties and long runs of equal values, sorted
    input, and a sample that misses the middle; the values are left as they were."""
    from controller.vision import _light

    kept = values.copy()
    scratch = np.zeros(2 * values.size, dtype=np.float64)
    got = _light.median(values, scratch)
    assert np.float64(got).tobytes() == np.median(values).tobytes(), name
    assert np.array_equal(values, kept)


def test_a_map_changed_in_place_is_counted_again() -> None:
    """The count of selected lattice cells is kept only for a read-only map (it cannot
    change); a writeable one changed in place between fits is counted again: each fit
    equals a fresh fit's."""
    rng = np.random.default_rng(21)
    reference = rng.integers(20, 230, (64, 64)).astype(np.uint8)
    frame = np.clip(reference * 0.9 + 8 + rng.normal(0, 2, reference.shape), 0, 255)
    ref_sum, area = _cell_means(reference, 4)
    grey_sum, _ = _cell_means(frame.astype(np.uint8), 4)
    ref = ref_sum / area
    kept = LightFit(ref_sum.shape)
    cells = np.zeros(ref_sum.shape, dtype=bool)
    cells[0, :5] = True
    for few in (False, True, False):
        # Few selected (5, under min_cells): every cell is fitted; many: only those.
        cells[4:, :8] = not few
        assert kept.fit(grey_sum, area, ref, cells) == LightFit(ref_sum.shape).fit(
            grey_sum, area, ref, cells
        )
    frozen = cells.copy()
    frozen.flags.writeable = False
    want = LightFit(ref_sum.shape).fit(grey_sum, area, ref, frozen)
    assert kept.fit(grey_sum, area, ref, frozen) == want
    assert kept.fit(grey_sum, area, ref, frozen) == want
    assert want != LightFit(ref_sum.shape).fit(grey_sum, area, ref, np.ones_like(cells))
