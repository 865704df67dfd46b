"""The table is the whole lane: every transition the lane takes is a row of ``TRANSITIONS``.

The exhaustive exploration of test_explore.py is run again with every scan recorded: each
phase change it sees must be explained by the table's rows, stage by stage (ENTRY only
when the mode, the faults or the bus changed; then HALT, CYCLE, ENTRY again after an
obstruction latch, REVERSAL). The ENTRY, HALT and REVERSAL rows, once code branches, are
also fired by hand here (the CYCLE rows have their cases in test_lane.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from controller.commands.states import mermaid
from controller.core import lane as lane_module
from controller.core.lane import (
    FAULT_BOTH_LIMITS,
    FAULT_LOWER_TIMEOUT,
    FAULT_OBSTRUCTION,
    FAULT_PHOTOCELL,
    TRANSITIONS,
    Stage,
    Transition,
)
from controller.core.scan import ScanResult, ScanState
from controller.core.types import CommandKind, Inputs, Mode, Phase
from tests.core import test_explore
from tests.core.helpers import DOWN, Drive, cmd

Table = dict[Phase, tuple[Transition, ...]]


@dataclass(frozen=True)
class Move:
    """One explored scan that changed the phase, with what allows the ENTRY stage."""

    before: Phase
    after: Phase
    remoded: bool
    """The mode, the faults or the bus changed in this scan."""
    obstruction: bool
    """The obstruction fault latched in this scan."""


def _explains(table: Table, move: Move) -> bool:
    """Whether a chain of rows, at most one per stage in ``step``'s order, leads from
    ``move.before`` to ``move.after``."""
    stages = [Stage.HALT, Stage.CYCLE]
    if move.remoded:
        stages.insert(0, Stage.ENTRY)
    if move.obstruction:
        stages.append(Stage.ENTRY)
    stages.append(Stage.REVERSAL)
    reach = {move.before}
    for stage in stages:
        reach |= {r.target for p in reach for r in table[p] if r.stage is stage}
    return move.after in reach


@pytest.fixture(scope="module")
def moves() -> Iterator[set[Move]]:
    """Every phase change of explorations A, B and C (test_explore.py)."""
    seen: set[Move] = set()
    real_scan = test_explore.scan

    def recording(state: ScanState, inputs: Inputs, now: int) -> ScanResult:
        result = real_scan(state, inputs, now)
        a, b = state.lane, result.state.lane
        if a.phase is not b.phase:
            seen.add(
                Move(
                    a.phase,
                    b.phase,
                    a.mode is not b.mode or a.faults != b.faults or a.bus_lost != b.bus_lost,
                    FAULT_OBSTRUCTION in b.faults and FAULT_OBSTRUCTION not in a.faults,
                )
            )
        return result

    mp = pytest.MonkeyPatch()
    mp.setattr(test_explore, "scan", recording)
    try:
        cycle = (*test_explore._CYCLE_COMMANDS, CommandKind.RESET_FAULT)
        test_explore.explore(test_explore._lane_groups(), test_explore._CYCLE_COMMANDS, True)
        test_explore.explore(test_explore._mode_groups(), tuple(CommandKind), False)
        test_explore.explore(test_explore._lane_groups(), cycle, False, (FAULT_PHOTOCELL,))
    finally:
        mp.undo()
    yield seen


def test_every_explored_transition_is_a_row(moves: set[Move]) -> None:
    """Each phase change the exhaustive exploration saw is a chain of table rows."""
    assert len({(m.before, m.after) for m in moves}) >= 30
    unexplained = sorted(
        f"{m.before.name} -> {m.after.name}" for m in moves if not _explains(TRANSITIONS, m)
    )
    assert unexplained == []


@pytest.mark.parametrize("stage", [Stage.ENTRY, Stage.CYCLE])
def test_a_table_without_a_stage_leaves_moves_unexplained(moves: set[Move], stage: Stage) -> None:
    """The check can fail: without the ENTRY (or the CYCLE) rows, explored moves are not
    explained any more."""
    table = {p: tuple(r for r in rows if r.stage is not stage) for p, rows in TRANSITIONS.items()}
    assert any(not _explains(table, m) for m in moves)


def _emergency_raising() -> Drive:
    d = Drive()
    d.open_ready()
    d.step(DOWN, commands=cmd(CommandKind.EMERGENCY_OPEN_ON))
    d.step(Inputs())
    assert (d.state.mode, d.state.phase) == (Mode.EMERGENCY_OPEN, Phase.RAISING)
    return d


def test_halt_row_stops_a_moving_boom_without_a_mode_change() -> None:
    """RAISING in EMERGENCY_OPEN, both limits on: the fault latches, the mode stays (emergency
    outranks a fault) and the HALT row stops the boom."""
    d = _emergency_raising()
    result = d.step(Inputs(barrier_up=True, barrier_down=True))
    assert result.state.mode is Mode.EMERGENCY_OPEN
    assert result.state.phase is Phase.HALTED
    assert FAULT_BOTH_LIMITS in result.state.faults
    assert not result.outputs.barrier_raise and not result.outputs.barrier_lower


def test_without_the_halt_rows_the_boom_would_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HALT row is what stops it: with the HALT rows emptied the lane keeps RAISING."""
    walk = replace(lane_module.WALK, halt=dict.fromkeys(Phase, ()))
    monkeypatch.setattr(lane_module, "WALK", walk)
    d = _emergency_raising()
    result = d.step(Inputs(barrier_up=True, barrier_down=True))
    assert result.state.phase is Phase.RAISING


def _timed_out_onto_presence() -> Drive:
    """Lowering until the travel timeout, and at that scan something under the boom."""
    d = Drive()
    d.lowering()
    since = d.state.motion_since
    limit = d.state.config.travel_timeout_ms
    while d.now + 50 <= since + limit:
        d.step(Inputs(), dt=50)
    d.step(Inputs(photocell=True), dt=since + limit + 5 - d.now)
    return d


def test_reversal_row_after_a_forced_phase() -> None:
    """A lowering timeout forces FAULT/HALTED; the boom was lowering onto the photocell, so
    the REVERSAL row takes it up (S3), naming the fault latched in that scan."""
    d = _timed_out_onto_presence()
    assert d.last is not None
    state = d.last.state
    assert state.mode is Mode.FAULT and FAULT_LOWER_TIMEOUT in state.faults
    assert state.phase is Phase.RAISING
    reversed_ = [e for e in d.last.events if e.kind == "boom_reversed"]
    assert [(e.get("reversals"), e.get("fault")) for e in reversed_] == [(1, FAULT_LOWER_TIMEOUT)]


def test_without_the_reversal_rows_the_boom_would_stay_halted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The REVERSAL row is what reverses it: without it the lane stays HALTED."""
    walk = replace(lane_module.WALK, reversal=dict.fromkeys(Phase, ()))
    monkeypatch.setattr(lane_module, "WALK", walk)
    d = _timed_out_onto_presence()
    assert d.state.phase is Phase.HALTED


def test_states_draws_the_rows_that_were_code() -> None:
    """``lanectl states`` draws the ENTRY, HALT and REVERSAL rows too."""
    text = mermaid()
    for edge in (
        "RAISING --> HALTED: mechanical fault this scan",
        "HALTED --> RAISING: lowering onto presence (S3) / boom_reversed",
        "LOWERING --> RAISING: FAULT entered (obstruction or fail_mode safe)",
        "HALTED --> START: OPEN or CLOSED entered from another mode",
    ):
        assert f"    {edge}\n" in text
