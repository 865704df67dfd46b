"""The soak's camera model: lags, latency and fault detection as specified, nothing sooner."""

from __future__ import annotations

import pytest

from controller.core.types import CameraHealth, CameraZones
from hw_sim.camera import Vehicle
from hw_sim.camera_model import ZONES, CameraModel, CameraModelSpec
from hw_sim.faults import FaultKind
from hw_sim.geometry import LaneGeometry

FRAME = 67
NONE: frozenset[FaultKind] = frozenset()


def _truth(**on: bool) -> dict[str, bool]:
    return {z: on.get(z, False) for z in ZONES}


def _drive(
    model: CameraModel,
    frames: list[tuple[dict[str, bool], frozenset[FaultKind]]],
    scan_ms: int = 1,
) -> list[tuple[int, CameraZones]]:
    """Frame k at k * FRAME ms; the zones the core reads at every scan."""
    seen: list[tuple[int, CameraZones]] = []
    for t in range(0, len(frames) * FRAME, scan_ms):
        if t % FRAME == 0:
            truth, faults = frames[t // FRAME]
            model.frame(t, truth, faults)
        seen.append((t, model.zones(t)))
    return seen


def _first(seen: list[tuple[int, CameraZones]], pred: object) -> int:
    assert callable(pred)
    return next(t for t, z in seen if pred(z))


def test_zone_turns_on_and_off_after_its_lags_plus_latency() -> None:
    spec = CameraModelSpec(frame_ms=FRAME, on_lag_ms=268, off_lag_ms=67, latency_ms=45)
    frames = [(_truth(), NONE)] * 3 + [(_truth(bay=True), NONE)] * 20 + [(_truth(), NONE)] * 10
    seen = _drive(CameraModel(spec), frames)
    truth_on, truth_off = 3 * FRAME, 23 * FRAME
    on = _first(seen, lambda z: z.bay)
    # The frame 4 frames after the truth turned on is the first to pass on_lag (268 ms).
    assert on - truth_on == 4 * FRAME + 45
    off = _first([(t, z) for t, z in seen if t > on], lambda z: not z.bay)
    assert off - truth_off == FRAME + 45
    assert all(z.health is CameraHealth.OK for _, z in seen)
    assert not any(z.barrier or z.exit or z.approach for _, z in seen)


def test_a_gap_shorter_than_the_off_lag_is_not_seen() -> None:
    spec = CameraModelSpec(frame_ms=FRAME, on_lag_ms=0, off_lag_ms=134, latency_ms=0)
    frames = (
        [(_truth(barrier=True), NONE)] * 5
        + [(_truth(), NONE)] * 2
        + [(_truth(barrier=True), NONE)] * 5
    )
    seen = _drive(CameraModel(spec), frames)
    assert all(z.barrier for _, z in seen)


def test_ideal_camera_is_the_truth_of_each_frame() -> None:
    frames = [(_truth(exit=bool(i % 2)), NONE) for i in range(8)]
    seen = _drive(CameraModel(CameraModelSpec.ideal()), frames)
    for t, zones in seen:
        assert zones.exit == bool((t // FRAME) % 2)


def test_freeze_holds_the_zones_until_detected_then_faults_until_clear() -> None:
    spec = CameraModelSpec(
        frame_ms=FRAME, on_lag_ms=0, off_lag_ms=0, latency_ms=0, freeze_detect_ms=2100
    )
    freeze = frozenset({FaultKind.CAMERA_FREEZE})
    frames = (
        [(_truth(bay=True), NONE)] * 5
        + [(_truth(), freeze)] * 45  # the car leaves while the picture is frozen
        + [(_truth(), NONE)] * 30
    )
    seen = _drive(CameraModel(spec), frames)
    frozen_at, back_at = 5 * FRAME, 50 * FRAME
    fault = _first(seen, lambda z: z.health is CameraHealth.FAULT)
    assert fault - frozen_at == 32 * FRAME  # the first frame at least 2100 ms in
    # Until then the zones still say what the frozen picture showed.
    assert all(z.bay for t, z in seen if frozen_at <= t < fault)
    restored = _first([(t, z) for t, z in seen if t > fault], lambda z: z.health is CameraHealth.OK)
    assert restored - back_at == 15 * FRAME  # the first frame at least 1000 ms in
    assert not any(z.bay for t, z in seen if t >= restored)


def test_blackout_is_detected_sooner_than_a_freeze() -> None:
    spec = CameraModelSpec(frame_ms=FRAME, latency_ms=0, blackout_detect_ms=600)
    black = frozenset({FaultKind.CAMERA_BLACKOUT})
    frames = [(_truth(), NONE)] * 3 + [(_truth(), black)] * 20
    seen = _drive(CameraModel(spec), frames)
    fault = _first(seen, lambda z: z.health is CameraHealth.FAULT)
    assert fault - 3 * FRAME == 9 * FRAME  # the first frame at least 600 ms in


@pytest.mark.parametrize(
    ("field", "value"),
    [("on_lag_ms", -1), ("latency_ms", 1.5), ("frame_ms", 0), ("clear_ms", True)],
)
def test_bad_spec_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        CameraModelSpec(**{field: value})  # type: ignore[arg-type]


# -- standstill ------------------------------------------------------------------------


def _roll_then_stop(
    spec: CameraModelSpec, stop_ms: int, end_ms: int
) -> list[tuple[int, CameraZones]]:
    """A car rolls into the bay at 2 m/s and stands at the stop line from stop_ms;
    the zones the core reads every 1 ms scan."""
    geometry = LaneGeometry()
    model = CameraModel(spec)
    seen = []
    for t in range(end_ms):
        front = geometry.stop_line_x_m - 2.0 * max(0, stop_ms - t) / 1000.0
        car = Vehicle(id=1, front_x_m=front, speed_mps=2.0 if t < stop_ms else 0.0)
        seen.append((t, model.scan(t, [car], geometry, NONE)))
    return seen


def test_ideal_still_time_is_zero_while_rolling_and_rises_from_the_true_stop() -> None:
    stop = 3000
    seen = _roll_then_stop(CameraModelSpec.ideal(), stop, 6000)
    for t, zones in seen:
        assert zones.bay_still_ms is not None
        if t < stop:
            assert zones.bay_still_ms == 0, t
        else:
            # Exact to the frame: the first frame at or after the stop starts the clock.
            first = -(-stop // FRAME) * FRAME
            frame = t // FRAME * FRAME
            assert zones.bay_still_ms == max(0, frame - first), t
    assert seen[-1][1].bay_still_ms is not None and seen[-1][1].bay_still_ms >= 6000 - stop - FRAME


def test_real_still_time_lags_by_the_frame_and_latency_and_never_runs_ahead() -> None:
    spec = CameraModelSpec()
    stop = 3000
    seen = _roll_then_stop(spec, stop, 6000)
    on = _first(seen, lambda z: z.bay)
    for t, zones in seen[spec.latency_ms :]:
        still = zones.bay_still_ms
        assert still is not None
        # Rolling, the still time never reaches the move lag; from the stop it never
        # claims more than the car has truly stood.
        if t < stop:
            assert still <= spec.move_lag_ms, t
        else:
            assert still <= t - stop, t
        if t < on:
            assert still == 0
    # From the stop it rises within one frame plus the latency, then with the clock.
    rising = _first([(t, z) for t, z in seen if t >= stop], lambda z: (z.bay_still_ms or 0) > 0)
    assert rising - stop <= FRAME + spec.latency_ms + FRAME
    end, last = seen[-1]
    assert last.bay_still_ms is not None
    assert last.bay_still_ms >= end - stop - (FRAME + spec.latency_ms + FRAME)


def test_any_body_moving_in_the_bay_resets_the_still_time() -> None:
    geometry = LaneGeometry()
    model = CameraModel(CameraModelSpec.ideal())
    standing = Vehicle(id=1, front_x_m=geometry.stop_line_x_m)
    for t in range(0, 2010, 10):
        zones = model.scan(t, [standing], geometry, NONE)
    # Scans every 10 ms take a frame at 0, 70, ... 1960 ms.
    assert zones.bay_still_ms == 1960
    # A second car rolls in behind the standing one: from the next frame on the bay is
    # no longer still.
    for t in range(2010, 2500, 10):
        behind = Vehicle(id=2, front_x_m=-20.0 + 2.0 * (t - 2010) / 1000.0, speed_mps=2.0)
        zones = model.scan(t, [standing, behind], geometry, NONE)
        assert zones.bay_still_ms == (1960 if t < 2030 else 0), t


def test_no_standstill_without_bodies_and_none_while_faulted() -> None:
    model = CameraModel(CameraModelSpec.ideal())
    model.frame(0, _truth(bay=True), NONE)
    assert model.zones(0).bay_still_ms is None
    geometry = LaneGeometry()
    model = CameraModel(CameraModelSpec.ideal())
    assert model.scan(0, [], geometry, NONE).bay_still_ms == 0
    blackout = frozenset({FaultKind.CAMERA_BLACKOUT})
    zones = model.scan(67, [Vehicle(id=1, front_x_m=-1.0)], geometry, blackout)
    assert zones.health is CameraHealth.FAULT and zones.bay_still_ms is None
