"""Registration: how far the camera has swayed from where the reference was taken.

A swaying mast moves the whole picture by a few pixels; undone to within a
twentieth of a pixel, the road's markings leave nothing in the difference.
The compiled pass (``_registration``, defined by
``registration_reference.register_reference``) measures the shift over a box
of the frame where no zone lies, leaving out the cells the caller masks (a
vehicle crossing the box last frame): projections give the coarse shift,
Lucas-Kanade steps refine it. This wrapper checks the arguments once, holds
the scratch buffers, and turns the pass's answer into a ``Shift``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from controller.vision import _registration
from controller.vision.kernel import grid_shape
from controller.vision.warp import roll_into

__all__ = [
    "AGREE_PX",
    "FINE",
    "FINE_COLS",
    "FINE_ROWS",
    "LK_ITERATIONS",
    "LK_SUMS",
    "ROLL_JUMP_PX",
    "ROLL_PX",
    "SIDE_BOXES",
    "Registration",
    "Shift",
    "SwayMeter",
    "central_box",
    "fit_roll",
    "side_boxes",
    "static_band",
]

LK_SUMS = ("n", "f", "r", "fr", "rr", "gx", "gy", "gxf", "gxr", "gyf", "gyr", "hxx", "hxy", "hyy")
"""Names of the integer sums of one Lucas-Kanade step, in the compiled pass's order."""

MIN_TEXTURE = 0.5
"""Grey-level spread of the box's block means under which nothing can be measured."""


MAX_COST = 0.5
"""Block means that correlate under 0.5 at the best shift searched measure nothing."""
FINE = 4
"""Block size of the compiled pass's fine block search at 640x360 (pixels), the default;
the coarse one's is twice."""
FINE_REACH = 2
LK_ITERATIONS = 10
"""Lucas-Kanade steps at most (it stops once a step moves under 2/256 px,
``registration_reference.LK_DONE``; a still view takes 3-4): from a block search up to a
block off it takes 4-8 on lane markings, and three left the boxes 1-2 px off, which read
as a roll of a few mrad."""


@dataclass(frozen=True, slots=True)
class Shift:
    """The picture's shift against the reference, in pixels (frame(x + d) ~ reference(x))."""

    dx: float
    dy: float
    beyond: bool = False
    """The coarse search hit its bound: the view moved further than it can measure."""
    measured: bool = True
    """False when nothing could be measured (no texture in the box, or no shift searched
    matches: a view moved far, or traffic filling the box); the shift is then 0."""

    @property
    def size(self) -> float:
        return math.hypot(self.dx, self.dy)


class Registration:
    """The sway measurement for one frame size, box and cell grid."""

    def __init__(
        self,
        height: int,
        width: int,
        cell: int,
        box: tuple[int, int, int, int],
        *,
        max_shift_px: float,
        iterations: int = LK_ITERATIONS,
        fine: int = FINE,
    ) -> None:
        r0, r1, c0, c1 = box
        if not (0 <= r0 < r1 <= height and 0 <= c0 < c1 <= width):
            raise ValueError(f"box: {box} is not inside a {width}x{height} frame")
        if not 1 <= cell <= 512:
            raise ValueError(f"cell: {cell} is outside 1..512")
        if iterations < 0:
            raise ValueError(f"iterations: must not be negative, got {iterations}")
        if not 2 <= fine <= 64:
            raise ValueError(f"fine: {fine} is outside 2..64")
        self.fine = fine
        """Block size of the fine search (pixels); the coarse one's is twice."""
        self.row_step = fine
        """Lucas-Kanade samples every row_step-th row of the box."""
        self.height, self.width, self.cell = height, width, cell
        self.box = box
        self.grid = grid_shape(height, width, cell)
        bh, bw = (r1 - r0) // fine, (c1 - c0) // fine
        # The coarse search's blocks are 2 * fine pixels; it must leave some blocks to compare.
        self.reach = max(
            0,
            min(
                math.ceil(max_shift_px / (2 * fine)) + 1,
                (bh // 2 - 3) // 2,
                (bw // 2 - 3) // 2,
            ),
        )
        self.iterations = iterations
        # Block sums, counts and means, then the searches' prefix sums.
        self._sums = np.zeros(
            5 * (bh * bw + (bh // 2) * (bw // 2))
            + 2 * (bh + 1) * (bw + 1)
            + 2 * (bh // 2 + 1) * (bw // 2 + 1),
            dtype=np.int64,
        )
        # What the pass keeps of the reference's Lucas-Kanade sums, and the mask's box
        # cells it was made with (the reference's block sums stay in _sums).
        self._kept = np.zeros(5 + len(LK_SUMS), dtype=np.int64)
        self._box_cells = (
            slice(r0 // cell, -(-r1 // cell)),
            slice(c0 // cell, -(-c1 // cell)),
        )
        self._kept_mask = b""
        """The bytes of the mask's box cells the kept sums were made with."""
        self._scratch = np.zeros(
            (2 * self.reach + 1) ** 2 + (2 * FINE_REACH + 1) ** 2, dtype=np.float64
        )
        # The column runs a row's mask keeps, then the same cut into chunks.
        self._runs = np.zeros(3 * (c1 - c0) + 10, dtype=np.intp)
        self._out = np.zeros(8, dtype=np.float64)

    def _check(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
    ) -> None:
        for name, image in (("frame", frame), ("reference", reference), ("mask", mask)):
            if not isinstance(image, np.ndarray):
                raise ValueError(f"{name}: expected a numpy array, got {type(image).__name__}")
        for name, image in (("frame", frame), ("reference", reference)):
            if image.dtype != np.uint8 or image.shape != (self.height, self.width):
                raise ValueError(
                    f"{name}: expected uint8 of shape {(self.height, self.width)}, "
                    f"got {image.dtype} {image.shape}"
                )
        if mask.dtype != np.uint8 or mask.shape != self.grid:
            raise ValueError(f"mask: expected uint8 of the grid's shape {self.grid}")

    def lk_sums(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        dx: float,
        dy: float,
    ) -> dict[str, int]:
        """The integer sums of one Lucas-Kanade step at (dx, dy), by name (``LK_SUMS``)."""
        self._check(frame, reference, mask)
        sums = np.zeros(len(LK_SUMS), dtype=np.int64)
        r0, r1, c0, c1 = self.box
        _registration.lk_sums(
            np.ascontiguousarray(frame),
            np.ascontiguousarray(reference),
            np.ascontiguousarray(mask),
            self.cell,
            r0,
            r1,
            c0,
            c1,
            float(dx),
            float(dy),
            self.row_step,
            sums,
            self._runs,
        )
        return dict(zip(LK_SUMS, (int(v) for v in sums), strict=True))

    def measure(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        *,
        same_reference: bool = False,
    ) -> Shift:
        """The shift of frame against reference over the box; cells where mask is 0 are left out.

        ``same_reference``: the reference has not changed since the last call; what
        the pass took of it then is used again if the mask's cells over the box are
        the same too (the shift is the same either way, only cheaper).
        """
        self._check(frame, reference, mask)
        return self._measure(
            np.ascontiguousarray(frame),
            np.ascontiguousarray(reference),
            np.ascontiguousarray(mask),
            same_reference,
        )

    def _measure(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        same_reference: bool,
    ) -> Shift:
        """``measure`` on arguments already checked and C-contiguous (``SwayMeter``
        checks them once a frame for all its boxes)."""
        return self._measure_cells(
            frame, reference, mask, mask[self._box_cells].tobytes(), same_reference
        )

    def _measure_cells(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        box_mask: bytes,
        same_reference: bool,
    ) -> Shift:
        """``_measure`` given the bytes of the mask's box cells (``mask[_box_cells]``):
        comparing them with the kept ones costs a fraction of np.array_equal's call."""
        if self.reach < 1:
            return Shift(0.0, 0.0, measured=False)
        same = same_reference and box_mask == self._kept_mask
        if not same:
            self._kept_mask = box_mask
        r0, r1, c0, c1 = self.box
        _registration.register(
            frame,
            reference,
            mask,
            self.cell,
            r0,
            r1,
            c0,
            c1,
            self.fine,
            self.reach,
            self.iterations,
            self._sums,
            self._scratch,
            self._runs,
            self._out,
            self._kept,
            same,
        )
        dx, dy, _, _, texture, cost, cdx, cdy = self._out.tolist()
        if texture < MIN_TEXTURE or cost > MAX_COST:
            return Shift(0.0, 0.0, measured=False)
        bound = self.reach * 2 * self.fine - 1e-6
        return Shift(dx, dy, beyond=abs(cdx) >= bound or abs(cdy) >= bound)


FINE_ROWS = 160
FINE_COLS = 640
"""The fine registration's box is at most this big (bounds its cost)."""


def central_box(band: tuple[int, int, int, int], rows: int, cols: int) -> tuple[int, int, int, int]:
    """The middle of band, at most rows x cols (bounds the fine registration's cost).

    Its corner is on the registration's block grid (so blocks are summed whole).
    """
    r0, r1, c0, c1 = band
    h, w = min(rows, r1 - r0), min(cols, c1 - c0)
    top, left = r0 + (r1 - r0 - h) // 2, c0 + (c1 - c0 - w) // 2
    top, left = top - (top - r0) % FINE, left - (left - c0) % FINE
    return (top, top + h, left, left + w)


def static_band(
    any_zone: npt.NDArray[np.bool_], cell: int, height: int, width: int
) -> tuple[int, int, int, int]:
    """The largest full-width or full-height band of the frame that no zone touches.

    Vehicles move inside zones; measuring sway outside them keeps a passing
    vehicle from looking like a moving camera. Falls back to the whole frame
    when no band is at least a fifth of it.
    """
    rows = np.nonzero(any_zone.any(axis=1))[0]
    cols = np.nonzero(any_zone.any(axis=0))[0]
    top, bottom = int(rows[0]) * cell, min(height, (int(rows[-1]) + 1) * cell)
    left, right = int(cols[0]) * cell, min(width, (int(cols[-1]) + 1) * cell)
    bands = [
        (bottom, height, 0, width),
        (0, top, 0, width),
        (0, height, right, width),
        (0, height, 0, left),
    ]
    best = max(bands, key=lambda b: (b[1] - b[0]) * (b[3] - b[2]))
    r0, r1, c0, c1 = best
    if (r1 - r0) * (c1 - c0) * 5 < height * width or min(r1 - r0, c1 - c0) < 32:
        return (0, height, 0, width)
    return best


ROLL_PX = 0.25
"""A roll of the view that moves no zone pixel this far is left to the shift alone."""
ROLL_JUMP_PX = 1.5
"""A roll that changes from one frame to the next by more than moves a zone pixel this
far is not believed (a mast turns slowly; a vehicle in one box does not)."""


Measured = tuple[tuple[float, float], tuple[float, float]]
"""A box's centre (x, y) and the shift (dx, dy) measured there."""

AGREE_PX = 1.0
"""Boxes whose shifts one roll and shift explain to this many pixels agree."""

SIDE_BOXES = 4
"""Boxes the sway is measured in, side by side across the band: their shifts' spread
gives the view's roll, and one box a vehicle fools is outvoted."""


def side_boxes(
    band: tuple[int, int, int, int], rows: int, cols: int, n: int = SIDE_BOXES
) -> tuple[tuple[int, int, int, int], ...]:
    """n boxes in n equal parts of the band, split across its longer side (each at most
    rows x cols / n, so they cost together what one central box did)."""
    r0, r1, c0, c1 = band
    if c1 - c0 >= r1 - r0:
        cuts = [c0 + (c1 - c0) * k // n for k in range(n + 1)]
        return tuple(central_box((r0, r1, a, b), rows, cols // n) for a, b in pairwise(cuts))
    cuts = [r0 + (r1 - r0) * k // n for k in range(n + 1)]
    return tuple(central_box((a, b, c0, c1), rows // n, cols) for a, b in pairwise(cuts))


def fit_roll(points: list[tuple[float, float]], shifts: list[tuple[float, float]]) -> float:
    """The roll (radians, clockwise on the screen) that best explains the shifts measured
    at the points (least squares): a roll by r moves p by r * (-(y - yc), x - xc)."""
    if len(shifts) != len(points):
        raise ValueError(f"shifts: {len(shifts)} for {len(points)} points")
    # Plain loops, in the order and with the operations of the sums they stand for
    # (a generator per sum cost more than the arithmetic, frame after frame).
    sx = sy = stx = sty = 0.0
    for (px, py), (dx, dy) in zip(points, shifts, strict=True):
        sx += px
        sy += py
        stx += dx
        sty += dy
    n = len(points)
    mx, my, tx, ty = sx / n, sy / n, stx / len(shifts), sty / len(shifts)
    num = den = 0.0
    for (px, py), (dx, dy) in zip(points, shifts, strict=True):
        num += (dx - tx) * -(py - my) + (dy - ty) * (px - mx)
        den += (px - mx) ** 2 + (py - my) ** 2
    return num / den


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2.0


class SwayMeter:
    """Each frame's sway against the reference, measured in two boxes where no zone lies.

    The boxes are in the halves of the largest band of the frame no zone
    touches (``static_band``, ``side_boxes``): vehicles move inside zones, and
    measuring outside them keeps a passing vehicle from looking like a moving
    camera. A camera that turns about its axis (a mast twisting, a bracket
    settling) moves one side of the picture up and the other down: the two
    boxes' shifts give that roll, and the shift reported is the one at the
    zones' centre, not at the band's, which a roll would make pixels apart.
    """

    def __init__(
        self,
        any_zone: npt.NDArray[np.bool_],
        height: int,
        width: int,
        cell: int,
        max_shift_px: float,
    ) -> None:
        self.cell = cell
        self.band = static_band(any_zone, cell, height, width)
        boxes: tuple[tuple[int, int, int, int], ...] = side_boxes(self.band, FINE_ROWS, FINE_COLS)
        fine = FINE * max(1, width // 640)
        pair = [
            Registration(height, width, cell, b, max_shift_px=max_shift_px, fine=fine)
            for b in boxes
        ]
        if min(r.reach for r in pair) < 1:
            # Halves too small to search: one box, and no roll.
            boxes = (central_box(self.band, FINE_ROWS, FINE_COLS),)
            pair = [
                Registration(height, width, cell, boxes[0], max_shift_px=max_shift_px, fine=fine)
            ]
        self.boxes = boxes
        self.registrations = tuple(pair)
        self._points = tuple(((c0 + c1) / 2.0, (r0 + r1) / 2.0) for r0, r1, c0, c1 in boxes)
        rows = np.nonzero(any_zone.any(axis=1))[0]
        cols = np.nonzero(any_zone.any(axis=0))[0]
        top, bottom = int(rows[0]) * cell, min(height, (int(rows[-1]) + 1) * cell)
        left, right = int(cols[0]) * cell, min(width, (int(cols[-1]) + 1) * cell)
        self.centre = ((left + right) / 2.0, (top + bottom) / 2.0)
        """The zones' centre (x, y): where the shift reported is measured."""
        self._radius = math.hypot(right - left, bottom - top) / 2.0
        self._keep_all = np.ones(any_zone.shape, dtype=np.uint8)
        # Per box, the reference it last measured against (None: changed since).
        self._references: list[npt.NDArray[np.uint8] | None] = [None] * len(boxes)
        self._beyond = [False] * len(boxes)
        self.beyond = False
        """The last frame measured moved further than ``max_shift_px``."""
        self.last = (0.0, 0.0)
        """The last sway measured at the zones' centre (pixels, to a hundredth)."""
        self.roll = 0.0
        """The view's roll with it (radians, clockwise); 0 while it moves no zone pixel
        by ``ROLL_PX``."""
        self._turned = np.zeros((height, width), dtype=np.uint8)
        self._keep = np.zeros(any_zone.shape, dtype=np.bool_)

    def reference_changed(self) -> None:
        """The reference was changed in place (or replaced): nothing of it is kept."""
        self._references = [None] * len(self._references)

    def _at_centre(
        self, point: tuple[float, float], shift: tuple[float, float], roll: float
    ) -> tuple[float, float]:
        """The shift measured at point, carried to the zones' centre through the roll."""
        zx, zy = self.centre
        return (shift[0] - roll * (zy - point[1]), shift[1] + roll * (zx - point[0]))

    def _agreeing(self, measured: list[Measured]) -> list[Measured]:
        """The largest set of boxes one roll and shift explain to ``AGREE_PX`` (each pair's
        fit tried; a tie goes to the fit nearest the last sway): a box a vehicle or a
        swaying tree fooled is outvoted."""
        best: tuple[int, float] | None = None
        chosen = measured
        for i, first in enumerate(measured):
            for second in measured[i + 1 :]:
                roll = fit_roll([first[0], second[0]], [first[1], second[1]])
                tx, ty = self._at_centre(*first, roll)
                agree = []
                for m in measured:
                    x, y = self._at_centre(*m, roll)
                    if math.hypot(x - tx, y - ty) <= AGREE_PX:
                        agree.append(m)
                key = (len(agree), -math.hypot(tx - self.last[0], ty - self.last[1]))
                if best is None or key > best:
                    best, chosen = key, agree
                if len(agree) == len(measured):
                    return chosen
        return chosen

    def _measure_boxes(
        self,
        seen: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        keep: npt.NDArray[np.uint8],
        which: Iterable[int],
    ) -> list[Measured]:
        """The shifts the boxes ``which`` measure (those that measure something)."""
        out: list[Measured] = []
        for i in which:
            registration = self.registrations[i]
            # The box's cells of keep (0 or 1 each), as bytes: counted and compared as such.
            cells = keep[registration._box_cells].tobytes()
            use = keep
            if cells.count(1) * 3 < len(cells):
                use, cells = self._keep_all, b"\x01" * len(cells)
            same = reference is self._references[i]
            shift = registration._measure_cells(seen, reference, use, cells, same)
            self._references[i] = reference
            self._beyond[i] = shift.beyond
            if shift.measured:
                out.append((self._points[i], (shift.dx, shift.dy)))
        return out

    def _quiet(self, measured: list[Measured]) -> bool:
        """Both outer boxes measured, and one shift explains them both (no roll)."""
        if len(measured) != 2:
            return False
        (x0, y0), (x1, y1) = (self._at_centre(p, d, 0.0) for p, d in measured)
        return math.hypot(x1 - x0, y1 - y0) * self._radius < ROLL_PX * math.dist(
            measured[0][0], measured[1][0]
        )

    def _off_last(self, measured: Measured) -> float:
        """How far a box's shift, carried to the zones' centre, is from the last sway."""
        dx, dy = self._at_centre(*measured, 0.0)
        return math.hypot(dx - self.last[0], dy - self.last[1])

    def measure(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        prev_differs: npt.NDArray[np.bool_],
    ) -> tuple[float, float]:
        """Sway of frame against reference at the zones' centre (the same array,
        unchanged since the last call unless ``reference_changed`` was called, is
        taken as the same picture); ``roll`` says how the view turned with it.

        Once the view has turned, the boxes measure on the frame turned back by
        the last roll: what is left in each box is a shift of a pixel or less,
        which the block search measures as well as on a view that only moved.
        In each box, the cells that differed from the reference last frame
        (``prev_differs``: a vehicle crossing the box) are left out, unless that
        would leave less than a third of the box. When nothing can be measured,
        the last sway stands; when the boxes disagree, the largest set that one
        roll explains measures (``AGREE_PX``).
        """
        # Checked once here for every box (each box's own ``measure`` would again).
        self.registrations[0]._check(frame, reference, prev_differs.view(np.uint8))
        return self.measure_trusted(
            np.ascontiguousarray(frame),
            np.ascontiguousarray(reference),
            np.ascontiguousarray(prev_differs),
        )

    def measure_trusted(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        prev_differs: npt.NDArray[np.bool_],
    ) -> tuple[float, float]:
        """``measure`` for a caller whose arrays are what ``measure`` checks and
        C-contiguous (the detector's frame and its own buffers): nothing is checked."""
        keep = np.logical_not(prev_differs, out=self._keep).view(np.uint8)
        roll0 = self.roll
        seen = frame
        if roll0 != 0.0:
            seen = roll_into(frame, 0.0, 0.0, roll0, self.centre, self._turned)
        last = len(self.registrations) - 1
        measured = self._measure_boxes(seen, reference, keep, (0, last) if last else (0,))
        if last > 1 and not (roll0 == 0.0 and self._quiet(measured)):
            # A turned view, or the outer boxes disagree: the inner boxes too, to
            # measure the roll and outvote a box a vehicle fooled.
            measured += self._measure_boxes(seen, reference, keep, range(1, last))
        self.beyond = any(self._beyond)
        if not measured:
            # Traffic filling the boxes, or a picture without texture there: a mast
            # does not jump in one frame, so the last sway measured stands.
            return self.last
        turn = 0.0
        if len(measured) >= 3:
            measured = self._agreeing(measured)
        if len(measured) >= 2:
            turn = fit_roll([m[0] for m in measured], [m[1] for m in measured])
            if abs(turn) * self._radius > ROLL_JUMP_PX:
                # Two boxes that disagree by more than a view turns in one frame: a
                # vehicle in one of them. The box that agrees with the last sway
                # measures this frame.
                measured, turn = [min(measured, key=self._off_last)], 0.0
        at = [self._at_centre(p, d, turn) for p, d in measured]
        tx, ty = _median([a[0] for a in at]), _median([a[1] for a in at])
        # The shift found on the frame turned back by roll0, turned with it again.
        cos, sin = math.cos(roll0), math.sin(roll0)
        dx, dy = cos * tx - sin * ty, sin * tx + cos * ty
        roll = roll0 + turn
        self.roll = roll if abs(roll) * self._radius >= ROLL_PX else 0.0
        self.last = (round(float(dx), 2), round(float(dy), 2))
        return self.last
