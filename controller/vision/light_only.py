"""The light-only test: which differing windows only changed light (a shadow, a beam)?

A shadow or a headlight beam keeps the road's texture under a smooth change of
light; a body hides it. The compiled pass (``_light_only``, C in
``ext/light_window.h``, defined by ``light_only_reference.light_windows_reference``)
judges cell-sized windows of the padded frame against the same windows of the
padded reference; this wrapper checks the arguments, holds the scratch buffers
and gives the verdicts. ``LightCells`` runs it for the detector: on the frame and
the reference read as if padded, keeping a cell's verdict while none of its
pixels moves, the light-only test and the shadow test on the windows it rejects
in one compiled call (``_light_only.cell_windows``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from controller.vision import _light_only
from controller.vision.light_only_reference import STATS, quantile_place
from controller.vision.shadow import ShadowSettings, pass_limits

__all__ = ["LightCells", "LightOnly", "LightOnlySettings"]

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
        self.lo, self.between = quantile_place(win * win, settings.trim)
        """Where the misfit quantile lies: sorted[lo], strictly before sorted[lo + 1]?"""
        self.scratch = np.zeros(_light_only.scratch_size(win), dtype=np.int64)
        """The compiled pass's scratch (shared with ``LightCells``' one-call pass)."""
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
        margin: int = 0,
        past: int = 0,
    ) -> npt.NDArray[np.bool_]:
        """Per window at (ys, xs) of the padded frame and reference: only light changed?

        The images are padded by ``margin`` pixels on every side, and ``past`` more at
        the bottom and the right, their edge pixels repeated; the pass reads them so
        without a padded copy. With neither, the windows lie inside the images.
        """
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
        if margin < 0 or past < 0:
            raise ValueError(f"margin, past: {margin}, {past} must not be negative")
        h, w = frame.shape
        h, w = h + 2 * margin + past, w + 2 * margin + past
        if ys.size and (
            int(ys.min()) < 0
            or int(xs.min()) < 0
            or int(ys.max()) > h - s.win
            or int(xs.max()) > w - s.win
        ):
            raise ValueError(f"ys, xs: a {s.win}x{s.win} window leaves the padded {w}x{h} image")
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
            margin,
            self.lo,
            self.between,
            steady,
            s.across,
            s.texture_min,
            s.light_corr,
            s.light_contrast,
            s.light_residual,
            gain,
            offset,
            self.scratch,
            light,
            self._stats,
        )
        self._light = light
        return light.view(np.bool_)


class LightCells:
    """The light-only test as the detector runs it, frame after frame.

    The frame and the reference are looked at as if padded by ``margin`` (and
    a cell more at the bottom and the right), their edge pixels repeated: the
    compiled pass reads them so, no padded copy is made. A cell none of whose
    pixels moved keeps last frame's verdict, until the reference changes.
    """

    def __init__(
        self,
        settings: LightOnlySettings,
        height: int,
        width: int,
        cell: int,
        margin: int,
        shadow: ShadowSettings | None = None,
    ) -> None:
        self.test = LightOnly(settings)
        self.shadow = ShadowSettings() if shadow is None else shadow
        self.cell = cell
        self.margin = margin
        sh = self.shadow
        shadow_win = cell + 2 * sh.margin
        if shadow_win < 2:
            raise ValueError(
                f"cell, margin: a window of {shadow_win} x {shadow_win} pixels cannot be split"
            )
        npix = shadow_win * shadow_win
        floats, words = _light_only.shadow_scratch_sizes(shadow_win)
        self._shadow_scratch = np.zeros(floats, dtype=np.float32)
        self._shadow_words = np.zeros(words, dtype=np.uint32)
        self._shadow_member = np.zeros(npix, dtype=np.uint8)
        # The shadow thresholds as its numpy definition's float32 arithmetic meets them
        # (``shadow.pass_limits``, as ``shadow.shadow_windows`` passes them).
        self._shadow_args = (shadow_win, sh.margin, *pass_limits(sh, npix))
        rows, cols = -(-height // cell), -(-width // cell)
        pad_shape = (height + 2 * margin + cell, width + 2 * margin + cell)
        self._work = np.zeros((height, width), dtype=np.uint8)
        self._reference = np.zeros((height, width), dtype=np.uint8)
        self._verdict = np.zeros((rows, cols), dtype=bool)
        self._valid = np.zeros((rows, cols), dtype=bool)
        # The corners of the windows looked at this frame (``_light_only.select_cells``).
        self._ys = np.zeros(0, dtype=np.intp)
        self._xs = np.zeros(0, dtype=np.intp)
        self._steady = False
        self._gain = 1.0
        self._offset = 0.0
        self.limit_y = pad_shape[0] - cell - 2 * margin
        """The last row a window may start at in the padded frame."""
        self.limit_x = pad_shape[1] - cell - 2 * margin
        """The last column a window may start at in the padded frame."""

    def new_reference(self, reference: Frame, changed: npt.NDArray[np.bool_] | None = None) -> None:
        """The reference changed (or is another): the verdicts it may have changed are
        dropped, all of them, or with ``changed`` (the cells whose reference pixels
        changed: a refresh) only those of cells whose windows reach a changed one.

        It is read as it is when windows are looked at: the caller changes it only
        together with calling this.
        """
        self._reference = reference
        if changed is None:
            self._valid[...] = False
            return
        if changed.dtype != np.bool_ or changed.shape != self._valid.shape:
            raise ValueError("changed: expected a bool array of the grid's shape")
        reach = self.reach
        size = 2 * reach + 1
        grown = cv2.dilate(changed.view(np.uint8), np.ones((size, size), dtype=np.uint8))
        self._valid[grown.view(np.bool_)] = False

    @property
    def reach(self) -> int:
        """Cells around a cell that its windows (light-only and shadow) take pixels from."""
        widest = max(self.margin, self.shadow.margin)
        return (self.cell - 1 + widest) // self.cell

    def new_frame(self, frame: Frame, *, steady: bool, gain: float, offset: float) -> None:
        """This frame's picture and light fit, for the windows looked at until the next.

        ``steady``: the camera has not swayed for a while; until then the test
        leaves out the worst-fitting pixels whatever their shape: undoing sway
        resamples the picture and leaves the markings' edges, blurred, in the
        difference.
        """
        self._work = frame
        self._steady, self._gain, self._offset = steady, gain, offset

    def windows(self, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """For cell-sized windows at (ys, xs) of the padded frame: only light changed there?

        The light-only test first; the windows it rejects get the shadow test
        (``shadow``): one or two shades over the reference's texture, a shadow's edge
        that moved since the reference was taken."""
        test = self.test
        t = test.settings
        ys = np.ascontiguousarray(ys, dtype=np.intp)
        xs = np.ascontiguousarray(xs, dtype=np.intp)
        if ys.ndim != 1 or ys.shape != xs.shape:
            raise ValueError(f"ys, xs: shapes {ys.shape} and {xs.shape} are not one and the same")
        if self._gain <= 0.0:
            raise ValueError(f"gain: {self._gain} is not positive")
        frame = np.ascontiguousarray(self._work)
        reference = np.ascontiguousarray(self._reference)
        if frame.shape != reference.shape:
            raise ValueError(f"reference: shape {reference.shape} is not the frame's {frame.shape}")
        h, w = frame.shape
        light = np.zeros(ys.size, dtype=np.uint8)
        _light_only.cell_windows(
            frame,
            reference,
            ys,
            xs,
            h + 2 * self.margin + self.cell - t.win,
            w + 2 * self.margin + self.cell - t.win,
            t.win,
            self.margin,
            test.lo,
            test.between,
            self._steady,
            t.across,
            t.texture_min,
            t.light_corr,
            t.light_contrast,
            t.light_residual,
            self._gain,
            self._offset,
            *self._shadow_args,
            test.scratch,
            self._shadow_scratch,
            self._shadow_words,
            self._shadow_member,
            light,
        )
        return light.view(np.bool_)

    def cells(
        self,
        occupied: npt.NDArray[np.bool_],
        motion_count: npt.NDArray[np.int32],
        outside: npt.NDArray[np.bool_],
        box: tuple[int, int, int, int],
    ) -> npt.NDArray[np.bool_]:
        """Occupied cells whose pixels still follow the reference texture: light, not a body.

        Only zone cells (not ``outside``) are looked at (the rest need no second
        look), so the work is done on the zones' box of cells; outside it the
        answer is False. Which cells keep their verdict and which are looked at is
        compiled (``_light_only.select_cells``, defined by
        ``light_only_reference.select_cells_reference``).
        """
        c = self.cell
        r0, r1, c0, c1 = box
        rows, cols = self._valid.shape
        if not (0 <= r0 <= r1 <= rows and 0 <= c0 <= c1 <= cols):
            raise ValueError(f"box: {box} is not inside the {cols}x{rows} cell grid")
        for name, array in (("occupied", occupied), ("outside", outside)):
            if array.dtype != np.bool_ or array.shape != (rows, cols):
                raise ValueError(f"{name}: expected a bool array of the grid's shape")
        if motion_count.dtype != np.int32 or motion_count.shape != (rows, cols):
            raise ValueError("motion_count: expected an int32 array of the grid's shape")
        size = (r1 - r0) * (c1 - c0)
        if self._ys.size < size:
            self._ys = np.zeros(size, dtype=np.intp)
            self._xs = np.zeros(size, dtype=np.intp)
        count = _light_only.select_cells(
            np.ascontiguousarray(occupied).view(np.uint8),
            np.ascontiguousarray(motion_count),
            np.ascontiguousarray(outside).view(np.uint8),
            self._valid.view(np.uint8),
            self._verdict.view(np.uint8),
            r0,
            r1,
            c0,
            c1,
            c,
            self._ys,
            self._xs,
        )
        if count:
            ys, xs = self._ys[:count], self._xs[:count]
            light = self.windows(ys, xs)
            self._verdict[ys[light] // c, xs[light] // c] = True
        return self._verdict.copy()
