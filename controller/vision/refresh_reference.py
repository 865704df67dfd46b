"""Plain-numpy reference: the definition the compiled pass is held to, written for clarity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.refresh import MIN_GAIN

__all__ = ["blend_cells_reference"]


def blend_cells_reference(
    frame: npt.NDArray[np.uint8],
    ref_float: npt.NDArray[np.float32],
    reference: npt.NDArray[np.uint8],
    cells: npt.NDArray[np.bool_],
    drift_only: npt.NDArray[np.bool_],
    *,
    cell: int,
    gain: float,
    offset: float,
    alpha: float,
    drift_px: float,
) -> int:
    """Same contract as ``refresh.blend_cells``, written for clarity, not speed."""
    h, w = frame.shape
    pixels = np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)[:h, :w]
    observed = (frame.astype(np.float32) - np.float32(offset)) / np.float32(max(gain, MIN_GAIN))
    drift = np.repeat(np.repeat(drift_only, cell, axis=0), cell, axis=1)[:h, :w]
    pixels &= ~(drift & (np.abs(observed - ref_float) > np.float32(drift_px)))
    blend = ref_float * np.float32(1.0 - alpha) + observed * np.float32(alpha)
    ref_float[pixels] = blend[pixels]
    reference[...] = np.clip(np.rint(ref_float), 0, 255).astype(np.uint8)
    return int(pixels.sum())
