"""The shadow test, compiled: does a window differ from the reference only by one or two shades?

The definition, its reasons and its thresholds are in ``shadow_reference`` (numpy);
the compiled pass (``_shadow``) computes the same float32 numbers in the same order,
so its verdicts are the reference's, bit for bit; it takes the log of the ratios
with numpy's own float32 log loop (numpy's SIMD log and libm's may differ in the
last bit). This wrapper checks the arguments and makes the per-call buffers.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from controller.vision import _shadow
from controller.vision.shadow_reference import ShadowSettings, check_arguments

__all__ = ["ShadowSettings", "pass_limits", "shadow_windows"]

Frame = npt.NDArray[np.uint8]


Limits = tuple[int, float, float, float, float, float, float, float, bool, float]


def pass_limits(s: ShadowSettings, npix: int) -> Limits:
    """The thresholds as the reference's float32 arithmetic meets them, for windows of npix
    pixels, in the compiled passes' order (low, split_gain, factor_min, factor_max,
    texture2, keep_explained, residual2, spread2, trim, keep_share): each Python float is
    cast to float32 next to a float32 array (the passes take C floats)."""
    return (
        max(1, math.ceil(s.part_min * npix)),
        s.split_gain,
        s.factor_min,
        s.factor_max,
        s.texture_min * s.texture_min,
        1.0 - s.explained,
        s.residual * s.residual,
        s.ratio_spread * s.ratio_spread,
        s.trim > 0.0,
        1.0 - s.trim,
    )


def shadow_windows(
    frame: Frame,
    reference: Frame,
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    *,
    cell: int,
    gain: float,
    offset: float,
    settings: ShadowSettings,
) -> npt.NDArray[np.bool_]:
    """Per cell with its top-left pixel at (ys, xs): is the difference in the window of
    ``settings.margin`` pixels around it (the images' edge pixels repeated beyond them)
    one or two shades over the reference's own texture?"""
    check_arguments(frame, reference, ys, xs, cell=cell, gain=gain, settings=settings)
    s = settings
    win = cell + 2 * s.margin
    if ys.size == 0:
        return np.zeros(0, dtype=bool)
    npix = win * win
    floats, words = _shadow.scratch_sizes(npix)
    light = np.zeros(ys.size, dtype=np.uint8)
    _shadow.shadow_pass(
        np.ascontiguousarray(frame),
        np.ascontiguousarray(reference),
        np.ascontiguousarray(ys, dtype=np.intp),
        np.ascontiguousarray(xs, dtype=np.intp),
        win,
        s.margin,
        gain,
        offset,
        *pass_limits(s, npix),
        np.empty(floats, dtype=np.float32),
        np.empty(words, dtype=np.uint32),
        np.empty(npix, dtype=np.uint8),
        light,
    )
    return light.view(bool)
