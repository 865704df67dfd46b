"""The shadow test's definition, in numpy: does a window differ from the reference only by
one or two shades? The detector runs the compiled pass (``shadow``, ``_shadow``), held to
this one by the tests.

A shadow takes the direct sun away and multiplies what it falls on by one factor:
the frame over the reference is about constant there, and the road's texture
stays, darker. A shadow that has moved since the reference was taken leaves a
window with two such factors (the part it left, brighter; the part it reached,
darker), split along its edge. A body hides the texture: the frame no longer
follows the reference, whatever the factor.

So the window's pixels are split in two by their log ratio where that lowers the
ratio's spread most, kept as one part when the split gains little; each part
must have visible texture, a plausible factor, and be explained by that factor
times the reference far better than by a flat patch. The light-only test
(``light_only``) runs first and catches smooth light changes; this one runs only
on the windows it rejected, so its cost is a few hundred small windows a frame
at most, all numpy at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ShadowSettings", "check_arguments", "shadow_windows"]

Frame = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """The shadow test's thresholds."""

    margin: int = 4
    """Pixels around the cell the window takes in: more pixels than the light-only
    test's window make the texture's figures steadier in a deep shadow."""
    part_min: float = 0.25
    """Smallest share of the window's pixels one side of a shadow's edge may hold."""
    split_gain: float = 0.25
    """A split is kept when it leaves at most this share of the log ratio's spread (the best
    split of one shade, noise alone, leaves about 0.36)."""
    factor_min: float = 0.3
    """The darkest a shadow makes the road: the sky's light, with slack."""
    factor_max: float = 1.0 / 0.3
    """The brightest a part can get: a shadow in the reference that has left."""
    texture_min: float = 2.5
    """Grey levels (rms) of the reference's texture, times the factor, a part needs:
    without texture a dark body cannot be told from a shadow."""
    explained: float = 0.4
    """Share of the part's own grey-level spread its factor times the reference must
    explain (a body hides the texture: it explains none)."""
    residual: float = 10.0
    """Grey levels (rms) a part may leave after its factor times the reference: sensor
    noise and the texture's own misfit, not the grey steps of paint beside a marking."""
    ratio_spread: float = 0.15
    """Largest rms of a part's log ratio: one shade is one factor, two materials side by
    side (paint over a marking and over the road) are two."""
    trim: float = 0.1
    """Share of a part's worst-fitting pixels left out (a marking's edge moved by a
    sub-pixel registration error, a speck of noise)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.part_min < 0.5:
            raise ValueError(f"part_min: {self.part_min} is outside (0, 0.5)")
        if not 0.0 < self.split_gain <= 1.0:
            raise ValueError(f"split_gain: {self.split_gain} is outside (0, 1]")
        if not 0.0 < self.factor_min < 1.0 < self.factor_max:
            raise ValueError(
                f"factor_min, factor_max: {self.factor_min}, {self.factor_max} "
                "must bracket 1 and be positive"
            )
        if self.margin < 0:
            raise ValueError(f"margin: {self.margin} is negative")
        if not 0.0 <= self.trim < 0.5:
            raise ValueError(f"trim: {self.trim} is outside [0, 0.5)")


def _gather(
    image: Frame, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp], win: int, margin: int
) -> F32:
    """The win x win windows starting ``margin`` pixels above and left of (ys, xs), the
    image's edge pixels repeated beyond it (as ``light_only`` reads it), as (k, win*win)
    floats."""
    h, w = image.shape
    steps = np.arange(win, dtype=np.intp) - margin
    rows = np.clip(ys[:, None] + steps, 0, h - 1)
    cols = np.clip(xs[:, None] + steps, 0, w - 1)
    out: F32 = image[rows[:, :, None], cols[:, None, :]].reshape(ys.size, -1).astype(np.float32)
    return out


def _part_passes(
    f: F32, r: F32, q: F32, member: npt.NDArray[np.bool_], settings: ShadowSettings
) -> npt.NDArray[np.bool_]:
    """Per window: do the member pixels follow the reference times one factor?"""
    s = settings
    weight = member.astype(np.float32)
    n = np.maximum(weight.sum(axis=1), 1.0)
    factor = (weight * f * r).sum(axis=1) / np.maximum((weight * r * r).sum(axis=1), 1e-6)
    misfit = np.abs(f - factor[:, None] * r)
    if s.trim > 0.0:
        # Leave out the worst-fitting share of the part (ties may leave out a few more).
        ranked = np.sort(np.where(member, misfit, -1.0), axis=1)
        npix = ranked.shape[1]
        drop_n = (n - np.floor(n * (1.0 - s.trim))).astype(np.intp)
        cut = ranked[np.arange(ranked.shape[0]), np.clip(npix - drop_n, 0, npix - 1)]
        cut = np.where(drop_n > 0, cut, np.inf)
        weight = (member & (misfit < cut[:, None])).astype(np.float32)
        n = np.maximum(weight.sum(axis=1), 1.0)
        factor = (weight * f * r).sum(axis=1) / np.maximum((weight * r * r).sum(axis=1), 1e-6)
    mean_f = (weight * f).sum(axis=1) / n
    flat = (weight * (f - mean_f[:, None]) ** 2).sum(axis=1) / n
    fitted = (weight * (f - factor[:, None] * r) ** 2).sum(axis=1) / n
    mean_r = (weight * r).sum(axis=1) / n
    texture = factor * factor * (weight * (r - mean_r[:, None]) ** 2).sum(axis=1) / n
    mean_q = (weight * q).sum(axis=1) / n
    spread = (weight * (q - mean_q[:, None]) ** 2).sum(axis=1) / n
    ok: npt.NDArray[np.bool_] = (
        (factor >= s.factor_min)
        & (factor <= s.factor_max)
        & (texture >= s.texture_min * s.texture_min)
        & (fitted <= (1.0 - s.explained) * flat)
        & (fitted <= s.residual * s.residual)
        & (spread <= s.ratio_spread * s.ratio_spread)
    )
    return ok


def check_arguments(
    frame: Frame,
    reference: Frame,
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    *,
    cell: int,
    gain: float,
    settings: ShadowSettings,
) -> None:
    """The shadow test's arguments, each bad one a named error (the numpy definition and
    the compiled pass take the same)."""
    for name, image in (("frame", frame), ("reference", reference)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D uint8 image")
    if frame.shape != reference.shape:
        raise ValueError(f"reference: shape {reference.shape} is not the frame's {frame.shape}")
    if ys.shape != xs.shape or ys.ndim != 1:
        raise ValueError(f"ys, xs: shapes {ys.shape} and {xs.shape} are not one and the same")
    if gain <= 0.0:
        raise ValueError(f"gain: {gain} is not positive")
    if cell < 1:
        raise ValueError(f"cell: {cell} is under 1")
    win = cell + 2 * settings.margin
    if win < 2:
        raise ValueError(f"cell, margin: a window of {win} x {win} pixels cannot be split")


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
    if ys.size == 0:
        return np.zeros(0, dtype=bool)
    s = settings
    win = cell + 2 * s.margin
    f = _gather(frame, ys, xs, win, s.margin)
    r = _gather(reference, ys, xs, win, s.margin) * gain + offset
    np.maximum(r, 1.0, out=r)
    q = np.log((f + 2.0) / (r + 2.0))
    k, npix = q.shape
    ordered = np.sort(q, axis=1)
    # Within-part spread of the log ratio for every split of the sorted values.
    total = ordered.sum(axis=1)
    total2 = (ordered * ordered).sum(axis=1)
    cum = np.cumsum(ordered, axis=1)[:, :-1]
    cum2 = np.cumsum(ordered * ordered, axis=1)[:, :-1]
    left_n = np.arange(1, npix, dtype=np.float32)
    right_n = npix - left_n
    spread = (
        cum2 - cum * cum / left_n + (total2[:, None] - cum2) - (total[:, None] - cum) ** 2 / right_n
    )
    low = max(1, int(np.ceil(s.part_min * npix)))
    spread[:, : low - 1] = np.inf
    spread[:, npix - low :] = np.inf
    best = np.argmin(spread, axis=1)
    single = total2 - total * total / npix
    split = spread[np.arange(k), best] <= s.split_gain * single
    threshold = ordered[np.arange(k), best]
    lower = q <= threshold[:, None]
    # One part: every pixel; two: each side of the split (the second looked at only
    # where the first passed).
    light = np.zeros(k, dtype=bool)
    one = np.flatnonzero(~split)
    if one.size:
        whole = np.ones((one.size, npix), dtype=bool)
        light[one] = _part_passes(f[one], r[one], q[one], whole, s)
    two = np.flatnonzero(split)
    if two.size:
        first = _part_passes(f[two], r[two], q[two], lower[two], s)
        two = two[first]
        if two.size:
            light[two] = _part_passes(f[two], r[two], q[two], ~lower[two], s)
    return light
