"""The detector's unchecked per-frame calls give what the checked public calls give.

Each frame the detector calls its stages' trusted entries (``*_trusted``,
``*_into``, ``*_flat``, ``BelievedEmpty``) on its own buffers, with no
argument checks. Here a second detector has every one of them pointed at the
checked public call it stands for (which zones touch a moving cell: the numpy
reference; the edge cells: ``zones.edge_bodies``, zone by zone); both run the
same rendered clips (vehicles, shadows, shake, light steps, an odd frame size, a
controller saying which zones are empty) and must answer the same, frame by
frame, to the bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from controller.bench.detector import render_clip, scene
from controller.vision import detector as detector_module
from controller.vision.cells import bodies
from controller.vision.cells_reference import zones_any_reference
from controller.vision.debounce import BelievedEmpty, ZoneState, believed_empty
from controller.vision.detector import Detector, DetectorSettings
from controller.vision.kernel import CellStats, frame_stats
from controller.vision.zones import Zone, ZoneGrid, edge_bodies, zone_grid

Mask = npt.NDArray[np.bool_]
Frame = npt.NDArray[np.uint8]


def _frame_stats_checked(
    frame: Frame,
    reference: Frame,
    previous: Frame,
    cell: int,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
    out: CellStats,
) -> CellStats:
    return frame_stats(
        frame,
        reference,
        previous,
        cell=cell,
        gain_q8=gain_q8,
        offset=offset,
        ref_threshold=ref_threshold,
        motion_threshold=motion_threshold,
        out=out,
    )


def _bodies_checked(differs: Mask, light: Mask, believed: Mask, body: Mask, occupied: Mask) -> int:
    body[...], occupied[...], both = bodies(differs, light, believed)
    return both


class _BelievedChecked(BelievedEmpty):
    def cells(
        self,
        states: Mapping[str, ZoneState],
        names: Sequence[str],
        masks: Mapping[str, Mask],
        outside: Mask,
    ) -> Mask:
        return believed_empty(states, names, masks, outside)


def _checked(det: Detector) -> None:
    """Point det's unchecked calls at the checked ones (the module-level two are patched
    by the caller)."""
    det._light.fit_q8_trusted = det._light.fit_q8  # type: ignore[method-assign]
    sway = det._sway

    def measure_shift(frame: Frame) -> tuple[float, float]:
        if det._reference is None:
            return (0.0, 0.0)
        return sway.measure(frame, det._reference, det._prev_differs)

    det._measure_shift = measure_shift  # type: ignore[method-assign]
    verdicts = det._verdicts

    def judge_into(
        ref_count: npt.NDArray[np.int32],
        motion_count: npt.NDArray[np.int32],
        outside: Mask,
        occupied: Mask,
        moving: Mask,
    ) -> tuple[int, bool]:
        occ, mov, total, outside_moved = verdicts.judge(ref_count, motion_count, outside)
        occupied[...] = occ
        moving[...] = mov
        return total, outside_moved

    verdicts.judge_into = judge_into  # type: ignore[method-assign]
    edges = det._edges

    def edge_hits(frame: Frame) -> Mask:
        assert det._reference is not None
        found = edge_bodies(
            frame,
            det._reference,
            det._grid,
            cell=edges.cell,
            gain_q8=det._gain_q8,
            offset=det._offset,
            threshold=det.settings.ref_threshold,
            fraction=edges.fraction,
            light=det._light_cells.windows,
            limit=edges.limit,
        )
        return np.concatenate([np.zeros(0, dtype=bool), *(found[n] for n in det._grid.edges)])

    det._edge_bodies = edge_hits  # type: ignore[method-assign]
    bodies = det._bodies

    def counts_flat(grid: ZoneGrid, body: Mask, differs: Mask, edge_hit: Mask) -> list[int]:
        split: dict[str, Mask] = {}
        start = 0
        for name, edge in grid.edges.items():
            split[name] = edge_hit[start : start + edge.rows.size]
            start += edge.rows.size
        counts = bodies.counts(grid, body, differs, split)
        return [counts[n] for n in grid.masks]

    bodies.counts_flat = counts_flat  # type: ignore[method-assign]

    def touched_any(grid: ZoneGrid, cells: Mask) -> list[bool]:
        return zones_any_reference(cells, list(grid.touched.values()))

    bodies.touched_any_trusted = touched_any  # type: ignore[method-assign]
    det._believed = _BelievedChecked()
    update = det._diagnostics.update

    def diagnostics_numpy(grey_sum: npt.NDArray[np.int64], *args: object, **kw: object) -> None:
        # Not C-contiguous: the diagnostics take their numpy way, not the compiled pass.
        update(np.asfortranarray(grey_sum), *args, **kw)  # type: ignore[arg-type]

    det._diagnostics.update = diagnostics_numpy  # type: ignore[method-assign]

    def stillness(name: str, frame: Frame, t_ms: int) -> None:
        # The clock fed as its public call is: slices of the zone's maps, min_count
        # worked out by the clock.
        if not det._state[name].on:
            det._still[name].clear(t_ms)
            return
        c = det.settings.cell
        r0, r1, c0, c1 = det._grid.boxes[name]
        det._still[name].update(
            True,
            frame[r0 * c : r1 * c, c0 * c : c1 * c].copy(),
            det._grid.touched[name][r0:r1, c0:c1],
            det._area[r0:r1, c0:c1],
            cell=c,
            gain_q8=det._gain_q8,
            offset=det._offset,
            threshold=det._motion_threshold(),
            fraction=det.settings.motion_fraction,
            still_cells=det.settings.still_cells,
            t_ms=t_ms,
        )

    det._stillness = stillness  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("width", "height", "condition", "standalone"),
    [
        (320, 180, "shadows", True),
        (320, 180, "shake", False),
        (333, 187, "light_steps", True),
        (333, 187, "rain", False),
    ],
)
def test_the_unchecked_calls_answer_as_the_checked_ones(
    monkeypatch: pytest.MonkeyPatch, width: int, height: int, condition: str, standalone: bool
) -> None:
    frames = 130
    zones, clip = render_clip(width, height, condition, frames)
    settings = DetectorSettings(
        standalone=standalone, refresh_every_ms=200, anchor_frames=10, motion_fraction=0.25
    )
    fast = Detector(zones, height, width, settings)
    slow = Detector(zones, height, width, settings)
    _checked(slow)
    occupied = still = 0
    for k, (t, frame) in enumerate(clip):
        if not standalone:
            empty = {z.name: len(scene(t)) == 0 or k % 7 == 0 for z in zones}
            fast.note_empty(empty)
            slow.note_empty(empty)
        if k == frames // 2:
            fast.reset_reference(frame)
            slow.reset_reference(frame)
        got = fast.process(frame, t)
        with monkeypatch.context() as patch:
            patch.setattr(detector_module, "frame_stats_trusted", _frame_stats_checked)
            patch.setattr(detector_module, "bodies_into", _bodies_checked)
            want = slow.process(frame, t)
        assert repr(got) == repr(want), k
        occupied += any(on for _, on in got.occupied)
        still = max(still, *(v for _, v in got.still_ms))
        if fast.reference is not None and slow.reference is not None:
            assert np.array_equal(fast.reference, slow.reference), k
        else:
            assert fast.reference is slow.reference is None, k
    # Vehicles were seen: the per-zone paths ran with bodies in them, and stood still.
    assert occupied > 10
    assert still > 0


def test_believed_empty_maps_are_built_once_and_read_only() -> None:
    """Every on/raw combination of three zones, on two layouts in turn: the kept map is
    ``believed_empty``'s, the same array when asked again, and cannot be written."""
    zones = [
        Zone("a", ((2.0, 2.0), (30.0, 2.0), (30.0, 20.0), (2.0, 20.0))),
        Zone("b", ((25.0, 10.0), (60.0, 10.0), (60.0, 40.0), (25.0, 40.0))),
        Zone("c", ((5.0, 30.0), (20.0, 30.0), (20.0, 45.0))),
    ]
    moved = [Zone(z.name, tuple((x + 4.0, y + 1.0) for x, y in z.polygon)) for z in zones]
    layouts = []
    for placed in (zones, moved):
        grid = zone_grid(placed, 48, 64, 4)
        outside = np.ones(grid.masks["a"].shape, dtype=bool)
        for mask in grid.masks.values():
            outside &= ~mask
        layouts.append((grid.masks, outside))
    names = ("a", "b", "c")
    kept = BelievedEmpty()
    for code in range(2 * 27):
        masks, outside = layouts[code % 2]
        states = {n: ZoneState() for n in names}
        for i, name in enumerate(names):
            mode = (code // 2 // 3**i) % 3
            states[name].on = mode == 1
            states[name].raw = mode == 2
        got = kept.cells(states, names, masks, outside)
        want = believed_empty(states, names, masks, outside)
        assert np.array_equal(got, want), code
        assert kept.cells(states, names, masks, outside) is got
        with pytest.raises(ValueError, match="read-only"):
            got[0, 0] = not got[0, 0]
