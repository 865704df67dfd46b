"""The scan API others call: initial state, persisted state, status and register codes."""

from __future__ import annotations

import pytest

from controller.core.scan import (
    Persisted,
    initial_state,
    mode_phase_code,
    persisted,
    scan,
    status,
    vehicle_count,
)
from controller.core.types import Command, CommandKind, Inputs, LaneConfig, Mode, Phase


def test_power_on_is_closed_with_entry_red() -> None:
    """A fresh controller starts CLOSED with the entry red and no motor output."""
    state = initial_state(LaneConfig())
    result = scan(state, Inputs(barrier_down=True), 1000)
    assert result.state.lane.mode is Mode.CLOSED
    assert result.state.lane.phase is Phase.READY
    assert result.outputs.entry_red and not result.outputs.entry_green
    assert result.outputs.lane_closed and not result.outputs.lane_open
    assert not result.outputs.barrier_raise and not result.outputs.barrier_lower


def test_persisted_fault_starts_in_fault() -> None:
    """A fault latched before a restart keeps the lane in FAULT after it (S8)."""
    state = initial_state(LaneConfig(), Persisted(faults=("raise_timeout",), count=41))
    result = scan(state, Inputs(barrier_down=True), 5)
    assert result.state.lane.mode is Mode.FAULT
    assert vehicle_count(result.state) == 41
    assert persisted(result.state) == Persisted(faults=("raise_timeout",), count=41)
    assert result.outputs.alarm and result.outputs.entry_red


def test_persisted_json_round_trip_and_errors() -> None:
    """Persisted survives JSON and a broken document names the bad field."""
    p = Persisted(faults=("bus", "estop"), count=7)
    assert Persisted.from_json(p.to_json()) == p
    with pytest.raises(ValueError, match="count"):
        Persisted.from_json('{"faults": []}')
    with pytest.raises(ValueError, match="count"):
        Persisted.from_json('{"faults": [], "count": -1}')


def test_open_lane_sets_mode_phase_code() -> None:
    """OPEN_LANE opens the lane; register 2 carries mode << 8 | phase."""
    state = initial_state(LaneConfig())
    r = scan(state, Inputs(barrier_down=True, commands=(Command(CommandKind.OPEN_LANE),)), 10)
    assert r.state.lane.mode is Mode.OPEN
    assert mode_phase_code(r.state) == (Mode.OPEN.value << 8) | Phase.READY.value
    assert r.outputs.entry_green
    info = status(r.state)
    assert info["mode"] == "OPEN" and info["phase"] == "READY" and info["count"] == 0
