"""Diagnostics: a camera that cannot see says so, and is never read as an empty lane.

A frozen picture (identical frames: a live sensor always has noise), a
blinded one (too dark, too bright, or without texture: a covered lens) and a
shaken one (sway beyond what registration can undo, or most of the cells
believed empty suddenly differing) each become a fault after they have lasted
their hold time, and clear only after their cause has been gone for
``clear_ms``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.vision import _cells
from controller.vision.cells import same_values
from controller.vision.light import lattice_step

__all__ = ["LATTICE_CELLS", "Diagnostics", "DiagnosticsSettings", "Fault"]

_INT64 = np.dtype(np.int64)
_sum = np.add.reduce
"""``ndarray.sum`` without its Python wrapper (the same reduction, the same float sum)."""

LATTICE_CELLS = 4096
"""The picture's brightness and spread are read on at most this many cells."""


class Fault(enum.Enum):
    """Why the camera's zone states cannot be believed."""

    FROZEN = "frozen"
    BLINDED = "blinded"
    SHAKEN = "shaken"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class DiagnosticsSettings:
    """Thresholds (grey levels, shares) and hold times (ms); the detector's settings name them."""

    frozen_ms: int
    blind_low: int
    blind_high: int
    blind_texture: float
    blind_ms: int
    shaken_fraction: float
    shaken_ms: int
    clear_ms: int


class Diagnostics:
    """The faults of one camera, updated once per frame from the kernel's cell statistics."""

    def __init__(self, settings: DiagnosticsSettings, area: npt.NDArray[np.float64]) -> None:
        self.settings = settings
        self._area = area
        # Brightness and spread are read on a fixed lattice of at most LATTICE_CELLS
        # cells, as the light fit reads them: a covered lens is covered everywhere.
        self._step = lattice_step(area.shape[0], area.shape[1], LATTICE_CELLS)
        self._inv_area = 1.0 / area[:: self._step, :: self._step]
        self._means = np.zeros(self._inv_area.shape, dtype=np.float64)
        self._squares = np.zeros(self._inv_area.shape, dtype=np.float64)
        self._moments = np.zeros(2, dtype=np.float64)
        self._both = np.zeros(area.shape, dtype=np.bool_)
        self._prev_sum: npt.NDArray[np.int64] | None = None
        self._own_prev = False
        """_prev_sum is this object's copy (not the caller's kept buffer)."""
        self._since: dict[Fault, int | None] = dict.fromkeys(Fault)
        self._clear_since: dict[Fault, int | None] = dict.fromkeys(Fault)
        self.faults: set[Fault] = set()
        # The last read-only believed-empty map seen and its count (it cannot change).
        self._believed: npt.NDArray[np.bool_] | None = None
        self._believed_n = 0

    def update(
        self,
        grey_sum: npt.NDArray[np.int64],
        moved: int,
        occupied: npt.NDArray[np.bool_],
        believed_empty: npt.NDArray[np.bool_],
        big_shift: bool,
        t_ms: int,
        *,
        kept: bool = False,
        both: int | None = None,
    ) -> None:
        """One frame: its per-cell grey sums, how many pixels moved since the last frame,
        the cells seen occupied and those believed empty, and whether the sway was too big.

        ``kept``: the caller leaves grey_sum as it is until after the next call (it
        alternates two buffers), so it is held as it is, not copied. ``both``: the
        occupied cells believed empty, when the caller counted them already (the
        detector's ``cells.bodies_into``).
        """
        s = self.settings
        # Mean and spread of the cell means from their sum and sum of squares, in kept
        # buffers (no BLAS: its threads would fight the scan loop for the cores).
        step = self._step
        if (
            grey_sum.dtype == _INT64
            and grey_sum.shape == self._area.shape
            and grey_sum.flags.c_contiguous
        ):
            # One compiled pass, the same floats as the numpy lines below (its buffers
            # are this object's; grey_sum is checked just above).
            _cells.lattice_moments(
                grey_sum, step, self._inv_area, self._means, self._squares, self._moments
            )
            total, total_squares = self._moments.tolist()
        else:
            means = np.multiply(grey_sum[::step, ::step], self._inv_area, out=self._means)
            total = float(_sum(means, axis=None))
            total_squares = float(_sum(np.multiply(means, means, out=self._squares), axis=None))
        size = self._means.size
        mean = total / size
        square = total_squares / size
        spread = math.sqrt(max(0.0, square - mean * mean))
        identical = (
            self._prev_sum is not None and moved == 0 and same_values(grey_sum, self._prev_sum)
        )
        blinded = mean < s.blind_low or mean > s.blind_high or spread < s.blind_texture
        if believed_empty is self._believed:
            n = self._believed_n
        else:
            n = int(np.count_nonzero(believed_empty))
            if not believed_empty.flags.writeable:
                self._believed, self._believed_n = believed_empty, n
        if both is None:
            both = int(np.count_nonzero(np.logical_and(occupied, believed_empty, out=self._both)))
        mismatch = n > 0 and both / n > s.shaken_fraction
        self._track(Fault.FROZEN, identical, s.frozen_ms, t_ms)
        self._track(Fault.BLINDED, blinded, s.blind_ms, t_ms)
        self._track(Fault.SHAKEN, big_shift or mismatch, s.shaken_ms, t_ms)
        if kept:
            self._prev_sum = grey_sum
            self._own_prev = False
        elif self._prev_sum is None or not self._own_prev:
            self._prev_sum = grey_sum.copy()
            self._own_prev = True
        else:
            # The caller may overwrite grey_sum in place next frame: keep a copy.
            np.copyto(self._prev_sum, grey_sum)

    def _track(self, fault: Fault, present: bool, hold: int, t_ms: int) -> None:
        if not present and not self.faults:
            # Nothing to clear (the usual frame): only the cause's start is forgotten.
            self._since[fault] = None
            return
        if present:
            self._clear_since[fault] = None
            since = self._since[fault]
            if since is None:
                self._since[fault] = since = t_ms
            if t_ms - since >= hold:
                self.faults.add(fault)
            return
        self._since[fault] = None
        if fault in self.faults:
            clear = self._clear_since[fault]
            if clear is None:
                self._clear_since[fault] = clear = t_ms
            if t_ms - clear >= self.settings.clear_ms:
                self.faults.discard(fault)
                self._clear_since[fault] = None
