"""The site sim: real cores against their plants, driven by the supervisor's policy.

Short runs (two or three lanes, one to two hours at the morning peak) check that
every arrival is accounted for, that a seed gives one result, the JSON the
command prints, that the queue policy opens lanes under a peak within the
staff on duty, and that the day is drawn.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.site.policy import Action
from controller.site.sim import BUDGET_RESERVE_MS, QUEUE_RULES, SimConfig, SimResult, run_site_sim
from hw_sim.site_lane import SiteLanes


def _run(**kw: object) -> SimResult:
    config = SimConfig(**kw)  # type: ignore[arg-type]
    plants = SiteLanes(config.seed, step_ms=config.scan_ms, start_ms=config.start_ms)
    return run_site_sim(config, plants)


@pytest.fixture(scope="module")
def peak() -> SimResult:
    """Three lanes through the morning rush (07:00-08:30), queue policy."""
    return _run(lanes=3, hours=1.5, policy="queue", seed=3, start_h=7.0)


@pytest.fixture(scope="module")
def peak_two_staff() -> SimResult:
    """The same rush with staff for two lanes only."""
    return _run(lanes=3, hours=1.5, policy="queue", seed=3, start_h=7.0, staff=2)


def test_every_arrival_is_served_or_still_queued(peak: SimResult) -> None:
    """Arrivals = vehicles that entered a bay + vehicles still queued, each with one wait."""
    assert peak.arrived > 300  # about 330 vph at the peak
    assert peak.entered + peak.waiting_at_end == peak.arrived
    assert len(peak.entries) == peak.entered
    assert len(peak.waits_ms) == peak.arrived
    assert peak.waiting_at_end > 0  # three lanes cannot keep up with the rush
    # Nobody is in a bay without driving 39 m to it (at most 40 km/h), queued or not.
    assert min(peak.waits_ms) >= 3500
    # The cores served the vehicles: entries happen across the run, not at its end.
    assert min(at for at, _ in peak.entries) < 7.1 * 3_600_000


def test_queue_policy_opens_lanes_under_the_peak(peak: SimResult) -> None:
    """Under the rush the wait rule opens lanes beyond the first, each decision with its reason."""
    opens = [d for d in peak.decisions if d.action is Action.OPEN]
    assert opens[0].reason == "min_lanes"
    by_wait = [d for d in opens if d.reason == "wait_above_bound"]
    assert len(by_wait) >= 2
    for d in by_wait:
        wait = d.get("predicted_wait_ms")
        bound = d.get("bound_ms")
        assert isinstance(wait, int) and isinstance(bound, int) and wait > bound
    assert peak.max_staffed == 3
    assert max(p.open_lanes for p in peak.timeline) == 3


def test_queue_policy_respects_the_staff_limit(peak: SimResult, peak_two_staff: SimResult) -> None:
    """With staff for two lanes, never more than two lanes are staffed, and the queue is longer."""
    assert peak_two_staff.max_staffed == 2
    assert all(p.staffed <= 2 for p in peak_two_staff.timeline)
    assert max(p.queue for p in peak_two_staff.timeline) > max(p.queue for p in peak.timeline)
    assert peak_two_staff.wait_stats_s()["mean"] > peak.wait_stats_s()["mean"]


def test_lane_hours_count_staffed_time(peak: SimResult) -> None:
    """Lane-hours lie between the hours the first lane was open and lanes x hours."""
    assert 1.5 <= peak.lane_hours <= 3 * 1.5
    # Each tick's staffed lanes, summed over the run, gives the same figure to within a tick.
    tick_h = peak.config.tick_ms / 3_600_000
    from_timeline = sum(p.staffed for p in peak.timeline) * tick_h
    assert abs(from_timeline - peak.lane_hours) < 3 * 3 * tick_h


def test_fixed_plan_follows_the_hourly_plan() -> None:
    """The fixed plan opens k lanes for each hour from the hour's mean demand, and no more."""
    result = _run(lanes=3, hours=1.0, policy="fixed", seed=3, start_h=7.0)
    assert {d.reason for d in result.decisions} == {"fixed_plan"}
    k = result.decisions[0].get("k")
    assert k == 3  # about 330 vph at 07:00-08:00: 3 x 80 x 0.85 < 330
    assert [d.action for d in result.decisions] == [Action.OPEN] * 3
    assert result.max_staffed == 3
    assert result.entered + result.waiting_at_end == result.arrived


def test_same_seed_same_day_other_seed_other_day() -> None:
    """One seed gives one result, decision for decision; another seed gives another."""
    a = _run(lanes=2, hours=1.0, policy="queue", seed=5, start_h=7.5)
    b = _run(lanes=2, hours=1.0, policy="queue", seed=5, start_h=7.5)
    c = _run(lanes=2, hours=1.0, policy="queue", seed=6, start_h=7.5)
    assert a.summary() == b.summary()
    assert a.decisions == b.decisions and a.waits_ms == b.waits_ms and a.timeline == b.timeline
    assert a.waits_ms != c.waits_ms


def test_command_prints_the_json_and_draws_the_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lanectl site sim --json --out DIR`` prints exactly the five keys and writes a PNG."""
    code = main(
        [
            "site", "sim", "--lanes", "2", "--hours", "1", "--start", "7.5",
            "--policy", "fixed", "--seed", "2", "--json", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["policy", "vehicles", "wait_s", "lane_hours", "decisions"]
    assert data["policy"] == "fixed"
    assert isinstance(data["vehicles"], int) and data["vehicles"] > 200
    assert list(data["wait_s"]) == ["mean", "p95", "max"]
    w = data["wait_s"]
    assert 0 < w["mean"] <= w["p95"] <= w["max"]
    assert data["lane_hours"] == pytest.approx(2.0, abs=0.01)  # two lanes all hour
    assert data["decisions"] == 2
    png = tmp_path / "site-sim-fixed-seed2.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lanes", "0"], "--lanes"),
        (["--hours", "-1"], "--hours"),
        (["--policy", "best"], "--policy"),
        (["--start", "24"], "--start"),
        (["--scan-ms", "7"], "scan_ms"),
    ],
)
def test_bad_arguments_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad argument exits 2 with a message that names it."""
    try:
        code = main(["site", "sim", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_skipping_idle_lanes_changes_nothing() -> None:
    """Skipping the scans of closed, empty lanes gives the very result of scanning them all."""
    kw: dict[str, object] = {
        "lanes": 3,
        "hours": 1.5,
        "policy": "queue",
        "seed": 4,
        "start_h": 9.0,
        "rules": dataclasses.replace(QUEUE_RULES, min_open_ms=600_000, close_dwell_ms=120_000),
    }
    fast = _run(**kw)
    full = _run(**kw, skip_idle=False)
    # Lanes did close and open again, so there were idle stretches to skip.
    actions = [d.action for d in fast.decisions]
    assert Action.CLOSE in actions and actions.count(Action.OPEN) >= 2
    assert fast.scans < full.scans
    assert fast.summary() == full.summary()
    assert fast.waits_ms == full.waits_ms and fast.timeline == full.timeline


def test_budget_raises_the_bounds_once_the_plans_lane_hours_are_spent() -> None:
    """Midday, when the plan runs two lanes: the live rule alone opens a third now and then and
    spends more than the plan; with the plan's lane-hours as its budget it raises its bounds
    once they are spent (each decision says by how much) and spends less."""
    kw: dict[str, object] = {"lanes": 3, "hours": 2.0, "policy": "queue", "seed": 1, "start_h": 11}
    free = _run(**kw)
    kept = _run(**kw, budget=True)
    planned = 2 * 2.0  # the fixed plan: two lanes in each of the two hours
    print(
        f"\nlane-h: plan {planned}, live rule {free.lane_hours:.3f}, budget {kept.lane_hours:.3f}"
    )
    assert free.lane_hours > planned + 0.5
    assert kept.lane_hours < free.lane_hours - 0.1
    assert all(d.get("bound_scale") is None for d in free.decisions)
    raised = [d for d in kept.decisions if float(d.get("bound_scale") or 0) > 1.0]
    assert raised
    for d in raised:
        scale, bound = d.get("bound_scale"), d.get("bound_ms")
        assert isinstance(scale, float) and isinstance(bound, int)
        base = QUEUE_RULES.open_wait_ms if d.action is Action.OPEN else QUEUE_RULES.close_wait_ms
        assert bound == pytest.approx(base * scale, rel=0.01)
        assert int(d.get("budget_ms") or 0) < BUDGET_RESERVE_MS  # less than the reserve in hand
