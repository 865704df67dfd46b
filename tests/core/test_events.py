"""Named events for the lane's less ordinary moments: crossings, sensors, bus, watchdog, buttons."""

from __future__ import annotations

from dataclasses import replace

from controller.core.lane import Signal
from controller.core.types import (
    EVENT_KINDS,
    CameraHealth,
    CameraZones,
    CommandKind,
    Inputs,
    LaneConfig,
    Mode,
    Phase,
)
from tests.core.helpers import DOWN, UP, Drive, cmd


def test_tailgater_behind_a_released_car_is_one_passed_and_one_tailgate() -> None:
    """S11: two vehicles crossing on one release give vehicle_passed then tailgate, count 2."""
    d = Drive().passing()
    d.events.clear()
    d.step(UP, loop_bay=True, photocell=True)
    d.step(UP, loop_bay=True, photocell=True, loop_exit=True)
    d.step(UP, loop_bay=True, loop_exit=True)  # the gap between the two
    d.step(UP, loop_bay=True, photocell=True, loop_exit=True)
    d.step(UP, photocell=True, loop_exit=True)
    r = d.step(UP, loop_exit=True)
    crossings = [
        (e.kind, e.get("count")) for e in d.events if e.kind in ("vehicle_passed", "tailgate")
    ]
    assert crossings == [("vehicle_passed", 1), ("tailgate", 2)]
    assert r.state.count == 2


def test_crossing_without_release_is_a_run_through() -> None:
    """A vehicle crossing the barrier line while nobody released it is a run_through."""
    d = Drive().inspecting()
    d.events.clear()
    d.step(DOWN, loop_bay=True, photocell=True)
    d.step(DOWN, photocell=True, loop_exit=True)
    d.step(DOWN, loop_exit=True)
    kinds = [e.kind for e in d.events]
    assert "run_through" in kinds and d.state.count == 1


def test_nose_into_the_photocell_and_back_is_not_a_crossing() -> None:
    """The photocell clearing with the exit loop empty (backing off) counts nothing."""
    d = Drive().inspecting()
    d.step(DOWN, loop_bay=True, photocell=True)
    d.step(DOWN, loop_bay=True)
    assert d.state.count == 0


def test_release_button_acts_on_the_rising_edge_once() -> None:
    """A console press held for 300 ms releases once; the held button sends nothing more."""
    d = Drive().inspecting()
    d.events.clear()
    d.hold(DOWN, 300, dt=10, loop_bay=True, release_button=True)
    released = [e for e in d.events if e.kind == "vehicle_released"]
    assert len(released) == 1 and released[0].get("source") == "console"
    assert not [e for e in d.events if e.kind == "command_rejected"]


def test_invalid_command_is_rejected_with_a_reason() -> None:
    """RELEASE with no vehicle is rejected by name, never dropped and never raised."""
    d = Drive().open_ready()
    r = d.step(DOWN, commands=cmd(CommandKind.RELEASE))
    assert [(e.kind, e.get("command")) for e in r.events] == [("command_rejected", "release")]
    assert "phase READY" in str(r.events[0].get("reason"))


def test_bus_loss_latches_fault_and_restore_is_reported() -> None:
    """Bus lost: bus_lost, a latched bus fault, motor off, alarm; restored: bus_restored."""
    d = Drive().open_ready()
    r = d.step(DOWN, bus_ok=False)
    assert [e.kind for e in r.events] == ["bus_lost", "fault_latched", "mode_changed"]
    assert r.state.mode is Mode.FAULT and r.state.phase is Phase.HALTED
    assert r.outputs.alarm and r.outputs.entry_amber and not r.outputs.entry_green
    r = d.step(DOWN)
    assert [e.kind for e in r.events] == ["bus_restored"]
    assert r.state.mode is Mode.FAULT and "bus" in r.state.faults
    r = d.step(DOWN, commands=cmd(CommandKind.RESET_FAULT))
    assert r.state.mode is Mode.CLOSED


def test_io_watchdog_trip_latches_a_fault() -> None:
    """A tripped I/O watchdog (the fail state was applied without us) latches io_watchdog,
    at power-on after a crash as well as while running; no reset while still tripped."""
    d = Drive()
    r = d.step(DOWN, io_watchdog_tripped=True)
    assert r.state.faults == ("io_watchdog",) and r.state.mode is Mode.FAULT
    r = d.step(DOWN, io_watchdog_tripped=True, commands=cmd(CommandKind.RESET_FAULT))
    assert r.state.faults == ("io_watchdog",)
    assert "still tripped" in str(r.events[-1].get("reason"))
    r = d.step(DOWN, commands=cmd(CommandKind.RESET_FAULT))
    assert r.state.faults == () and r.state.mode is Mode.CLOSED


def test_camera_fault_degrades_once_and_restores() -> None:
    """A camera fault is reported once, raises the alarm, and the lane keeps running."""
    d = Drive().open_ready()
    faulty = replace(DOWN, camera=CameraZones(health=CameraHealth.FAULT))
    d.events.clear()
    r = d.hold(faulty, 100, dt=10)
    assert [e.kind for e in d.events] == ["camera_fault"]
    assert r.outputs.alarm and r.state.mode is Mode.OPEN and r.state.entry is Signal.GREEN
    r = d.step(replace(DOWN, camera=CameraZones(health=CameraHealth.OK)))
    assert [e.kind for e in r.events] == ["camera_restored"] and not r.outputs.alarm


def test_camera_barrier_zone_counts_as_presence_under_the_boom() -> None:
    """S1 with a healthy camera: its barrier zone alone reverses a lowering boom."""
    d = Drive().lowering()
    r = d.step(Inputs(camera=CameraZones(health=CameraHealth.OK, barrier=True)))
    assert r.state.phase is Phase.RAISING and r.outputs.barrier_raise
    assert [e.kind for e in r.events] == ["boom_reversed"]


def test_camera_and_loop_disagreeing_is_reported_once() -> None:
    """Camera says bay empty while the bay loop is occupied for disagreement_ms: one event."""
    cfg = LaneConfig(disagreement_ms=1000)
    d = Drive(cfg).open_ready()
    d.events.clear()
    d.hold(replace(DOWN, loop_bay=True, camera=CameraZones(health=CameraHealth.OK)), 3000, dt=50)
    assert [e.kind for e in d.events].count("sensor_disagreement") == 1


def test_stuck_loop_reported_once_with_alarm() -> None:
    """An exit loop occupied past stuck_loop_ms is reported once and raises the alarm."""
    cfg = LaneConfig(stuck_loop_ms=2000)
    d = Drive(cfg).open_ready()
    d.events.clear()
    r = d.hold(DOWN, 3000, dt=100, loop_exit=True)
    assert [(e.kind, e.get("loop")) for e in d.events] == [("stuck_loop", "loop_exit")]
    assert r.outputs.alarm


def test_three_reversals_latch_obstruction_and_keep_the_boom_up() -> None:
    """S3: the max_reversals-th reversal in one cycle latches obstruction; the boom goes up."""
    d = Drive().lowering()
    for _ in range(3):
        d.step(Inputs(), photocell=True)
        d.step(Inputs())
        d.step(UP)
        d.hold(UP, 600, dt=50)
        d.step(Inputs())
    assert "obstruction" in d.state.faults
    assert d.state.mode is Mode.FAULT
    assert d.last is not None and not d.last.outputs.barrier_lower


def test_event_kinds_constant_covers_what_the_core_emits() -> None:
    """Every event the tests above provoke is listed in EVENT_KINDS."""
    assert len(set(EVENT_KINDS)) == len(EVENT_KINDS) == 22


def test_no_boom_motion_after_estop_release_until_reset() -> None:
    """After ESTOP is released the boom stays still (FAULT, HALTED) until an operator reset."""
    d = Drive().clearing()
    d.step(UP, estop=True)
    r = d.hold(UP, 2000, dt=50)
    assert r.state.mode is Mode.FAULT and r.state.phase is Phase.HALTED
    assert not r.outputs.barrier_lower and not r.outputs.barrier_raise
    d.step(UP, commands=cmd(CommandKind.RESET_FAULT))
    r = d.hold(UP, 1000, dt=50)
    assert r.state.mode is Mode.CLOSED and r.outputs.barrier_lower


def test_reversal_while_the_up_limit_still_reads_on_drives_the_boom_back_up() -> None:
    """A tailgater under a boom that has only just left its up limit (the limit still read on,
    one Modbus read behind the coil) reverses it: the boom is driven back up, and its leaving
    the limit is motion, not an "up limit lost" fault at rest (S8)."""
    d = Drive().clearing()
    d.hold(UP, d.state.config.clear_delay_ms, dt=50)
    r = d.step(UP)
    assert r.state.phase is Phase.LOWERING and r.outputs.barrier_lower
    d.events.clear()
    r = d.step(UP, photocell=True)
    assert r.state.phase is Phase.RAISING and r.outputs.barrier_raise
    r = d.step(Inputs(), photocell=True)
    assert r.outputs.barrier_raise and not r.state.faults
    r = d.step(UP, photocell=True)
    assert not r.outputs.barrier_raise
    r = d.hold(UP, 500, dt=5, photocell=True)
    assert not r.state.faults and r.state.mode is Mode.OPEN
    assert d.kinds() == ["boom_reversed"]


def test_boom_leaving_its_up_limit_at_rest_is_still_a_fault() -> None:
    """S8 keeps its teeth: a boom at rest on its up limit that loses it latches the fault."""
    d = Drive().clearing()
    r = d.step(Inputs())
    assert "up_limit_lost" in r.state.faults and r.state.phase is Phase.HALTED
