"""Typed wrapper of the fused frame kernel: argument checks and the dtype policy.

The compiled pass (``_framediff``) trusts its arguments; every check that keeps
it from reading out of bounds or giving a silent wrong answer lives here. The
one exception, to keep the per-frame cost low: the dtype, contiguity and
writeability of ``out``'s arrays are checked by the compiled call's buffer
acquisition (before any work), and a failure there is explained here by name.
``frame_stats_trusted`` is the path for a caller that made those checks once
(the detector, on its own buffers): it checks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from controller.vision import _framediff

__all__ = [
    "GAIN_ONE",
    "GAIN_Q8_MAX",
    "MAX_CELL",
    "OFFSET_MAX",
    "CellStats",
    "frame_stats",
    "frame_stats_trusted",
    "grid_shape",
    "new_cell_stats",
    "simd_path",
]

GAIN_ONE = 256
"""Gain 1.0 in the Q8 fixed point the kernel takes."""
GAIN_Q8_MAX = 1024
OFFSET_MAX = 255
MAX_CELL = 512


@dataclass(frozen=True, slots=True)
class CellStats:
    """Per-cell counts of one frame; arrays are (rows, cols) of the cell grid."""

    ref_count: npt.NDArray[np.int32]
    """Pixels differing from the gain/offset-corrected reference by more than ref_threshold."""
    motion_count: npt.NDArray[np.int32]
    """Pixels differing from the previous frame by more than motion_threshold."""
    grey_sum: npt.NDArray[np.int64]
    """Sum of the frame's grey levels."""


def simd_path() -> str:
    """The row pass in use, for logs and reports: "avx512", "avx2", "ssse3" or "portable".

    The fast passes are chosen at import from the CPU's features and serve cells
    that are multiples of 4; other cell sizes always take the portable pass.
    """
    return ("portable", "ssse3", "avx2", "avx512")[_framediff.simd_level()]


def grid_shape(height: int, width: int, cell: int) -> tuple[int, int]:
    """Rows and columns of the cell grid; partial cells at the right and bottom edges count."""
    return (-(-height // cell), -(-width // cell))


_UINT8 = np.dtype(np.uint8)
_INT32 = np.dtype(np.int32)
_INT64 = np.dtype(np.int64)


def _check_frame(name: str, array: object) -> npt.NDArray[np.uint8]:
    # The checks run on every frame: dtype objects compared with ready-made ones,
    # flags read only when the strides are not those of a packed C-order frame.
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != _UINT8:
        raise ValueError(f"{name}: expected dtype uint8, got {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grey frame, got {array.ndim} dimensions")
    height, width = array.shape
    if height == 0 or width == 0:
        raise ValueError(f"{name}: empty frame of shape {array.shape}")
    if array.strides != (width, 1) and not array.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (use np.ascontiguousarray)")
    return array


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name}: expected an int, got {type(value).__name__}")
        value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}..{high}")
    return value


def _check_out_array(
    field: str, array: object, dtype: np.dtype[Any], shape: tuple[int, int]
) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != dtype:
        raise ValueError(f"out.{field}: expected a {dtype.name} numpy array")
    if array.shape != shape:
        raise ValueError(f"out.{field}: shape {array.shape} does not match the grid {shape}")
    flags = array.flags
    if not flags.c_contiguous or not flags.writeable:
        raise ValueError(f"out.{field}: must be C-contiguous and writeable")


def _check_out(out: object, shape: tuple[int, int]) -> CellStats:
    if not isinstance(out, CellStats):
        raise ValueError(f"out: expected a CellStats, got {type(out).__name__}")
    _check_out_array("ref_count", out.ref_count, _INT32, shape)
    _check_out_array("motion_count", out.motion_count, _INT32, shape)
    _check_out_array("grey_sum", out.grey_sum, _INT64, shape)
    return out


def new_cell_stats(height: int, width: int, cell: int) -> CellStats:
    """Zeroed outputs for a ``height`` x ``width`` frame, to pass as ``out`` frame after frame."""
    height = _check_int("height", height, 1, 2**31 - 1)
    width = _check_int("width", width, 1, 2**31 - 1)
    cell = _check_int("cell", cell, 1, MAX_CELL)
    shape = grid_shape(height, width, cell)
    return CellStats(
        ref_count=np.zeros(shape, dtype=np.int32),
        motion_count=np.zeros(shape, dtype=np.int32),
        grey_sum=np.zeros(shape, dtype=np.int64),
    )


def frame_stats(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    previous: npt.NDArray[np.uint8],
    *,
    cell: int,
    gain_q8: int = GAIN_ONE,
    offset: int = 0,
    ref_threshold: int,
    motion_threshold: int,
    out: CellStats | None = None,
) -> CellStats:
    """Count reference and motion differences per cell in one pass and copy frame into previous.

    The corrected reference is ``((reference * gain_q8 + 128) >> 8) + offset``
    (not clamped); a pixel counts when its absolute difference is strictly
    greater than the threshold. Cells are ``cell`` x ``cell`` pixels; the
    partial cells at the right and bottom edges count the pixels they have.
    ``previous`` is overwritten with ``frame``. The pass runs with the GIL
    released. With ``out`` (e.g. from ``new_cell_stats``) the arrays are
    overwritten in place and ``out`` is returned: no allocation per frame.
    """
    frame = _check_frame("frame", frame)
    reference = _check_frame("reference", reference)
    previous = _check_frame("previous", previous)
    for name, other in (("reference", reference), ("previous", previous)):
        if other.shape != frame.shape:
            raise ValueError(f"{name}: shape {other.shape} does not match frame {frame.shape}")
    if not previous.flags.writeable:
        raise ValueError("previous: must be writeable (it is updated in place)")
    if np.shares_memory(previous, frame):
        raise ValueError("previous: must not share memory with frame")
    if np.shares_memory(previous, reference):
        raise ValueError("previous: must not share memory with reference")
    cell = _check_int("cell", cell, 1, MAX_CELL)
    gain_q8 = _check_int("gain_q8", gain_q8, 0, GAIN_Q8_MAX)
    offset = _check_int("offset", offset, -OFFSET_MAX, OFFSET_MAX)
    ref_threshold = _check_int("ref_threshold", ref_threshold, 0, 255)
    motion_threshold = _check_int("motion_threshold", motion_threshold, 0, 255)
    shape = grid_shape(frame.shape[0], frame.shape[1], cell)
    if out is None:
        stats = CellStats(
            ref_count=np.empty(shape, dtype=np.int32),
            motion_count=np.empty(shape, dtype=np.int32),
            grey_sum=np.empty(shape, dtype=np.int64),
        )
    else:
        # Only the shapes here (the pass relies on them for its bounds): the compiled
        # call checks dtype, contiguity and writeability of out's arrays before any
        # work, and a failure there is explained by _check_out below.
        if not isinstance(out, CellStats):
            raise ValueError(f"out: expected a CellStats, got {type(out).__name__}")
        for field in (out.ref_count, out.motion_count, out.grey_sum):
            if getattr(field, "shape", None) != shape:
                _check_out(out, shape)
        stats = out
    try:
        _framediff.frame_stats(
            frame,
            reference,
            previous,
            cell,
            gain_q8,
            offset,
            ref_threshold,
            motion_threshold,
            stats.ref_count,
            stats.motion_count,
            stats.grey_sum,
        )
    except (ValueError, TypeError):
        _check_out(stats, shape)
        raise
    return stats


def frame_stats_trusted(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    previous: npt.NDArray[np.uint8],
    cell: int,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
    out: CellStats,
) -> CellStats:
    """``frame_stats`` for a caller that has checked everything ``frame_stats`` checks,
    once: the images C-contiguous uint8 of one shape, ``previous`` writeable and apart
    from the others, ``out`` from ``new_cell_stats`` for that shape and cell, the ints
    in their ranges. The detector's per-frame path (its arguments are its own buffers
    and settings); nothing is checked here, so a wrong argument reads out of bounds.
    """
    _framediff.frame_stats(
        frame,
        reference,
        previous,
        cell,
        gain_q8,
        offset,
        ref_threshold,
        motion_threshold,
        out.ref_count,
        out.motion_count,
        out.grey_sum,
    )
    return out
