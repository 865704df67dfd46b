"""The supervisor's rules: each one driven by hand, with the decision and its reason checked."""

from __future__ import annotations

import pytest

from controller.site.policy import (
    Action,
    LaneStatus,
    LaneView,
    Pin,
    PolicyConfig,
    PolicyState,
    SiteView,
    budget_scale,
    decide,
    erlang_c,
    fixed_plan,
    predicted_wait_ms,
)

CFG = PolicyConfig(
    open_wait_ms=120_000,
    open_dwell_ms=60_000,
    close_wait_ms=30_000,
    close_dwell_ms=300_000,
    min_open_ms=900_000,
    min_lanes=1,
)
MIN = 60_000


def lane(
    name: str,
    status: LaneStatus = LaneStatus.CLOSED,
    queue: int = 0,
    since: int | None = 0,
    unavailable: str = "",
    pin: Pin | None = None,
    vph: float = 80.0,
) -> LaneView:
    return LaneView(
        lane=name,
        status=status,
        queue=queue,
        service_vph=vph,
        open_since_ms=since if status is not LaneStatus.CLOSED else None,
        unavailable=unavailable,
        pin=pin,
    )


def run(
    views: list[list[LaneView]] | list[LaneView],
    times: list[int],
    staff: int = 6,
    config: PolicyConfig = CFG,
    arrival_vph: float = 0.0,
) -> list[list[tuple[str, str, str]]]:
    """Call decide at each time (same views, or one list of views per time)."""
    state = PolicyState()
    out = []
    for i, t in enumerate(times):
        lanes = views[i] if isinstance(views[0], list) else views
        assert isinstance(lanes, list)
        site = SiteView(now_ms=t, staff=staff, lanes=tuple(lanes), arrival_vph=arrival_vph)
        state, decisions = decide(config, state, site)
        out.append([(d.action.value, d.lane, d.reason) for d in decisions])
    return out


def test_predicted_wait_is_queue_over_capacity() -> None:
    """Ten vehicles before two 80 vph lanes wait 10/160 h = 225 s when nothing more arrives."""
    assert predicted_wait_ms(10, 160.0, 2, 0.0, 0.1) == 225_000
    assert predicted_wait_ms(0, 160.0, 2, 0.0, 0.1) == 0


def test_predicted_wait_sees_the_arrival_rate() -> None:
    """With no queue, 40 vph at one 80 vph lane wait 0.5 / 40 h x (1 + 0.1) / 2 = 24.75 s."""
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    # Erlang C for two servers at 1.5 Erlang: 0.6428...
    assert erlang_c(2, 1.5) == pytest.approx(0.642857, abs=1e-6)
    assert predicted_wait_ms(0, 80.0, 1, 40.0, 0.1) == 24_750
    assert predicted_wait_ms(0, 80.0, 1, 40.0, 1.0) == 45_000
    # The live queue wins when it is the longer wait.
    assert predicted_wait_ms(10, 80.0, 1, 40.0, 0.1) == 450_000
    # Arrivals at or over capacity: no finite wait.
    assert predicted_wait_ms(0, 160.0, 2, 160.0, 0.1) >= 10**12


def test_opens_only_after_the_wait_stays_above_the_bound_for_the_dwell() -> None:
    """A wait above the bound opens a lane after open_dwell_ms, not before, with its reason."""
    views = [lane("L1", LaneStatus.OPEN, queue=5), lane("L2")]  # 5/80 h = 225 s > 120 s
    out = run(views, [10 * MIN, 10 * MIN + 30_000, 10 * MIN + 59_999, 11 * MIN])
    assert out[:3] == [[], [], []]
    assert out[3] == [("open", "L2", "wait_above_bound")]


def test_a_dip_below_the_bound_restarts_the_dwell() -> None:
    """The wait must STAY above the bound: one call under it restarts the dwell."""
    high = [lane("L1", LaneStatus.OPEN, queue=5), lane("L2")]
    low = [lane("L1", LaneStatus.OPEN, queue=2), lane("L2")]  # 90 s < 120 s
    out = run([high, low, high, high], [0, 40_000, 50_000, 100_000])
    assert out == [[], [], [], []]
    out = run([high, high, high], [0, 40_000, 60_000])
    assert out[2] == [("open", "L2", "wait_above_bound")]


def test_open_decision_carries_its_figures() -> None:
    """The decision names the predicted wait, the bound and the lanes serving, for the journal."""
    state = PolicyState(above_since_ms=0)
    site = SiteView(now_ms=MIN, staff=3, lanes=(lane("L1", LaneStatus.OPEN, queue=5), lane("L2")))
    _, decisions = decide(CFG, state, site)
    (d,) = decisions
    assert d.action is Action.OPEN and d.lane == "L2"
    assert d.get("predicted_wait_ms") == 225_000
    assert d.get("bound_ms") == 120_000
    assert d.get("serving") == 1 and d.get("staff") == 3 and d.get("queue") == 5
    assert d.as_dict()["reason"] == "wait_above_bound"


def test_hysteresis_no_close_between_the_bounds() -> None:
    """With one lane fewer the wait would be 45 s: above the 30 s close bound, so no close."""
    views = [lane("L1", LaneStatus.OPEN, queue=1), lane("L2", LaneStatus.OPEN, queue=0)]
    # Two lanes: 1/160 h = 22.5 s; one fewer: 1/80 h = 45 s (between 30 s and 120 s).
    out = run(views, [t * MIN for t in range(20, 60, 5)])
    assert all(o == [] for o in out)


def test_closes_when_queues_fell_for_the_close_dwell() -> None:
    """With empty queues a lane open past its minimum closes after close_dwell_ms, one at a time."""
    views = [lane("L1", LaneStatus.OPEN), lane("L2", LaneStatus.OPEN, since=5 * MIN)]
    out = run(views, [20 * MIN, 24 * MIN, 25 * MIN, 26 * MIN])
    assert out[0] == [] and out[1] == []
    # L2 opened last: it is the one to close.
    assert out[2] == [("close", "L2", "queues_fell")]
    assert out[3] == []


def test_close_needs_the_wait_with_one_lane_fewer_under_the_bound() -> None:
    """Close compares the wait one lane FEWER would give, not today's wait."""
    # Two lanes, queue 1: now 22.5 s (< 30 s), one fewer 45 s: must not close.
    views = [lane("L1", LaneStatus.OPEN, queue=1), lane("L2", LaneStatus.OPEN)]
    assert run(views, [20 * MIN, 30 * MIN]) == [[], []]


def test_arrivals_above_capacity_keep_a_lane_open() -> None:
    """With 150 vph arriving, one 80 vph lane fewer than two would let the queue grow: no close."""
    cfg = PolicyConfig()
    views = [lane("L1", LaneStatus.OPEN), lane("L2", LaneStatus.OPEN, since=MIN)]
    out = run(views, [t * MIN for t in range(20, 60, 5)], config=cfg, arrival_vph=150.0)
    assert all(o == [] for o in out)
    out = run(views, [t * MIN for t in range(20, 60, 5)], config=cfg, arrival_vph=40.0)
    assert [("close", "L2", "queues_fell")] in out


def test_rising_arrivals_open_a_lane_before_a_queue_forms() -> None:
    """70 vph at one 80 vph lane predicts about 173 s with no queue yet: a second lane opens."""
    views = [lane("L1", LaneStatus.OPEN), lane("L2")]
    out = run(views, [0, MIN], arrival_vph=70.0)
    assert out == [[], [("open", "L2", "wait_above_bound")]]
    assert run(views, [0, MIN], arrival_vph=50.0) == [[], []]


def test_minimum_open_time() -> None:
    """A lane open for less than min_open_ms is not closed, however empty the queues."""
    views = [lane("L1", LaneStatus.OPEN), lane("L2", LaneStatus.OPEN, since=10 * MIN)]
    # L2 reaches 15 min open at 25 min; L1 has been open long: L1 closes instead.
    out = run(views, [t * MIN for t in range(10, 25)])
    closes = [o for o in out if o]
    assert closes == [[("close", "L1", "queues_fell")]]
    views = [
        lane("L1", LaneStatus.OPEN, since=10 * MIN),
        lane("L2", LaneStatus.OPEN, since=10 * MIN),
    ]
    out = run(views, [t * MIN for t in range(10, 31)])
    first = next(i for i, o in enumerate(out) if o)
    assert 10 + first >= 25


def test_staff_limit_stops_opening() -> None:
    """With every staff member on a lane, a long queue opens nothing."""
    views = [
        lane("L1", LaneStatus.OPEN, queue=30),
        lane("L2", LaneStatus.OPEN, queue=30),
        lane("L3"),
    ]
    out = run(views, [t * MIN for t in range(0, 10)], staff=2)
    assert all(o == [] for o in out)
    out = run(views, [t * MIN for t in range(0, 10)], staff=3)
    assert [("open", "L3", "wait_above_bound")] in out


def test_a_closing_lane_counts_against_the_staff() -> None:
    """A lane still finishing its queue keeps its staff: no other lane opens in its place."""
    views = [
        lane("L1", LaneStatus.OPEN, queue=30),
        lane("L2", LaneStatus.CLOSING, queue=3),
        lane("L3"),
    ]
    out = run(views, [t * MIN for t in range(0, 5)], staff=2)
    # The closing lane is reopened (its staff is there), L3 never.
    assert [("open", "L2", "wait_above_bound")] in out
    assert not any(d[1] == "L3" for o in out for d in o)


def test_staff_cut_closes_lanes() -> None:
    """Staff going off duty closes the excess lanes at once, shortest queue first."""
    views = [
        lane("L1", LaneStatus.OPEN, queue=4, since=MIN),
        lane("L2", LaneStatus.OPEN, queue=1, since=MIN),
        lane("L3", LaneStatus.OPEN, queue=2, since=MIN),
    ]
    out = run(views, [2 * MIN], staff=1)
    assert out[0] == [("close", "L2", "staff_limit"), ("close", "L3", "staff_limit")]


def test_pinned_closed_lane_is_closed_and_never_opened() -> None:
    """A lane pinned closed closes at once (min open time or not) and the queue rule skips it."""
    views = [lane("L1", LaneStatus.OPEN, queue=20, pin=Pin.CLOSED, since=MIN), lane("L2")]
    out = run(views, [2 * MIN])
    assert out[0] == [("close", "L1", "pinned_closed")]
    views = [lane("L1", LaneStatus.OPEN, queue=20), lane("L2", pin=Pin.CLOSED), lane("L3")]
    out = run(views, [t * MIN for t in range(0, 3)])
    assert [("open", "L3", "wait_above_bound")] in out
    assert not any(d[1] == "L2" for o in out for d in o)


def test_pinned_open_lane_is_opened_and_never_closed() -> None:
    """A lane pinned open opens at once and the close rule never takes it."""
    out = run([lane("L1", LaneStatus.OPEN), lane("L2", pin=Pin.OPEN)], [MIN])
    assert out[0] == [("open", "L2", "pinned_open")]
    # L1 is long past its minimum open time, L2 is not: only L1 could close, and it is pinned.
    views = [lane("L1", LaneStatus.OPEN, pin=Pin.OPEN), lane("L2", LaneStatus.OPEN, since=50 * MIN)]
    out = run(views, [t * MIN for t in range(20, 64, 2)])
    assert all(o == [] for o in out)
    out = run(views, [t * MIN for t in range(20, 80, 2)])
    assert {d[1] for o in out for d in o} == {"L2"}


def test_pinned_open_at_the_staff_limit_makes_room() -> None:
    """At the staff limit, a lane pinned open has an unpinned lane closed to make room."""
    views = [
        lane("L1", LaneStatus.OPEN, queue=3),
        lane("L2", LaneStatus.OPEN),
        lane("L3", pin=Pin.OPEN),
    ]
    _, decisions = decide(CFG, PolicyState(), SiteView(now_ms=MIN, staff=2, lanes=tuple(views)))
    (d,) = decisions
    assert (d.action, d.lane, d.reason) == (Action.CLOSE, "L2", "staff_limit")
    assert d.get("making_room_for") == "L3"


def test_faulted_and_maintenance_lanes_are_left_out() -> None:
    """A lane in fault or maintenance is never opened, nor counted as capacity or staff."""
    views = [
        lane("L1", LaneStatus.OPEN, queue=10),
        lane("L2", unavailable="fault"),
        lane("L3", unavailable="maintenance"),
        lane("L4"),
    ]
    out = run(views, [t * MIN for t in range(0, 3)], staff=2)
    assert [("open", "L4", "wait_above_bound")] in out
    assert not any(d[1] in ("L2", "L3") for o in out for d in o)
    # An open lane that faulted serves no one: the queue counts on the others alone.
    views = [
        lane("L1", LaneStatus.OPEN, queue=0, unavailable="fault"),
        lane("L2", LaneStatus.OPEN, queue=6),
        lane("L3"),
    ]
    out = run(views, [0, MIN], staff=2)
    assert out[1] == [("open", "L3", "wait_above_bound")]


def test_min_lanes_opens_a_lane_when_none_serves() -> None:
    """With no lane serving, one opens at once (the first usable, not a pinned-closed one)."""
    views = [lane("L1", pin=Pin.CLOSED), lane("L2", unavailable="fault"), lane("L3")]
    out = run(views, [0])
    assert out[0] == [("open", "L3", "min_lanes")]


def test_decide_is_deterministic() -> None:
    """The same views give the same decisions and state."""
    views = tuple([lane("L1", LaneStatus.OPEN, queue=9), lane("L2"), lane("L3")])
    site = SiteView(now_ms=5 * MIN, staff=3, lanes=views)
    a = decide(CFG, PolicyState(above_since_ms=0), site)
    b = decide(CFG, PolicyState(above_since_ms=0), site)
    assert a == b and a[1]


BUDGET = PolicyConfig(
    open_wait_ms=120_000,
    open_dwell_ms=0,
    close_wait_ms=30_000,
    close_dwell_ms=0,
    min_open_ms=0,
    budget_span_ms=3_600_000,
    budget_reserve_ms=1_800_000,
    budget_max_scale=8.0,
)
HOUR = 3_600_000


def test_budget_scale_doubles_per_span_spent_past_the_reserve() -> None:
    """In hand beyond the reserve: base bounds; each lane-hour less doubles them, up to the cap."""
    assert budget_scale(BUDGET, None) == 1.0  # no plan known
    assert budget_scale(CFG, -10 * HOUR) == 1.0  # no budget configured
    assert budget_scale(BUDGET, 5 * HOUR) == 1.0  # never lowered
    assert budget_scale(BUDGET, HOUR // 2) == pytest.approx(1.0)
    assert budget_scale(BUDGET, -HOUR // 2) == pytest.approx(2.0)
    assert budget_scale(BUDGET, -3 * HOUR // 2) == pytest.approx(4.0)
    assert budget_scale(BUDGET, -100 * HOUR) == 8.0


def _budget_decide(views: list[LaneView], budget_ms: int | None) -> list[tuple[str, str, int]]:
    site = SiteView(now_ms=HOUR, staff=3, lanes=tuple(views), budget_ms=budget_ms)
    _, decisions = decide(BUDGET, PolicyState(above_since_ms=0, below_since_ms=0), site)
    return [(d.action.value, d.lane, int(d.get("bound_ms") or 0)) for d in decisions]


def test_budget_spent_raises_the_opening_bound() -> None:
    """A 180 s wait opens a lane while the plan's lane-hours last, not once they are spent."""
    views = [lane("L1", LaneStatus.OPEN, queue=4), lane("L2")]  # 4/80 h = 180 s
    assert _budget_decide(views, 2 * HOUR) == [("open", "L2", 120_000)]
    assert _budget_decide(views, None) == [("open", "L2", 120_000)]
    assert _budget_decide(views, -HOUR // 2) == []  # bound 240 s
    site = SiteView(now_ms=HOUR, staff=3, lanes=tuple(views), budget_ms=-HOUR // 2)
    _, decisions = decide(BUDGET, PolicyState(above_since_ms=0), site)
    assert decisions == ()
    (d,) = decide(BUDGET, PolicyState(above_since_ms=0), SiteView(HOUR, 3, tuple(views), 0.0, 0))[1]
    assert d.get("budget_ms") == 0 and d.get("bound_scale") == pytest.approx(1.414, abs=0.001)


def test_budget_spent_raises_the_closing_bound() -> None:
    """One lane fewer would give 45 s: kept open within budget (30 s bound), closed beyond it."""
    views = [lane("L1", LaneStatus.OPEN, queue=1), lane("L2", LaneStatus.OPEN)]
    assert _budget_decide(views, HOUR) == []
    assert _budget_decide(views, -HOUR // 2) == [("close", "L2", 60_000)]


def test_bad_config_and_views_name_the_field() -> None:
    """Bad bounds and views are errors that name the field."""
    with pytest.raises(ValueError, match="close_wait_ms"):
        PolicyConfig(open_wait_ms=10_000, close_wait_ms=10_000)
    with pytest.raises(ValueError, match="min_open_ms"):
        PolicyConfig(min_open_ms=-1)
    with pytest.raises(ValueError, match="budget_span_ms"):
        PolicyConfig(budget_span_ms=-1)
    with pytest.raises(ValueError, match="budget_max_scale"):
        PolicyConfig(budget_max_scale=0.5)
    with pytest.raises(ValueError, match="budget_ms"):
        SiteView(now_ms=0, staff=1, lanes=(), budget_ms=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="L1: queue"):
        lane("L1", LaneStatus.OPEN, queue=-1)
    with pytest.raises(ValueError, match="staff"):
        SiteView(now_ms=0, staff=-1, lanes=())
    with pytest.raises(ValueError, match="duplicate"):
        SiteView(now_ms=0, staff=1, lanes=(lane("L1"), lane("L1")))


def test_fixed_plan_keeps_utilisation_under_the_bound() -> None:
    """k per hour is the fewest lanes with demand / (k x 80) < 0.85, capped at the lanes."""
    plan = fixed_plan([0.0, 67.0, 68.0, 200.0, 1000.0], 80.0, 6)
    # 68/80 = 0.85 is not under 0.85: two lanes. 200/(3*80) = 0.83.
    assert plan == (1, 1, 2, 3, 6)
    for demand, k in zip([0.0, 67.0, 68.0, 200.0], plan, strict=False):
        assert demand / (k * 80.0) < 0.85
        assert k == 1 or demand / ((k - 1) * 80.0) >= 0.85
    with pytest.raises(ValueError, match=r"hourly_vph\[1\]"):
        fixed_plan([1.0, -1.0], 80.0, 2)
