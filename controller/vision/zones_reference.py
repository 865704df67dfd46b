"""Plain-numpy reference: the definition the compiled pass is held to, written for clarity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.zones import EdgeCells

__all__ = ["edge_counts_reference"]


def edge_counts_reference(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    edge: EdgeCells,
    *,
    gain_q8: int,
    offset: int,
    threshold: int,
) -> npt.NDArray[np.int32]:
    """Same contract as ``zones.edge_counts``, written for clarity, not speed."""
    f = frame.ravel()[edge.pixels].astype(np.int64)
    r = ((reference.ravel()[edge.pixels].astype(np.int64) * gain_q8 + 128) >> 8) + offset
    hits = (np.abs(f - r) > threshold).astype(np.int64)
    counts = np.bincount(edge.owner, weights=hits, minlength=edge.rows.size)
    out: npt.NDArray[np.int32] = np.rint(counts).astype(np.int32)
    return out
