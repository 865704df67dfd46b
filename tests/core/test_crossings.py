"""S11 when a sensor fails: a released vehicle the photocell never saw, a bus drop, a restart."""

from __future__ import annotations

from dataclasses import replace

from controller.core.lane import (
    FAULT_BUS,
    FAULT_PHOTOCELL,
    PASS_BOOM_UP,
    PASS_RELEASE,
    initial_lane,
    step,
)
from controller.core.types import (
    CameraHealth,
    CameraZones,
    CommandKind,
    Event,
    Inputs,
    LaneConfig,
    Mode,
    Phase,
)
from tests.core.helpers import DOWN, UP, Drive, cmd

CROSSINGS = ("vehicle_passed", "tailgate", "run_through")


def _crossings(events: list[Event]) -> list[tuple[str, object, object]]:
    return [(e.kind, e.get("count"), e.get("detected_by")) for e in events if e.kind in CROSSINGS]


def _unseen_crossing(d: Drive) -> None:
    """From PASSING: the released car drives onto the exit loop, the photocell stuck off."""
    d.step(UP, loop_bay=True, loop_exit=True)


def test_stuck_off_photocell_counts_the_released_vehicle_once_and_latches_its_fault() -> None:
    """The released car leaving the bay onto the exit loop unseen is passed once, the
    photocell fault latches and the whole state is what the inference implies."""
    d = Drive().passing()
    _unseen_crossing(d)
    before = d.state
    assert before.pending == PASS_RELEASE and not before.photocell_seen and before.count == 0
    d.events.clear()
    r = d.step(UP, loop_exit=True)
    now = d.now
    expected = replace(
        before,
        count=1,
        crossed=True,
        pending="",
        faults=(FAULT_PHOTOCELL,),
        mode=Mode.FAULT,
        phase=Phase.CLEARING,
        phase_since=now,
        bay=False,
        bay_since=now,
        p_loop_bay=False,
        loop_bay_since=now,
        clear=False,
        clear_since=now,
        settled=False,
    )
    assert r.state == expected
    assert [e.kind for e in r.events] == [
        "vehicle_passed",
        "sensor_disagreement",
        "fault_latched",
        "mode_changed",
    ]
    passed = r.events[0]
    assert passed.get("authorised") == "release" and passed.get("detected_by") == "exit_loop"
    assert r.events[1].get("sensor") == "photocell"
    assert r.events[2].get("fault") == FAULT_PHOTOCELL
    assert r.outputs.alarm and not r.outputs.barrier_lower and not r.outputs.entry_green


def test_blind_photocell_keeps_the_boom_up_until_an_operator_reset() -> None:
    """S1: a latched photocell fault counts as occupied, so nothing lowers the boom for a
    minute of an empty-looking lane; the reset clears it and the boom comes down."""
    d = Drive().passing()
    _unseen_crossing(d)
    d.step(UP, loop_exit=True)
    r = d.hold(UP, 60_000, dt=50)
    assert r.state.phase is Phase.CLEARING and r.state.mode is Mode.FAULT
    assert not r.outputs.barrier_lower and not r.state.clear
    d.events.clear()
    d.step(UP, commands=cmd(CommandKind.RESET_FAULT))
    assert d.state.faults == () and "fault_reset" in d.kinds()
    r = d.hold(UP, 1000, dt=50)
    assert r.outputs.barrier_lower, "after the reset the clear lane lowers the boom"
    assert d.state.count == 1


def test_blind_photocell_counts_each_exit_loop_arrival() -> None:
    """With the photocell latched blind the exit loop's rising edge is the crossing: one
    count per vehicle onto the loop, none while it stays occupied."""
    d = Drive().passing()
    _unseen_crossing(d)
    d.step(UP, loop_exit=True)
    d.hold(UP, 500, dt=50, loop_exit=True)
    d.step(UP)
    d.events.clear()
    d.hold(UP, 500, dt=50, loop_exit=True)
    d.step(UP)
    d.hold(UP, 200, dt=50, loop_exit=True)
    assert _crossings(d.events) == [
        ("run_through", 2, "exit_loop"),
        ("run_through", 3, "exit_loop"),
    ]
    assert d.state.count == 3


def test_healthy_camera_is_named_as_the_witness() -> None:
    """A healthy camera that saw the barrier zone occupied is the crossing's witness."""
    d = Drive().passing()
    cam = CameraZones(CameraHealth.OK, bay=True, barrier=True)
    d.step(UP, loop_bay=True, loop_exit=True, camera=cam)
    r = d.step(UP, loop_exit=True, camera=CameraZones(CameraHealth.OK, barrier=True, exit=True))
    assert _crossings(list(r.events)) == [("vehicle_passed", 1, "camera")]
    assert FAULT_PHOTOCELL in r.state.faults


def test_healthy_photocell_and_stuck_exit_loop_count_once() -> None:
    """An exit loop stuck on before the crossing with a healthy photocell is no second count."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, loop_exit=True)
    d.step(UP, loop_bay=True, photocell=True, loop_exit=True)
    d.step(UP, photocell=True, loop_exit=True)
    d.step(UP, loop_exit=True)
    d.hold(UP, 1000, dt=50, loop_exit=True)
    assert _crossings(d.events) == [("vehicle_passed", 1, "photocell")]
    assert FAULT_PHOTOCELL not in d.state.faults and d.state.count == 1


def test_backing_out_with_a_stuck_photocell_counts_nothing() -> None:
    """The released car backing off the bay loop (exit loop empty) is no crossing, no fault."""
    d = Drive().passing()
    d.hold(UP, 1000, dt=50)
    assert "vehicle_backed_out" in d.kinds()
    assert _crossings(d.events) == [] and d.state.faults == () and d.state.pending == ""


def test_vehicle_across_during_a_bus_drop_is_counted_when_the_bus_returns() -> None:
    """Under the photocell when the bus dropped, out of the bay and from under the boom when it
    returns: one vehicle_passed detected by the bus return."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.step(UP, photocell=True, loop_exit=True)
    d.hold(UP, 1700, dt=10, photocell=True, loop_exit=True, bus_ok=False)
    assert d.state.mode is Mode.FAULT and d.state.pending == PASS_RELEASE
    d.events.clear()
    r = d.step(UP)
    assert _crossings(list(r.events)) == [("vehicle_passed", 1, "bus_restored")]
    assert r.state.count == 1 and r.state.pending == "" and r.state.crossed
    assert FAULT_BUS in r.state.faults and FAULT_PHOTOCELL not in r.state.faults
    d.hold(UP, 500, dt=50)
    assert d.state.count == 1


def test_vehicle_gone_from_the_bay_during_a_bus_drop_is_not_guessed() -> None:
    """Still wholly in the bay when the bus dropped and nowhere when it returns (it may have
    backed out): no crossing is inferred."""
    d = Drive().passing()
    d.hold(UP, 1700, dt=10, loop_bay=True, bus_ok=False)
    d.events.clear()
    d.hold(UP, 500, dt=50)
    assert _crossings(d.events) == [] and d.state.count == 0


def test_crossing_under_a_boom_found_up_at_power_on_is_a_pass() -> None:
    """A truck under the raised boom when the controller restarts is passed, not a
    run-through, and counted once."""
    d = Drive()
    d.state = initial_lane(LaneConfig(), count=7)
    d.step(UP, loop_bay=True, photocell=True)
    assert d.state.phase is Phase.CLEARING and d.state.pending == PASS_BOOM_UP
    d.step(UP, photocell=True, loop_exit=True)
    d.step(UP, loop_exit=True)
    passed = [e for e in d.events if e.kind in CROSSINGS]
    assert [(e.kind, e.get("authorised"), e.get("count")) for e in passed] == [
        ("vehicle_passed", PASS_BOOM_UP, 8)
    ]


def test_persisted_photocell_fault_keeps_the_boom_up_after_a_restart() -> None:
    """A photocell fault that survived a restart still counts as occupied: no lowering."""
    state = initial_lane(LaneConfig(), faults=(FAULT_PHOTOCELL,))
    r = step(state, Inputs(barrier_up=True), 1000)
    for t in range(1050, 5000, 50):
        r = step(r.state, Inputs(barrier_up=True), t)
        assert not r.outputs.barrier_lower
    assert r.state.mode is Mode.FAULT and not r.state.clear


def test_boom_down_at_rest_forgets_the_expected_vehicle() -> None:
    """After a full cycle the boom at rest expects nobody: a later forward exit without the
    photocell is not inferred as a pass."""
    d = Drive().lowering()
    d.step(DOWN)
    assert d.state.phase is Phase.READY and d.state.pending == ""
    assert d.state.count == 1 and not d.state.photocell_seen


def test_stuck_on_photocell_counts_the_released_vehicle_off_the_exit_loop() -> None:
    """With the photocell stuck on, the released car leaving the exit loop (bay empty) is
    passed once; the boom stays up while the photocell reads occupied (S1)."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.step(UP, loop_bay=True, photocell=True, loop_exit=True)
    d.hold(UP, 500, dt=50, photocell=True, loop_exit=True)
    assert d.state.count == 0
    r = d.step(UP, photocell=True)
    assert _crossings(list(r.events)) == [("vehicle_passed", 1, "exit_loop")]
    assert r.state.crossed and r.state.faults == ()
    r = d.hold(UP, 5000, dt=50, photocell=True)
    assert d.state.count == 1 and not r.outputs.barrier_lower


def test_reverser_off_the_exit_loop_back_into_the_bay_is_not_counted() -> None:
    """A released car that noses onto the exit loop and backs into the bay is no crossing."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.step(UP, loop_bay=True, photocell=True, loop_exit=True)
    d.step(UP, loop_bay=True, photocell=True)
    d.step(UP, loop_bay=True)
    assert _crossings(d.events) == [] and d.state.count == 0
    assert d.state.pending == PASS_RELEASE


def test_vehicle_from_the_bay_onto_the_exit_loop_during_a_bus_drop_is_counted() -> None:
    """In the bay when the bus dropped, on the exit loop with the bay and photocell clear when
    it returns: it went forward, one vehicle_passed detected by the bus return."""
    d = Drive().passing()
    d.hold(UP, 1700, dt=10, loop_bay=True, bus_ok=False)
    d.events.clear()
    r = d.step(UP, loop_exit=True)
    assert _crossings(list(r.events)) == [("vehicle_passed", 1, "bus_restored")]
    d.hold(UP, 500, dt=50)
    assert d.state.count == 1


def test_dead_exit_loop_still_counts_the_released_vehicle_once() -> None:
    """The photocell clearing with the bay loop empty is a forward crossing even when the
    exit loop never came on: counted once, by the photocell, the exit loop named."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.hold(UP, 800, dt=50, photocell=True)
    d.events.clear()
    d.step(UP)
    d.hold(UP, 2000, dt=50)
    assert _crossings(d.events) == [("vehicle_passed", 1, "photocell")]
    disagreements = [e for e in d.events if e.kind == "sensor_disagreement"]
    assert [e.get("sensor") for e in disagreements] == ["loop_exit"]
    assert d.state.count == 1 and d.state.crossed


def test_vehicle_backing_off_the_line_is_not_counted_by_the_dead_exit_loop_rule() -> None:
    """A released car that noses into the beam and backs off stands on the bay loop when
    the photocell clears: no crossing, nothing disagrees."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.hold(UP, 800, dt=50, loop_bay=True, photocell=True)
    d.events.clear()
    d.step(UP, loop_bay=True)
    d.hold(UP, 2000, dt=50, loop_bay=True)
    assert _crossings(d.events) == []
    assert not any(e.kind == "sensor_disagreement" for e in d.events)
    assert d.state.count == 0 and not d.state.crossed


def test_photocell_dying_under_the_released_vehicle_still_counts_it_once() -> None:
    """The photocell sees the released car, then fails dark with the car still on the bay
    loop and short of the exit loop (24 h soak, seed 23, no camera: this car was lost). Once
    the car is off the bay loop and on the exit loop it is counted, once, by the exit loop."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.hold(UP, 300, dt=50, loop_bay=True, photocell=True)
    d.hold(UP, 400, dt=50, loop_bay=True)  # dark under the body, not yet on the exit loop
    d.hold(UP, 300, dt=50, loop_bay=True, loop_exit=True)
    assert _crossings(d.events) == []
    d.step(UP, loop_exit=True)
    d.step(UP, loop_exit=True)
    d.hold(UP, 1500, dt=50, loop_exit=True)
    d.hold(UP, 2000, dt=50)
    assert _crossings(d.events) == [("vehicle_passed", 1, "exit_loop")]
    assert d.state.count == 1 and d.state.crossed


def test_released_vehicle_backing_off_the_beam_is_not_counted_by_the_exit_loop() -> None:
    """Seen by the photocell, then backing off it into the bay: the exit loop coming on for
    another reason while the car still stands on the bay loop counts nothing."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True)
    d.hold(UP, 300, dt=50, loop_bay=True, photocell=True)
    d.hold(UP, 400, dt=50, loop_bay=True)
    d.hold(UP, 2000, dt=50, loop_bay=True, loop_exit=True)
    assert _crossings(d.events) == []
    assert d.state.count == 0 and not d.state.crossed


# -- faulty crossing sensors: the camera's barrier and exit zones as witnesses --------------

CAM = CameraHealth.OK


def _zones(bay: bool = False, barrier: bool = False, exit: bool = False) -> CameraZones:
    return CameraZones(CAM, bay=bay, barrier=barrier, exit=exit)


def _runner_through(d: Drive, base: Inputs, photocell: bool) -> None:
    """A vehicle drives from the bay under the boom and away, the photocell reading
    ``photocell`` throughout, the camera and loops seeing it."""
    d.step(base, loop_bay=True, photocell=photocell, camera=_zones(bay=True))
    d.step(base, loop_bay=True, photocell=photocell, camera=_zones(bay=True, barrier=True))
    d.step(base, loop_bay=True, loop_exit=True, photocell=photocell, camera=_zones(barrier=True))
    d.step(base, loop_exit=True, photocell=photocell, camera=_zones(barrier=True, exit=True))
    d.step(base, loop_exit=True, photocell=photocell, camera=_zones(exit=True))
    d.step(base, photocell=photocell, camera=_zones(exit=True))
    d.step(base, photocell=photocell, camera=_zones())


def test_runner_past_a_stuck_off_photocell_is_counted_by_the_camera() -> None:
    """A runner through a lane whose photocell reads nothing: one run_through, detected by
    the camera, naming every sensor that saw it; the photocell's fault latches."""
    d = Drive().open_ready()
    d.events.clear()
    _runner_through(d, DOWN, photocell=False)
    assert _crossings(d.events) == [("run_through", 1, "camera")]
    crossing = next(e for e in d.events if e.kind == "run_through")
    assert crossing.get("seen_by") == "camera_barrier,camera_exit,loop_exit"
    disagreement = [e for e in d.events if e.kind == "sensor_disagreement"]
    assert [e.get("sensor") for e in disagreement] == ["photocell"]
    assert FAULT_PHOTOCELL in d.state.faults and d.state.count == 1


def test_released_vehicle_and_runner_past_a_stuck_on_photocell_count_once_each() -> None:
    """The photocell stuck on: the released car is counted once by the camera, which latches
    the photocell blind; the runner after it once by the exit loop (the camera adds no
    second count); the boom never comes down while the photocell reads occupied (S1)."""
    d = Drive().passing()
    d.events.clear()
    _runner_through(d, UP, photocell=True)
    assert _crossings(d.events) == [("vehicle_passed", 1, "camera")]
    assert FAULT_PHOTOCELL in d.state.faults
    d.hold(UP, 2000, dt=50, photocell=True, camera=_zones())
    _runner_through(d, UP, photocell=True)
    r = d.hold(UP, 2000, dt=50, photocell=True, camera=_zones())
    assert _crossings(d.events) == [
        ("vehicle_passed", 1, "camera"),
        ("run_through", 2, "exit_loop"),
    ]
    assert not r.outputs.barrier_lower and d.state.count == 2


def test_tailgater_past_a_blind_photocell_is_told_apart_by_the_barrier_zone() -> None:
    """Photocell latched blind: the released car is counted by the exit loop; the tailgater
    right behind it never lets the exit loop empty, but the barrier zone empties between
    them, so the camera counts it (a run-through: the latched fault stopped the cycle)."""
    d = Drive().passing()
    _unseen_crossing(d)
    d.step(UP, loop_exit=True)
    assert FAULT_PHOTOCELL in d.state.faults and d.state.count == 1
    d.hold(UP, 200, dt=50, loop_exit=True, camera=_zones(exit=True))
    d.events.clear()
    # The tailgater: under the boom (barrier zone) while the exit loop still holds the leader.
    d.step(UP, loop_bay=True, loop_exit=True, camera=_zones(bay=True, barrier=True, exit=True))
    d.step(UP, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.step(UP, loop_exit=True, camera=_zones(exit=True))
    d.hold(UP, 500, dt=50, loop_exit=True, camera=_zones(exit=True))
    d.hold(UP, 500, dt=50, camera=_zones())
    assert _crossings(d.events) == [("run_through", 2, "camera")]
    assert d.state.count == 2


def test_camera_does_not_count_twice_what_the_photocell_counted() -> None:
    """Healthy photocell and camera: the barrier zone emptying after the photocell counted
    the vehicle adds nothing, and nothing disagrees."""
    d = Drive().passing()
    d.events.clear()
    d.step(UP, loop_bay=True, camera=_zones(bay=True, barrier=True))
    d.step(UP, loop_bay=True, photocell=True, camera=_zones(bay=True, barrier=True))
    d.step(UP, photocell=True, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.step(UP, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.step(UP, loop_exit=True, camera=_zones(exit=True))
    d.hold(UP, 500, dt=50, camera=_zones())
    assert _crossings(d.events) == [("vehicle_passed", 1, "photocell")]
    assert not any(e.kind == "sensor_disagreement" for e in d.events)
    assert d.state.faults == ()


def test_vehicle_backing_out_of_the_barrier_zone_is_not_a_camera_crossing() -> None:
    """The barrier zone emptying with the exit side empty is a vehicle backing off: nothing
    is counted, whatever the photocell read."""
    d = Drive().passing()
    d.events.clear()
    d.step(UP, loop_bay=True, camera=_zones(bay=True, barrier=True))
    d.hold(UP, 500, dt=50, loop_bay=True, camera=_zones(bay=True, barrier=True))
    d.hold(UP, 500, dt=50, loop_bay=True, camera=_zones(bay=True))
    assert _crossings(d.events) == [] and d.state.faults == ()


def test_runner_past_a_blind_photocell_is_seen_by_the_exit_loop_only() -> None:
    """No camera, photocell latched blind: a runner is counted once, by the exit loop."""
    d = Drive().passing()
    _unseen_crossing(d)
    d.step(UP, loop_exit=True)
    d.hold(UP, 500, dt=50)
    d.events.clear()
    d.step(UP, loop_bay=True)
    d.step(UP, loop_bay=True, loop_exit=True)
    d.step(UP, loop_exit=True)
    d.hold(UP, 500, dt=50)
    assert _crossings(d.events) == [("run_through", 2, "exit_loop")]


def test_vehicle_backing_out_of_the_bay_past_an_occupied_exit_loop_is_not_counted() -> None:
    """The exit loop already occupied when a vehicle came onto the bay loop: the vehicle
    leaving the bay loop (backing out) with the photocell clear is no crossing."""
    d = Drive().open_ready()
    d.step(DOWN, loop_exit=True)
    d.events.clear()
    d.step(DOWN, loop_exit=True, loop_bay=True)
    d.hold(DOWN, 500, dt=50, loop_exit=True, loop_bay=True)
    d.step(DOWN, loop_exit=True)
    d.hold(DOWN, 500, dt=50)
    assert _crossings(d.events) == [] and d.state.faults == ()


def test_photocell_coming_unstuck_is_no_crossing() -> None:
    """No camera: a photocell stuck on over an empty lane that comes unstuck clears with the
    bay and exit loop empty, as a runner past a dead exit loop would: nothing is counted."""
    d = Drive().open_ready()
    d.events.clear()
    d.hold(DOWN, 2000, dt=50, photocell=True)
    d.hold(DOWN, 1000, dt=50)
    assert _crossings(d.events) == [] and d.state.count == 0


def test_tailgater_merged_on_every_working_sensor_is_not_invented() -> None:
    """No camera, photocell stuck off: a tailgater that never lets the bay or exit loop
    empty behind the released car is seen by no working sensor. The released car is
    counted once and no count is guessed for the other."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, loop_exit=True)
    d.hold(UP, 1000, dt=50, loop_bay=True, loop_exit=True)
    d.step(UP, loop_exit=True)
    d.hold(UP, 1000, dt=50, loop_exit=True)
    d.hold(UP, 500, dt=50)
    assert _crossings(d.events) == [("vehicle_passed", 1, "exit_loop")]
    assert d.state.count == 1


def test_camera_counts_across_a_bus_drop_and_the_stale_photocell_edge_adds_nothing() -> None:
    """The released car is under the photocell when the bus drops; the camera (not read over
    the bus) sees it leave the barrier zone forward: vehicle_passed by the camera. When the
    bus returns the photocell reads clear, an edge across the drop that is the same car:
    no second count. The tailgater that follows is counted once when it clears."""
    d = Drive().passing()
    d.step(UP, loop_bay=True, photocell=True, camera=_zones(bay=True, barrier=True))
    d.step(UP, photocell=True, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.events.clear()
    stale = {"photocell": True, "loop_exit": True, "bus_ok": False}
    d.hold(UP, 300, dt=10, camera=_zones(barrier=True, exit=True), **stale)
    d.hold(UP, 300, dt=10, camera=_zones(exit=True), **stale)
    assert _crossings(d.events) == [("vehicle_passed", 1, "camera")]
    d.hold(UP, 300, dt=10, camera=_zones(exit=True), loop_exit=True)
    assert d.state.count == 1, "the photocell edge across the drop counted the car again"
    d.step(UP, loop_bay=True, loop_exit=True, camera=_zones(bay=True, barrier=True, exit=True))
    d.step(UP, photocell=True, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.step(UP, loop_exit=True, camera=_zones(barrier=True, exit=True))
    d.hold(UP, 500, dt=50, loop_exit=True, camera=_zones(exit=True))
    assert [c[:2] for c in _crossings(d.events)] == [("vehicle_passed", 1), ("run_through", 2)]
    assert d.state.count == 2


def test_exit_loop_on_since_before_the_raise_is_no_crossing_of_the_released_vehicle() -> None:
    """An exit loop stuck on from the warning on, and the released car rolling off the bay
    loop towards a healthy photocell: not across yet, so neither counted nor a blind
    photocell; it is counted once when it does cross."""
    d = Drive().inspecting()
    d.step(DOWN, loop_bay=True, loop_exit=True, commands=cmd(CommandKind.RELEASE))
    d.hold(DOWN, d.state.config.warn_ms, dt=50, loop_bay=True, loop_exit=True)
    d.step(Inputs(), loop_bay=True, loop_exit=True)
    d.step(UP, loop_bay=True, loop_exit=True)
    assert d.state.phase is Phase.PASSING
    d.hold(UP, 2000, dt=50, loop_exit=True)
    assert _crossings(d.events) == []
    assert FAULT_PHOTOCELL not in d.state.faults and d.state.count == 0
    d.step(UP, photocell=True, loop_exit=True)
    d.step(UP, loop_exit=True)
    assert _crossings(d.events) == [("vehicle_passed", 1, "photocell")]
    assert FAULT_PHOTOCELL not in d.state.faults and d.state.count == 1
