"""Plain-numpy reference of the cell grouping: the definition ``_cells`` is held to.

A vehicle is one body; specks of misregistered texture scattered along a
zone's edges are many small ones, however many they add up to.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "between",
    "has_neighbour_reference",
    "largest_group_reference",
    "verdicts_reference",
]

Mask = npt.NDArray[np.bool_]


def between(cells: Mask) -> Mask:
    """Cells with set cells on both sides, above and below or left and right."""
    out = np.zeros_like(cells)
    out[1:-1, :] = cells[:-2, :] & cells[2:, :]
    out[:, 1:-1] |= cells[:, :-2] & cells[:, 2:]
    return out


def largest_group_reference(cells: Mask, may_bridge: Mask) -> int:
    """The body cells of the largest group of touching ones (side by side).

    A cell that may bridge, is no body cell and has body cells on both sides of
    it joins them into one group without counting itself.
    """
    if not cells.any():
        return 0
    bridges = may_bridge & between(cells) & ~cells
    _, groups = cv2.connectedComponents((cells | bridges).astype(np.uint8), connectivity=4)
    return int(np.bincount(groups[cells]).max())


def has_neighbour_reference(cells: Mask) -> Mask:
    """Cells with at least one of their four neighbours set (shifted ORs)."""
    out = np.zeros_like(cells)
    out[1:, :] |= cells[:-1, :]
    out[:-1, :] |= cells[1:, :]
    out[:, 1:] |= cells[:, :-1]
    out[:, :-1] |= cells[:, 1:]
    return out


def verdicts_reference(
    ref_count: npt.NDArray[np.int32],
    motion_count: npt.NDArray[np.int32],
    occupied_min: npt.NDArray[np.int32],
    moving_min: npt.NDArray[np.int32],
    outside: Mask,
) -> tuple[Mask, Mask, int, bool]:
    """Same contract as ``cells.CellVerdicts.judge``, the plain numpy way."""
    occupied = ref_count >= occupied_min
    moving = motion_count >= moving_min
    return occupied, moving, int(motion_count.sum()), bool((moving & outside).any())
