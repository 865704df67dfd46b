"""Standstill from the camera: INSPECTING waits for the bay zone to be still, and falls back
to the loop rule (journaled once per episode) when the camera cannot tell."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.config import ConfigError, load_config
from controller.core.codec import decode_inputs, encode_inputs
from controller.core.lane import step
from controller.core.types import CameraHealth, CameraZones, Inputs, LaneConfig, Phase
from tests.core.helpers import DOWN, Drive

CFG = LaneConfig()


def _cam(still: int | None, health: CameraHealth = CameraHealth.OK) -> CameraZones:
    return CameraZones(health=health, bay=True, bay_still_ms=still)


def _entering(cam: CameraZones) -> Drive:
    """OPEN, READY, then a vehicle on the bay loop and in the camera's bay zone: ENTERING."""
    d = Drive()
    d.open_ready()
    d.step(DOWN, loop_bay=True, camera=cam)
    d.step(DOWN, dt=CFG.presence_on_ms, loop_bay=True, camera=cam)
    assert d.state.phase is Phase.ENTERING
    return d


def test_rolling_vehicle_is_not_stopped_whatever_the_loop_says() -> None:
    """A healthy camera reporting motion (still < standstill_ms) keeps the lane ENTERING
    long past the loop rule's stop_debounce_ms; still for standstill_ms starts INSPECTING."""
    d = _entering(_cam(0))
    d.hold(DOWN, 3 * CFG.stop_debounce_ms, dt=50, loop_bay=True, camera=_cam(120))
    assert d.state.phase is Phase.ENTERING
    d.step(DOWN, loop_bay=True, camera=_cam(CFG.standstill_ms - 1))
    assert d.state.phase is Phase.ENTERING
    d.step(DOWN, loop_bay=True, camera=_cam(CFG.standstill_ms))
    assert d.state.phase is Phase.INSPECTING
    assert d.kinds()[-1] == "vehicle_stopped"


def test_camera_standstill_decides_before_the_loop_timer() -> None:
    """Still for standstill_ms starts INSPECTING even though the bay loop has been occupied
    for less than stop_debounce_ms: the camera's rule replaces the loop's."""
    d = _entering(_cam(0))
    d.step(DOWN, dt=50, loop_bay=True, camera=_cam(CFG.standstill_ms))
    assert d.state.phase is Phase.INSPECTING
    assert "standstill_fallback" not in d.kinds()


@pytest.mark.parametrize(
    ("cam", "reason"),
    [
        (_cam(None, CameraHealth.FAULT), "camera_fault"),
        (_cam(None), "no_standstill"),
        (_cam(5000, CameraHealth.FAULT), "camera_fault"),
    ],
)
def test_fallback_to_the_loop_rule_is_journaled_once(cam: CameraZones, reason: str) -> None:
    """With the camera faulted (or no figure) the loop rule decides, and one
    ``standstill_fallback`` names the reason; a second episode is journaled again."""
    d = _entering(_cam(0))
    d.step(DOWN, dt=50, loop_bay=True, camera=_cam(100))
    d.hold(DOWN, CFG.stop_debounce_ms - 200, dt=50, loop_bay=True, camera=cam)
    assert d.state.phase is Phase.ENTERING
    d.hold(DOWN, 300, dt=50, loop_bay=True, camera=cam)
    assert d.state.phase is Phase.INSPECTING
    falls = [e for e in d.events if e.kind == "standstill_fallback"]
    assert [e.get("reason") for e in falls] == [reason]
    d.step(DOWN, loop_bay=True, camera=_cam(9000))
    d.hold(DOWN, 200, loop_bay=True, camera=cam)
    assert len([e for e in d.events if e.kind == "standstill_fallback"]) == 2


def test_no_fallback_event_when_the_camera_never_reported_standstill() -> None:
    """Inputs as older journals hold them (no bay_still_ms): the loop rule, and no event."""
    d = _entering(_cam(None))
    d.hold(DOWN, CFG.stop_debounce_ms, dt=50, loop_bay=True, camera=_cam(None))
    assert d.state.phase is Phase.INSPECTING
    assert "standstill_fallback" not in d.kinds()


_scan = st.tuples(
    st.booleans(),  # bay loop
    st.booleans(),  # camera bay zone
    st.sampled_from([CameraHealth.OK, CameraHealth.OK, CameraHealth.FAULT]),
    st.one_of(st.none(), st.integers(0, 2 * CFG.standstill_ms)),
    st.sampled_from([5, 10, 50, 400, 1500]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_scan, min_size=1, max_size=60))
def test_inspecting_never_starts_on_a_moving_vehicle(
    scans: list[tuple[bool, bool, CameraHealth, int | None, int]],
) -> None:
    """Property: with a healthy camera reporting bay_still_ms < standstill_ms, no scan
    moves the lane into INSPECTING, unless the journaled standstill timeout ran out."""
    d = Drive()
    d.open_ready()
    for loop_bay, cam_bay, health, still, dt in scans:
        cam = CameraZones(health=health, bay=cam_bay, bay_still_ms=still)
        before = d.state.phase
        result = d.step(DOWN, dt=dt, loop_bay=loop_bay, camera=cam)
        if result.state.phase is Phase.INSPECTING and before is not Phase.INSPECTING:
            moving = health is CameraHealth.OK and still is not None and still < CFG.standstill_ms
            timed_out = [
                e.get("reason") for e in result.events if e.kind == "standstill_fallback"
            ] == ["never_still"]
            assert not moving or timed_out, (still, health)


def test_property_sees_inspecting_start() -> None:
    """The property above is not vacuous: the same drive reaches INSPECTING on a still camera."""
    d = Drive()
    d.open_ready()
    state = d.state
    now = d.now
    for _ in range(4):
        now += 200
        cam = CameraZones(health=CameraHealth.OK, bay=True, bay_still_ms=CFG.standstill_ms)
        state = step(state, Inputs(barrier_down=True, loop_bay=True, camera=cam), now).state
    assert state.phase is Phase.INSPECTING


def test_codec_carries_bay_still_ms() -> None:
    """The figure survives the journal's codec; an older recording without it reads None;
    a bad value is a named error."""
    inputs = Inputs(camera=_cam(1234))
    assert decode_inputs(encode_inputs(inputs)) == inputs
    old = encode_inputs(Inputs(camera=_cam(None))).replace(',"bay_still_ms":null', "")
    assert "bay_still_ms" not in old
    assert decode_inputs(old).camera.bay_still_ms is None
    with pytest.raises(ValueError, match=r"inputs\.camera\.bay_still_ms"):
        decode_inputs(encode_inputs(inputs).replace("1234", '"x"'))


def test_config_standstill_ms(tmp_path: Path) -> None:
    """``[lane] standstill_ms`` reaches the core; a bad value names the key and the file."""
    path = tmp_path / "lane.toml"
    path.write_text("[lane]\nstandstill_ms = 800\n", encoding="utf-8")
    assert load_config(path).core.standstill_ms == 800
    assert load_config(path).lane.standstill_ms == 800
    path.write_text("[lane]\n", encoding="utf-8")
    assert load_config(path).core.standstill_ms == CFG.standstill_ms
    for bad in ("-1", '"fast"', "600001"):
        path.write_text(f"[lane]\nstandstill_ms = {bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.key == "lane.standstill_ms" and info.value.path == str(path)


def test_a_camera_that_never_sees_standstill_holds_the_vehicle_only_so_long() -> None:
    """Moving shadows over a standing car keep bay_still_ms near 0: past the loop rule plus
    standstill_timeout_ms the loop rule decides, journaled once as ``never_still``."""
    d = _entering(_cam(0))
    limit = CFG.stop_debounce_ms + CFG.standstill_timeout_ms
    d.hold(DOWN, limit - 300, dt=50, loop_bay=True, camera=_cam(40))
    assert d.state.phase is Phase.ENTERING
    assert "standstill_fallback" not in d.kinds()
    d.hold(DOWN, 400, dt=50, loop_bay=True, camera=_cam(40))
    assert d.state.phase is Phase.INSPECTING
    falls = [e.get("reason") for e in d.events if e.kind == "standstill_fallback"]
    assert falls == ["never_still"]
    assert d.kinds().index("standstill_fallback") < d.kinds().index("vehicle_stopped")
    d.hold(DOWN, 1000, dt=50, loop_bay=True, camera=_cam(40))
    assert [e.get("reason") for e in d.events if e.kind == "standstill_fallback"] == falls


def test_auto_release_dwell_counts_from_the_camera_standstill() -> None:
    """With auto-release, the dwell runs from when the camera saw the vehicle stand still,
    not from INSPECTING (which starts standstill_ms later); without a figure, from INSPECTING."""
    cfg = LaneConfig(auto_release_ms=2000)
    d = Drive(cfg)
    d.open_ready()
    d.step(DOWN, loop_bay=True, camera=_cam(0))
    d.step(DOWN, dt=cfg.presence_on_ms, loop_bay=True, camera=_cam(0))
    d.step(DOWN, dt=50, loop_bay=True, camera=_cam(cfg.standstill_ms))
    assert d.state.phase is Phase.INSPECTING
    d.step(DOWN, dt=cfg.auto_release_ms - cfg.standstill_ms - 50, loop_bay=True, camera=_cam(1950))
    assert d.state.phase is Phase.INSPECTING
    d.step(DOWN, dt=50, loop_bay=True, camera=_cam(2000))
    assert d.state.phase is Phase.WARNING

    shadowed = Drive(cfg)
    shadowed.open_ready()
    shadowed.step(DOWN, loop_bay=True, camera=_cam(None))
    shadowed.hold(DOWN, cfg.stop_debounce_ms + 100, dt=50, loop_bay=True, camera=_cam(None))
    assert shadowed.state.phase is Phase.INSPECTING
    shadowed.hold(DOWN, cfg.auto_release_ms - 200, dt=50, loop_bay=True, camera=_cam(None))
    assert shadowed.state.phase is Phase.INSPECTING
    shadowed.hold(DOWN, 300, dt=50, loop_bay=True, camera=_cam(None))
    assert shadowed.state.phase is Phase.WARNING
