"""Plant physics and drivers: boom travel, sensors, contacts, and each behaviour end to end."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from controller.core.types import Outputs
from controller.iomap import coils_from_outputs
from hw_sim.plant import DriverState, Plant, Vehicle
from hw_sim.scenario import Behaviour, Scenario, TrafficSpec, VehicleKind, load_scenario
from hw_sim.traffic import VehicleSpec
from tests.hw_sim.scripted import ScriptedController

EMPTY = Scenario(name="empty", traffic=TrafficSpec(rate_per_hour=None, schedule_s=()))


def _plant(scenario: Scenario = EMPTY, **kw: int) -> Plant:
    return Plant(scenario, 1, watchdog_ms=0, **kw)


def _drive(plant: Plant, **coils: bool) -> None:
    plant.io.write_coils(coils_from_outputs(Outputs(**coils)))


def _spec(
    vid: int, behaviour: Behaviour, length: float = 4.5, speed_kmh: float = 20.0, **kw: object
) -> VehicleSpec:
    spec = VehicleSpec(
        id=vid,
        kind=VehicleKind.TRUCK if length > 10 else VehicleKind.CAR,
        behaviour=behaviour,
        length_m=length,
        width_m=1.8,
        arrival_ms=0,
        approach_mps=speed_kmh / 3.6,
        bay_mps=speed_kmh / 3.6,
        accel_mps2=2.0,
        decel_mps2=3.0,
        reaction_ms=500,
        hesitation_ms=4000,
        reverse_after_ms=3000,
        dwell_ms=2000,
        aside=False,
    )
    return replace(spec, **kw)  # type: ignore[arg-type]


def _add(plant: Plant, spec: VehicleSpec, front_x: float, speed: float = 0.0) -> Vehicle:
    return plant.add_vehicle(
        Vehicle(
            id=spec.id,
            kind=spec.kind,
            behaviour=spec.behaviour,
            length_m=spec.length_m,
            width_m=spec.width_m,
            front_x_m=front_x,
            speed_mps=speed,
            spec=spec,
        )
    )


def _time_until(plant: Plant, predicate: object, limit_ms: int = 60_000) -> int:
    start = plant.now_ms
    assert callable(predicate)
    while not predicate():
        plant.step()
        assert plant.now_ms - start <= limit_ms, "condition not reached in time"
    return plant.now_ms - start


def test_boom_raise_and_lower_take_the_configured_travel_times() -> None:
    """Raise held from down reaches the up limit after raise_ms; lower takes lower_ms."""
    plant = _plant()
    assert plant.io.read_discrete_inputs()[5] is True  # barrier_down at rest
    _drive(plant, barrier_raise=True)
    t_up = _time_until(plant, lambda: plant.io.read_discrete_inputs()[4])
    assert t_up == pytest.approx(3000, abs=plant.step_ms)
    assert plant.io.read_input_registers()[1] == 1000
    _drive(plant, barrier_lower=True)
    t_down = _time_until(plant, lambda: plant.io.read_discrete_inputs()[5])
    assert t_down == pytest.approx(3500, abs=plant.step_ms)
    assert plant.io.read_input_registers()[1] == 0


def test_boom_stays_put_with_both_coils_or_none() -> None:
    """RAISE and LOWER together (or neither) do not move the boom."""
    plant = _plant()
    _drive(plant, barrier_raise=True)
    plant.run_until(1000)
    pos = plant.boom_position
    assert 300 < pos < 400
    _drive(plant, barrier_raise=True, barrier_lower=True)
    plant.run_until(2000)
    assert plant.boom_position == pos
    _drive(plant)
    plant.run_until(3000)
    assert plant.boom_position == pos


def test_boom_at_rest_shows_exactly_one_limit_and_none_midway() -> None:
    """Limit switches: down at 0, up at 1000, neither in between."""
    plant = _plant()
    _drive(plant, barrier_raise=True)
    plant.run_until(1500)
    di = plant.io.read_discrete_inputs()
    assert (di[4], di[5]) == (False, False)


@pytest.mark.parametrize(
    ("span_name", "span_len"),
    [("approach", 4.0), ("bay", 6.0), ("photocell", 0.6), ("exit", 4.0)],
)
def test_loop_on_time_of_a_12m_truck_at_5_kmh(span_name: str, span_len: float) -> None:
    """A 12 m truck at a steady 5 km/h occupies each sensor for (sensor length + 12 m) / speed."""
    plant = _plant()
    _drive(plant, barrier_raise=True)
    plant.run_until(3100)
    speed = 5 / 3.6
    truck = _add(plant, _spec(1, Behaviour.RUNNER, 12.0, speed_kmh=5.0), -40.0, speed)
    index = {"approach": 0, "bay": 1, "photocell": 2, "exit": 3}[span_name]
    on_ms = 0
    while truck.rear_x_m < 10.0:
        plant.step()
        if plant.io.read_discrete_inputs()[index]:
            on_ms += plant.step_ms
    expected = (span_len + 12.0) / speed * 1000
    assert on_ms == pytest.approx(expected, abs=2 * plant.step_ms)
    assert truck.speed_mps == pytest.approx(speed)


def test_boom_lowered_onto_a_vehicle_rests_on_it_and_closes_the_safety_edge() -> None:
    """Lowering onto a car under the boom: it rests at roof height, DI 6 closes, contact logged."""
    plant = _plant()
    _drive(plant, barrier_raise=True)
    plant.run_until(3100)
    _add(plant, _spec(1, Behaviour.COMPLIANT), 2.0)  # body from -2.5 to 2.0: under the boom
    plant.step()
    _drive(plant, barrier_lower=True)
    plant.run_until(plant.now_ms + 3000)
    assert plant.boom_position == plant.geometry.boom_contact_permille
    di = plant.io.read_discrete_inputs()
    assert di[6] is True and di[2] is True
    [contact] = plant.truth.contacts
    assert contact.cause == "boom_lowered" and contact.vehicle_id == 1
    assert contact.sensors_healthy and contact.lower_commanded
    _drive(plant, barrier_raise=True)
    plant.run_until(plant.now_ms + 200)
    assert plant.io.read_discrete_inputs()[6] is False
    assert plant.truth.summary()["boom_lowered_onto_vehicle_healthy_sensors"] == 1


def test_boom_moving_with_nothing_under_it_touches_nothing() -> None:
    """A full lower with a car waiting at the stop line records no contact."""
    plant = _plant()
    _drive(plant, barrier_raise=True)
    plant.run_until(3100)
    _add(plant, _spec(1, Behaviour.COMPLIANT), -1.0)
    _drive(plant, barrier_lower=True)
    plant.run_until(plant.now_ms + 4000)
    assert plant.boom_position == 0
    assert plant.truth.contacts == []


def test_runner_pushes_through_the_down_boom() -> None:
    """A runner drives into the closed boom: a vehicle contact and a run_through crossing."""
    plant = _plant()
    _add(plant, _spec(1, Behaviour.RUNNER, speed_kmh=10.0), -15.0, 10 / 3.6)
    plant.run_until(30_000)
    rec = plant.truth.vehicles[1]
    assert rec.crossing == "run_through"
    assert [c.cause for c in plant.truth.contacts] == ["vehicle_pushed"]
    assert rec.exit_ms is not None


def _run_with_controller(plant: Plant, until_ms: int) -> ScriptedController:
    ctl = ScriptedController(plant.io)
    while plant.now_ms < until_ms:
        plant.step()
        ctl.scan(plant.now_ms)
    return ctl


def test_compliant_driver_enters_on_green_stops_and_leaves_on_release() -> None:
    """One compliant car: bay entry, stop at the stop line, release, crossing, exit, in order."""
    scenario = replace(load_scenario("checkpoint"), traffic=TrafficSpec(schedule_s=(0.0,)))
    scenario = replace(scenario, operator=replace(scenario.operator, aside_share=0.0))
    plant = Plant(scenario, 3)
    _run_with_controller(plant, 150_000)
    rec = plant.truth.vehicles[1]
    assert rec.crossing == "passed"
    assert rec.bay_entry_ms is not None and rec.stop_ms is not None
    assert rec.release_pressed_ms is not None and rec.release_seen_ms is not None
    assert rec.crossing_ms is not None and rec.cleared_ms is not None and rec.exit_ms is not None
    assert (
        rec.bay_entry_ms
        < rec.stop_ms
        < rec.release_pressed_ms
        < rec.release_seen_ms
        < rec.crossing_ms
        < rec.cleared_ms
        < rec.exit_ms
    )
    assert rec.release_pressed_ms - rec.stop_ms >= rec.planned_dwell_ms
    assert plant.truth.contacts == []


def test_sent_aside_vehicle_leaves_sideways_without_crossing() -> None:
    """SEND ASIDE: the vehicle pulls out to aside_y_m and never crosses the barrier line."""
    base = load_scenario("checkpoint")
    scenario = replace(
        base,
        traffic=TrafficSpec(schedule_s=(0.0,)),
        operator=replace(base.operator, aside_share=1.0, dwell_s=(5.0, 5.0)),
    )
    plant = Plant(scenario, 3)
    ctl = ScriptedController(plant.io)
    max_y = 0.0
    aside_seen = False
    while plant.now_ms < 90_000:
        plant.step()
        ctl.scan(plant.now_ms)
        aside_seen = aside_seen or plant.io.read_discrete_inputs()[10]
        for v in plant.vehicles:
            max_y = max(max_y, v.lateral_y_m)
            assert v.front_x_m < 0
    rec = plant.truth.vehicles[1]
    assert aside_seen and rec.aside_pressed_ms is not None
    assert rec.outcome == "aside" and rec.crossing is None
    assert max_y == pytest.approx(plant.geometry.aside_y_m, abs=0.05)


def test_release_button_is_held_about_300_ms() -> None:
    """The operator holds RELEASE (DI 9) for hold_ms."""
    base = load_scenario("checkpoint")
    scenario = replace(
        base,
        traffic=TrafficSpec(schedule_s=(0.0,)),
        operator=replace(base.operator, aside_share=0.0, dwell_s=(5.0, 5.0)),
    )
    plant = Plant(scenario, 3)
    ctl = ScriptedController(plant.io)
    held = 0
    while plant.now_ms < 60_000:
        plant.step()
        ctl.scan(plant.now_ms)
        held += plant.step_ms if plant.io.read_discrete_inputs()[9] else 0
    assert held == pytest.approx(300, abs=plant.step_ms)


def test_reverser_backs_out_of_the_bay() -> None:
    """A reverser stops in the bay, backs off the bay loop and leaves without crossing."""
    plant = _plant()
    v = _add(plant, _spec(1, Behaviour.REVERSER), -1.0)
    v.state = DriverState.WAITING
    v.reverse_at_ms = 1000
    seen_reversing = False
    while plant.now_ms < 30_000 and plant.vehicles:
        plant.step()
        seen_reversing = seen_reversing or v.state is DriverState.REVERSING
    rec = plant.truth.vehicles[1]
    assert seen_reversing
    assert rec.outcome == "reversed" and rec.crossing is None
    assert plant.io.read_discrete_inputs()[1] is False


def test_tailgater_follows_a_released_vehicle_through() -> None:
    """A tailgater creeps into the bay behind the waiting car and crosses on its release."""
    base = load_scenario("checkpoint")
    scenario = replace(
        base,
        traffic=TrafficSpec(
            schedule_s=(0.0, 1.0),
            behaviours=((Behaviour.TAILGATER, 1.0),),
            kinds=((VehicleKind.CAR, 1.0),),
        ),
        operator=replace(base.operator, aside_share=0.0, dwell_s=(8.0, 8.0)),
    )
    plant = Plant(scenario, 5)
    _run_with_controller(plant, 120_000)
    first, second = plant.truth.vehicles[1], plant.truth.vehicles[2]
    assert first.crossing == "passed"
    assert second.crossing == "tailgate"
    assert second.release_pressed_ms is None
    assert second.crossing_ms is not None and first.crossing_ms is not None
    assert second.crossing_ms - first.crossing_ms < 8000


def test_hesitant_driver_waits_after_exit_green() -> None:
    """A hesitant starter moves off reaction + hesitation after exit green with the boom up."""
    plant = _plant()
    v = _add(plant, _spec(1, Behaviour.HESITANT), -1.0)
    v.state = DriverState.WAITING
    _drive(plant, barrier_raise=True, exit_green=True, exit_red=False)
    while v.state is DriverState.WAITING:
        plant.step()
        assert plant.now_ms < 20_000
    rec = plant.truth.vehicles[1]
    assert rec.release_seen_ms is not None
    assert plant.now_ms - rec.release_seen_ms == pytest.approx(4500, abs=plant.step_ms)


def test_queue_keeps_gaps_and_nobody_overlaps() -> None:
    """Under saturated arrivals with no controller, vehicles queue without overlapping."""
    plant = Plant(load_scenario("rush"), 2, watchdog_ms=0)
    plant.run_until(120_000)
    in_lane = sorted(plant.vehicles, key=lambda v: -v.front_x_m)
    assert len(in_lane) >= 5
    for ahead, behind in itertools.pairwise(in_lane):
        assert behind.front_x_m <= ahead.rear_x_m - 1.9
    assert in_lane[0].front_x_m <= plant.geometry.bay_entry_x_m


def test_advance_runs_whole_steps_and_keeps_the_remainder() -> None:
    """advance(dt) steps floor((carry + dt) / step) times."""
    plant = _plant()
    plant.advance(25)
    assert plant.now_ms == 20
    plant.advance(5)
    assert plant.now_ms == 30
    with pytest.raises(ValueError, match="dt_ms"):
        plant.advance(-1)
