"""Plain-numpy reference of the light-only window test: the definition ``_light_only`` is held to.

A shadow or a headlight beam keeps the road's texture under a smooth change of
light; a body hides it. Around each cell-sized window a plane is removed from
the frame and from the reference, the worst-fitting pixels are left out, and
what is left of the frame must follow what is left of the reference.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["STATS", "light_windows_reference", "quantile_place", "select_cells_reference"]

STATS = ("kept", "corr", "slope", "var_r", "brighter", "left")
"""Per-window figures both sides report, in the compiled pass's column order."""

Frame = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def quantile_place(size: int, trim: float) -> tuple[int, bool]:
    """Where numpy's linear (1 - trim) quantile of ``size`` values lies: sorted[lo], and
    whether it lies strictly between sorted[lo] and sorted[lo + 1]."""
    place = float(np.quantile(np.arange(size, dtype=np.float64), 1.0 - trim))
    lo = int(np.floor(place))
    return lo, place > lo


def _misfit(fb: I64, rb: I64, win: int) -> I64:
    """|frame - its plane| - (reference - its plane)|, exact, scaled by win^2 (win^2 - 1)."""
    npix = win * win
    c = 2 * np.arange(win, dtype=np.int64) - (win - 1)
    grid_y, grid_x = np.meshgrid(c, c, indexing="ij")
    cx, cy = grid_x.ravel(), grid_y.ravel()

    def residual(v: I64) -> I64:
        s = v.sum(axis=1, keepdims=True)
        sx = (v * cx).sum(axis=1, keepdims=True)
        sy = (v * cy).sum(axis=1, keepdims=True)
        out: I64 = npix * (npix - 1) * v - (npix - 1) * s - 3 * cx * sx - 3 * cy * sy
        return out

    misfit: I64 = np.abs(residual(fb) - residual(rb))
    return misfit


def _thick(misfit: I64, win: int, across: int) -> npt.NDArray[np.bool_]:
    """Pixels whose misfit is part of a structure ``across`` pixels wide (a grey opening)."""
    k = misfit.shape[0]
    grid = misfit.reshape(k, win, win)
    m = win - across + 1
    opened = np.zeros_like(grid)
    if m > 0:
        eroded = grid[:, :m, :m].copy()
        for dy in range(across):
            for dx in range(across):
                np.minimum(eroded, grid[:, dy : dy + m, dx : dx + m], out=eroded)
        for dy in range(across):
            for dx in range(across):
                view = opened[:, dy : dy + m, dx : dx + m]
                np.maximum(view, eroded, out=view)
    thick: npt.NDArray[np.bool_] = (2 * opened >= grid).reshape(k, -1)
    return thick


def light_windows_reference(
    frame: Frame,
    reference: Frame,
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    *,
    win: int,
    trim: float,
    steady: bool,
    across: int,
    texture_min: float,
    light_corr: float,
    light_contrast: float,
    light_residual: float,
    gain: float,
    offset: float,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """(light per window, the ``STATS`` per window) for windows at (ys, xs) of the padded images."""
    fw = np.lib.stride_tricks.sliding_window_view(frame, (win, win))
    rw = np.lib.stride_tricks.sliding_window_view(reference, (win, win))
    fb = fw[ys, xs].reshape(ys.size, -1).astype(np.int64)
    rb = rw[ys, xs].reshape(ys.size, -1).astype(np.int64)
    misfit = _misfit(fb, rb, win)
    lo, between = quantile_place(win * win, trim)
    ordered = np.sort(misfit, axis=1)
    a = ordered[:, lo : lo + 1]
    worst = misfit > a
    if between:
        worst &= misfit >= ordered[:, lo + 1 : lo + 2]
    if steady:
        worst &= ~_thick(misfit, win, across)
    keep = ~worst
    weights = keep.astype(np.float64)
    yy, xx = np.mgrid[0:win, 0:win].astype(np.float64)
    design = np.stack([np.ones(win * win), xx.ravel(), yy.ravel()], axis=1)
    normal = np.einsum("kp,pi,pj->kij", weights, design, design) + np.eye(3) * 1e-3
    f = fb.astype(np.float64)
    r = rb.astype(np.float64)

    def plane(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        rhs = np.einsum("kp,pi,kp->ki", weights, design, v)
        beta = np.linalg.solve(normal, rhs[..., None])[..., 0]
        fitted: npt.NDArray[np.float64] = beta @ design.T
        return fitted

    fk = f - plane(f)
    rk = r - plane(r)
    kept = weights.sum(axis=1)
    n = np.maximum(kept, 1.0)
    cov = (fk * rk * weights).sum(axis=1) / n
    var_r = (rk * rk * weights).sum(axis=1) / n
    var_f = (fk * fk * weights).sum(axis=1) / n
    corr = cov / np.sqrt(np.maximum(var_r * var_f, 1e-6))
    slope = cov / np.maximum(var_r, 1e-6)
    mean_f = (f * weights).sum(axis=1) / n
    mean_r = (r * weights).sum(axis=1) / n * gain + offset
    brighter = mean_f / np.maximum(mean_r, 1.0)
    # Light adds to the road or scales it: it cannot raise the texture's contrast
    # by more than it raises the brightness.
    plausible = slope / gain <= light_contrast * np.maximum(brighter, 1e-3)
    light = (
        (var_r >= texture_min * texture_min)
        & (corr >= light_corr)
        & (slope >= 0.2)
        & (slope <= 5.0)
        & plausible
    )
    left = np.zeros_like(corr)
    if steady:
        # What a change of light leaves after the fit is noise; a body whose edge
        # lines up with a marking follows it only roughly.
        misfit_left = fk - slope[:, None] * rk
        left = np.sqrt((misfit_left * misfit_left * weights).sum(axis=1) / n)
        light &= left <= light_residual
    stats = np.stack([kept, corr, slope, var_r, brighter, left], axis=1)
    return light, stats


def select_cells_reference(
    occupied: npt.NDArray[np.bool_],
    motion_count: npt.NDArray[np.int32],
    outside: npt.NDArray[np.bool_],
    valid: npt.NDArray[np.bool_],
    verdict: npt.NDArray[np.bool_],
    box: tuple[int, int, int, int],
    cell: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The cells of box that need a light-only look, as their windows' corners (ys, xs).

    An occupied cell none of whose pixels moved and whose verdict is still valid
    keeps it; every other verdict in the box is dropped; ``valid`` becomes the
    cells kept or to be looked at (both updated in place).
    """
    r0, r1, c0, c1 = box
    occ = occupied[r0:r1, c0:c1]
    kept = valid[r0:r1, c0:c1]
    reuse = occ & (motion_count[r0:r1, c0:c1] == 0) & kept
    verdict[r0:r1, c0:c1] &= reuse
    test = occ & ~outside[r0:r1, c0:c1] & ~reuse
    kept[...] = reuse | test
    rows, cols = np.nonzero(test)
    return ((rows + r0) * cell).astype(np.intp), ((cols + c0) * cell).astype(np.intp)
