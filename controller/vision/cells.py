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

__all__ = [
    "CellGroups",
    "CellVerdicts",
    "bodies",
    "bodies_into",
    "cell_sum",
    "has_neighbour",
    "has_neighbour_into",
    "lattice_moments",
    "same_values",
]

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


class CellVerdicts:
    """Each frame's per-cell verdicts from the kernel's counts, in one compiled pass.

    Occupied (``ref_count >= occupied_min``), moving (``motion_count >= moving_min``),
    the frame's moved pixels and whether a cell outside every zone moved: five numpy
    passes over the grid, and their temporaries, become one (``_cells.verdicts``;
    ``cells_reference.verdicts_reference`` is the definition).
    """

    def __init__(
        self, occupied_min: npt.NDArray[np.int32], moving_min: npt.NDArray[np.int32]
    ) -> None:
        for name, array in (("occupied_min", occupied_min), ("moving_min", moving_min)):
            if not isinstance(array, np.ndarray) or array.dtype != np.int32 or array.ndim != 2:
                raise ValueError(f"{name}: expected a 2-D int32 array")
        if moving_min.shape != occupied_min.shape:
            raise ValueError(f"moving_min: shape {moving_min.shape} is not {occupied_min.shape}")
        self.shape = occupied_min.shape
        self._occupied_min = np.ascontiguousarray(occupied_min)
        self._moving_min = np.ascontiguousarray(moving_min)
        self._out = np.zeros(2, dtype=np.int64)

    def judge(
        self,
        ref_count: npt.NDArray[np.int32],
        motion_count: npt.NDArray[np.int32],
        outside: Mask,
    ) -> tuple[Mask, Mask, int, bool]:
        """(occupied, moving, pixels moved, a cell outside every zone moved); the two
        maps are new arrays (the caller may keep them). The counts are the kernel's
        (a cell's pixels at most)."""
        for name, array, dtype in (
            ("ref_count", ref_count, np.int32),
            ("motion_count", motion_count, np.int32),
            ("outside", outside, np.bool_),
        ):
            if not isinstance(array, np.ndarray) or array.dtype != dtype:
                raise ValueError(f"{name}: expected a {np.dtype(dtype).name} array")
            if array.shape != self.shape:
                raise ValueError(f"{name}: shape {array.shape} is not the grid's {self.shape}")
        occupied = np.empty(self.shape, dtype=np.bool_)
        moving = np.empty(self.shape, dtype=np.bool_)
        _cells.verdicts(
            np.ascontiguousarray(ref_count),
            np.ascontiguousarray(motion_count),
            self._occupied_min,
            self._moving_min,
            np.ascontiguousarray(outside).view(np.uint8),
            occupied.view(np.uint8),
            moving.view(np.uint8),
            self._out,
        )
        total, outside_moved = self._out.tolist()
        return occupied, moving, total, bool(outside_moved)

    def judge_into(
        self,
        ref_count: npt.NDArray[np.int32],
        motion_count: npt.NDArray[np.int32],
        outside: Mask,
        occupied: Mask,
        moving: Mask,
    ) -> tuple[int, bool]:
        """``judge`` writing the two maps into occupied and moving; (pixels moved, a cell
        outside every zone moved). For a caller whose arrays are what ``judge`` checks,
        C-contiguous, the maps writeable bool arrays of the grid's shape (the detector's
        own buffers): nothing is checked here."""
        _cells.verdicts(
            ref_count,
            motion_count,
            self._occupied_min,
            self._moving_min,
            outside.view(np.uint8),
            occupied.view(np.uint8),
            moving.view(np.uint8),
            self._out,
        )
        total, outside_moved = self._out.tolist()
        return total, bool(outside_moved)


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


def has_neighbour_into(cells: npt.NDArray[np.bool_], out: npt.NDArray[np.bool_]) -> None:
    """``has_neighbour`` written into out, for a caller whose arrays are C-contiguous 2-D
    bool arrays of one non-empty shape, out apart from cells: nothing is checked here."""
    _cells.has_neighbour(cells.view(np.uint8), out.view(np.uint8))


def bodies(
    differs: npt.NDArray[np.bool_], light: npt.NDArray[np.bool_], believed: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], int]:
    """After the light-only test: (body, occupied, occupied cells believed empty).

    body = differs & ~light (cells that differ and are not only light); occupied = body
    cells with a body cell among their four side neighbours (lone cells are rain or
    speckle); the count is the shake check's. One compiled pass (``_cells.bodies``,
    defined by ``cells_reference.bodies_reference``) instead of five numpy ones.
    """
    shape = differs.shape if isinstance(differs, np.ndarray) else None
    for name, mask in (("differs", differs), ("light", light), ("believed", believed)):
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D bool array")
        if mask.shape != shape:
            raise ValueError(f"{name}: shape {mask.shape} is not differs' {shape}")
    body = np.zeros(differs.shape, dtype=np.bool_)
    occupied = np.zeros(differs.shape, dtype=np.bool_)
    both = 0
    if differs.size:
        both = bodies_into(
            np.ascontiguousarray(differs),
            np.ascontiguousarray(light),
            np.ascontiguousarray(believed),
            body,
            occupied,
        )
    return body, occupied, both


def bodies_into(
    differs: npt.NDArray[np.bool_],
    light: npt.NDArray[np.bool_],
    believed: npt.NDArray[np.bool_],
    body: npt.NDArray[np.bool_],
    occupied: npt.NDArray[np.bool_],
) -> int:
    """``bodies`` written into body and occupied; the count. For a caller whose maps are
    C-contiguous 2-D bool arrays of one non-empty shape, body and occupied writeable and
    apart from the others (the detector's own buffers): nothing is checked here."""
    both: int = _cells.bodies(
        differs.view(np.uint8),
        light.view(np.uint8),
        believed.view(np.uint8),
        body.view(np.uint8),
        occupied.view(np.uint8),
    )
    return both


_INT64 = np.dtype(np.int64)
_FLOAT64 = np.dtype(np.float64)


def lattice_moments(
    grey_sum: npt.NDArray[np.int64],
    step: int,
    inv_area: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    squares: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> tuple[float, float]:
    """(sum of the cell means on the lattice of every step-th cell, sum of their squares):
    means = grey_sum[::step, ::step] * inv_area and its squares written into means and
    squares, the sums as numpy's ``sum`` makes them, to the bit (one compiled pass,
    ``_cells.lattice_moments``; ``cells_reference.lattice_moments_reference``). The
    diagnostics' brightness and spread, frame after frame; out holds two floats."""
    shape = inv_area.shape
    if step < 1:
        raise ValueError(f"step: {step} is under 1")
    if grey_sum.dtype != _INT64 or grey_sum.ndim != 2:
        raise ValueError("grey_sum: expected a 2-D int64 array")
    if grey_sum[::step, ::step].shape != shape:
        raise ValueError(f"grey_sum: its lattice is not inv_area's shape {shape}")
    for name, array in (("inv_area", inv_area), ("means", means), ("squares", squares)):
        if array.dtype != _FLOAT64 or array.shape != shape or not array.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous float64 array of shape {shape}")
    if out.dtype != _FLOAT64 or out.shape != (2,):
        raise ValueError("out: expected two float64")
    _cells.lattice_moments(np.ascontiguousarray(grey_sum), step, inv_area, means, squares, out)
    first, second = out.tolist()
    return first, second


def same_values(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> bool:
    """``np.array_equal(a, b)``; for two C-contiguous int64 arrays of one shape (the
    freeze check's grey sums) one memcmp (``_cells.same_int64``), not a temporary map."""
    if (
        a.dtype == _INT64
        and b.dtype == _INT64
        and a.shape == b.shape
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    ):
        return _cells.same_int64(a.reshape(-1), b.reshape(-1))
    return bool(np.array_equal(a, b))


def cell_sum(values: npt.NDArray[np.int64], cell: int) -> npt.NDArray[np.int64]:
    """Per cell of the grid, the sum of values over its pixels (edge cells part-filled)."""
    height, width = values.shape
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:height, :width] = values
    summed: npt.NDArray[np.int64] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed
