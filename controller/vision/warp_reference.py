"""Plain-numpy reference: the definition the compiled pass is held to, written for clarity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.warp import split_shift

__all__ = ["shift_reference"]


def shift_reference(frame: npt.NDArray[np.uint8], dx: float, dy: float) -> npt.NDArray[np.uint8]:
    """Same contract as ``warp.shift_into``, written for clarity, not speed."""
    h, w = frame.shape
    ix, fx = split_shift(dx)
    iy, fy = split_shift(dy)
    xs = np.arange(w) + ix
    ys = np.arange(h) + iy
    x0, x1 = np.clip(xs, 0, w - 1), np.clip(xs + 1, 0, w - 1)
    y0, y1 = np.clip(ys, 0, h - 1), np.clip(ys + 1, 0, h - 1)
    f = frame.astype(np.int64)
    total = (
        (256 - fx) * (256 - fy) * f[np.ix_(y0, x0)]
        + fx * (256 - fy) * f[np.ix_(y0, x1)]
        + (256 - fx) * fy * f[np.ix_(y1, x0)]
        + fx * fy * f[np.ix_(y1, x1)]
    )
    out: npt.NDArray[np.uint8] = ((total + 32768) >> 16).astype(np.uint8)
    return out
