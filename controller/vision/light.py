"""Light: the global gain and offset of the picture against the reference.

Exposure swings, clouds and auto-exposure change every grey level at once; a
gain and offset fitted on the cells believed empty take that out before
anything is compared, so a change of light makes no presence. The compiled
pass (``_light``, defined by ``light_reference.fit_light_reference``) fits
them over the cell means in one go, on a fixed lattice of cells (every
``step``-th row and column, at most ``max_cells`` of them: light is smooth over
the picture); this wrapper checks the arguments, holds the scratch buffer and
gives the result in the kernel's fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.vision import _light
from controller.vision.kernel import GAIN_ONE, GAIN_Q8_MAX, OFFSET_MAX

__all__ = ["LightFit", "LightSettings", "lattice_step"]


def lattice_step(rows: int, cols: int, max_cells: int) -> int:
    """The smallest spacing whose lattice of a rows x cols grid holds at most max_cells."""
    step = 1
    while -(-rows // step) * -(-cols // step) > max_cells:
        step += 1
    return step


@dataclass(frozen=True, slots=True)
class LightSettings:
    """How the fit treats its cells (grey levels)."""

    min_spread: float = 8.0
    """Reference cell means spreading less than this fit a pure gain."""
    floor: float = 4.0
    """Residuals up to this are always kept for the fits after the start."""
    factor: float = 2.5
    """Residuals up to this many times the median are kept for the fits after the start."""
    min_cells: int = 8
    """Cells a fit needs; with fewer selected, every cell of the lattice is used."""
    max_cells: int = 4096
    """The lattice of cells the fit samples holds at most this many (a 1280x720 grid of
    4-pixel cells: every fourth row and column, 3600 cells)."""

    def __post_init__(self) -> None:
        if self.max_cells < 1:
            raise ValueError(f"max_cells: {self.max_cells} is under 1")


class LightFit:
    """The light fit for one cell grid."""

    def __init__(self, shape: tuple[int, int], settings: LightSettings = LightSettings()) -> None:
        rows, cols = shape
        if rows < 1 or cols < 1:
            raise ValueError(f"shape: {shape} has no cells")
        self.shape = (rows, cols)
        self.settings = settings
        self.step = lattice_step(rows, cols, settings.max_cells)
        """The lattice's spacing in cells, the same in both directions."""
        self._scratch = np.zeros(4 * rows * cols, dtype=np.float64)
        self._out = np.zeros(3, dtype=np.float64)
        self._all = np.ones(self.shape, dtype=np.uint8)
        self._counted: npt.NDArray[np.bool_] | None = None
        self._count = 0

    def fit(
        self,
        grey_sum: npt.NDArray[np.int64],
        area: npt.NDArray[np.float64],
        ref_means: npt.NDArray[np.float64],
        cells: npt.NDArray[np.bool_],
    ) -> tuple[float, float]:
        """(gain, offset) with frame ~ gain * reference over ``cells`` (all, when too few)."""
        for name, array, dtype in (
            ("grey_sum", grey_sum, np.int64),
            ("area", area, np.float64),
            ("ref_means", ref_means, np.float64),
            ("cells", cells, np.bool_),
        ):
            if not isinstance(array, np.ndarray) or array.dtype != dtype:
                raise ValueError(f"{name}: expected a {np.dtype(dtype).name} numpy array")
            if array.shape != self.shape:
                raise ValueError(f"{name}: shape {array.shape} is not the grid's {self.shape}")
        return self._fit(
            np.ascontiguousarray(grey_sum),
            np.ascontiguousarray(area),
            np.ascontiguousarray(ref_means),
            np.ascontiguousarray(cells),
        )

    def _fit(
        self,
        grey_sum: npt.NDArray[np.int64],
        area: npt.NDArray[np.float64],
        ref_means: npt.NDArray[np.float64],
        cells: npt.NDArray[np.bool_],
    ) -> tuple[float, float]:
        """``fit`` on arguments already checked and C-contiguous."""
        s = self.settings
        selected = cells.view(np.uint8)
        step = self.step
        if cells is self._counted:
            count = self._count
        else:
            count = int(np.count_nonzero(cells[::step, ::step]))
            if not cells.flags.writeable:
                # A read-only map (the detector's kept ones) cannot change: counted once.
                self._counted, self._count = cells, count
        if count < s.min_cells:
            selected = self._all
        _light.fit_light(
            grey_sum,
            area,
            ref_means,
            selected,
            s.min_spread,
            s.floor,
            s.factor,
            s.min_cells,
            step,
            self._scratch,
            self._out,
        )
        gain, offset = self._out.tolist()[:2]
        return gain, offset

    def fit_q8(
        self,
        grey_sum: npt.NDArray[np.int64],
        area: npt.NDArray[np.float64],
        ref_means: npt.NDArray[np.float64],
        cells: npt.NDArray[np.bool_],
    ) -> tuple[int, int]:
        """The fit in the kernel's terms: gain in Q8 (1..GAIN_Q8_MAX), offset in grey levels."""
        return _q8(*self.fit(grey_sum, area, ref_means, cells))

    def fit_q8_trusted(
        self,
        grey_sum: npt.NDArray[np.int64],
        area: npt.NDArray[np.float64],
        ref_means: npt.NDArray[np.float64],
        cells: npt.NDArray[np.bool_],
    ) -> tuple[int, int]:
        """``fit_q8`` for a caller whose arrays are what ``fit`` checks (the grid's shape,
        their dtypes) and C-contiguous: the detector's per-frame path, nothing checked."""
        return _q8(*self._fit(grey_sum, area, ref_means, cells))


def _q8(gain: float, offset: float) -> tuple[int, int]:
    """A fit in the kernel's terms: gain in Q8 (1..GAIN_Q8_MAX), offset in grey levels."""
    gain_q8 = int(min(GAIN_Q8_MAX, max(1, round(gain * GAIN_ONE))))
    offset_i = int(min(OFFSET_MAX, max(-OFFSET_MAX, round(offset))))
    return gain_q8, offset_i
