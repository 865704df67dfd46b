"""Reference refresh: the frame blended into the empty-lane reference where allowed.

Which cells may refresh is the detector's policy; this stage does the
per-pixel work compiled (``_refresh``, defined by
``refresh_reference.blend_cells_reference``), touching only the pixels of
those cells: the light-corrected frame ((frame - offset) / gain) is blended
in with weight ``alpha``, in drift-only cells only where it is within
``drift_px`` of the reference, and the grey reference follows the float one.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from controller.vision import _refresh

__all__ = ["MIN_GAIN", "blend_cells"]

MIN_GAIN = 1e-3
"""A fitted gain under this is taken as this (a black frame divides by nothing)."""


def blend_cells(
    frame: npt.NDArray[np.uint8],
    ref_float: npt.NDArray[np.float32],
    reference: npt.NDArray[np.uint8],
    cells: npt.NDArray[np.bool_],
    drift_only: npt.NDArray[np.bool_],
    *,
    cell: int,
    gain: float,
    offset: float,
    alpha: float,
    drift_px: float,
) -> int:
    """Blend frame into ref_float and reference (in place) in cells; pixels written."""
    h, w = frame.shape if isinstance(frame, np.ndarray) and frame.ndim == 2 else (0, 0)
    for name, array, dtype in (
        ("frame", frame, np.uint8),
        ("ref_float", ref_float, np.float32),
        ("reference", reference, np.uint8),
    ):
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D {np.dtype(dtype).name} array")
        if not array.flags.c_contiguous or array.shape != (h, w):
            raise ValueError(f"{name}: expected a C-contiguous {w}x{h} array")
    if not ref_float.flags.writeable or not reference.flags.writeable:
        raise ValueError("ref_float, reference: must be writeable")
    if cell < 1:
        raise ValueError(f"cell: {cell} is under 1")
    grid = (-(-h // cell), -(-w // cell))
    for name, mask in (("cells", cells), ("drift_only", drift_only)):
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != grid:
            raise ValueError(f"{name}: expected a bool array of the cell grid's shape {grid}")
    for name, value in (("gain", gain), ("offset", offset), ("drift_px", drift_px)):
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value!r} is not finite")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha: {alpha} is outside (0, 1]")
    return int(
        _refresh.blend_cells(
            frame,
            ref_float,
            reference,
            np.ascontiguousarray(cells).view(np.uint8),
            np.ascontiguousarray(drift_only).view(np.uint8),
            cell,
            float(offset),
            max(float(gain), MIN_GAIN),
            float(alpha),
            float(drift_px),
        )
    )
