"""Scenario files: the shipped set loads, and bad values fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw_sim.faults import BUS_KINDS, INPUT_NAMES, FaultKind, FaultSchedule, FaultSpec
from hw_sim.scenario import Behaviour, ScenarioError, list_scenarios, load_scenario, parse_scenario


def test_required_scenarios_are_shipped_and_load() -> None:
    """checkpoint, rush, violators, long_trucks, faults and mixed exist and validate."""
    names = list_scenarios()
    for required in ("checkpoint", "rush", "violators", "long_trucks", "faults", "mixed"):
        assert required in names
    for name in names:
        assert load_scenario(name).name == name


def test_checkpoint_matches_its_brief() -> None:
    """checkpoint: inspection dwell 10-40 s and 5 % sent aside."""
    s = load_scenario("checkpoint")
    assert s.operator.dwell_s == (10.0, 40.0)
    assert s.operator.aside_share == pytest.approx(0.05)


def test_faults_and_mixed_cover_every_fault_kind() -> None:
    """The faults scenario has each kind once; mixed has every kind and every behaviour."""
    every = set(FaultKind)
    faults = load_scenario("faults")
    assert sorted(f.kind.value for f in faults.faults) == sorted(k.value for k in every)
    mixed = load_scenario("mixed")
    assert {f.kind for f in mixed.faults} == every
    assert {b for b, _ in mixed.traffic.behaviours} == set(Behaviour)
    assert all(f.repeat_ms for f in mixed.faults)


def test_violators_has_runners_tailgaters_and_reversers() -> None:
    """violators mixes in every violating behaviour."""
    kinds = {b for b, _ in load_scenario("violators").traffic.behaviours}
    assert {Behaviour.RUNNER, Behaviour.TAILGATER, Behaviour.REVERSER} <= kinds


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"traffic": {"rate_per_hours": 5}}, "traffic.rate_per_hours"),
        ({"traffic": {"rate_per_hour": -1}}, "traffic.rate_per_hour"),
        ({"traffic": {"kinds": {"bus": 1.0}}}, "traffic.kinds.bus"),
        ({"traffic": {"truck_length_m": [18, 12]}}, "traffic.truck_length_m"),
        ({"operator": {"aside_share": 1.5}}, "operator.aside_share"),
        ({"boom": {"raise_ms": "fast"}}, "boom.raise_ms"),
        ({"faults": [{"kind": "stuck_on", "at_s": 1, "input": "loop_x"}]}, "faults[0].input"),
        ({"faults": [{"kind": "meteor", "at_s": 1}]}, "faults[0].kind"),
        ({"faults": [{"kind": "bus_drop"}]}, "faults[0].at_s"),
        ({"faults": [{"kind": "bus_delay", "at_s": 1}]}, "faults[0].delay_ms"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_bad_values_name_file_and_key(data: dict[str, object], key: str) -> None:
    """Each bad value raises ScenarioError whose message starts with 'file: key:'."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="bad.toml")
    assert str(info.value).startswith(f"bad.toml: {key}:"), str(info.value)


def test_unknown_scenario_and_broken_toml_are_named(tmp_path: Path) -> None:
    """A missing name lists the known ones; invalid TOML names the file."""
    with pytest.raises(ScenarioError, match=r"no such scenario.*checkpoint"):
        load_scenario("nope")
    broken = tmp_path / "broken.toml"
    broken.write_text("[traffic\n")
    with pytest.raises(ScenarioError, match=r"broken\.toml: not valid TOML"):
        load_scenario(broken)


def test_fault_schedule_windows_and_repeats() -> None:
    """A fault is active on [at, at + duration) and again every repeat period."""
    f = FaultSpec(FaultKind.MOTOR_FAULT, at_ms=1000, duration_ms=500, repeat_ms=10_000)
    assert [f.active(t) for t in (999, 1000, 1499, 1500, 11_000, 11_499)] == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    sched = FaultSchedule(
        [f, FaultSpec(FaultKind.STUCK_ON, at_ms=1200, duration_ms=100, input="photocell")]
    )
    now = sched.at(1250)
    assert now.motor_fault and now.stuck == ((2, True),)
    assert not sched.at(5000).any


def test_fault_schedule_cache_agrees_with_direct_evaluation() -> None:
    """at() answers the same as evaluating every fault, across many windows and repeats."""
    sched = FaultSchedule(load_scenario("mixed").faults + load_scenario("faults").faults)
    for now in range(0, 8_000_000, 997):
        expected = {f for f in sched.faults if f.active(now)}
        got = sched.at(now)
        assert (got.bus is not None) == any(f.kind in BUS_KINDS for f in expected), now
        assert got.motor_fault == any(f.kind is FaultKind.MOTOR_FAULT for f in expected), now
        assert {i for i, _ in got.stuck} == {
            INPUT_NAMES.index(f.input) for f in expected if f.input is not None
        }, now


def test_first_arrival_starts_poisson_traffic_at_a_set_time() -> None:
    """first_arrival_s puts the first vehicle at that time; later gaps stay random."""
    from hw_sim.traffic import Arrivals

    s = load_scenario("checkpoint")
    assert s.traffic.first_arrival_s == pytest.approx(1.0)
    arrivals = Arrivals(s.traffic, s.operator, seed=3)
    assert arrivals.due(999) == []
    first = arrivals.due(1000)
    assert [v.arrival_ms for v in first] == [1000]
    data = {"scenario": {"name": "x"}, "traffic": {"schedule_s": [1.0], "first_arrival_s": 0}}
    with pytest.raises(ScenarioError, match=r"bad.toml: traffic.first_arrival_s"):
        parse_scenario(data, source="bad.toml")
