"""Standstill per zone: how long the body in it has not moved (``still_ms``).

The lane core starts an inspection only once the vehicle in the bay stands,
and a loop cannot tell a vehicle that stands from one that still rolls. Each
zone keeps the (registered) picture of its cells from when its body last
moved; the body has moved again when at least ``still_cells`` of the zone's
cells, each beside another, differ from that picture in this frame and in the
one before, after correcting it for the light fitted since. Comparing with
that picture, not only with the previous frame, sees a vehicle that creeps
less than a pixel per frame; asking for the same cells in two frames running
leaves out rain streaks and a shaking mast's odd misregistered frame, which
differ in other cells each time. An empty zone's still time is 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision import _cells
from controller.vision.kernel import (
    GAIN_ONE,
    GAIN_Q8_MAX,
    MAX_CELL,
    OFFSET_MAX,
    CellStats,
    frame_stats_trusted,
    grid_shape,
    new_cell_stats,
)

__all__ = ["ZoneStillness"]

Frame = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]


class ZoneStillness:
    """One zone's standstill clock."""

    __slots__ = ("_differs", "_light", "_out", "_own", "_scratch", "_since", "_view")

    def __init__(self) -> None:
        self._since: int | None = None
        self._view: Frame | None = None
        # The kernel's buffers and a cell map, kept while the zone's box keeps its
        # size: a frame allocates only the map it keeps.
        self._scratch: Frame | None = None
        self._out: CellStats | None = None
        self._own: npt.NDArray[np.uint8] | None = None
        self._light = (GAIN_ONE, 0)
        """(gain_q8, offset) fitted when _view was taken."""
        self._differs: Mask | None = None
        """The zone's cells that differed from _view last frame."""

    def still_ms(self, t_ms: int) -> int:
        """How long the body has not moved at t_ms (0 when the zone is empty or it just moved)."""
        return 0 if self._since is None else t_ms - self._since

    def clear(self, t_ms: int) -> None:
        """The zone is empty at t_ms: the clock restarts and the picture is dropped."""
        self._since, self._view, self._differs = t_ms, None, None

    def update(
        self,
        occupied: bool,
        view: Frame,
        touched: Mask,
        area: npt.NDArray[np.float64],
        *,
        cell: int,
        gain_q8: int,
        offset: int,
        threshold: int,
        fraction: float,
        still_cells: int,
        t_ms: int,
        min_count: npt.NDArray[np.int32] | None = None,
    ) -> None:
        """One frame: view is the zone's box of whole cells (C-contiguous), touched and
        area its cells' zone map and pixel counts, gain_q8/offset this frame's light fit,
        threshold the grey levels that count a pixel as changed, fraction the share of a
        cell's pixels that must change. ``min_count``: ``ceil(fraction * area)`` as a
        C-contiguous int32 array, when the caller keeps it (the detector, per zone)."""
        if not occupied:
            self.clear(t_ms)
            return
        last = self._view
        if last is None or last.shape != view.shape:
            self._since, self._differs = t_ms, None
            # The caller may reuse view's buffer: the picture kept is a copy.
            self._view, self._light = view.copy(), (gain_q8, offset)
            return
        if view.dtype != np.uint8:
            raise ValueError(f"view: expected uint8, got {view.dtype}")
        if not 1 <= cell <= MAX_CELL:
            raise ValueError(f"cell: {cell} is outside 1..{MAX_CELL}")
        if not 0 <= threshold <= 255:
            raise ValueError(f"threshold: {threshold} is outside 0..255")
        grid = grid_shape(view.shape[0], view.shape[1], cell)
        if touched.shape != grid or area.shape != grid:
            raise ValueError(f"touched, area: expected the view's cell grid {grid}")
        if self._scratch is None or self._scratch.shape != view.shape:
            self._scratch = np.empty_like(view)
            self._out = new_cell_stats(view.shape[0], view.shape[1], cell)
            self._own = np.empty(grid, dtype=np.uint8)
        assert self._out is not None and self._own is not None
        # frame ~ reference * g + o, so frame ~ last * (g / g_last) + o - o_last * g / g_last.
        g_last, o_last = self._light
        ratio = gain_q8 / max(g_last, 1)
        gain = min(GAIN_Q8_MAX, round(GAIN_ONE * ratio))
        if gain < 0:
            raise ValueError(f"gain_q8: {gain_q8} is negative")
        # view and last are C-contiguous uint8 of one shape (the kept picture is a copy of
        # an earlier view of that shape), the scratch and out made for it, the light
        # clamped to the kernel's ranges: the kernel's checks are already made.
        counts = frame_stats_trusted(
            np.ascontiguousarray(view),
            last,
            self._scratch,
            cell,
            gain,
            max(-OFFSET_MAX, min(OFFSET_MAX, round(offset - o_last * ratio))),
            threshold,
            255,
            self._out,
        ).ref_count
        # Cells with at least fraction of their pixels changed, beside another such
        # cell, in the zone, and how many changed last frame too: one compiled pass
        # (``cells_reference.still_cells_reference`` is the definition).
        differs = np.empty(grid, dtype=np.bool_)
        before = self._differs
        if min_count is None:
            min_count = np.ceil(fraction * area).astype(np.int32)
        both = _cells.still_cells(
            counts,
            min_count,
            np.ascontiguousarray(touched).view(np.uint8),
            (differs if before is None else before).view(np.uint8),
            before is not None,
            self._own,
            differs.view(np.uint8),
        )
        self._differs = differs
        if before is not None and both >= still_cells:
            self._since = t_ms
            np.copyto(last, view)
            self._light = (gain_q8, offset)
