"""Plain-numpy reference: the definition the compiled pass is held to, written for clarity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from controller.vision.kernel import grid_shape
from controller.vision.zones import EdgeCells, Zone, ZoneError, ZoneGrid, _inside

__all__ = ["edge_counts_reference", "zone_grid_reference"]


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


def _float_cell_sums(
    values: npt.NDArray[np.float32], rows: int, cols: int, cell: int
) -> npt.NDArray[np.float32]:
    height, width = values.shape
    padded = np.zeros((rows * cell, cols * cell), dtype=np.float32)
    padded[:height, :width] = values
    summed: npt.NDArray[np.float32] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed


def zone_grid_reference(zones: Sequence[Zone], height: int, width: int, cell: int) -> ZoneGrid:
    """Same contract as ``zones.zone_grid``, written for clarity, not speed (float cell
    sums over each zone's window, the cell maps over the whole grid)."""
    rows, cols = grid_shape(height, width, cell)
    row_px = np.minimum(cell, height - np.arange(rows) * cell).astype(np.float32)
    col_px = np.minimum(cell, width - np.arange(cols) * cell).astype(np.float32)
    area = row_px[:, None] * col_px[None, :]
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    interior: dict[str, npt.NDArray[np.bool_]] = {}
    touched: dict[str, npt.NDArray[np.bool_]] = {}
    edges: dict[str, EdgeCells] = {}
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for zone in zones:
        poly = np.asarray(zone.polygon, dtype=np.float64)
        x0 = max(0, math.floor(float(poly[:, 0].min())))
        x1 = min(width, math.ceil(float(poly[:, 0].max())))
        y0 = max(0, math.floor(float(poly[:, 1].min())))
        y1 = min(height, math.ceil(float(poly[:, 1].max())))
        inside = np.zeros((rows, cols), dtype=np.float32)
        pr = pc = np.zeros(0, dtype=np.intp)
        # The window of cells looked at: (cr0, cr1, cc0, cc1); every cell of the zone is in it.
        cr0 = cr1 = cc0 = cc1 = 0
        if x1 > x0 and y1 > y0:
            # The window of whole cells around the zone's bounding box.
            cr0, cr1, cc0, cc1 = y0 // cell, -(-y1 // cell), x0 // cell, -(-x1 // cell)
            wy0, wy1 = cr0 * cell, min(height, cr1 * cell)
            wx0, wx1 = cc0 * cell, min(width, cc1 * cell)
            pixels = _inside(poly, wy0, wy1, wx0, wx1)
            local = _float_cell_sums(pixels.astype(np.float32), cr1 - cr0, cc1 - cc0, cell)
            inside[cr0:cr1, cc0:cc1] = local
            # Only the pixels of the cells the edge cuts are listed.
            cut = (local > 0) & (local < area[cr0:cr1, cc0:cc1])
            cut_px = np.repeat(np.repeat(cut, cell, axis=0), cell, axis=1)
            pr, pc = np.nonzero(pixels & cut_px[: wy1 - wy0, : wx1 - wx0])
            pr, pc = pr + wy0, pc + wx0
        mask = inside * 2 >= area
        if not mask.any():
            raise ZoneError(
                f"zone {zone.name!r}: covers no cell of size {cell} in a {width}x{height} frame"
            )
        masks[zone.name] = mask
        interior[zone.name] = inside >= area
        touched[zone.name] = inside > 0
        # Within the window only: the same cells in the same (row-major) order.
        win = inside[cr0:cr1, cc0:cc1]
        tr, tc = np.nonzero(win > 0)
        boxes[zone.name] = (
            int(tr.min()) + cr0,
            int(tr.max()) + 1 + cr0,
            int(tc.min()) + cc0,
            int(tc.max()) + 1 + cc0,
        )
        part_r, part_c = np.nonzero((win > 0) & (win < area[cr0:cr1, cc0:cc1]))
        index = np.full(win.shape, -1, dtype=np.intp)
        index[part_r, part_c] = np.arange(part_r.size)
        part_r, part_c = part_r + cr0, part_c + cc0
        owner = index[pr // cell - cr0, pc // cell - cc0]
        keep = owner >= 0
        # The centroid of the zone's pixels in a cell, against the cell's centre:
        # twice that moves a cell-sized window onto the zone's side.
        weight = np.maximum(inside[part_r, part_c], 1.0)
        mean_r = np.bincount(owner[keep], weights=pr[keep], minlength=part_r.size) / weight
        mean_c = np.bincount(owner[keep], weights=pc[keep], minlength=part_r.size) / weight
        centre = (cell - 1) / 2.0
        toward = np.stack(
            [
                np.rint(2.0 * (mean_r - (part_r * cell + centre))),
                np.rint(2.0 * (mean_c - (part_c * cell + centre))),
            ],
            axis=1,
        ).astype(np.intp)
        edges[zone.name] = EdgeCells(
            rows=part_r.astype(np.intp),
            cols=part_c.astype(np.intp),
            pixels=(pr[keep] * width + pc[keep]).astype(np.intp),
            owner=owner[keep],
            inside=inside[part_r, part_c].astype(np.int64),
            toward=toward,
        )
    return ZoneGrid(masks=masks, interior=interior, touched=touched, edges=edges, boxes=boxes)
