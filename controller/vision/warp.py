"""Undoing sway: the frame moved back onto the reference by a subpixel shift.

The compiled pass (``_warp``, defined by ``warp_reference.shift_reference``)
samples the frame bilinearly at (x + dx, y + dy) with the shift's fractions in
Q8 fixed point (down the rows, then across, rounded once) and the edge pixels
repeated, into a buffer the caller keeps:
no frame-sized temporary, no OpenCV thread pool. This wrapper checks the
arguments and splits the shift.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from controller.vision import _warp

__all__ = ["MAX_SHIFT_PX", "roll_into", "shift_into", "split_shift"]

Frame = npt.NDArray[np.uint8]

MAX_SHIFT_PX = 1 << 20
"""A shift this large is an error, not a picture (it would only repeat the edge)."""


def split_shift(d: float) -> tuple[int, int]:
    """A shift as whole pixels and a Q8 fraction: d ~ whole + fraction / 256, fraction in 0..255."""
    if not math.isfinite(d) or abs(d) > MAX_SHIFT_PX:
        raise ValueError(f"shift: {d!r} is not a finite shift under {MAX_SHIFT_PX} px")
    q8 = round(d * 256)
    return q8 >> 8, q8 & 255


def _check(frame: Frame, out: Frame) -> None:
    for name, array in (("frame", frame), ("out", out)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D uint8 grey image")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous image")
    if out.shape != frame.shape:
        raise ValueError(f"out: shape {out.shape} is not the frame's {frame.shape}")
    if not out.flags.writeable:
        raise ValueError("out: is read-only")
    if np.shares_memory(out, frame):
        raise ValueError("out: must not overlap frame")


def shift_into(frame: Frame, dx: float, dy: float, out: Frame) -> Frame:
    """out(y, x) = frame(y + dy, x + dx), bilinear, edges repeated; returns out."""
    _check(frame, out)
    ix, fx = split_shift(dx)
    iy, fy = split_shift(dy)
    _warp.shift_bilinear(frame, out, ix, iy, fx, fy)
    return out


def roll_into(
    frame: Frame,
    dx: float,
    dy: float,
    roll: float,
    centre: tuple[float, float],
    out: Frame,
) -> Frame:
    """out(p) = frame(c + d + R(roll) (p - c)), bilinear, edges repeated; returns out.

    A view that turned by ``roll`` radians (clockwise on the screen) about the
    point ``centre`` (x, y) = c and moved by d = (dx, dy) there. A turn is rare
    and needs a full affine resampling, so it is OpenCV's ``warpAffine``
    (into ``out``, no temporary); a plain shift stays with ``shift_into``.
    """
    _check(frame, out)
    cx, cy = centre
    for name, value in (("dx", dx), ("dy", dy), ("roll", roll), ("cx", cx), ("cy", cy)):
        if not math.isfinite(value) or abs(value) > MAX_SHIFT_PX:
            raise ValueError(f"{name}: {value!r} is not finite and under {MAX_SHIFT_PX}")
    if abs(roll) > 0.5:
        raise ValueError(f"roll: {roll!r} rad is a turned camera, not a sway")
    c, s = math.cos(roll), math.sin(roll)
    matrix = np.array(
        [
            [c, -s, cx + dx - c * cx + s * cy],
            [s, c, cy + dy - s * cx - c * cy],
        ],
        dtype=np.float64,
    )
    cv2.warpAffine(
        frame,
        matrix,
        (frame.shape[1], frame.shape[0]),
        dst=out,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out
