"""Per-zone debounce: a zone's raw presence becomes its on/off state, in milliseconds.

The frame stages say, per frame, how many body cells a zone holds; a shadow
or a splash of rain can make that flicker for a frame or two. This stage
keeps a handful of numbers per zone (``ZoneState``) and switches a zone on or
off only after its raw state has held for the time the settings give: short
when the change came with motion, longer when it came without, and a little
longer when a large body vanished at once while its cells still differ from
the reference (it was only explained away as light for a frame). A body that
appears out of nothing, with no body at or beside the zone the frame before,
must be there a second frame: a vehicle drives in from beside the zone, a
flicker (a shadow's edge, a marking's edge a registration error left) lasts one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from controller.vision.cells import has_neighbour
from controller.vision.settings import DetectorSettings

__all__ = ["BelievedEmpty", "ZoneState", "believed_empty", "debounce"]


class ZoneState:
    """What the detector keeps of one zone between frames (times in ms)."""

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
        "raw_frames",
    )

    def __init__(self) -> None:
        self.on = False
        self.raw = False
        self.raw_frames = 0
        self.count = 0
        self.abrupt = False
        self.pending_since: int | None = None
        self.last_motion: int | None = None
        self.empty_since: int | None = None
        self.known_empty = False
        self.known_since: int | None = None


def debounce(
    state: ZoneState,
    s: DetectorSettings,
    count: int,
    *,
    mask: npt.NDArray[np.bool_],
    touched: npt.NDArray[np.bool_],
    moving: npt.NDArray[np.bool_],
    differs: npt.NDArray[np.bool_],
    prev_occupied: npt.NDArray[np.bool_],
    t_ms: int,
    moved: bool | None = None,
) -> None:
    """Update state with this frame's body count of its zone.

    ``mask``/``touched``: the zone's cells and the cells it touches;
    ``moving``, ``differs``: this frame's moving cells and cells differing from
    the reference; ``prev_occupied``: last frame's occupied cells. ``moved``: whether
    a moving cell is one the zone touches, when the caller has it already (the
    detector, every zone at once: ``zones.ZoneBodies.touched_any``).
    """
    before = state.count
    state.count = count
    state.raw = count >= s.zone_cells
    state.raw_frames = state.raw_frames + 1 if state.raw else 0
    if (
        state.raw
        and not state.on
        and state.raw_frames == 1
        and not _came_in(touched, prev_occupied)
    ):
        # Out of nothing: no body was at or beside the zone last frame. A vehicle drives
        # in from beside the zone; a flicker (a shadow's edge, a marking's edge off by a
        # registration error) lasts a frame. Wait for the next frame to say the same.
        state.raw = False
    if bool((moving & touched).any()) if moved is None else moved:
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
            and 2 * int((differs & prev_occupied & mask).sum()) >= before
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


_NEAR = 2
"""Cells around a zone where last frame's body makes a new body in it one that came in."""


def _came_in(touched: npt.NDArray[np.bool_], prev_occupied: npt.NDArray[np.bool_]) -> bool:
    """Was a body at or within ``_NEAR`` cells of the zone's cells last frame?"""
    rows, cols = np.nonzero(touched)
    if rows.size == 0:
        return False
    r0 = max(int(rows.min()) - _NEAR, 0)
    r1 = int(rows.max()) + _NEAR + 1
    c0 = max(int(cols.min()) - _NEAR, 0)
    c1 = int(cols.max()) + _NEAR + 1
    near = prev_occupied[r0:r1, c0:c1]
    if not near.any():
        return False
    grown = touched[r0:r1, c0:c1]
    for _ in range(_NEAR):
        grown = grown | has_neighbour(grown)
    return bool((near & grown).any())


def believed_empty(
    states: Mapping[str, ZoneState],
    names: Sequence[str],
    masks: Mapping[str, npt.NDArray[np.bool_]],
    outside: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """The cells believed empty: those no zone holds, and those of zones neither on nor raw
    (the light fit and the shake check look only at them)."""
    cells = outside.copy()
    for name in names:
        state = states[name]
        if not state.on and not state.raw:
            cells |= masks[name]
    return cells


BELIEVED_KEPT = 64
"""Maps ``BelievedEmpty`` keeps (zone layouts times which of their zones are seen)."""


class BelievedEmpty:
    """``believed_empty`` frame after frame without building the map each time.

    The map depends only on the layout (masks, outside) and on which zones are on or
    raw: one map per such pair is built once and kept, read-only (its readers only
    read it), the last ``BELIEVED_KEPT`` of them.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple[int, tuple[bool, ...]], npt.NDArray[np.bool_]] = {}
        self._outside: dict[int, npt.NDArray[np.bool_]] = {}

    def cells(
        self,
        states: Mapping[str, ZoneState],
        names: Sequence[str],
        masks: Mapping[str, npt.NDArray[np.bool_]],
        outside: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """What ``believed_empty`` gives for these arguments (outside and masks one layout:
        the same outside array stands for the same masks), as a read-only array."""
        seen = tuple(states[n].on or states[n].raw for n in names)
        key = (id(outside), seen)
        cells = self._kept.get(key)
        if cells is not None and self._outside.get(id(outside)) is outside:
            return cells
        cells = believed_empty(states, names, masks, outside)
        cells.flags.writeable = False
        if len(self._kept) >= BELIEVED_KEPT:
            self._kept.clear()
            self._outside.clear()
        self._kept[key] = cells
        # The array itself is kept too, so its id is not taken by another one.
        self._outside[id(outside)] = outside
        return cells
