"""Every zone's edge cells judged in one pass a frame, not one pass and one look per zone.

The answer is ``zones.edge_bodies``'s, which defines it zone by zone: the
kernel's test on each cut cell's own zone pixels, then the light-only test on
a window moved onto the zone's side. Here the zones' edge pixels are laid end
to end once per zone layout, so a frame takes one compiled count
(``_zone_edges``) and at most one light-only call for every zone together (each
window's verdict is its own, so asking for them all at once changes none).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from controller.vision import _zone_edges
from controller.vision.kernel import GAIN_Q8_MAX, OFFSET_MAX
from controller.vision.zones import ZoneGrid

__all__ = ["EdgeBodies"]

Frame = npt.NDArray[np.uint8]
Light = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], npt.NDArray[np.bool_]]


class _Layout:
    """One zone layout's edge cells, every zone's end to end."""

    def __init__(self, grid: ZoneGrid, cell: int, fraction: float, limit: tuple[int, int]) -> None:
        self.grid = grid
        edges = list(grid.edges.values())
        starts = np.cumsum([0] + [e.rows.size for e in edges])
        self.slices = {
            name: slice(int(starts[k]), int(starts[k + 1])) for k, name in enumerate(grid.edges)
        }
        empty = np.zeros(0, dtype=np.intp)
        self.pixels = np.ascontiguousarray(np.concatenate([empty] + [e.pixels for e in edges]))
        self.owner = np.ascontiguousarray(
            np.concatenate([empty] + [e.owner + starts[k] for k, e in enumerate(edges)]),
            dtype=np.intp,
        )
        inside = np.concatenate([np.zeros(0, dtype=np.int64)] + [e.inside for e in edges])
        # The same comparison as zones.edge_bodies: counts >= max(2, fraction * inside).
        self.need = np.maximum(2.0, fraction * inside)
        limit_y, limit_x = limit
        rows = np.concatenate([empty] + [e.rows for e in edges])
        cols = np.concatenate([empty] + [e.cols for e in edges])
        toward = np.concatenate([np.zeros((0, 2), dtype=np.intp)] + [e.toward for e in edges])
        self.ys = np.clip(rows * cell + toward[:, 0], 0, limit_y)
        self.xs = np.clip(cols * cell + toward[:, 1], 0, limit_x)
        self.counts = np.zeros(starts[-1], dtype=np.int32)


class EdgeBodies:
    """``zones.edge_bodies`` for one detector, with its layouts' buffers kept."""

    def __init__(
        self, height: int, width: int, cell: int, fraction: float, limit: tuple[int, int]
    ) -> None:
        self.height, self.width = height, width
        self.cell, self.fraction, self.limit = cell, fraction, limit
        self._layout: _Layout | None = None

    def _for(self, grid: ZoneGrid) -> _Layout:
        if self._layout is None or self._layout.grid is not grid:
            layout = _Layout(grid, self.cell, self.fraction, self.limit)
            if layout.pixels.size and int(layout.pixels.max()) >= self.height * self.width:
                raise ValueError(
                    f"grid: an edge pixel lies outside a {self.width}x{self.height} frame"
                )
            self._layout = layout
        return self._layout

    def find(
        self,
        frame: Frame,
        reference: Frame,
        grid: ZoneGrid,
        *,
        gain_q8: int,
        offset: int,
        threshold: int,
        light: Light,
    ) -> dict[str, npt.NDArray[np.bool_]]:
        """Per zone, its part-covered cells where a body covers the zone's own pixels."""
        shape = (self.height, self.width)
        for name, array in (("frame", frame), ("reference", reference)):
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.shape != shape:
                raise ValueError(f"{name}: expected a uint8 image of shape {shape}")
            if not array.flags.c_contiguous:
                raise ValueError(f"{name}: expected a C-contiguous image")
        if not 0 <= gain_q8 <= GAIN_Q8_MAX:
            raise ValueError(f"gain_q8: {gain_q8} is outside 0..{GAIN_Q8_MAX}")
        if not -OFFSET_MAX <= offset <= OFFSET_MAX:
            raise ValueError(f"offset: {offset} is outside -{OFFSET_MAX}..{OFFSET_MAX}")
        hit = self.find_flat(
            frame, reference, grid, gain_q8=gain_q8, offset=offset, threshold=threshold, light=light
        )
        layout = self._for(grid)
        return {name: hit[part] for name, part in layout.slices.items()}

    def find_flat(
        self,
        frame: Frame,
        reference: Frame,
        grid: ZoneGrid,
        *,
        gain_q8: int,
        offset: int,
        threshold: int,
        light: Light,
    ) -> npt.NDArray[np.bool_]:
        """``find``'s answers end to end, every zone's edge cells in the grid's zone order
        (as ``zones.ZoneBodies.counts_flat`` takes them), for a caller whose arguments are
        what ``find`` checks (the detector's own buffers and its fitted light): nothing
        is checked here but the grid's edge pixels, once per grid."""
        layout = self._for(grid)
        _zone_edges.edge_counts(
            frame,
            reference,
            layout.pixels,
            layout.owner,
            gain_q8,
            offset,
            threshold,
            layout.counts,
        )
        hit: npt.NDArray[np.bool_] = layout.counts >= layout.need
        if hit.any():
            k = np.nonzero(hit)[0]
            hit[k[light(layout.ys[k], layout.xs[k])]] = False
        return hit
