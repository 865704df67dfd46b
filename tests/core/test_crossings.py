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
