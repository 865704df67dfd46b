"""Presence per zone from an empty-lane reference, not from motion.

A vehicle in an inspection bay stands still for minutes; a motion detector
folds it into its background within seconds. This detector compares each frame
with a reference of the empty lane that is refreshed only for zones known to be
empty: with a controller, a zone it says is empty (``note_empty``) follows small
per-pixel drift, and takes in a real difference only after ``absorb_ms`` of
disagreement; standalone, the whole lane must have been quiet and empty for
``standalone_refresh_ms``. Motion only speeds up the decisions at a vehicle's
arrival and departure and feeds the freeze check.

Per frame: the camera sway is measured (compiled: projections for the coarse
shift, Lucas-Kanade to refine it, see ``registration``) and undone (``warp``,
compiled bilinear), the fused kernel counts per cell the pixels that differ
from the gain/offset-corrected reference and from the previous frame, the
global gain/offset is fitted on cells believed empty (so exposure swings make
no presence), cells whose difference is only a local change of light over the
same texture (shadows, headlight beams) are discarded, the cells a zone's edge
cuts are judged on the zone's own pixels (``zones.edge_counts``, compiled), a
zone is raw-occupied when its largest group of touching body cells is big
enough, and that raw state is debounced in milliseconds. Each zone's
standstill clock (``stillness``) says how long the body in it has not moved.
Diagnostics turn a frozen, blinded or shaken picture into a fault, never into
"empty".

The stages, each in its own module, the compiled ones beside a numpy
reference (``*_reference``) and a ``.pyi``: ``registration``, ``warp``,
``kernel`` (beside ``reference``), ``light``, ``light_only``, ``zones``
(beside ``zones_reference``), ``cells``, ``stillness``, ``refresh`` (the
blend; which cells may refresh is decided here) and ``diagnostics``;
``presence`` runs this detector for the lane. The debounce and the refresh
policy are still here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from controller.vision.cells import CellGroups, has_neighbour
from controller.vision.diagnostics import Diagnostics, DiagnosticsSettings, Fault
from controller.vision.kernel import GAIN_ONE, CellStats, frame_stats, new_cell_stats
from controller.vision.light import LightFit
from controller.vision.light_only import LightOnly, LightOnlySettings
from controller.vision.refresh import blend_cells
from controller.vision.registration import FINE, Registration
from controller.vision.stillness import ZoneStillness
from controller.vision.warp import shift_into
from controller.vision.zones import Zone, ZoneError, ZoneGrid, edge_counts, zone_grid

__all__ = [
    "Detection",
    "Detector",
    "DetectorSettings",
    "Fault",
    "SettingsError",
]

Frame = npt.NDArray[np.uint8]


class SettingsError(ValueError):
    """A detector setting is unknown or out of range; the message names the key."""


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Thresholds and times of the presence detector (times in milliseconds)."""

    cell: int = 4
    """Cell size in pixels; counts are per cell (cheap despeckle)."""
    ref_threshold: int = 20
    """Grey-level difference from the corrected reference that counts a pixel."""
    motion_threshold: int = 16
    """Grey-level difference from the previous frame that counts a pixel as moving, at the
    reference's exposure; it scales down with the fitted gain when the picture darkens."""
    motion_floor: int = 8
    """The motion threshold never goes under this (sensor noise)."""
    cell_fraction: float = 0.3
    """Fraction of a cell's pixels that must differ for the cell to be occupied."""
    edge_fraction: float = 0.25
    """Where a zone's edge cuts a cell, the fraction of the zone's pixels there that must
    differ (and at least two) for that part to be occupied."""
    motion_fraction: float = 0.3
    """Fraction of a cell's pixels that must move for the cell to be moving."""
    zone_cells: int = 5
    """Occupied cells a zone needs to be occupied (raw), all in one group of touching cells
    (side by side, not corner to corner; a zone's part of a cell its edge cuts counts
    as a cell)."""
    on_ms: int = 300
    """Raw presence without motion must last this long to switch a zone on."""
    off_ms: int = 1000
    """Raw absence without motion must last this long to switch a zone off."""
    motion_on_ms: int = 0
    """Raw presence that arrives with motion switches a zone on after this."""
    motion_off_ms: int = 0
    """Raw absence that arrives with motion switches a zone off after this."""
    motion_hold_ms: int = 400
    """Motion seen in a zone this recently makes the motion timings apply."""
    still_cells: int = 6
    """Cells of a zone (each beside another: lone ones are rain or noise) that must differ
    from the zone's picture when its body last moved, in two frames running, for the body
    to have moved again; ``still_ms`` restarts then. Comparing with that picture, not only
    with the last frame, sees a vehicle that creeps less than a pixel per frame."""
    abrupt_off_ms: int = 60
    """A zone whose occupied cells fall at once from at least three times ``zone_cells``
    to too few, while half of those cells still differ from the reference, switches off
    only after this: a body that for one frame lines up with the road's markings passes the
    light-only test; a vehicle that has gone leaves no difference behind."""
    texture_min: float = 3.5
    """Reference cells with less grey-level spread cannot be checked for a light-only change."""
    light_corr: float = 0.75
    """A cell whose frame follows its reference's texture this closely only changed light."""
    light_contrast: float = 1.35
    """Slack on the light-only rule that light raises a texture's contrast no more than its
    brightness (a shadow scales both, a headlight beam adds brightness only)."""
    light_residual: float = 12.0
    """Grey levels (rms) a light-only change may leave after the fit, on a steady camera
    (resampling a swaying picture leaves more)."""
    light_trim: float = 0.2
    """Share of the worst-fitting pixels the light-only test leaves out. On a steady
    camera only those on a line under two pixels wide are left out (a boom, a cable, a
    streak of rain): a body's edge that lines up with a road marking stays in."""
    thin_px: int = 2
    """On a steady camera the light-only test leaves out lines up to this wide only."""
    steady_px: float = 0.3
    """Measured sway under this is no sway."""
    steady_frames: int = 45
    """Frames without sway after which the camera is steady. Until then the light-only
    test leaves out the worst-fitting pixels whatever their shape: undoing sway
    resamples the picture and leaves the markings' edges, blurred, in the difference."""
    quiet_ms: int = 2000
    """No motion this long in a zone known empty before its reference is refreshed."""
    standalone: bool = True
    """True: no controller; a zone's reference refreshes after it is quiet and empty."""
    standalone_refresh_ms: int = 5000
    """Standalone: the whole lane quiet and empty this long before references refresh."""
    drift_px: float = 6.0
    """Controller mode: per-pixel difference up to which a known-empty zone tracks drift."""
    absorb_ms: int = 30_000
    """Controller mode: a zone known empty but seen occupied this long takes the change in."""
    refresh_every_ms: int = 500
    refresh_alpha: float = 0.3
    frozen_ms: int = 2000
    """Identical frames this long (a live sensor always has noise) mean a frozen camera."""
    blind_low: int = 12
    blind_high: int = 243
    blind_texture: float = 2.0
    """Spread of the cell means under this means nothing can be seen (lens covered)."""
    blind_ms: int = 500
    shaken_fraction: float = 0.5
    """Occupied share of the cells believed empty above this means the view moved."""
    max_shift_px: float = 16.0
    """Sway above this is not compensated; the camera reports shaken."""
    anchor_frames: int = 45
    """Frames of measured sway averaged before the zones are laid at the mast's rest."""
    anchor_px: float = 0.3
    """Mean sway against the reference beyond which the zones are laid where the mast
    rests, to the nearest quarter pixel (the reference caught the mast somewhere in its
    swing)."""
    shaken_ms: int = 500
    fault_clear_ms: int = 1000
    warmup_frames: int = 5
    """Frames whose median becomes the first reference (the lane must be empty then)."""
    """A fault clears after its cause has been absent this long."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and value < 0:
                raise SettingsError(f"detector.{f.name}: must not be negative, got {value}")
        if not 2 <= self.cell <= 64:
            raise SettingsError(f"detector.cell: {self.cell} is outside 2..64")
        for name in (
            "ref_threshold",
            "motion_threshold",
            "motion_floor",
            "blind_low",
            "blind_high",
        ):
            if getattr(self, name) > 255:
                raise SettingsError(f"detector.{name}: {getattr(self, name)} is over 255")
        for name in (
            "cell_fraction",
            "edge_fraction",
            "motion_fraction",
            "light_corr",
            "light_trim",
            "shaken_fraction",
        ):
            if getattr(self, name) > 1.0:
                raise SettingsError(f"detector.{name}: {getattr(self, name)} is over 1")
        if not 0.0 < self.refresh_alpha <= 1.0:
            raise SettingsError(f"detector.refresh_alpha: {self.refresh_alpha} is outside (0, 1]")
        if self.zone_cells < 1:
            raise SettingsError("detector.zone_cells: must be at least 1")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object], source: str = "detector") -> DetectorSettings:
        """Settings from a config table; unknown keys and wrong types are named errors."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in raw.items():
            if key not in known:
                raise SettingsError(f"{source}.{key}: unknown detector setting")
            default = getattr(cls(), key)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise SettingsError(
                    f"{source}.{key}: expected {type(default).__name__}, got {value!r}"
                )
            values[key] = float(value) if isinstance(default, float) else value  # type: ignore[arg-type]
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SettingsError as exc:
            raise SettingsError(f"{source}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Detection:
    """The detector's answer for one frame."""

    t_ms: int
    occupied: tuple[tuple[str, bool], ...]
    """Debounced presence per zone, in zone order."""
    raw: tuple[tuple[str, bool], ...]
    """Undebounced presence per zone (for diagnosis)."""
    faults: frozenset[Fault]
    gain_q8: int
    offset: int
    shift_px: tuple[float, float]
    ready: bool = True
    """False while the first reference is still being built (nothing can be seen yet)."""
    still_ms: tuple[tuple[str, int], ...] = ()
    """Per zone, how long the body in it has not moved (0 when it moved this frame or the
    zone is empty), from the difference between registered frames inside the zone."""

    def zone(self, name: str) -> bool:
        for key, value in self.occupied:
            if key == name:
                return value
        raise KeyError(f"no zone named {name!r}")

    def still(self, name: str) -> int:
        """``still_ms`` of the zone named name."""
        for key, value in self.still_ms:
            if key == name:
                return value
        raise KeyError(f"no zone named {name!r}")

    @property
    def healthy(self) -> bool:
        return self.ready and not self.faults


class _ZoneState:
    __slots__ = (
        "abrupt",
        "count",
        "empty_since",
        "known_empty",
        "known_since",
        "last_motion",
        "on",
        "pending_since",
        "raw",
    )

    def __init__(self) -> None:
        self.on = False
        self.raw = False
        self.count = 0
        self.abrupt = False
        self.pending_since: int | None = None
        self.last_motion: int | None = None
        self.empty_since: int | None = None
        self.known_empty = False
        self.known_since: int | None = None


_OUTSIDE = "\x00outside"
_PLACED_MAX = 16
"""Zone placements kept built (a mast rests within a pixel or two)."""


class Detector:
    """Stateful presence detector for one camera; feed it grey frames with times in ms."""

    def __init__(
        self,
        zones: Sequence[Zone],
        height: int,
        width: int,
        settings: DetectorSettings = DetectorSettings(),
    ) -> None:
        if height < 8 or width < 8:
            raise ValueError(f"frame size {width}x{height} is too small")
        self.settings = settings
        self.height, self.width = height, width
        cell = settings.cell
        self.zone_names = tuple(z.name for z in zones)
        self._zones = tuple(zones)
        self._zone_offset = (0.0, 0.0)
        self._grid: ZoneGrid = zone_grid(zones, height, width, cell)
        self._masks = self._grid.masks
        rows, cols = self._masks[self.zone_names[0]].shape
        self._rows, self._cols = rows, cols
        self._outside = _outside_cells(self._grid)
        any_zone = ~self._outside
        self._placed: dict[tuple[float, float], tuple[ZoneGrid, npt.NDArray[np.bool_]]] = {
            (0.0, 0.0): (self._grid, self._outside)
        }
        ones = np.ones((height, width), dtype=np.int64)
        self._area = _cell_sum(ones, cell).astype(np.float64)
        self._full_rows, self._full_cols = height // cell, width // cell
        # Pixel counts a cell needs to be occupied or moving, as whole numbers: the
        # kernel's counts are compared with them as they are, each frame.
        self._occupied_min = np.ceil(settings.cell_fraction * self._area).astype(np.int32)
        self._moving_min = np.ceil(settings.motion_fraction * self._area).astype(np.int32)
        self._state = {name: _ZoneState() for name in self.zone_names}
        self._state[_OUTSIDE] = _ZoneState()
        self._still = {name: ZoneStillness() for name in self.zone_names}
        self._reference: Frame | None = None
        self._warmup: list[Frame] = []
        self._ref_float = np.zeros((height, width), dtype=np.float32)
        self._ref_means = np.zeros((rows, cols), dtype=np.float64)
        self._ref_scratch = np.zeros((height, width), dtype=np.uint8)
        self._ref_stats = new_cell_stats(height, width, cell)
        self._previous = np.zeros((height, width), dtype=np.uint8)
        # The kernel's outputs, overwritten frame after frame (the second for the pass
        # made again when the light fit moved).
        self._stats = new_cell_stats(height, width, cell)
        self._stats_again = new_cell_stats(height, width, cell)
        self._shifted = np.zeros((height, width), dtype=np.uint8)
        self._gain_q8 = GAIN_ONE
        self._offset = 0
        self._last_refresh = -(10**12)
        self._diagnostics = Diagnostics(
            DiagnosticsSettings(
                frozen_ms=settings.frozen_ms,
                blind_low=settings.blind_low,
                blind_high=settings.blind_high,
                blind_texture=settings.blind_texture,
                blind_ms=settings.blind_ms,
                shaken_fraction=settings.shaken_fraction,
                shaken_ms=settings.shaken_ms,
                clear_ms=settings.fault_clear_ms,
            ),
            self._area,
        )
        self._sway_sum = [0.0, 0.0]
        self._sway_n = 0
        self._unswayed = 0
        self._margin = 2
        self._light_test = LightOnly(
            LightOnlySettings(
                win=cell + 2 * self._margin,
                trim=settings.light_trim,
                across=settings.thin_px + 1,
                texture_min=settings.texture_min,
                light_corr=settings.light_corr,
                light_contrast=settings.light_contrast,
                light_residual=settings.light_residual,
            )
        )
        self._verdict = np.zeros((rows, cols), dtype=bool)
        self._prev_occupied = np.zeros((rows, cols), dtype=bool)
        self._prev_differs = np.zeros((rows, cols), dtype=bool)
        self._keep_all = np.ones((rows, cols), dtype=np.uint8)
        self._verdict_valid = np.zeros((rows, cols), dtype=bool)
        self._zone_box = _cell_box(any_zone)
        pad_shape = (height + 2 * self._margin + cell, width + 2 * self._margin + cell)
        self._padded_frame = np.zeros(pad_shape, dtype=np.uint8)
        self._work: Frame = self._padded_frame
        self._work_padded = False
        self._padded_ref = np.zeros(pad_shape, dtype=np.uint8)
        self._band = _static_band(any_zone, cell, height, width)
        self._fine_box = _central_box(self._band, _FINE_ROWS, _FINE_COLS)
        self._registration = Registration(
            height,
            width,
            cell,
            self._fine_box,
            max_shift_px=settings.max_shift_px,
            fine=FINE * max(1, width // 640),
        )
        self._beyond = False
        self._last_shift = (0.0, 0.0)
        self._light = LightFit((rows, cols))
        self._groups = CellGroups()

    # -- controller interface -------------------------------------------------

    def note_empty(self, empty: Mapping[str, bool]) -> None:
        """The controller says which zones it knows are empty (only those may refresh)."""
        for name, value in empty.items():
            state = self._state.get(name)
            if state is not None:
                state.known_empty = bool(value)

    @property
    def reference(self) -> Frame | None:
        return self._reference

    def reset_reference(self, frame: Frame) -> None:
        """Take frame as the empty-lane reference of every zone (the lane is known empty)."""
        self._check(frame)
        self._reference = frame.copy()
        self._ref_float[...] = frame
        self._previous[...] = frame
        self._gain_q8, self._offset = GAIN_ONE, 0
        self._update_ref_stats()
        self._sway_sum = [0.0, 0.0]
        self._sway_n = 0
        if self._zone_offset != (0.0, 0.0):
            self._place_zones((0.0, 0.0))

    # -- per frame ------------------------------------------------------------

    def process(self, frame: Frame, t_ms: int) -> Detection:
        """Update with one grey frame captured at t_ms (monotonic milliseconds)."""
        self._check(frame)
        frame = np.ascontiguousarray(frame)
        s = self.settings
        if self._reference is None:
            # The first reference is the median of a few frames: rain, noise
            # and flicker in any one frame do not stay in it.
            self._warmup.append(frame.copy())
            if len(self._warmup) < s.warmup_frames:
                return self._detection(t_ms, (0.0, 0.0), ready=False)
            self.reset_reference(self._warmup_median())
            self._warmup.clear()
        shift = self._measure_shift(frame)
        big_shift = self._beyond or math.hypot(*shift) > s.max_shift_px
        self._unswayed = 0 if math.hypot(*shift) >= s.steady_px else self._unswayed + 1
        if not big_shift:
            self._anchor(shift)
        work = frame
        if math.hypot(*shift) >= 0.5 and not big_shift:
            work = shift_into(frame, shift[0], shift[1], self._shifted)
        assert self._reference is not None
        stats = self._kernel(work, self._previous, self._stats)
        believed = self._believed_empty()
        gain_q8, offset = self._light.fit_q8(stats.grey_sum, self._area, self._ref_means, believed)
        if abs(gain_q8 - self._gain_q8) > 5 or abs(offset - self._offset) > 3:
            self._gain_q8, self._offset = gain_q8, offset
            # Only the reference counts are wanted again: the previous frame is already
            # this one (the first pass copied it), so this pass's motion is left unused.
            again = self._kernel(work, self._previous, self._stats_again)
            stats = CellStats(again.ref_count, stats.motion_count, stats.grey_sum)
        occupied = stats.ref_count >= self._occupied_min
        differs = occupied.copy()
        # The padded copy of the frame is made only if some window is looked at.
        self._work, self._work_padded = work, False
        body = occupied & ~self._light_only(occupied, stats.motion_count)
        edge_body = self._edge_bodies(work)
        # Lone cells are rain or speckle.
        occupied = body & has_neighbour(body)
        moving = stats.motion_count >= self._moving_min
        self._diagnostics.update(
            stats.grey_sum,
            int(stats.motion_count.sum()),
            occupied,
            believed,
            big_shift,
            t_ms,
        )
        for name in self.zone_names:
            count = self._zone_count(name, body, differs, edge_body[name])
            self._debounce(name, count, moving, differs, t_ms)
            self._stillness(name, work, t_ms)
        self._prev_occupied = occupied
        self._prev_differs = differs
        outside = self._state[_OUTSIDE]
        if (moving & self._outside).any():
            outside.last_motion = t_ms
        if not self._diagnostics.faults:
            self._refresh(work, t_ms, differs)
        return self._detection(t_ms, shift)

    def _detection(self, t_ms: int, shift: tuple[float, float], *, ready: bool = True) -> Detection:
        return Detection(
            t_ms=t_ms,
            occupied=tuple((n, self._state[n].on) for n in self.zone_names),
            raw=tuple((n, self._state[n].raw) for n in self.zone_names),
            faults=frozenset(self._diagnostics.faults),
            gain_q8=self._gain_q8,
            offset=self._offset,
            shift_px=shift,
            ready=ready,
            still_ms=tuple((n, self._still[n].still_ms(t_ms)) for n in self.zone_names),
        )

    # -- steps ----------------------------------------------------------------

    def _check(self, frame: Frame) -> None:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
            raise ValueError("frame: expected a 2-D uint8 grey image")
        if frame.shape != (self.height, self.width):
            raise ValueError(
                f"frame: shape {frame.shape} does not match the detector's "
                f"{(self.height, self.width)}"
            )

    def _kernel(self, frame: Frame, previous: Frame, out: CellStats) -> CellStats:
        assert self._reference is not None
        s = self.settings
        return frame_stats(
            np.ascontiguousarray(frame),
            self._reference,
            previous,
            cell=s.cell,
            gain_q8=self._gain_q8,
            offset=self._offset,
            ref_threshold=s.ref_threshold,
            motion_threshold=self._motion_threshold(),
            out=out,
        )

    def _motion_threshold(self) -> int:
        """Darker exposure shrinks every change between frames with it."""
        s = self.settings
        return max(s.motion_floor, round(s.motion_threshold * min(1.0, self._gain_q8 / GAIN_ONE)))

    def _warmup_median(self) -> Frame:
        """Median of the warm-up frames, each aligned to the first (a swaying mast)."""
        first = self._warmup[0]
        self._reference = first
        self._update_ref_stats()
        aligned = [first]
        for frame in self._warmup[1:]:
            dx, dy = self._measure_shift(frame)
            if math.hypot(dx, dy) >= 0.5:
                frame = shift_into(frame, dx, dy, np.empty_like(frame))
            aligned.append(frame)
        median: Frame = np.median(np.stack(aligned), axis=0).astype(np.uint8)
        return median

    def _measure_shift(self, frame: Frame) -> tuple[float, float]:
        """Sway of the picture against the reference, measured where no zone lies.

        The cells that differed from the reference last frame (a vehicle crossing
        the box) are left out, unless that would leave less than a third of the box.
        When nothing can be measured, the last shift measured stands.
        """
        if self._reference is None:
            return (0.0, 0.0)
        keep = (~self._prev_differs).view(np.uint8)
        r0, r1, c0, c1 = self._fine_box
        c = self.settings.cell
        box_cells = keep[r0 // c : -(-r1 // c), c0 // c : -(-c1 // c)]
        if int(box_cells.sum()) * 3 < box_cells.size:
            keep = self._keep_all
        shift = self._registration.measure(frame, self._reference, keep)
        self._beyond = shift.beyond
        if not shift.measured:
            # Traffic filling the box, or a picture without texture there: a mast
            # does not jump in one frame, so the last sway measured stands.
            return self._last_shift
        self._last_shift = (round(shift.dx, 2), round(shift.dy, 2))
        return self._last_shift

    def _anchor(self, shift: tuple[float, float]) -> None:
        """Keep the zones where the mast rests, seen in the reference's coordinates.

        Zones (and the truth) are drawn for the mast at rest, but the reference
        is wherever the mast was when it was taken, and every frame's sway is
        undone onto the reference: on a swaying mast the picture sits a few
        pixels off the zones. The mean of the measured sway is where the mast
        rests; the zones are laid that far off instead, so neither the
        reference nor the frames are resampled again.
        """
        s = self.settings
        self._sway_sum[0] += shift[0]
        self._sway_sum[1] += shift[1]
        self._sway_n += 1
        if self._sway_n < s.anchor_frames:
            return
        ox, oy = -self._sway_sum[0] / self._sway_n, -self._sway_sum[1] / self._sway_n
        if math.hypot(ox - self._zone_offset[0], oy - self._zone_offset[1]) >= s.anchor_px:
            self._place_zones((round(ox * 4) / 4, round(oy * 4) / 4))

    def _place_zones(self, offset: tuple[float, float]) -> None:
        """Cell maps of the zones moved by offset pixels (the reference's view of the lane).

        Offsets are quarter pixels and each one's cell maps are built once
        (from the zones' own windows of cells, about a millisecond): a mast
        swinging around its rest costs no rebuild per frame. Whole pixels
        would be too coarse: a zone drawn to a lane line then takes in a
        sliver of the line's shimmer.
        """
        if offset == self._zone_offset:
            return
        placed = self._placed.get(offset)
        if placed is None:
            dx, dy = offset
            moved = [
                Zone(z.name, tuple((x + dx, y + dy) for x, y in z.polygon)) for z in self._zones
            ]
            try:
                grid = zone_grid(moved, self.height, self.width, self.settings.cell)
            except ZoneError:
                # A zone at the frame's edge would leave the picture: keep it where it is.
                return
            placed = (grid, _outside_cells(grid))
            if len(self._placed) >= _PLACED_MAX:
                self._placed.pop(next(iter(self._placed)))
            self._placed[offset] = placed
        self._grid, self._outside = placed
        self._masks = self._grid.masks
        self._zone_offset = offset
        # The light-only maps work on the box of every placement's zones so far: a
        # verdict kept from before the zones moved stays where it was.
        r0, r1, c0, c1 = self._zone_box
        n0, n1, m0, m1 = _cell_box(~self._outside)
        self._zone_box = (min(r0, n0), max(r1, n1), min(c0, m0), max(c1, m1))

    def _believed_empty(self) -> npt.NDArray[np.bool_]:
        cells = self._outside.copy()
        for name in self.zone_names:
            state = self._state[name]
            if not state.on and not state.raw:
                cells |= self._masks[name]
        return cells

    def _padded(self) -> Frame:
        """This frame with its edge pixels repeated into the margin (copied once per frame)."""
        if not self._work_padded:
            self._pad_into(self._padded_frame, self._work)
            self._work_padded = True
        return self._padded_frame

    def _light_only(
        self,
        occupied: npt.NDArray[np.bool_],
        motion_count: npt.NDArray[np.int32],
    ) -> npt.NDArray[np.bool_]:
        """Occupied cells whose pixels still follow the reference texture: light, not a body.

        A cell none of whose pixels moved keeps last frame's verdict. Only zone
        cells are looked at (the rest need no second look), so the work is done on
        the zones' box of cells; outside it the answer is False.
        """
        c = self.settings.cell
        r0, r1, c0, c1 = self._zone_box
        occ = occupied[r0:r1, c0:c1]
        valid = self._verdict_valid[r0:r1, c0:c1]
        reuse = occ & (motion_count[r0:r1, c0:c1] == 0) & valid
        out = self._verdict[r0:r1, c0:c1]
        out &= reuse
        test = occ & ~self._outside[r0:r1, c0:c1] & ~reuse
        np.logical_or(reuse, test, out=valid)
        idx_r, idx_c = np.nonzero(test)
        if idx_r.size:
            light = self._light_windows(self._padded(), (idx_r + r0) * c, (idx_c + c0) * c)
            out[idx_r[light], idx_c[light]] = True
        return self._verdict.copy()

    def _light_windows(
        self, padded_f: Frame, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        """For cell-sized windows at (ys, xs) of the padded frame: only light changed there?

        The compiled test (``light_only``) against the same windows of the padded
        reference. Until the camera is steady it leaves out the worst-fitting pixels
        whatever their shape: undoing sway resamples the picture and leaves the
        markings' edges, blurred, in the difference.
        """
        return self._light_test.windows(
            padded_f,
            self._padded_ref,
            ys,
            xs,
            steady=self._unswayed >= self.settings.steady_frames,
            gain=self._gain_q8 / GAIN_ONE,
            offset=float(self._offset),
        )

    def _pad_into(self, buffer: Frame, image: Frame) -> Frame:
        """Copy image into buffer with its edge pixels repeated into the margin (no allocation)."""
        m = self._margin
        h, w = image.shape
        buffer[m : m + h, m : m + w] = image
        buffer[:m, m : m + w] = image[0]
        buffer[m + h :, m : m + w] = image[-1]
        buffer[:, :m] = buffer[:, m : m + 1]
        buffer[:, m + w :] = buffer[:, m + w - 1 : m + w]
        return buffer

    def _zone_count(
        self,
        name: str,
        body: npt.NDArray[np.bool_],
        differs: npt.NDArray[np.bool_],
        edge_body: npt.NDArray[np.bool_],
    ) -> int:
        """The body cells of a zone's largest group of touching ones (its parts of edge cells too).

        A vehicle is one body; specks of misregistered texture scattered along
        a zone's edges are many small ones, however many they add up to. A cell
        that differs but passed for light, with body cells on both sides of it,
        joins them into one group without counting itself.
        """
        r0, r1, c0, c1 = self._grid.boxes[name]
        cells = body[r0:r1, c0:c1] & self._grid.interior[name][r0:r1, c0:c1]
        edge = self._grid.edges[name]
        cells[edge.rows[edge_body] - r0, edge.cols[edge_body] - c0] = True
        if not cells.any():
            return 0
        may_bridge = differs[r0:r1, c0:c1] & self._grid.touched[name][r0:r1, c0:c1]
        return self._groups.largest(cells, may_bridge)

    def _edge_bodies(self, frame: Frame) -> dict[str, npt.NDArray[np.bool_]]:
        """Per zone, its part-covered cells where a body covers the zone's own pixels.

        The kernel's test on the zone's pixels of the cell only, so a vehicle
        is in a zone from its first two pixel columns there, and not while it
        only covers the part of a shared cell that belongs next door. The
        light-only test then looks at a cell-sized window moved onto the
        zone's side of the edge: a headlight beam ahead of a vehicle is light
        there even while the vehicle fills the rest of the cell.
        """
        assert self._reference is not None
        s = self.settings
        out: dict[str, npt.NDArray[np.bool_]] = {}
        limit_y = self._padded_frame.shape[0] - s.cell - 2 * self._margin
        limit_x = self._padded_frame.shape[1] - s.cell - 2 * self._margin
        for name, edge in self._grid.edges.items():
            counts = edge_counts(
                frame,
                self._reference,
                edge,
                gain_q8=self._gain_q8,
                offset=self._offset,
                threshold=s.ref_threshold,
            )
            hit = counts >= np.maximum(2.0, s.edge_fraction * edge.inside)
            if hit.any():
                k = np.nonzero(hit)[0]
                ys = np.clip(edge.rows[k] * s.cell + edge.toward[k, 0], 0, limit_y)
                xs = np.clip(edge.cols[k] * s.cell + edge.toward[k, 1], 0, limit_x)
                hit[k[self._light_windows(self._padded(), ys, xs)]] = False
            out[name] = hit
        return out

    def _debounce(
        self,
        name: str,
        count: int,
        moving: npt.NDArray[np.bool_],
        differs: npt.NDArray[np.bool_],
        t_ms: int,
    ) -> None:
        s = self.settings
        state = self._state[name]
        mask = self._masks[name]
        before = state.count
        state.count = count
        state.raw = count >= s.zone_cells
        if (moving & self._grid.touched[name]).any():
            state.last_motion = t_ms
        if state.raw or state.on:
            state.empty_since = None
        elif state.empty_since is None:
            state.empty_since = t_ms
        if state.raw == state.on:
            state.pending_since = None
            return
        if state.pending_since is None:
            state.pending_since = t_ms
            # All at once, and the picture still differs there: the cells were only
            # explained away as light this frame.
            state.abrupt = (
                not state.raw
                and before >= 3 * s.zone_cells
                and 2 * int((differs & self._prev_occupied & mask).sum()) >= before
            )
        recent = state.last_motion is not None and t_ms - state.last_motion <= s.motion_hold_ms
        if state.raw:
            needed = s.motion_on_ms if recent else s.on_ms
        elif recent:
            needed = max(s.motion_off_ms, s.abrupt_off_ms) if state.abrupt else s.motion_off_ms
        else:
            needed = s.off_ms
        if t_ms - state.pending_since >= needed:
            state.on = state.raw
            state.pending_since = None
            if not state.on:
                state.empty_since = t_ms

    def _stillness(self, name: str, frame: Frame, t_ms: int) -> None:
        """The zone's standstill clock (``stillness``), on its box of this registered frame."""
        s = self.settings
        c = s.cell
        if not self._state[name].on:
            # An empty zone's clock only restarts: its picture is not needed.
            self._still[name].clear(t_ms)
            return
        r0, r1, c0, c1 = self._grid.boxes[name]
        self._still[name].update(
            True,
            np.ascontiguousarray(frame[r0 * c : r1 * c, c0 * c : c1 * c]),
            self._grid.touched[name][r0:r1, c0:c1],
            self._area[r0:r1, c0:c1],
            cell=c,
            gain_q8=self._gain_q8,
            offset=self._offset,
            threshold=self._motion_threshold(),
            fraction=s.motion_fraction,
            still_cells=s.still_cells,
            t_ms=t_ms,
        )

    def _refresh(self, frame: Frame, t_ms: int, differs: npt.NDArray[np.bool_]) -> None:
        """Blend the frame into the reference where that is allowed.

        ``differs``: cells that differ from the reference (before the light-only
        test). A controller-known-empty zone only tracks slow drift there; a
        headlight beam or shadow from a vehicle next door is not taken in, it
        is left to the light-only test. Only ``absorb_ms`` of disagreement, or
        an empty lane without a controller, takes a real difference in.
        """
        s = self.settings
        for name in self.zone_names:
            state = self._state[name]
            if not state.known_empty:
                state.known_since = None
            elif state.known_since is None:
                state.known_since = t_ms
        if t_ms - self._last_refresh < s.refresh_every_ms:
            return
        cells = np.zeros((self._rows, self._cols), dtype=bool)
        drift_only = np.zeros((self._rows, self._cols), dtype=bool)
        blocked: list[str] = []
        lane_empty_ms = min(
            -1 if st.empty_since is None else t_ms - st.empty_since
            for st in (self._state[n] for n in self.zone_names)
        )
        for name in (*self.zone_names, _OUTSIDE):
            state = self._state[name]
            quiet = state.last_motion is None or t_ms - state.last_motion >= s.quiet_ms
            if name == _OUTSIDE:
                eligible = quiet
                mask = self._outside
            elif s.standalone:
                # Without a controller only an empty lane refreshes: a vehicle's
                # beams and shadow reach into the zones next to it.
                eligible = quiet and lane_empty_ms >= s.standalone_refresh_ms
                mask = self._masks[name]
            else:
                # The controller knows the zone is empty. If the camera still
                # sees something there, it keeps saying so for absorb_ms (the
                # core reports the disagreement) before the change is taken in.
                known = state.known_since is not None
                seen = state.on or state.raw
                absorb = known and t_ms - (state.known_since or t_ms) >= s.absorb_ms
                eligible = quiet and known and (not seen or absorb)
                mask = self._masks[name]
                if eligible and not (seen and absorb):
                    drift_only |= mask
            if eligible:
                cells |= mask
            elif name != _OUTSIDE:
                blocked.append(name)
        # A cell shared with a zone that may not refresh is left alone.
        for name in blocked:
            cells &= ~self._masks[name]
        cells &= ~(drift_only & differs)
        self._last_refresh = t_ms
        if not cells.any():
            return
        assert self._reference is not None
        # Drift tracking follows small per-pixel differences only (noise, slow
        # light); the faint edge of a beam stays out of the reference.
        blend_cells(
            frame,
            self._ref_float,
            self._reference,
            cells,
            drift_only,
            cell=s.cell,
            gain=self._gain_q8 / GAIN_ONE,
            offset=float(self._offset),
            alpha=s.refresh_alpha,
            drift_px=s.drift_px,
        )
        self._update_ref_stats()

    def _update_ref_stats(self) -> None:
        assert self._reference is not None
        c = self.settings.cell
        # The kernel's grey sums of the reference (its other outputs are not used here).
        sums = frame_stats(
            self._reference,
            self._reference,
            self._ref_scratch,
            cell=c,
            ref_threshold=255,
            motion_threshold=255,
            out=self._ref_stats,
        )
        self._ref_means = sums.grey_sum / self._area
        self._verdict_valid[...] = False
        self._pad_into(self._padded_ref, self._reference)


def _cell_box(cells: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """The smallest box (r0, r1, c0, c1) of the grid holding every cell set in cells."""
    rows = np.nonzero(cells.any(axis=1))[0]
    cols = np.nonzero(cells.any(axis=0))[0]
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def _outside_cells(grid: ZoneGrid) -> npt.NDArray[np.bool_]:
    """The cells no zone holds."""
    any_zone = np.zeros_like(next(iter(grid.masks.values())))
    for mask in grid.masks.values():
        any_zone |= mask
    outside: npt.NDArray[np.bool_] = ~any_zone
    return outside


_FINE_ROWS = 160
_FINE_COLS = 640


def _central_box(
    band: tuple[int, int, int, int], rows: int, cols: int
) -> tuple[int, int, int, int]:
    """The middle of band, at most rows x cols (bounds the fine registration's cost).

    Its corner is on the registration's block grid (so blocks are summed whole).
    """
    r0, r1, c0, c1 = band
    h, w = min(rows, r1 - r0), min(cols, c1 - c0)
    top, left = r0 + (r1 - r0 - h) // 2, c0 + (c1 - c0 - w) // 2
    top, left = top - (top - r0) % FINE, left - (left - c0) % FINE
    return (top, top + h, left, left + w)


def _static_band(
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


def _cell_sum(values: npt.NDArray[np.int64], cell: int) -> npt.NDArray[np.int64]:
    height, width = values.shape
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:height, :width] = values
    summed: npt.NDArray[np.int64] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed
