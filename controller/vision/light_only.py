"""The light-only test: which differing windows only changed light (a shadow, a beam)?

A shadow or a headlight beam keeps the road's texture under a smooth change of
light; a body hides it. The compiled pass (``_light_only``, defined by
``light_only_reference.light_windows_reference``) judges cell-sized windows of
the padded frame against the same windows of the padded reference; this
wrapper checks the arguments, holds the scratch buffers and gives the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.vision import _light_only
from controller.vision.light_only_reference import STATS, quantile_place

__all__ = ["LightOnly", "LightOnlySettings", "pad_into"]

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class LightOnlySettings:
    """The test's thresholds (see ``DetectorSettings`` for what each one means)."""

    win: int
    trim: float
    across: int
    texture_min: float
    light_corr: float
    light_contrast: float
    light_residual: float

    def __post_init__(self) -> None:
        if self.win < 3:
            raise ValueError(f"win: {self.win} is under 3")
        if not 0.0 <= self.trim < 1.0:
            raise ValueError(f"trim: {self.trim} is outside [0, 1)")
        if not 1 <= self.across <= self.win:
            raise ValueError(f"across: {self.across} is outside 1..{self.win}")


class LightOnly:
    """The light-only test for one window size."""

    def __init__(self, settings: LightOnlySettings) -> None:
        self.settings = settings
        win = settings.win
        self._lo, self._between = quantile_place(win * win, settings.trim)
        self._scratch = np.zeros(7 * win * win, dtype=np.int64)
        self._light = np.zeros(0, dtype=np.uint8)
        self._stats = np.zeros((0, len(STATS)), dtype=np.float64)

    @property
    def stats(self) -> npt.NDArray[np.float64]:
        """The last call's per-window figures, columns named by ``STATS``."""
        return self._stats[: self._light.size]

    def windows(
        self,
        frame: Frame,
        reference: Frame,
        ys: npt.NDArray[np.intp],
        xs: npt.NDArray[np.intp],
        *,
        steady: bool,
        gain: float,
        offset: float,
    ) -> npt.NDArray[np.bool_]:
        """Per window at (ys, xs) of the padded frame and reference: only light changed?"""
        s = self.settings
        for name, image in (("frame", frame), ("reference", reference)):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
                raise ValueError(f"{name}: expected a 2-D uint8 image")
        if frame.shape != reference.shape:
            raise ValueError(f"reference: shape {reference.shape} is not the frame's {frame.shape}")
        ys = np.ascontiguousarray(ys, dtype=np.intp)
        xs = np.ascontiguousarray(xs, dtype=np.intp)
        if ys.ndim != 1 or ys.shape != xs.shape:
            raise ValueError(f"ys, xs: shapes {ys.shape} and {xs.shape} are not one and the same")
        h, w = frame.shape
        if ys.size and (
            int(ys.min()) < 0
            or int(xs.min()) < 0
            or int(ys.max()) > h - s.win
            or int(xs.max()) > w - s.win
        ):
            raise ValueError(f"ys, xs: a {s.win}x{s.win} window leaves the {w}x{h} image")
        if gain <= 0.0:
            raise ValueError(f"gain: {gain} is not positive")
        count = ys.size
        if self._stats.shape[0] < count:
            self._stats = np.zeros((max(count, 2 * self._stats.shape[0]), len(STATS)))
        light = np.zeros(count, dtype=np.uint8)
        _light_only.light_windows(
            np.ascontiguousarray(frame),
            np.ascontiguousarray(reference),
            ys,
            xs,
            s.win,
            self._lo,
            self._between,
            steady,
            s.across,
            s.texture_min,
            s.light_corr,
            s.light_contrast,
            s.light_residual,
            gain,
            offset,
            self._scratch,
            light,
            self._stats,
        )
        self._light = light
        return light.view(np.bool_)


def pad_into(buffer: Frame, image: Frame, margin: int) -> Frame:
    """Copy image into buffer with its edge pixels repeated into the margin (no allocation).

    The light-only windows reach ``margin`` pixels past a cell, and past the
    picture's edge for its edge cells: the frame and the reference are both
    looked at through such padded copies.
    """
    m = margin
    h, w = image.shape
    buffer[m : m + h, m : m + w] = image
    buffer[:m, m : m + w] = image[0]
    buffer[m + h :, m : m + w] = image[-1]
    buffer[:, :m] = buffer[:, m : m + 1]
    buffer[:, m + w :] = buffer[:, m + w - 1 : m + w]
    return buffer
