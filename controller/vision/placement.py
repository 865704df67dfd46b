"""Zone placement: the zones laid where the mast rests, seen in the reference's coordinates.

Zones (and the truth) are drawn for the mast at rest, but the reference is
wherever the mast was when it was taken, and every frame's sway is undone onto
the reference: on a swaying mast the picture sits a few pixels off the zones.
The mean of the measured sway (``SwayAnchor``) is where the mast rests; the
zones are laid that far off instead, so neither the reference nor the frames
are resampled again. Offsets are quarter pixels and each one's cell maps are
built once (``Placements``): a mast swinging around its rest costs no rebuild
per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from controller.vision.zones import Zone, ZoneError, ZoneGrid, outside_cells

__all__ = ["PLACED_MAX", "Placed", "Placements", "SwayAnchor", "moved_zones"]

PLACED_MAX = 16
"""Zone placements kept built (a mast rests within a pixel or two)."""

Offset = tuple[float, float]
Placed = tuple[ZoneGrid, npt.NDArray[np.bool_]]
"""A placement's cell maps and the cells no zone holds there."""


class SwayAnchor:
    """The mean sway measured since the reference was taken: where the mast rests."""

    def __init__(self, frames: int, px: float) -> None:
        self.frames = frames
        """Frames of measured sway averaged before the zones are laid at the mast's rest."""
        self.px = px
        """Distance from the zones' offset beyond which they are laid anew."""
        self._sum = [0.0, 0.0]
        self._n = 0

    def reset(self) -> None:
        """A new reference: its sway is measured from nothing again."""
        self._sum = [0.0, 0.0]
        self._n = 0

    def add(self, shift: Offset, current: Offset) -> Offset | None:
        """Take in one frame's sway; the zones' new offset (quarter pixels), or None to stay."""
        self._sum[0] += shift[0]
        self._sum[1] += shift[1]
        self._n += 1
        if self._n < self.frames:
            return None
        ox, oy = -self._sum[0] / self._n, -self._sum[1] / self._n
        if math.hypot(ox - current[0], oy - current[1]) >= self.px:
            return (round(ox * 4) / 4, round(oy * 4) / 4)
        return None


def moved_zones(zones: Sequence[Zone], offset: Offset) -> list[Zone]:
    """The zones moved by offset (dx, dy) pixels."""
    dx, dy = offset
    return [Zone(z.name, tuple((x + dx, y + dy) for x, y in z.polygon)) for z in zones]


class Placements:
    """The zones' cell maps per offset, each built once (the last ``PLACED_MAX`` kept).

    Whole pixels would be too coarse: a zone drawn to a lane line then takes in
    a sliver of the line's shimmer; so the offsets are quarter pixels.
    """

    def __init__(self, zones: Sequence[Zone], at_rest: ZoneGrid) -> None:
        self._zones = tuple(zones)
        self._built: dict[Offset, Placed] = {(0.0, 0.0): (at_rest, outside_cells(at_rest))}

    def get(self, offset: Offset, build: Callable[[Sequence[Zone]], ZoneGrid]) -> Placed | None:
        """The placement at offset, built by ``build`` the first time; None if it leaves the
        picture (``build`` raised ``ZoneError``: a zone at the frame's edge)."""
        placed = self._built.get(offset)
        if placed is None:
            try:
                grid = build(moved_zones(self._zones, offset))
            except ZoneError:
                return None
            placed = (grid, outside_cells(grid))
            if len(self._built) >= PLACED_MAX:
                self._built.pop(next(iter(self._built)))
            self._built[offset] = placed
        return placed
