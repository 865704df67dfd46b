"""The I/O module: register access, the S9 watchdog and its fail state, and the latency probe."""

from __future__ import annotations

import pytest

from controller.core.types import FailMode, Outputs
from controller.iomap import coils_from_outputs
from hw_sim.io_module import IoAddressError, IoModule
from hw_sim.plant import Plant, Vehicle
from hw_sim.scenario import Behaviour, Scenario, TrafficSpec, VehicleKind

EMPTY = Scenario(name="empty", traffic=TrafficSpec(rate_per_hour=None, schedule_s=()))
GREEN = Outputs(entry_red=False, entry_green=True, lane_open=True, lane_closed=False, exit_red=True)


def test_registers_round_trip_at_iomap_addresses() -> None:
    """Coils, holding and input registers read back what was written, at zero-based addresses."""
    io = IoModule(watchdog_ms=0)
    io.write_coils(coils_from_outputs(GREEN))
    assert io.read_coils() == coils_from_outputs(GREEN)
    io.write_coils([True], address=0)
    assert io.read_coil_range(0, 1) == [True]
    io.write_holding(2, [0x0601, 0, 42])
    assert io.read_holding(0, 5) == [0, 0, 0x0601, 0, 42]
    io.tick(10, 1000)
    assert io.read_input_registers() == [0, 1000, 1]
    assert len(io.read_discrete_inputs()) == 11


def test_out_of_map_access_raises_a_named_error() -> None:
    """Addresses past a table's end raise IoAddressError naming the table."""
    io = IoModule()
    with pytest.raises(IoAddressError, match="coils"):
        io.write_coils([True] * 12)
    with pytest.raises(IoAddressError, match="holding registers"):
        io.read_holding(4, 2)
    with pytest.raises(ValueError, match="holding register 0"):
        io.write_holding(0, [70000])


def _plant(fail_mode: FailMode = FailMode.SECURE, watchdog_ms: int = 500) -> Plant:
    return Plant(EMPTY, 1, fail_mode=fail_mode, watchdog_ms=watchdog_ms)


def _heartbeat_run(plant: Plant, until_ms: int, outputs: Outputs, beat: bool = True) -> None:
    n = plant.io.heartbeat
    while plant.now_ms < until_ms:
        plant.step()
        if beat:
            n = (n + 1) & 0xFFFF
            plant.io.write_holding(0, [n])
        plant.io.write_coils(coils_from_outputs(outputs))


@pytest.mark.parametrize("watchdog_ms", [200, 500, 1000])
def test_watchdog_trips_within_watchdog_ms_plus_one_step(watchdog_ms: int) -> None:
    """Heartbeat stops -> io_status bit 0 and the fail state within watchdog_ms + one plant step."""
    plant = _plant()
    plant.io.write_holding(1, [watchdog_ms])
    raised = Outputs(barrier_raise=True, entry_red=False, entry_green=True)
    _heartbeat_run(plant, 5000, raised)
    assert not plant.io.tripped
    stopped_at = plant.now_ms
    while not plant.io.read_input_registers()[0] & 1:
        plant.step()
        plant.io.write_coils(coils_from_outputs(raised))
        assert plant.now_ms - stopped_at <= watchdog_ms + plant.step_ms
    assert plant.now_ms - stopped_at >= watchdog_ms
    fail = plant.io.effective_outputs()
    assert fail.entry_red and not fail.entry_green and not fail.entry_amber
    assert fail.lane_closed and not fail.lane_open and fail.alarm
    assert fail.exit_red and not fail.exit_green
    assert fail.barrier_lower and not fail.barrier_raise
    assert plant.io.read_coils() == coils_from_outputs(fail)


def test_watchdog_secure_fail_state_lowers_the_boom_but_not_onto_presence() -> None:
    """Secure fail state drives the boom down, but raises it while the photocell sees a vehicle."""
    plant = _plant()
    _heartbeat_run(plant, 3200, Outputs(barrier_raise=True))
    assert plant.boom_position == 1000
    car = plant.add_vehicle(
        Vehicle(1, VehicleKind.CAR, Behaviour.COMPLIANT, 4.5, 1.8, front_x_m=2.0)
    )
    plant.step()
    _heartbeat_run(plant, 8000, Outputs(), beat=False)
    assert plant.io.tripped
    assert plant.boom_position == 1000
    assert plant.truth.contacts == []
    plant.vehicles.remove(car)
    plant.run_until(plant.now_ms + 4000)
    assert plant.boom_position == 0


def test_watchdog_safe_fail_state_raises_the_boom() -> None:
    """fail_mode safe: the tripped module raises the boom to its up limit and holds it."""
    plant = _plant(FailMode.SAFE)
    plant.run_until(5000)
    assert plant.io.tripped and plant.boom_position == 1000
    assert plant.io.read_discrete_inputs()[4] is True
    assert not plant.io.effective_outputs().barrier_raise  # up limit reached: motor off


def test_watchdog_rearms_when_heartbeats_resume() -> None:
    """A changed heartbeat clears the trip and hands the outputs back to the controller."""
    plant = _plant()
    plant.run_until(1000)
    assert plant.io.tripped and plant.io.trips == 1
    _heartbeat_run(plant, 1100, GREEN)
    assert not plant.io.tripped
    assert plant.io.read_input_registers()[0] == 0
    assert plant.io.effective_outputs() == GREEN


def test_watchdog_zero_disables_it() -> None:
    """HR1 = 0: no heartbeat needed, never trips."""
    plant = _plant(watchdog_ms=0)
    plant.run_until(10_000)
    assert not plant.io.tripped


def test_writing_the_same_heartbeat_does_not_feed_the_watchdog() -> None:
    """Only a changing heartbeat counts (a stuck controller writing one value trips)."""
    plant = _plant()
    while plant.now_ms < 2000:
        plant.step()
        plant.io.write_holding(0, [7])
    assert plant.io.tripped


def test_latency_probe_pairs_each_edge_with_read_then_coil_write() -> None:
    """edge_to_coil_ns: one sample per edge, only after a read that followed the edge."""
    io = IoModule(watchdog_ms=0)
    io.set_inputs([False] * 11)
    io.write_coils([False] * 11)
    assert io.edge_to_coil_ns() == []
    io.set_inputs([True] + [False] * 10)
    io.write_coils([False] * 11)  # no read since the edge: not a sample
    assert io.edge_to_coil_ns() == []
    io.read_discrete_inputs()
    io.write_coils([False] * 11)
    io.write_coils([False] * 11)
    samples = io.edge_to_coil_ns()
    assert len(samples) == 1 and samples[0] >= 0
