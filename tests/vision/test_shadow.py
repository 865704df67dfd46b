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


def test_the_detector_stage_takes_shadows_the_light_only_test_rejects() -> None:
    """Through ``LightCells`` (as the detector runs it): a shadow's edge over texture
    fails the smooth light-only test in most windows, and the shadow test takes them."""
    frame, reference, changed, _ = _case(11, "shadow_edge")
    settings = LightOnlySettings(
        win=WIN,
        trim=0.2,
        across=3,
        texture_min=3.5,
        light_corr=0.75,
        light_contrast=1.35,
        light_residual=12.0,
    )
    cells = LightCells(settings, SIDE, SIDE, CELL, MARGIN)
    cells.new_reference(reference)
    cells.new_frame(frame, steady=True, gain=1.0, offset=0.0)
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
    settings = LightOnlySettings(
        win=WIN,
        trim=0.2,
        across=3,
        texture_min=3.5,
        light_corr=0.75,
        light_contrast=1.35,
        light_residual=12.0,
    )
    cells = LightCells(settings, SIDE, SIDE, CELL, MARGIN)
    cells.new_reference(reference)
    cells.new_frame(frame, steady=True, gain=1.0, offset=0.0)
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
