"""Lane switching in the site sim: when a lane opens beside a long line, the drivers at the
back of that line move to it, keeping their arrival time; a driver on the approach loop or in
the bay never moves; no driver is lost or counted twice.

The lanes here are the sim's own (``controller.site.sim._Lane``, each its real core against
its plant), driven by hand: one lane open with a line of twelve, then a second lane opens.
"""

from __future__ import annotations

import pytest

from controller.cli import main
from controller.core.types import LaneConfig
from controller.site.policy import Action
from controller.site.sim import (
    SWITCH_GAP,
    SimConfig,
    SimResult,
    _Lane,
    _switch,
    run_site_sim,
)
from hw_sim.plant import DriverState
from hw_sim.site_lane import SiteLanes, SitePlant

SCAN_MS = 100
SWITCH_MS = 10_000


def _lanes(n: int) -> tuple[list[_Lane], list[SitePlant]]:
    plants = SiteLanes(7, step_ms=SCAN_MS)
    made = [plants(i) for i in range(n)]
    lanes = [_Lane(f"L{i + 1}", made[i], LaneConfig(), 80.0, True) for i in range(n)]
    return lanes, made


def _run(
    lanes: list[_Lane], t: int, until: int, entries: list[tuple[int, int]], waits: dict[int, int]
) -> int:
    while t < until:
        for lane in lanes:
            lane.take_entries(entries, waits)
            lane.scan(t, SCAN_MS)
        t += SCAN_MS
    for lane in lanes:
        lane.take_entries(entries, waits)
    return t


def _committed(plant: SitePlant) -> set[int]:
    """Vehicles in sight that are on the approach loop or beyond."""
    start = plant.plant.geometry.approach_loop.start
    return {
        v.id
        for v in plant.plant.vehicles
        if v.state is not DriverState.APPROACH or v.front_x_m >= start
    }


Line = tuple[list[_Lane], list[SitePlant], list[int], dict[int, int], int, dict[int, int]]
"""The lanes, their plants, the drivers in arrival order, arrival times, now, and the waits
of those in a bay already."""


def _line_of_twelve() -> Line:
    """L1 open with twelve drivers who arrived 1 s apart; 15 s later L2 is still closed."""
    lanes, plants = _lanes(2)
    l1 = lanes[0]
    l1.apply(Action.OPEN, 0)
    order: list[int] = []
    arrived: dict[int, int] = {}
    entries: list[tuple[int, int]] = []
    waits: dict[int, int] = {}
    t = 0
    for i in range(12):
        at = i * 1000
        t = _run(lanes, t, at, entries, waits)
        vid = l1.plant.admit(at)
        l1.waiting[vid] = at
        order.append(vid)
        arrived[vid] = at
    t = _run(lanes, t, 15_000, entries, waits)
    return lanes, plants, order, arrived, t, waits


@pytest.fixture
def line_of_twelve() -> Line:
    return _line_of_twelve()


def _serve_all(lanes: list[_Lane], t: int, waits: dict[int, int]) -> dict[int, int]:
    """Run until every line is served (30 min at most); ``waits`` with the new entries."""
    entries: list[tuple[int, int]] = []
    served_before = len(waits)
    end = t + 30 * 60_000
    while t < end and any(lane.waiting for lane in lanes):
        t = _run(lanes, t, t + 1000, entries, waits)
    assert not any(lane.waiting for lane in lanes)
    # Each entry is recorded once: one wait per entry.
    assert len(entries) == len(waits) - served_before
    return waits


def test_a_lane_opening_beside_a_line_draws_its_back_drivers_in_order(
    line_of_twelve: Line,
) -> None:
    lanes, plants, order, arrived, t, _ = line_of_twelve
    l1, l2 = lanes
    committed = _committed(plants[0])
    assert committed, "the front of the line is on the loop or in the bay by now"
    before = plants[0].queued()
    assert before == 12 - len(committed) >= 8
    # Nobody moves to a closed lane.
    assert _switch(lanes, t, SWITCH_MS) == 0
    l2.apply(Action.OPEN, t)
    moved = _switch(lanes, t, SWITCH_MS)
    # They move until the lines differ by less than SWITCH_GAP.
    assert moved == before // 2
    assert abs(plants[0].queued() - plants[1].queued()) < SWITCH_GAP
    movers = list(l2.waiting)
    # The back of the line moves, the very last first; the front of the line stays.
    assert movers == order[::-1][:moved]
    assert not committed & set(movers)
    assert committed <= {v.id for v in plants[0].plant.vehicles}
    # Their wait still counts from when they first arrived.
    assert all(l2.waiting[vid] == arrived[vid] for vid in movers)
    # Each driver is in exactly one lane's line and one plant.
    truth1, truth2 = plants[0].plant.truth.vehicles, plants[1].plant.truth.vehicles
    served = {vid for vid in order if vid in truth1 and truth1[vid].bay_entry_ms is not None}
    assert served  # the first of the line is in the bay already
    assert not set(l1.waiting) & set(l2.waiting)
    assert set(l1.waiting) | set(l2.waiting) | served == set(order)
    assert not set(truth2) & set(truth1)
    # Lines within SWITCH_GAP of each other stay as they are.
    assert _switch(lanes, t, SWITCH_MS) == 0


def test_every_driver_is_served_once_with_the_wait_from_first_arrival() -> None:
    """The movers are served in the new lane, the others in the old, each once, each wait from
    first arrival; the last of the line waits less than when nobody moves."""
    lanes, plants, order, arrived, t, waits = _line_of_twelve()
    l2 = lanes[1]
    l2.apply(Action.OPEN, t)
    moved_at = t
    assert _switch(lanes, t, SWITCH_MS) > 0
    movers = set(l2.waiting)
    waits = _serve_all(lanes, t, waits)
    assert sorted(waits) == sorted(order)
    for vid in movers:
        # In the new lane from SWITCH_MS after the move: its record there starts then.
        rec = plants[1].plant.truth.vehicles[vid]
        assert rec.arrival_ms == moved_at + SWITCH_MS
        assert rec.bay_entry_ms is not None
        assert waits[vid] == rec.bay_entry_ms - arrived[vid]
        assert waits[vid] > moved_at + SWITCH_MS - arrived[vid]
        assert vid not in plants[0].plant.truth.vehicles
    for vid in set(order) - movers:
        rec = plants[0].plant.truth.vehicles[vid]
        assert rec.bay_entry_ms is not None
        assert waits[vid] == rec.bay_entry_ms - arrived[vid]
        assert vid not in plants[1].plant.truth.vehicles
    # The same line when L2 opens and nobody moves: L2 stays empty and the last driver waits
    # for the whole line ahead.
    lanes_b, _, order_b, _, t_b, waits_b = _line_of_twelve()
    lanes_b[1].apply(Action.OPEN, t_b)
    stay = _serve_all(lanes_b, t_b, waits_b)
    assert order_b == order
    assert max(waits.values()) < 0.75 * max(stay.values())
    assert sum(waits.values()) < sum(stay.values())


def test_a_committed_driver_never_moves() -> None:
    """A line of two on the loop and in the bay stays, however long it waits: nobody in it may
    withdraw."""
    lanes, plants = _lanes(2)
    l1, l2 = lanes
    l1.apply(Action.OPEN, 0)
    entries: list[tuple[int, int]] = []
    waits: dict[int, int] = {}
    for at in (0, 500):
        vid = l1.plant.admit(at)
        l1.waiting[vid] = at
    t = _run(lanes, 0, 20_000, entries, waits)
    assert plants[0].queued() == 0
    assert len(_committed(plants[0])) == 2
    l2.apply(Action.OPEN, t)
    assert plants[0].withdraw() is None
    assert _switch(lanes, t, SWITCH_MS) == 0
    assert not l2.waiting


def _day(switch_ms: int | None) -> SimResult:
    config = SimConfig(lanes=3, hours=1.0, policy="fixed", seed=4, start_h=7.0, switch_ms=switch_ms)
    return run_site_sim(
        config, SiteLanes(config.seed, step_ms=config.scan_ms, start_ms=config.start_ms)
    )


def test_switching_in_a_run_keeps_every_driver_and_is_the_sims_default() -> None:
    """The fixed plan through the morning rush with and without switching: the same arrivals,
    every one served or still queued exactly once either way; drivers switch only with it."""
    assert SimConfig(lanes=1, hours=1, policy="fixed", seed=1).switch_ms == SWITCH_MS
    stay = _day(None)
    switch = _day(SWITCH_MS)
    assert stay.switches == 0 and switch.switches > 0
    for r in (stay, switch):
        assert r.entered + r.waiting_at_end == r.arrived == stay.arrived
        assert len(r.waits_ms) == r.arrived and len(r.entries) == r.entered


def test_bad_switch_time_is_named() -> None:
    for bad in (-1, 600_001, True, 1.5):
        with pytest.raises(ValueError, match="switch_ms"):
            SimConfig(lanes=1, hours=1, policy="fixed", seed=1, switch_ms=bad)  # type: ignore[arg-type]


def _switches_printed(capsys: pytest.CaptureFixture[str], *flags: str) -> int:
    args = ["site", "sim", "--lanes", "2", "--hours", "0.5", "--start", "7.5"]
    assert main([*args, "--policy", "fixed", "--seed", "2", *flags]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    return int(rows["lane"].removeprefix("switches").strip())


def test_command_switches_by_default_and_not_with_no_switching(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _switches_printed(capsys, "--switch-s", "5") > 0
    assert _switches_printed(capsys, "--no-switching") == 0
    with pytest.raises(SystemExit):
        main(["site", "sim", "--switch-s", "-1"])
    assert "--switch-s" in capsys.readouterr().err
