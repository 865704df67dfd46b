"""Plain-numpy reference: the definition the compiled pass is held to, written for clarity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.warp import split_shift

__all__ = ["shift_reference"]


def shift_reference(frame: npt.NDArray[np.uint8], dx: float, dy: float) -> npt.NDArray[np.uint8]:
    """Same contract as ``warp.shift_into``, written for clarity, not speed: blended down the
    rows and rounded, then across the columns and rounded."""
    h, w = frame.shape
    ix, fx = split_shift(dx)
    iy, fy = split_shift(dy)
    xs = np.arange(w) + ix
    ys = np.arange(h) + iy
    x0, x1 = np.clip(xs, 0, w - 1), np.clip(xs + 1, 0, w - 1)
    y0, y1 = np.clip(ys, 0, h - 1), np.clip(ys + 1, 0, h - 1)
    f = frame.astype(np.int64)
    # Down (rows y0, y1 blended and rounded), then across (columns x0, x1 of that).
    down = ((256 - fy) * f[y0, :] + fy * f[y1, :] + 128) >> 8
    total = (256 - fx) * down[:, x0] + fx * down[:, x1]
    out: npt.NDArray[np.uint8] = ((total + 128) >> 8).astype(np.uint8)
    return out
