"""Plain-numpy reference of the global light fit: the definition ``_light`` is held to."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MEDIAN_CELLS", "ROUNDS", "fit_light_reference"]

F64 = npt.NDArray[np.float64]

MEDIAN_CELLS = 4096
"""The median residual is taken over every k-th selected cell, at most this many."""

ROUNDS = 2
"""Rounds of leaving out the cells far from the fit and fitting again on the rest."""

MIN_RATIO_REF = 1.0
"""Reference cell means under this take no part in the starting ratio (no division by ~0)."""


def _fit(r: F64, f: F64, min_spread: float) -> tuple[float, float]:
    """Least-squares f = gain * r + offset; a pure gain when r has too little spread."""
    if r.size == 0:
        return 1.0, 0.0
    if float(r.std()) < min_spread:
        denom = float((r * r).sum())
        return (float((r * f).sum()) / denom if denom > 0 else 1.0), 0.0
    rm, fm = float(r.mean()), float(f.mean())
    gain = float(((r - rm) * (f - fm)).sum()) / float(((r - rm) ** 2).sum())
    return gain, fm - gain * rm


def fit_light_reference(
    grey_sum: npt.NDArray[np.int64],
    area: F64,
    ref_means: F64,
    cells: npt.NDArray[np.bool_],
    *,
    min_spread: float,
    floor: float,
    factor: float,
    min_cells: int,
    step: int = 1,
) -> tuple[float, float, int]:
    """Same contract as the compiled pass: (gain, offset, cells used).

    Only the cells on the lattice of every ``step``-th row and column take part.
    """
    lattice = np.zeros_like(cells)
    lattice[::step, ::step] = True
    cells = cells & lattice
    r = ref_means[cells]
    f = (grey_sum / area)[cells]
    if r.size == 0:
        return 1.0, 0.0, 0
    # The start is the median of frame / reference over every k-th cell: a pure gain that
    # a shadow or a body over a large part of the cells (under half) cannot drag, where a
    # least-squares start would be dragged so far that the trimming keeps the wrong cells.
    stride = -(-r.size // MEDIAN_CELLS)
    r_k, f_k = r[::stride], f[::stride]
    usable = r_k >= MIN_RATIO_REF
    gain = float(np.median(f_k[usable] / r_k[usable])) if usable.any() else 1.0
    offset = 0.0
    used = 0
    for _ in range(ROUNDS):
        residual = np.abs(f - (gain * r + offset))
        keep = residual <= max(floor, factor * float(np.median(residual[::stride])))
        if int(keep.sum()) < min_cells:
            break
        gain, offset = _fit(r[keep], f[keep], min_spread)
        used = int(keep.sum())
    if used == 0:
        # Too few cells near the start: least squares over them all.
        gain, offset = _fit(r, f, min_spread)
        used = int(r.size)
    return gain, offset, used
