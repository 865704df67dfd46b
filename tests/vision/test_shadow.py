"""The shadow test on synthetic cells: what a shadow does to the road, and what a body does.

The road is a textured asphalt (grey 104, texture about 7 grey levels rms, as the
renderer draws it) with sensor noise; a shadow multiplies it by the sky's share of
the light (0.45); a body is flat paint. Each case is many windows with fresh texture
and noise, so a verdict is a rate, not one lucky draw.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.bench.detector import render_clip
from controller.vision import _shadow, shadow_reference
from controller.vision.detector import Detector
from controller.vision.light_only import LightCells, LightOnlySettings
from controller.vision.shadow import ShadowSettings, shadow_windows

Frame = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

CELL = 4
MARGIN = 2
WIN = CELL + 2 * MARGIN
SIDE = 96
"""Each picture is SIDE x SIDE pixels; the windows tile its inside."""


def _road(rng: np.random.Generator, texture: float = 7.0) -> F32:
    noise = rng.normal(0.0, 1.0, (SIDE, SIDE)).astype(np.float32)
    fine = np.asarray(cv2.GaussianBlur(noise, (0, 0), 0.8), dtype=np.float32)
    road: F32 = np.asarray(104.0 + fine * (texture / max(float(fine.std()), 1e-6)), np.float32)
    return road


def _grey(image: F32, rng: np.random.Generator, noise: float) -> Frame:
    out: Frame = np.clip(image + rng.normal(0.0, noise, image.shape), 0, 255).astype(np.uint8)
    return out


def _windows() -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Window corners (as the detector passes them: padded coordinates) over the inside."""
    starts = np.arange(2 * CELL, SIDE - 2 * CELL, CELL, dtype=np.intp)
    ys, xs = np.meshgrid(starts, starts, indexing="ij")
    return ys.ravel(), xs.ravel()


def _verdicts(frame: Frame, reference: Frame) -> npt.NDArray[np.bool_]:
    ys, xs = _windows()
    return shadow_windows(
        frame,
        reference,
        ys - MARGIN,
        xs - MARGIN,
        cell=CELL,
        gain=1.0,
        offset=0.0,
        settings=ShadowSettings(),
    )


def _case(
    seed: int, make: str
) -> tuple[Frame, Frame, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(frame, reference, per window: does it see a change at all, is its cell half body?)."""
    rng = np.random.default_rng(seed)
    road = _road(rng)
    before = road.copy()
    seen = road.copy()
    body = np.zeros((SIDE, SIDE), dtype=bool)
    cols = np.arange(SIDE)[None, :] * np.ones((SIDE, 1))
    rows = np.arange(SIDE)[:, None] * np.ones((1, SIDE))
    # A slanted edge, so windows see it at every offset.
    edge = cols + 0.3 * rows > SIDE / 2
    if make == "shadow":
        seen *= 0.45
    elif make == "shadow_edge":
        seen[edge] *= 0.45
    elif make == "shadow_left":
        # The reference was taken with a shadow over one side; it has gone.
        before[edge] *= 0.45
    elif make == "dark_body":
        seen[...] = 50.0
        body[...] = True
    elif make == "bright_body":
        seen[...] = 200.0
        body[...] = True
    elif make == "body_in_shadow":
        seen[...] = 150.0 * 0.45
        body[...] = True
    elif make == "body_and_shadow":
        seen *= 0.45
        seen[edge] = 50.0
        body = edge
    else:
        raise AssertionError(make)
    reference = _grey(before, rng, 1.0)
    frame = _grey(seen, rng, 2.5)
    ys, xs = _windows()
    moved = np.pad(np.abs(seen - before) > 1.0, MARGIN, mode="edge")
    changed = np.array([moved[y : y + WIN, x : x + WIN].any() for y, x in zip(ys, xs, strict=True)])
    cell_body = np.array(
        [
            body[y - MARGIN : y - MARGIN + CELL, x - MARGIN : x - MARGIN + CELL].mean() >= 0.5
            for y, x in zip(ys, xs, strict=True)
        ]
    )
    return frame, reference, changed, cell_body


@pytest.mark.parametrize("make", ["shadow", "shadow_edge", "shadow_left"])
def test_a_shadow_over_texture_is_light(make: str) -> None:
    """A shadow, a shadow's edge, a shadow gone from the reference: nearly every window is
    judged a change of light (a few unlucky noise draws may fail; grouping drops them)."""
    rates = []
    for seed in range(3):
        frame, reference, changed, _ = _case(seed, make)
        light = _verdicts(frame, reference)
        rates.append(light[changed].mean())
    assert min(rates) >= 0.7, rates


@pytest.mark.parametrize("make", ["dark_body", "bright_body", "body_in_shadow", "body_and_shadow"])
def test_a_body_over_texture_is_not_light(make: str) -> None:
    """A body hides the texture: dark or bright, in a shadow or beside one, it is never light."""
    for seed in range(3):
        frame, reference, _, body = _case(seed, make)
        light = _verdicts(frame, reference)
        assert body.sum() >= 100
        assert light[body].mean() <= 0.01, (seed, np.flatnonzero(light & body))


def test_a_shadow_on_a_road_without_texture_is_not_light() -> None:
    """Without texture a shadow looks like a dark body: the test does not guess."""
    rng = np.random.default_rng(7)
    road = _road(rng, texture=0.5)
    reference = _grey(road, rng, 1.0)
    frame = _grey((road * 0.45).astype(np.float32), rng, 2.5)
    assert not _verdicts(frame, reference).any()


def _light_only_settings(win: int) -> LightOnlySettings:
    """The light-only test's settings both light-stage tests run with."""
    return LightOnlySettings(
        win=win,
        trim=0.2,
        across=3,
        texture_min=3.5,
        light_corr=0.75,
        light_contrast=1.35,
        light_residual=12.0,
    )


def _light_cells(frame: Frame, reference: Frame) -> LightCells:
    """The detector's light stage (light-only test, then the shadow test) on a steady view."""
    settings = _light_only_settings(WIN)
    cells = LightCells(settings, SIDE, SIDE, CELL, MARGIN)
    cells.new_reference(reference)
    cells.new_frame(frame, steady=True, gain=1.0, offset=0.0)
    return cells


def test_the_detector_stage_takes_shadows_the_light_only_test_rejects() -> None:
    """Through ``LightCells`` (as the detector runs it): a shadow's edge over texture
    fails the smooth light-only test in most windows, and the shadow test takes them."""
    frame, reference, changed, _ = _case(11, "shadow_edge")
    cells = _light_cells(frame, reference)
    ys, xs = _windows()
    alone = cells.test.windows(
        frame, reference, ys, xs, steady=True, gain=1.0, offset=0.0, margin=MARGIN, past=CELL
    )
    both = cells.windows(ys, xs)
    # The shadow test only adds: what the light-only test took stays taken.
    assert not (alone & ~both).any()
    assert alone[changed].mean() < 0.4
    assert both[changed].mean() >= 0.75


def test_sub_pixel_shift_of_a_marking_edge_is_light_on_a_steady_camera() -> None:
    """A marking's edge half a pixel off (a registration error) is no body: the
    light-only stage leaves the thin line of misfit out."""
    rng = np.random.default_rng(5)
    road = _road(rng)
    marking = road.copy()
    marking[:, 44:52] = 220.0
    moved = cv2.warpAffine(
        marking, np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]), (SIDE, SIDE), flags=cv2.INTER_LINEAR
    )
    reference = _grey(marking, rng, 1.0)
    frame = _grey(np.asarray(moved, dtype=np.float32), rng, 2.5)
    cells = _light_cells(frame, reference)
    ys, xs = _windows()
    near = (xs >= 44 - CELL) & (xs <= 52 + CELL) & (ys >= 2 * CELL) & (ys < SIDE - 3 * CELL)
    light = cells.windows(ys[near], xs[near])
    assert light.mean() >= 0.9, light


def test_bad_arguments_are_named_errors() -> None:
    frame = np.zeros((16, 16), dtype=np.uint8)
    ys = np.zeros(1, dtype=np.intp)
    s = ShadowSettings()
    with pytest.raises(ValueError, match="frame"):
        shadow_windows(
            frame.astype(np.float32),
            frame,
            ys,
            ys,
            cell=CELL,
            gain=1.0,
            offset=0.0,
            settings=s,
        )
    with pytest.raises(ValueError, match="reference"):
        shadow_windows(frame, frame[:8], ys, ys, cell=CELL, gain=1.0, offset=0.0, settings=s)
    with pytest.raises(ValueError, match="ys, xs"):
        shadow_windows(frame, frame, ys, ys[:0], cell=CELL, gain=1.0, offset=0.0, settings=s)
    with pytest.raises(ValueError, match="gain"):
        shadow_windows(frame, frame, ys, ys, cell=CELL, gain=0.0, offset=0.0, settings=s)
    with pytest.raises(ValueError, match="cell"):
        shadow_windows(frame, frame, ys, ys, cell=0, gain=1.0, offset=0.0, settings=s)
    with pytest.raises(ValueError, match="margin"):
        ShadowSettings(margin=-1)
    with pytest.raises(ValueError, match="part_min"):
        ShadowSettings(part_min=0.5)
    with pytest.raises(ValueError, match="factor_min"):
        ShadowSettings(factor_min=1.2)
    with pytest.raises(ValueError, match="trim"):
        ShadowSettings(trim=0.6)


# The compiled pass against its numpy definition (``shadow_reference``): the same
# float32 numbers in the same order, so the same verdicts, exactly, window by window.


def _both(
    frame: Frame,
    reference: Frame,
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    *,
    cell: int,
    gain: float,
    offset: float,
    settings: ShadowSettings,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    kwargs = {"cell": cell, "gain": gain, "offset": offset, "settings": settings}
    compiled = shadow_windows(frame, reference, ys, xs, **kwargs)  # type: ignore[arg-type]
    defined = shadow_reference.shadow_windows(frame, reference, ys, xs, **kwargs)  # type: ignore[arg-type]
    return compiled, defined


Look = tuple[Frame, Frame, npt.NDArray[np.intp], npt.NDArray[np.intp], bool, float, float]


def _composed(cells: LightCells, look: Look) -> tuple[npt.NDArray[np.bool_], ...]:
    """(the one-call pass's verdicts, the light-only test's alone, the shadow test's
    compiled and numpy verdicts on the windows the light-only test rejects)."""
    frame, reference, ys, xs, steady, gain, offset = look
    cells.new_reference(reference)
    cells.new_frame(frame, steady=steady, gain=gain, offset=offset)
    fused = cells.windows(ys, xs)
    light = cells.test.windows(
        frame,
        reference,
        ys,
        xs,
        steady=steady,
        gain=gain,
        offset=offset,
        margin=cells.margin,
        past=cells.cell,
    ).copy()
    rest = np.flatnonzero(~light)
    compiled, defined = _both(
        frame,
        reference,
        ys[rest],
        xs[rest],
        cell=cells.cell,
        gain=gain,
        offset=offset,
        settings=cells.shadow,
    )
    return fused, light, compiled, defined


def test_compiled_matches_the_reference_on_rendered_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every window the detector looks at on the renderer's moving shadows and its day
    scene (cars entering, leaving): the shadow test on those the light-only test rejects
    gives the numpy definition's verdicts, and the detector's one-call pass gives
    exactly the light-only test's verdicts or else the shadow test's."""
    looks: list[tuple[LightCells, Look]] = []
    real = LightCells.windows

    def record(
        self: LightCells, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        look = (
            self._work.copy(),
            self._reference.copy(),
            ys.copy(),
            xs.copy(),
            self._steady,
            self._gain,
            self._offset,
        )
        looks.append((self, look))
        return real(self, ys, xs)

    monkeypatch.setattr(LightCells, "windows", record)
    for condition in ("shadows", "day"):
        zones, clip = render_clip(640, 360, condition, 100)
        detector = Detector(zones, 360, 640)
        for t, frame in clip:
            detector.process(frame, t)
    monkeypatch.setattr(LightCells, "windows", real)
    compared = passed = taken = 0
    for cells, look in looks:
        fused, light, compiled, defined = _composed(cells, look)
        assert np.array_equal(compiled, defined), np.flatnonzero(compiled != defined)
        want = light.copy()
        want[~light] = defined
        assert np.array_equal(fused, want), np.flatnonzero(fused != want)
        compared += defined.size
        passed += int(defined.sum())
        taken += int(light.sum())
    # Enough windows, and both verdicts among them, for the equality to mean something.
    assert compared >= 5000, compared
    assert 0.1 * compared <= passed <= 0.9 * compared, (passed, compared)
    assert taken > 0


@pytest.mark.parametrize(("cell", "margin", "shadow_margin"), [(4, 2, 4), (3, 1, 2), (5, 3, 0)])
def test_the_one_call_pass_is_both_tests_on_odd_sizes_and_edges(
    cell: int, margin: int, shadow_margin: int
) -> None:
    """LightCells' one compiled call over windows up to every edge of the padded image,
    odd cells and margins, saturated, black and flat patches, a light fit's gain and
    offset, steady and swaying: the light-only test's verdicts or else the numpy shadow
    definition's, window by window."""
    rng = np.random.default_rng(10 * cell + margin)
    h, w = 45, 61
    road = _road(rng)[:h, :w]
    reference = _grey(road, rng, 1.0)
    shade = np.where(np.arange(w)[None, :] + 0.4 * np.arange(h)[:, None] > w / 2, 0.45, 1.0)
    frame = _grey((road * shade).astype(np.float32), rng, 2.5)
    frame[:6, :] = 255
    frame[-6:, :10] = 0
    frame[10:20, 30:45] = 60
    reference[25:, 40:] = 90
    frame[25:, 40:] = 40
    settings = _light_only_settings(cell + 2 * margin)
    cells = LightCells(settings, h, w, cell, margin, ShadowSettings(margin=shadow_margin))
    ys, xs = np.mgrid[0 : cells.limit_y + 1, 0 : cells.limit_x + 1]
    ys, xs = ys.ravel().astype(np.intp), xs.ravel().astype(np.intp)
    both = [0, 0]
    for steady, gain, offset in ((True, 1.0, 0.0), (False, 0.83, 6.5), (True, 1.31, -12.25)):
        look = (frame, reference, ys, xs, steady, gain, offset)
        fused, light, _, defined = _composed(cells, look)
        want = light.copy()
        want[~light] = defined
        assert np.array_equal(fused, want), np.flatnonzero(fused != want)
        both[0] += int(light.sum())
        both[1] += int(defined.sum())
    assert both[0] > 0 and both[1] > 0, both


@pytest.mark.parametrize("cell", [1, 3, 4, 5, 7, 9])
@pytest.mark.parametrize("trim", [0.0, 0.1, 0.3])
def test_compiled_matches_the_reference_on_odd_cells_edges_and_extremes(
    cell: int, trim: float
) -> None:
    """Odd cell sizes and margins, windows past every edge of the image, flat, black and
    saturated windows, a light fit's gain and offset: the same verdicts."""
    rng = np.random.default_rng(100 * cell + int(10 * trim))
    h, w = 37, 53
    road = _road(rng)[:h, :w]
    reference = _grey(road, rng, 1.0)
    shade = np.where(np.arange(w)[None, :] + 0.4 * np.arange(h)[:, None] > w / 2, 0.45, 1.0)
    frame = _grey((road * shade).astype(np.float32), rng, 2.5)
    frame[:6, :] = 255  # saturated
    frame[-6:, :10] = 0  # black
    frame[10:20, 30:45] = 60  # flat body
    reference[25:, 40:] = 90  # flat reference
    frame[25:, 40:] = 40  # flat over flat
    for margin in (0, 1, 2, 4):
        if cell + 2 * margin < 2:
            continue
        settings = ShadowSettings(margin=margin, trim=trim)
        ys = np.concatenate([rng.integers(-cell - 6, h + 6, 200), [-50, h + 50, 0, h - 1]])
        xs = np.concatenate([rng.integers(-cell - 6, w + 6, 200), [-50, w + 50, w - 1, 0]])
        for gain, offset in ((1.0, 0.0), (0.83, 6.5), (1.31, -12.25)):
            compiled, defined = _both(
                frame,
                reference,
                ys.astype(np.intp),
                xs.astype(np.intp),
                cell=cell,
                gain=gain,
                offset=offset,
                settings=settings,
            )
            assert np.array_equal(compiled, defined), (
                margin,
                gain,
                np.flatnonzero(compiled != defined),
            )


def test_compiled_matches_the_reference_on_many_shadows_and_bodies() -> None:
    """The synthetic cases above, every window: the same verdicts, and both verdicts seen."""
    passed = compared = 0
    for make in ("shadow_edge", "shadow_left", "dark_body", "body_and_shadow"):
        frame, reference, _, _ = _case(21, make)
        ys, xs = _windows()
        compiled, defined = _both(
            frame,
            reference,
            ys - MARGIN,
            xs - MARGIN,
            cell=CELL,
            gain=1.0,
            offset=0.0,
            settings=ShadowSettings(),
        )
        assert np.array_equal(compiled, defined), (make, np.flatnonzero(compiled != defined))
        passed += int(defined.sum())
        compared += defined.size
    assert 0.2 * compared <= passed <= 0.8 * compared, (passed, compared)


def test_a_window_of_one_pixel_is_a_named_error() -> None:
    frame = np.zeros((16, 16), dtype=np.uint8)
    ys = np.zeros(1, dtype=np.intp)
    with pytest.raises(ValueError, match="cell, margin"):
        shadow_windows(
            frame, frame, ys, ys, cell=1, gain=1.0, offset=0.0, settings=ShadowSettings(margin=0)
        )


def test_compiled_ratios_are_numpys_float32_bit_for_bit() -> None:
    """The first half of the pass (gather, reference times gain plus offset, at least 1,
    ratio): numpy's float32 numbers exactly, the last bit included, so a window on a
    threshold goes the reference's way too."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (23, 31), dtype=np.uint8)
    reference = rng.integers(0, 256, (23, 31), dtype=np.uint8)
    ys = rng.integers(-8, 30, 300).astype(np.intp)
    xs = rng.integers(-8, 38, 300).astype(np.intp)
    win, margin = 11, 3
    for gain, offset in ((1.0, 0.0), (0.6113, 1.7), (1.4371, -20.33)):
        f = np.empty((ys.size, win * win), dtype=np.float32)
        r = np.empty_like(f)
        ratio = np.empty_like(f)
        _shadow.shadow_ratios(frame, reference, ys, xs, win, margin, gain, offset, f, r, ratio)
        want_f = shadow_reference._gather(frame, ys, xs, win, margin)
        want_r = shadow_reference._gather(reference, ys, xs, win, margin) * gain + offset
        np.maximum(want_r, 1.0, out=want_r)
        want = (want_f + 2.0) / (want_r + 2.0)
        assert f.tobytes() == want_f.tobytes()
        assert r.tobytes() == want_r.tobytes()
        assert ratio.tobytes() == want.tobytes(), np.flatnonzero(ratio != want)[:10]


def test_the_pass_log_is_numpys_float32_log_bit_for_bit() -> None:
    """The log the pass takes of each window's ratios is numpy's own float32 log loop:
    over every ratio two grey levels and a light fit can give, and far beyond, the same
    bits as np.log (libm's logf differs from numpy's SIMD log in the last bit)."""
    grey = np.arange(256, dtype=np.float32)
    fitted = np.maximum(np.concatenate([grey * g + o for g, o in ((1.0, 0.0), (0.83, 6.5))]), 1.0)
    ratios = ((grey[:, None] + 2.0) / (fitted[None, :] + 2.0)).ravel().astype(np.float32)
    rng = np.random.default_rng(8)
    wide = np.exp(rng.uniform(-80.0, 80.0, 100_000)).astype(np.float32)
    for x in (ratios, wide, ratios[1:]):
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        _shadow.log_f32(x, out)
        assert out.tobytes() == np.log(x).tobytes(), np.flatnonzero(out != np.log(x))[:10]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 144, 289, 1000, 70_000])
def test_the_pass_sort_is_numpys_order(size: int) -> None:
    """The pass sorts each window's log ratios by 12-bit keys of their place in the
    range, then orders values sharing a key (past 65536 values, a radix sort of the
    floats' bits): np.sort's result, on values that share keys (a tight cluster beside
    a far outlier), ties, both signs, zero and extremes."""
    rng = np.random.default_rng(size)
    cases = [
        rng.normal(0.0, 0.2, size),
        np.concatenate([rng.normal(0.0, 1e-6, size - 1), [40.0]])[:size],
        rng.integers(-3, 4, size) * 0.25,
        np.full(size, 0.5),
        np.concatenate([[3e38, -3e38], rng.normal(0.0, 1.0, size)])[:size],
        -np.abs(rng.normal(0.0, 1e-3, size)),
    ]
    for values in cases:
        v = np.ascontiguousarray(values, dtype=np.float32)
        want = np.sort(v)
        _shadow.sort_f32(v)
        assert v.tobytes() == want.tobytes(), np.flatnonzero(v != want)[:10]


@pytest.mark.parametrize("size", [1, 7, 8, 9, 72, 128, 129, 144, 289, 1000])
def test_the_pass_sums_are_numpys_pairwise_sums(size: int) -> None:
    """Every sum the pass takes (one array, or three at once) is numpy's float32
    pairwise sum, the last bit included: values of mixed sizes and signs, where the
    order of the additions shows."""
    rng = np.random.default_rng(size)
    rows = (rng.normal(0.0, 1.0, (3, size)) * 10.0 ** rng.integers(-3, 4, (3, size))).astype(
        np.float32
    )
    one = np.empty(3, dtype=np.float32)
    three = np.empty(3, dtype=np.float32)
    _shadow.pairwise_sums(rows, one, three)
    want = rows.sum(axis=1)
    assert one.tobytes() == want.tobytes(), (one, want)
    assert three.tobytes() == want.tobytes(), (three, want)
