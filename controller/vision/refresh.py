"""Reference refresh: the frame blended into the empty-lane reference where allowed.

Which cells may refresh is the policy (``refresh_cells``): a zone the
controller knows is empty tracks drift, and takes a real change in only after
``absorb_ms`` of disagreement; standalone, only a quiet, empty lane refreshes.
The per-pixel work (``blend_cells``) is compiled (``_refresh``, defined by
``refresh_reference.blend_cells_reference``), touching only the pixels of
those cells: the light-corrected frame ((frame - offset) / gain) is blended
in with weight ``alpha``, in drift-only cells only where it is within
``drift_px`` of the reference, and the grey reference follows the float one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from controller.vision import _refresh
from controller.vision.debounce import ZoneState
from controller.vision.settings import DetectorSettings

__all__ = ["MIN_GAIN", "blend_cells", "note_known", "refresh_cells"]

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


def note_known(states: Mapping[str, ZoneState], names: Sequence[str], t_ms: int) -> None:
    """Start (or stop) each zone's clock of being known empty by the controller."""
    for name in names:
        state = states[name]
        if not state.known_empty:
            state.known_since = None
        elif state.known_since is None:
            state.known_since = t_ms


def refresh_cells(
    states: Mapping[str, ZoneState],
    names: Sequence[str],
    outside_state: ZoneState,
    masks: Mapping[str, npt.NDArray[np.bool_]],
    outside: npt.NDArray[np.bool_],
    differs: npt.NDArray[np.bool_],
    s: DetectorSettings,
    t_ms: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The cells that may refresh now, and those of them that may only track drift.

    ``differs``: cells that differ from the reference (before the light-only
    test). A controller-known-empty zone only tracks slow drift there; a
    headlight beam or shadow from a vehicle next door is not taken in, it
    is left to the light-only test. Only ``absorb_ms`` of disagreement, or
    an empty lane without a controller, takes a real difference in. The
    cells no zone holds (``outside``) refresh when quiet.
    """
    cells = np.zeros(outside.shape, dtype=bool)
    drift_only = np.zeros(outside.shape, dtype=bool)
    blocked: list[str] = []
    lane_empty_ms = min(
        -1 if st.empty_since is None else t_ms - st.empty_since for st in (states[n] for n in names)
    )
    for name in (*names, None):
        state = outside_state if name is None else states[name]
        quiet = state.last_motion is None or t_ms - state.last_motion >= s.quiet_ms
        if name is None:
            eligible = quiet
            mask = outside
        elif s.standalone:
            # Without a controller only an empty lane refreshes: a vehicle's
            # beams and shadow reach into the zones next to it.
            eligible = quiet and lane_empty_ms >= s.standalone_refresh_ms
            mask = masks[name]
        else:
            # The controller knows the zone is empty. If the camera still
            # sees something there, it keeps saying so for absorb_ms (the
            # core reports the disagreement) before the change is taken in.
            known = state.known_since is not None
            seen = state.on or state.raw
            absorb = known and t_ms - (state.known_since or t_ms) >= s.absorb_ms
            eligible = quiet and known and (not seen or absorb)
            mask = masks[name]
            if eligible and not (seen and absorb):
                drift_only |= mask
        if eligible:
            cells |= mask
        elif name is not None:
            blocked.append(name)
    # A cell shared with a zone that may not refresh is left alone.
    for name in blocked:
        cells &= ~masks[name]
    cells &= ~(drift_only & differs)
    return cells, drift_only
