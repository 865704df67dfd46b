"""Plain-numpy reference of the cell grouping: the definition ``_cells`` is held to.

A vehicle is one body; specks of misregistered texture scattered along a
zone's edges are many small ones, however many they add up to.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "between",
    "bodies_reference",
    "has_neighbour_reference",
    "largest_group_reference",
    "lattice_moments_reference",
    "still_cells_reference",
    "verdicts_reference",
    "zones_any_reference",
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


def still_cells_reference(
    view: npt.NDArray[np.uint8],
    last: npt.NDArray[np.uint8],
    *,
    cell: int,
    gain_q8: int,
    offset: int,
    threshold: int,
    fraction: float,
    area: npt.NDArray[np.float64],
    touched: Mask,
    before: Mask | None,
) -> tuple[Mask, int]:
    """A zone's cells that moved since its kept picture, and how many moved in ``before``
    too (``stillness``): per cell the pixels more than threshold off last corrected by
    (gain_q8, offset); a cell differs at ``fraction`` of its pixels, and counts beside
    another one that differs, inside the zone."""
    corrected = ((last.astype(np.int64) * gain_q8 + 128) >> 8) + offset
    changed = np.abs(view.astype(np.int64) - corrected) > threshold
    h, w = view.shape
    rows, cols = -(-h // cell), -(-w // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:h, :w] = changed
    counts = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    differs = counts >= fraction * area
    differs = differs & has_neighbour_reference(differs) & touched
    both = 0 if before is None else int(np.count_nonzero(differs & before))
    return differs, both


def zones_any_reference(cells: Mask, touched: Sequence[Mask]) -> list[bool]:
    """Per zone, whether a cell set in cells is one the zone touches (its touched map over
    the whole grid): what ``_cells.zones_any`` gives."""
    return [bool((cells & t).any()) for t in touched]


def bodies_reference(differs: Mask, light: Mask, believed: Mask) -> tuple[Mask, Mask, int]:
    """(body, occupied, occupied cells believed empty): what ``_cells.bodies`` gives."""
    body = differs & ~light
    occupied = body & has_neighbour_reference(body)
    return body, occupied, int(np.count_nonzero(occupied & believed))


def lattice_moments_reference(
    grey_sum: npt.NDArray[np.int64], step: int, inv_area: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """(sum of the lattice's cell means, sum of their squares), the numpy way
    (``diagnostics.Diagnostics``): what ``_cells.lattice_moments`` gives, to the bit."""
    means = grey_sum[::step, ::step] * inv_area
    return float(means.sum()), float((means * means).sum())
