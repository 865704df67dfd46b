"""Debounce: a body out of nothing waits a frame; one that drove in from beside does not.

A zone's raw presence that appears with no body at or beside the zone in the
frame before (a shadow's edge, a marking's edge off by a registration error)
must hold for a second frame before the zone switches on; a vehicle drives in
from beside the zone, so its onset is not delayed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controller.vision.debounce import ZoneState, debounce
from controller.vision.settings import DetectorSettings

Grid = npt.NDArray[np.bool_]

ROWS, COLS = 20, 30
FRAME_MS = 33


def _zone() -> Grid:
    mask = np.zeros((ROWS, COLS), dtype=bool)
    mask[5:15, 10:20] = True
    return mask


def _step(state: ZoneState, count: int, prev_occupied: Grid, t_ms: int) -> bool:
    mask = _zone()
    moving = mask.copy()  # the change comes with motion: the short timings apply
    debounce(
        state,
        DetectorSettings(),
        count,
        mask=mask,
        touched=mask,
        moving=moving,
        differs=mask,
        prev_occupied=prev_occupied,
        t_ms=t_ms,
    )
    return state.on


def test_a_single_frame_out_of_nothing_never_switches_the_zone_on() -> None:
    state = ZoneState()
    nothing = np.zeros((ROWS, COLS), dtype=bool)
    seen = [_step(state, n, nothing, k * FRAME_MS) for k, n in enumerate([0, 9, 0, 0, 12, 0])]
    assert seen == [False] * 6


def test_two_frames_out_of_nothing_switch_it_on_one_frame_late() -> None:
    state = ZoneState()
    nothing = np.zeros((ROWS, COLS), dtype=bool)
    seen = [_step(state, n, nothing, k * FRAME_MS) for k, n in enumerate([0, 9, 9, 9])]
    assert seen == [False, False, True, True]


def test_a_body_beside_the_zone_last_frame_switches_it_on_at_once() -> None:
    state = ZoneState()
    beside = np.zeros((ROWS, COLS), dtype=bool)
    beside[8:12, 8:10] = True  # two cells left of the zone: a vehicle driving in
    assert _step(state, 9, beside, 0)


def test_a_body_far_from_the_zone_last_frame_does_not_count() -> None:
    state = ZoneState()
    far = np.zeros((ROWS, COLS), dtype=bool)
    far[8:12, 0:5] = True  # five cells away
    assert not _step(state, 9, far, 0)
    assert _step(state, 9, far, FRAME_MS)


def test_switching_off_is_not_delayed() -> None:
    state = ZoneState()
    beside = np.zeros((ROWS, COLS), dtype=bool)
    beside[8:12, 8:10] = True
    assert _step(state, 9, beside, 0)
    assert not _step(state, 0, beside, FRAME_MS)
