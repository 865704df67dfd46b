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

Pipeline, per frame, in order (each stage its own module; a compiled one sits
beside its numpy twin ``*_reference.py`` and its ``_*.pyi``):

1. ``registration`` -- the sway against the reference (``SwayMeter``: the shift at
   the zones' centre and the view's roll); then ``placement`` lays the zones where
   the mast rests and ``warp`` undoes the sway.
2. ``kernel`` (twin: ``reference``) -- per cell, pixels off the corrected
   reference and off the previous frame, and grey sums.
3. ``light`` -- the global gain/offset fitted on cells believed empty.
4. ``light_only`` -- cells that only changed light (shadows, beams) set aside
   (``LightCells``).
5. ``zones`` -- the cells a zone's edge cuts judged on its own pixels
   (``edge_bodies``, every zone in one pass by ``edge_bodies.EdgeBodies``).
6. ``diagnostics`` -- frozen, blind, shaken: faults, never "empty".
7. per zone: ``zones.largest_body`` (grouping in ``cells``; every zone in one
   compiled pass, ``zones.ZoneBodies``) counts its body,
   ``debounce`` turns raw presence into on/off in milliseconds (``ZoneState``),
   ``stillness`` gives its ``still_ms``.
8. ``refresh`` -- which cells may refresh (``refresh_cells``) and the blend.

``settings`` holds ``DetectorSettings``; ``detection`` the answer
(``Detection``); ``presence`` runs this detector for the lane. This module only
wires the stages and keeps the buffers they share from frame to frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from controller.vision.cells import CellVerdicts, bodies_into, cell_sum
from controller.vision.debounce import BelievedEmpty, ZoneState, debounce
from controller.vision.detection import Detection
from controller.vision.diagnostics import Diagnostics, Fault
from controller.vision.edge_bodies import EdgeBodies
from controller.vision.kernel import (
    GAIN_ONE,
    CellStats,
    frame_stats,
    frame_stats_trusted,
    new_cell_stats,
)
from controller.vision.light import LightFit
from controller.vision.light_only import LightCells
from controller.vision.placement import Placements, SwayAnchor
from controller.vision.refresh import blend_cells, note_known, refresh_cells
from controller.vision.registration import SwayMeter
from controller.vision.settings import DetectorSettings, SettingsError
from controller.vision.stillness import ZoneStillness
from controller.vision.warp import roll_into, shift_into
from controller.vision.zones import (
    Zone,
    ZoneBodies,
    ZoneGrid,
    cell_box,
    outside_cells,
    zone_grid,
)

__all__ = [
    "Detection",
    "Detector",
    "DetectorSettings",
    "Fault",
    "SettingsError",
]

Frame = npt.NDArray[np.uint8]


_OUTSIDE = "\x00outside"
_DEFAULT_SETTINGS = DetectorSettings()
_NO_FAULTS: frozenset[Fault] = frozenset()


class Detector:
    """Stateful presence detector for one camera; feed it grey frames with times in ms."""

    def __init__(
        self,
        zones: Sequence[Zone],
        height: int,
        width: int,
        settings: DetectorSettings = _DEFAULT_SETTINGS,
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
        self._outside = outside_cells(self._grid)
        any_zone = ~self._outside
        self._placements = Placements(zones, self._grid)
        ones = np.ones((height, width), dtype=np.int64)
        self._area = cell_sum(ones, cell).astype(np.float64)
        # Pixel counts a cell needs to be occupied or moving, as whole numbers: the
        # kernel's counts are compared with them as they are, each frame.
        self._occupied_min = np.ceil(settings.cell_fraction * self._area).astype(np.int32)
        self._moving_min = np.ceil(settings.motion_fraction * self._area).astype(np.int32)
        self._verdicts = CellVerdicts(self._occupied_min, self._moving_min)
        self._state = {name: ZoneState() for name in self.zone_names}
        self._state[_OUTSIDE] = ZoneState()
        self._still = {name: ZoneStillness() for name in self.zone_names}
        # The same objects in zone order, for building each frame's answer.
        self._zone_states = tuple(self._state[name] for name in self.zone_names)
        self._zone_stills = tuple(self._still[name] for name in self.zone_names)
        # Per zone, the buffer its box of the frame is copied into for its clock, and
        # the grid they were cut for with its box's pixels and cell maps.
        self._still_view: dict[str, Frame] = {}
        self._still_maps: dict[
            str,
            tuple[
                ZoneGrid,
                tuple[slice, slice],
                npt.NDArray[np.bool_],
                npt.NDArray[np.float64],
                npt.NDArray[np.int32],
            ],
        ] = {}
        self._reference: Frame | None = None
        self._warmup: list[Frame] = []
        self._ref_float = np.zeros((height, width), dtype=np.float32)
        self._ref_means = np.zeros((rows, cols), dtype=np.float64)
        self._ref_scratch = np.zeros((height, width), dtype=np.uint8)
        self._ref_stats = new_cell_stats(height, width, cell)
        self._previous = np.zeros((height, width), dtype=np.uint8)
        # The kernel's outputs, overwritten frame after frame (the second for the pass
        # made again when the light fit moved).
        # Two, frame about: last frame's grey sums stay as they are for the freeze
        # check (``Diagnostics`` holds them, not a copy).
        self._stats_pair = (
            new_cell_stats(height, width, cell),
            new_cell_stats(height, width, cell),
        )
        self._flip = 0
        self._stats_again = new_cell_stats(height, width, cell)
        self._shifted = np.zeros((height, width), dtype=np.uint8)
        self._gain_q8 = GAIN_ONE
        self._offset = 0
        # The motion threshold and the gain it was worked out for (-1: none yet).
        self._motion_for = (-1, 0)
        self._last_refresh = -(10**12)
        self._diagnostics = Diagnostics(settings.diagnostics(), self._area)
        self._anchor_at = SwayAnchor(settings.anchor_frames, settings.anchor_px)
        self._unswayed = 0
        margin = 2
        self._light_cells = LightCells(settings.light_only(margin), height, width, cell, margin)
        self._edges = EdgeBodies(
            height,
            width,
            cell,
            settings.edge_fraction,
            (self._light_cells.limit_y, self._light_cells.limit_x),
        )
        # Per-frame cell maps, overwritten frame after frame. Occupied and differing
        # cells are read again the next frame (debounce, sway): two of each, frame about
        # (``_flip``), as the kernel's outputs.
        self._differs_pair = (
            np.zeros((rows, cols), dtype=bool),
            np.zeros((rows, cols), dtype=bool),
        )
        self._occupied_pair = (
            np.zeros((rows, cols), dtype=bool),
            np.zeros((rows, cols), dtype=bool),
        )
        self._moving = np.zeros((rows, cols), dtype=bool)
        self._body = np.zeros((rows, cols), dtype=bool)
        self._prev_occupied = self._occupied_pair[0]
        self._prev_differs = self._differs_pair[0]
        self._believed = BelievedEmpty()
        # A zone's known_empty changed since its clock (``note_known``) last followed it:
        # until one does, the clocks already say what note_known would.
        self._known_changed = False
        if tuple(self._grid.masks) != self.zone_names or tuple(self._grid.edges) != self.zone_names:
            raise ValueError("zones: the grid's zones are not in the zones' order")
        self._zone_box = cell_box(any_zone)
        self._sway = SwayMeter(any_zone, height, width, cell, settings.max_shift_px)
        self._light = LightFit((rows, cols))
        # Every zone's largest body in one compiled pass (``zones.largest_body`` each).
        self._bodies = ZoneBodies()

    # -- controller interface -------------------------------------------------

    def note_empty(self, empty: Mapping[str, bool]) -> None:
        """The controller says which zones it knows are empty (only those may refresh)."""
        for name, value in empty.items():
            state = self._state.get(name)
            if state is not None and state.known_empty != bool(value):
                state.known_empty = bool(value)
                # The zones' clocks of being known empty follow at the next refresh.
                self._known_changed = True

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
        self._anchor_at.reset()
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
        assert self._reference is not None
        shift = self._sway.measure_trusted(frame, self._reference, self._prev_differs)
        moved_px = math.hypot(*shift)
        big_shift = moved_px > s.max_shift_px
        roll = self._sway.roll
        self._unswayed = 0 if moved_px >= s.steady_px or roll != 0.0 else self._unswayed + 1
        work = frame
        if not big_shift:
            self._anchor(shift)
            # ``_undo_sway``, its distance already measured.
            if roll != 0.0:
                work = roll_into(frame, shift[0], shift[1], roll, self._sway.centre, self._shifted)
            elif moved_px >= 0.5:
                work = shift_into(frame, shift[0], shift[1], self._shifted)
        self._flip ^= 1
        flip = self._flip
        stats = self._kernel(work, self._previous, self._stats_pair[flip])
        believed = self._believed_empty()
        gain_q8, offset = self._light.fit_q8_trusted(
            stats.grey_sum, self._area, self._ref_means, believed
        )
        if abs(gain_q8 - self._gain_q8) > 5 or abs(offset - self._offset) > 3:
            self._gain_q8, self._offset = gain_q8, offset
            # Only the reference counts are wanted again: the previous frame is already
            # this one (the first pass copied it), so this pass's motion is left unused.
            again = self._kernel(work, self._previous, self._stats_again)
            stats = CellStats(again.ref_count, stats.motion_count, stats.grey_sum)
        # Cells differing from the reference ("occupied" before the light-only test) and
        # moving cells, the pixels moved, motion outside the zones: one pass.
        differs, moving = self._differs_pair[flip], self._moving
        moved, outside_moved = self._verdicts.judge_into(
            stats.ref_count, stats.motion_count, self._outside, differs, moving
        )
        # The padded copy of the frame is made only if some window is looked at.
        self._light_cells.new_frame(
            work,
            steady=self._unswayed >= s.steady_frames,
            gain=self._gain_q8 / GAIN_ONE,
            offset=float(self._offset),
        )
        light = self._light_cells.cells(differs, stats.motion_count, self._outside, self._zone_box)
        # The one map made outside this module that the unchecked pass below reads.
        if light.shape != differs.shape:
            raise ValueError(f"light-only cells: shape {light.shape}, not {differs.shape}")
        light = np.ascontiguousarray(light, dtype=np.bool_)
        # Body cells (differing, not only light), occupied ones (lone cells are rain or
        # speckle) and the shake check's count of them believed empty: one pass.
        body, occupied = self._body, self._occupied_pair[flip]
        both = bodies_into(differs, light, believed, body, occupied)
        edge_body = self._edge_bodies(work)
        self._diagnostics.update(
            stats.grey_sum,
            moved,
            occupied,
            believed,
            big_shift,
            t_ms,
            kept=True,
            both=both,
        )
        counts = self._bodies.counts_flat(self._grid, body, differs, edge_body)
        moved_in = self._bodies.touched_any_trusted(self._grid, moving)
        for name, count, zone_moved in zip(self.zone_names, counts, moved_in, strict=True):
            debounce(
                self._state[name],
                s,
                count,
                mask=self._masks[name],
                touched=self._grid.touched[name],
                moving=moving,
                differs=differs,
                prev_occupied=self._prev_occupied,
                t_ms=t_ms,
                moved=zone_moved,
            )
            self._stillness(name, work, t_ms)
        self._prev_occupied = occupied
        self._prev_differs = differs
        outside = self._state[_OUTSIDE]
        if outside_moved:
            outside.last_motion = t_ms
        if not self._diagnostics.faults:
            self._refresh(work, t_ms, differs)
        return self._detection(t_ms, shift)

    def _detection(self, t_ms: int, shift: tuple[float, float], *, ready: bool = True) -> Detection:
        names = self.zone_names
        faults = self._diagnostics.faults
        occupied = tuple(zip(names, [st.on for st in self._zone_states], strict=True))
        raw = tuple(zip(names, [st.raw for st in self._zone_states], strict=True))
        still = [clock.still_ms(t_ms) for clock in self._zone_stills]
        still_ms = tuple(zip(names, still, strict=True))
        return Detection(
            t_ms=t_ms,
            occupied=occupied,
            raw=raw,
            faults=frozenset(faults) if faults else _NO_FAULTS,
            gain_q8=self._gain_q8,
            offset=self._offset,
            shift_px=shift,
            ready=ready,
            still_ms=still_ms,
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
        """The fused kernel on the detector's own buffers: frame is this frame (checked
        and C-contiguous) or the registered copy, the reference a C-contiguous copy, the
        light fit and the settings in the kernel's ranges (``frame_stats_trusted``)."""
        assert self._reference is not None
        s = self.settings
        return frame_stats_trusted(
            frame,
            self._reference,
            previous,
            s.cell,
            self._gain_q8,
            self._offset,
            s.ref_threshold,
            self._motion_threshold(),
            out,
        )

    def _motion_threshold(self) -> int:
        """Darker exposure shrinks every change between frames with it (worked out once
        per light fit's gain)."""
        gain_q8, threshold = self._motion_for
        if gain_q8 != self._gain_q8:
            s = self.settings
            gain_q8 = self._gain_q8
            threshold = max(
                s.motion_floor, round(s.motion_threshold * min(1.0, gain_q8 / GAIN_ONE))
            )
            self._motion_for = (gain_q8, threshold)
        return threshold

    def _warmup_median(self) -> Frame:
        """Median of the warm-up frames, each aligned to the first (a swaying mast)."""
        first = self._warmup[0]
        self._reference = first
        self._update_ref_stats()
        aligned = [first]
        for frame in self._warmup[1:]:
            shift = self._measure_shift(frame)
            aligned.append(self._undo_sway(frame, shift, np.empty_like(frame)))
        median: Frame = np.median(np.stack(aligned), axis=0).astype(np.uint8)
        return median

    def _measure_shift(self, frame: Frame) -> tuple[float, float]:
        """Sway of the picture against the reference (``registration.SwayMeter``)."""
        if self._reference is None:
            return (0.0, 0.0)
        return self._sway.measure_trusted(frame, self._reference, self._prev_differs)

    def _undo_sway(self, frame: Frame, shift: tuple[float, float], out: Frame) -> Frame:
        """The frame moved back onto the reference (``warp``): turned back too when the
        view rolled (``SwayMeter.roll``), else shifted when it moved half a pixel."""
        roll = self._sway.roll
        if roll != 0.0:
            return roll_into(frame, shift[0], shift[1], roll, self._sway.centre, out)
        if math.hypot(*shift) >= 0.5:
            return shift_into(frame, shift[0], shift[1], out)
        return frame

    def _anchor(self, shift: tuple[float, float]) -> None:
        """Keep the zones where the mast rests, seen in the reference's coordinates
        (``placement``)."""
        offset = self._anchor_at.add(shift, self._zone_offset)
        if offset is not None:
            self._place_zones(offset)

    def _place_zones(self, offset: tuple[float, float]) -> None:
        """Lay the zones moved by offset pixels (``placement.Placements``, each built once)."""
        if offset == self._zone_offset:
            return
        placed = self._placements.get(
            offset, lambda moved: zone_grid(moved, self.height, self.width, self.settings.cell)
        )
        if placed is None:
            # A zone at the frame's edge would leave the picture: keep it where it is.
            return
        self._grid, self._outside = placed
        self._masks = self._grid.masks
        self._zone_offset = offset
        # The light-only maps work on the box of every placement's zones so far: a
        # verdict kept from before the zones moved stays where it was.
        r0, r1, c0, c1 = self._zone_box
        n0, n1, m0, m1 = cell_box(~self._outside)
        self._zone_box = (min(r0, n0), max(r1, n1), min(c0, m0), max(c1, m1))

    def _believed_empty(self) -> npt.NDArray[np.bool_]:
        """``debounce.believed_empty``, each map built once (read-only: ``BelievedEmpty``)."""
        return self._believed.cells(self._state, self.zone_names, self._masks, self._outside)

    def _edge_bodies(self, frame: Frame) -> npt.NDArray[np.bool_]:
        """Every zone's part-covered cells where a body covers the zone's own pixels, end
        to end in zone order (``zones.edge_bodies``, every zone in one pass:
        ``edge_bodies.EdgeBodies.find_flat``)."""
        assert self._reference is not None
        return self._edges.find_flat(
            frame,
            self._reference,
            self._grid,
            gain_q8=self._gain_q8,
            offset=self._offset,
            threshold=self.settings.ref_threshold,
            light=self._light_cells.windows,
        )

    def _stillness(self, name: str, frame: Frame, t_ms: int) -> None:
        """The zone's standstill clock (``stillness``), on its box of this registered frame."""
        s = self.settings
        c = s.cell
        if not self._state[name].on:
            # An empty zone's clock only restarts: its picture is not needed.
            self._still[name].clear(t_ms)
            return
        maps = self._still_maps.get(name)
        if maps is None or maps[0] is not self._grid:
            r0, r1, c0, c1 = self._grid.boxes[name]
            maps = self._still_maps[name] = (
                self._grid,
                (slice(r0 * c, r1 * c), slice(c0 * c, c1 * c)),
                np.ascontiguousarray(self._grid.touched[name][r0:r1, c0:c1]),
                np.ascontiguousarray(self._area[r0:r1, c0:c1]),
                # ceil(motion_fraction * area) over the box, as ZoneStillness makes it.
                np.ascontiguousarray(self._moving_min[r0:r1, c0:c1]),
            )
        _, pixels, touched, area, min_count = maps
        box = frame[pixels]
        view = self._still_view.get(name)
        if view is None or view.shape != box.shape:
            view = self._still_view[name] = np.empty(box.shape, dtype=np.uint8)
        np.copyto(view, box)
        self._still[name].update(
            True,
            view,
            touched,
            area,
            cell=c,
            gain_q8=self._gain_q8,
            offset=self._offset,
            threshold=self._motion_threshold(),
            fraction=s.motion_fraction,
            still_cells=s.still_cells,
            t_ms=t_ms,
            min_count=min_count,
        )

    def _refresh(self, frame: Frame, t_ms: int, differs: npt.NDArray[np.bool_]) -> None:
        """Blend the frame into the reference where the policy (``refresh``) allows."""
        s = self.settings
        if self._known_changed:
            note_known(self._state, self.zone_names, t_ms)
            self._known_changed = False
        if t_ms - self._last_refresh < s.refresh_every_ms:
            return
        cells, drift_only = refresh_cells(
            self._state,
            self.zone_names,
            self._state[_OUTSIDE],
            self._masks,
            self._outside,
            differs,
            s,
            t_ms,
        )
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
        self._update_ref_stats(changed=cells)

    def _update_ref_stats(self, changed: npt.NDArray[np.bool_] | None = None) -> None:
        """The reference's cell means, and the stages that read it told; ``changed``: the
        cells a refresh blended (None: the reference is another)."""
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
        # In place: a fresh grid of doubles each refresh cost more than the division.
        np.divide(sums.grey_sum, self._area, out=self._ref_means)
        self._light_cells.new_reference(self._reference, changed)
        self._sway.reference_changed()
