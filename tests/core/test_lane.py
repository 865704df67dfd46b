"""The lane table, one transition at a time, asserting the WHOLE state after the step.

Each case drives the lane to the row's phase through real steps (a prefix),
fires the row with one more step, and compares the entire ``LaneState`` with
the state before plus exactly the fields the row must change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from controller.core.lane import (
    PASS_RELEASE,
    TRANSITIONS,
    LaneState,
    Motion,
    Signal,
    Stage,
    initial_lane,
    step,
)
from controller.core.types import CommandKind, Inputs, LaneConfig, Mode, Phase
from tests.core.helpers import DOWN, UP, Drive, cmd

Changes = Callable[[LaneState, int], dict[str, object]]


@dataclass(frozen=True)
class Case:
    row: str
    """"PHASE/TRIGGER" of the table row this case fires."""
    prefix: Callable[[Drive], object]
    fire: Inputs
    changes: Changes
    events: tuple[str, ...] = ()
    dt: Callable[[LaneState, int], int] = lambda s, now: 5
    config: LaneConfig = field(default_factory=LaneConfig)


def _phase(p: Phase, **extra: object) -> Changes:
    def changes(before: LaneState, now: int) -> dict[str, object]:
        out: dict[str, object] = {"phase": p, "phase_since": now}
        for key, value in extra.items():
            out[key] = now if value == "now" else value
        return out

    return changes


BAY = Inputs(barrier_down=True, loop_bay=True)
NONE = Inputs()


def _maint_up(d: Drive) -> None:
    d.maintenance()
    d.step(DOWN, commands=cmd(CommandKind.MANUAL_RAISE))
    d.step(NONE)
    d.step(UP)


def _maint_lowering(d: Drive) -> None:
    _maint_up(d)
    d.step(UP, commands=cmd(CommandKind.MANUAL_LOWER))
    d.hold(UP, d.state.config.clear_delay_ms, dt=50)
    d.step(NONE)


CASES = [
    Case(
        "READY/BAY_ARRIVED",
        lambda d: (d.open_ready(), d.step(BAY)),
        BAY,
        _phase(Phase.ENTERING),
        ("vehicle_arrived",),
        dt=lambda s, now: s.config.presence_on_ms,
    ),
    Case(
        "ENTERING/SEND_ASIDE",
        Drive.entering,
        replace(BAY, commands=cmd(CommandKind.SEND_ASIDE)),
        _phase(Phase.ASIDE),
        ("vehicle_sent_aside",),
    ),
    Case(
        "ENTERING/BAY_LEFT",
        lambda d: (d.entering(), d.step(DOWN)),
        DOWN,
        _phase(Phase.READY),
        ("vehicle_backed_out",),
        dt=lambda s, now: s.config.presence_off_ms,
    ),
    Case(
        "ENTERING/STOPPED",
        Drive.entering,
        BAY,
        _phase(Phase.INSPECTING),
        ("vehicle_stopped",),
        dt=lambda s, now: s.loop_bay_since + s.config.stop_debounce_ms - now,
    ),
    Case(
        "INSPECTING/RELEASE",
        Drive.inspecting,
        replace(BAY, commands=cmd(CommandKind.RELEASE)),
        _phase(Phase.WARNING, pending=PASS_RELEASE),
        ("vehicle_released",),
    ),
    Case(
        "INSPECTING/SEND_ASIDE",
        Drive.inspecting,
        replace(BAY, commands=cmd(CommandKind.SEND_ASIDE)),
        _phase(Phase.ASIDE),
        ("vehicle_sent_aside",),
    ),
    Case(
        "INSPECTING/BAY_LEFT",
        lambda d: (d.inspecting(), d.step(DOWN)),
        DOWN,
        _phase(Phase.READY),
        ("vehicle_backed_out",),
        dt=lambda s, now: s.config.presence_off_ms,
    ),
    Case(
        "INSPECTING/AUTO_RELEASE",
        Drive.inspecting,
        BAY,
        _phase(Phase.WARNING, pending=PASS_RELEASE),
        ("vehicle_released",),
        dt=lambda s, now: s.phase_since + 1500 - now,
        config=LaneConfig(auto_release_ms=1500),
    ),
    Case(
        "ASIDE/RELEASE",
        lambda d: (d.inspecting(), d.step(BAY, commands=cmd(CommandKind.SEND_ASIDE))),
        replace(BAY, commands=cmd(CommandKind.RELEASE)),
        _phase(Phase.WARNING, pending=PASS_RELEASE),
        ("vehicle_released",),
    ),
    Case(
        "ASIDE/BAY_LEFT",
        lambda d: (
            d.inspecting(),
            d.step(BAY, commands=cmd(CommandKind.SEND_ASIDE)),
            d.step(DOWN),
        ),
        DOWN,
        _phase(Phase.READY),
        dt=lambda s, now: s.config.presence_off_ms,
    ),
    Case(
        "WARNING/WARN_DONE",
        Drive.warning,
        BAY,
        _phase(Phase.RAISING, motion=Motion.RAISING, motion_since="now"),
        dt=lambda s, now: s.config.warn_ms,
    ),
    Case(
        "RAISING/UP_FRESH",
        Drive.raising,
        replace(UP, loop_bay=True),
        _phase(Phase.PASSING, motion=Motion.IDLE, motion_since="now", p_up=True),
    ),
    Case(
        "RAISING/UP_CROSSED",
        lambda d: (d.lowering(), d.step(NONE, photocell=True), d.step(NONE)),
        UP,
        _phase(Phase.CLEARING, motion=Motion.IDLE, motion_since="now", p_up=True),
    ),
    Case(
        "RAISING/UP_EMERGENCY",
        lambda d: (
            d.open_ready(),
            d.step(DOWN, commands=cmd(CommandKind.EMERGENCY_OPEN_ON)),
            d.step(NONE),
        ),
        UP,
        _phase(Phase.OPENED, motion=Motion.IDLE, motion_since="now", p_up=True),
    ),
    Case(
        "RAISING/UP_REACHED",
        lambda d: (
            d.maintenance(),
            d.step(DOWN, commands=cmd(CommandKind.MANUAL_RAISE)),
            d.step(NONE),
        ),
        UP,
        _phase(Phase.HALTED, motion=Motion.IDLE, motion_since="now", p_up=True),
    ),
    Case(
        "RAISING/MANUAL_LOWER",
        lambda d: (
            d.maintenance(),
            d.step(DOWN, commands=cmd(CommandKind.MANUAL_RAISE)),
            d.step(NONE),
        ),
        replace(NONE, commands=cmd(CommandKind.MANUAL_LOWER)),
        _phase(Phase.CLEARING, motion=Motion.IDLE, motion_since="now"),
    ),
    Case(
        "PASSING/CROSSED",
        lambda d: (
            d.passing(),
            d.step(UP, loop_bay=True, photocell=True),
            d.step(UP, photocell=True, loop_exit=True),
        ),
        replace(UP, loop_exit=True),
        _phase(
            Phase.CLEARING,
            count=1,
            crossed=True,
            pending="",
            photocell_seen=False,
            p_photocell=False,
            clear=True,
            clear_since="now",
        ),
        ("vehicle_passed",),
    ),
    Case(
        "PASSING/BAY_LEFT",
        lambda d: (d.passing(), d.step(UP)),
        UP,
        _phase(Phase.CLEARING, pending=""),
        ("vehicle_backed_out",),
        dt=lambda s, now: s.config.presence_off_ms,
    ),
    Case(
        "CLEARING/CLEAR",
        Drive.clearing,
        replace(UP, loop_exit=True),
        _phase(Phase.LOWERING, motion=Motion.LOWERING, motion_since="now"),
        dt=lambda s, now: s.config.clear_delay_ms,
        config=LaneConfig(clear_delay_ms=100),
    ),
    Case(
        "CLEARING/MANUAL_RAISE",
        lambda d: (d.maintenance(), d.step(DOWN, commands=cmd(CommandKind.MANUAL_LOWER))),
        replace(DOWN, commands=cmd(CommandKind.MANUAL_RAISE)),
        _phase(Phase.RAISING, motion=Motion.RAISING, motion_since="now"),
    ),
    Case(
        "LOWERING/PRESENCE",
        Drive.lowering,
        replace(NONE, photocell=True),
        _phase(
            Phase.RAISING,
            reversals=1,
            motion=Motion.RAISING,
            motion_since="now",
            clear=False,
            clear_since="now",
            p_photocell=True,
        ),
        ("boom_reversed",),
    ),
    Case(
        "LOWERING/MANUAL_RAISE",
        _maint_lowering,
        replace(NONE, commands=cmd(CommandKind.MANUAL_RAISE)),
        _phase(Phase.RAISING, motion=Motion.RAISING, motion_since="now"),
    ),
    Case(
        "LOWERING/DOWN_BAY",
        lambda d: (d.lowering(), d.step(NONE, loop_bay=True)),
        BAY,
        _phase(Phase.ENTERING, motion=Motion.IDLE, motion_since="now", p_down=True),
        ("vehicle_arrived",),
    ),
    Case(
        "LOWERING/DOWN_CYCLE",
        Drive.lowering,
        DOWN,
        _phase(
            Phase.READY,
            motion=Motion.IDLE,
            motion_since="now",
            p_down=True,
            entry=Signal.GREEN,
            entry_since="now",
        ),
    ),
    Case(
        "LOWERING/DOWN_REACHED",
        _maint_lowering,
        DOWN,
        _phase(Phase.HALTED, motion=Motion.IDLE, motion_since="now", p_down=True),
    ),
    Case(
        "HALTED/MANUAL_RAISE",
        Drive.maintenance,
        replace(DOWN, commands=cmd(CommandKind.MANUAL_RAISE)),
        _phase(Phase.RAISING, motion=Motion.RAISING, motion_since="now"),
    ),
    Case(
        "HALTED/MANUAL_LOWER",
        Drive.maintenance,
        replace(DOWN, commands=cmd(CommandKind.MANUAL_LOWER)),
        _phase(Phase.CLEARING),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.row for c in CASES])
def test_transition_changes_exactly_the_expected_fields(case: Case) -> None:
    """Firing one table row changes the phase and exactly the fields the row implies."""
    d = Drive(case.config)
    case.prefix(d)
    before = d.state
    assert before.phase.name == case.row.split("/")[0], "prefix did not reach the row's phase"
    assert not before.faults
    d.events.clear()
    result = d.step(case.fire, dt=case.dt(before, d.now))
    expected = replace(before, **case.changes(before, d.now), settled=False)  # type: ignore[arg-type]
    assert result.state == expected
    assert tuple(e.kind for e in result.events) == case.events


def test_every_row_but_start_has_a_case() -> None:
    """The cases above cover every CYCLE row of the table (START has its own tests below;
    the ENTRY, HALT and REVERSAL rows are in test_table.py)."""
    rows = {
        f"{phase.name}/{row.trigger.name}"
        for phase, rows in TRANSITIONS.items()
        if phase is not Phase.START
        for row in rows
        if row.stage is Stage.CYCLE
    }
    assert rows == {c.row for c in CASES}


def _observed(config: LaneConfig, now: int, **values: object) -> LaneState:
    base = LaneState(
        config=config,
        observed=True,
        phase_since=now,
        entry_since=now,
        motion_since=now,
        bay_since=now,
        loop_bay_since=now,
        clear=True,
        clear_since=now,
        approach_since=now,
        exit_since=now,
    )
    return replace(base, **values)  # type: ignore[arg-type]


def test_start_with_boom_down_goes_ready() -> None:
    """At power-on with the down limit on, the first scan reconciles to READY, entry red."""
    cfg = LaneConfig()
    result = step(initial_lane(cfg), DOWN, 1000)
    assert result.state == _observed(cfg, 1000, phase=Phase.READY, p_down=True)
    assert result.outputs.entry_red and result.outputs.lane_closed
    assert result.events == ()


def test_start_with_boom_up_goes_clearing() -> None:
    """At power-on with the boom up, the lane waits for clear and brings it down; no assumption."""
    cfg = LaneConfig()
    result = step(initial_lane(cfg), UP, 1000)
    assert result.state == _observed(cfg, 1000, phase=Phase.CLEARING, p_up=True)
    assert result.outputs.warn and not result.outputs.barrier_lower


def test_first_scan_settles_into_the_cache() -> None:
    """A second identical scan changes nothing but records the cache for the next ones."""
    cfg = LaneConfig()
    first = step(initial_lane(cfg), DOWN, 1000)
    second = step(first.state, DOWN, 1005)
    assert second.state == replace(
        first.state,
        settled=True,
        wake_ms=1100,  # the earliest timer: bay_since + presence_on_ms
        last_inputs=DOWN,
        last_outputs=first.outputs,
    )
    third = step(second.state, DOWN, 1005)
    assert third.state is second.state and third.outputs is first.outputs


def test_estop_latches_fault_and_reddens_entry_at_once() -> None:
    """S4: ESTOP stops the motor and turns the entry red in the same scan; release leaves FAULT."""
    d = Drive().open_ready()
    before = d.state
    assert before.entry is Signal.GREEN
    r = d.step(DOWN, estop=True)
    assert r.state == replace(
        before,
        mode=Mode.ESTOP,
        phase=Phase.HALTED,
        phase_since=d.now,
        faults=("estop",),
        entry=Signal.RED,
        entry_since=d.now,
        p_estop=True,
        settled=False,
    )
    assert r.outputs.entry_red and not r.outputs.entry_amber and r.outputs.alarm
    assert [e.kind for e in r.events] == ["fault_latched", "mode_changed"]
    r = d.step(DOWN)
    assert r.state.mode is Mode.FAULT
    r = d.step(DOWN, commands=cmd(CommandKind.RESET_FAULT))
    assert r.state.mode is Mode.CLOSED and r.state.faults == ()
    assert [e.kind for e in r.events] == ["fault_reset", "mode_changed"]
