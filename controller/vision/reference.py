"""Plain-numpy reference of the fused frame kernel: the definition the kernel is held to."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.kernel import GAIN_ONE, CellStats, grid_shape

__all__ = ["frame_stats_reference"]


def _per_cell(values: npt.NDArray[np.int64], cell: int) -> npt.NDArray[np.int64]:
    height, width = values.shape
    rows, cols = grid_shape(height, width, cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:height, :width] = values
    summed: npt.NDArray[np.int64] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed


def frame_stats_reference(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    previous: npt.NDArray[np.uint8],
    *,
    cell: int,
    gain_q8: int = GAIN_ONE,
    offset: int = 0,
    ref_threshold: int,
    motion_threshold: int,
) -> CellStats:
    """Same contract as ``kernel.frame_stats``, written for clarity, not speed."""
    f = frame.astype(np.int64)
    corrected = ((reference.astype(np.int64) * gain_q8 + 128) >> 8) + offset
    ref_hits = (np.abs(f - corrected) > ref_threshold).astype(np.int64)
    motion_hits = (np.abs(f - previous.astype(np.int64)) > motion_threshold).astype(np.int64)
    stats = CellStats(
        ref_count=_per_cell(ref_hits, cell).astype(np.int32),
        motion_count=_per_cell(motion_hits, cell).astype(np.int32),
        grey_sum=_per_cell(f, cell),
    )
    previous[...] = frame
    return stats
