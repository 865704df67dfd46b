"""Cell grouping: how big is the largest body in a zone, in cells?

A vehicle is one body; specks of misregistered texture scattered along a
zone's edges are many small ones, however many they add up to. The compiled
pass (``_cells``, defined by ``cells_reference.largest_group_reference``)
groups touching cells; this wrapper checks the arguments and holds the scratch
buffers, grown to the largest grid asked for.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision import _cells

__all__ = ["CellGroups", "cell_sum", "has_neighbour"]

Mask = npt.NDArray[np.bool_]


class CellGroups:
    """The grouping with its scratch buffers (one per detector)."""

    def __init__(self) -> None:
        self._stack = np.zeros(0, dtype=np.int32)
        self._seen = np.zeros(0, dtype=np.uint8)

    def largest(self, cells: Mask, may_bridge: Mask) -> int:
        """Body cells in the largest group of touching cells, bridges joining (not counted)."""
        for name, mask in (("cells", cells), ("may_bridge", may_bridge)):
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
                raise ValueError(f"{name}: expected a 2-D bool array")
        if may_bridge.shape != cells.shape:
            raise ValueError(f"may_bridge: shape {may_bridge.shape} is not {cells.shape}")
        size = cells.size
        if self._stack.size < size:
            self._stack = np.zeros(size, dtype=np.int32)
            self._seen = np.zeros(size, dtype=np.uint8)
        rows, cols = cells.shape
        return int(
            _cells.largest_group(
                np.ascontiguousarray(cells).view(np.uint8),
                np.ascontiguousarray(may_bridge).view(np.uint8),
                self._stack,
                self._seen[:size].reshape(rows, cols),
            )
        )


def has_neighbour(cells: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Cells with at least one of their four neighbours set (drops lone rain and speckle).

    One compiled pass (``_cells.has_neighbour``; defined by
    ``cells_reference.has_neighbour_reference``) instead of four shifted ORs.
    """
    if not isinstance(cells, np.ndarray) or cells.dtype != np.bool_ or cells.ndim != 2:
        raise ValueError("cells: expected a 2-D bool array")
    out = np.empty(cells.shape, dtype=np.bool_)
    if cells.size:
        _cells.has_neighbour(np.ascontiguousarray(cells).view(np.uint8), out.view(np.uint8))
    return out


def cell_sum(values: npt.NDArray[np.int64], cell: int) -> npt.NDArray[np.int64]:
    """Per cell of the grid, the sum of values over its pixels (edge cells part-filled)."""
    height, width = values.shape
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:height, :width] = values
    summed: npt.NDArray[np.int64] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed
