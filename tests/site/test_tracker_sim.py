"""The supervisor's estimates from lane messages against the site sim's truth.

The site sim's observer sees every scan of every lane; the test turns each into the
``state`` message the lane's publisher would send (``publisher.state_payload``, with the
approach loop's occupied time kept as the publisher keeps it) and feeds the tracker, which
ticks every 10 s as the supervisor does. The sim knows the true arrivals and queues. The sim
runs on a simulated clock and a seed gives one run, so the figures are behaviour: a rush
that three lanes cannot serve (queues of tens of vehicles) and a midday hour at two lanes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import pytest

from controller.core.scan import ScanState, status
from controller.core.types import Inputs
from controller.site.arrivals import arrivals
from controller.site.publisher import state_payload
from controller.site.sim import QUEUE_RULES, SimConfig, run_site_sim
from controller.site.tracker import Tracker
from hw_sim.site_lane import SiteLanes

WINDOW_MS = 600_000
TICK_MS = 10_000


@dataclass
class _Feed:
    """What the supervisor would have received from each lane, and its estimates each tick."""

    tracker: Tracker
    next_tick: int
    approach_since: dict[str, int] = field(default_factory=dict)
    last: dict[str, tuple[object, ...]] = field(default_factory=dict)
    ticks: list[tuple[int, float, int]] = field(default_factory=list)
    """(time, arrival rate estimate, queue estimate over all lanes)."""

    def __call__(self, lane: str, t: int, state: ScanState, inputs: Inputs) -> None:
        if inputs.loop_approach:
            self.approach_since.setdefault(lane, t)
        else:
            self.approach_since.pop(lane, None)
        core = status(state)
        key = (core["count"], inputs.loop_approach, inputs.loop_bay, core["mode"])
        if self.last.get(lane) != key or t % 1000 == 0:
            self.last[lane] = key
            data = {
                "core": core,
                "inputs": {"loop_approach": inputs.loop_approach, "loop_bay": inputs.loop_bay},
                "now_ms": t,
                "bus_ok": True,
            }
            payload = state_payload(
                data,
                site="s",
                lane=lane,
                boot="b",
                approach_since_ms=self.approach_since.get(lane),
                outcomes={},
            )
            self.tracker.on_state(lane, payload, t)
        if t >= self.next_tick:
            self.next_tick = t + TICK_MS
            self.tracker.tick(t)
            queue = sum(self.tracker.queue(name) for name in self.tracker.lanes)
            self.ticks.append((t, self.tracker.arrival_vph(), queue))


def _compare(config: SimConfig) -> tuple[float, float, float]:
    """(estimated / true arrival rate, mean estimated queue, mean true queue) over the run
    (the rate after its first 15 minutes, once the window is full)."""
    tracker = Tracker(QUEUE_RULES, config.lanes, arrival_window_ms=WINDOW_MS)
    for i in range(config.lanes):
        tracker.on_availability(f"L{i + 1}", {"status": "online", "boot": "b"})
    feed = _Feed(tracker, config.start_ms)
    result = run_site_sim(
        config,
        SiteLanes(config.seed, step_ms=config.scan_ms, start_ms=config.start_ms),
        observer=feed,
    )
    times = arrivals(config.profile, config.seed, config.start_ms, config.end_ms)
    estimated = true = 0.0
    for t, vph, _ in feed.ticks:
        if t - config.start_ms < 900_000:
            continue
        estimated += vph
        n = bisect.bisect_right(times, t) - bisect.bisect_right(times, t - WINDOW_MS)
        true += n * 3_600_000 / WINDOW_MS
    true_queue = {p.t_ms: p.queue for p in result.timeline}
    est_q = sum(q for _, _, q in feed.ticks) / len(feed.ticks)
    true_q = sum(true_queue.values()) / len(true_queue)
    return estimated / true, est_q, true_q


@pytest.mark.slow
def test_estimates_under_a_rush_three_lanes_cannot_serve() -> None:
    """Queues of tens: the loops see one vehicle each; the queue and rate stay honest."""
    ratio, est_q, true_q = _compare(
        SimConfig(lanes=3, hours=1.0, policy="queue", seed=3, start_h=7.0)
    )
    print(f"\nrush: arrival rate estimate / true {ratio:.3f}, queue {est_q:.1f} vs {true_q:.1f}")
    assert true_q > 20  # the rush did build a long queue
    assert 0.85 <= ratio <= 1.05  # the earlier estimate: 1.20
    assert abs(est_q - true_q) <= 0.2 * true_q  # the earlier estimate: 73 vs 39


@pytest.mark.slow
def test_estimates_at_midday_on_two_lanes() -> None:
    """Short queues: the bay's vehicle is not counted as waiting."""
    ratio, est_q, true_q = _compare(
        SimConfig(lanes=2, hours=1.0, policy="fixed", seed=1, start_h=12.0)
    )
    print(f"\nmidday: arrival rate estimate / true {ratio:.3f}, queue {est_q:.2f} vs {true_q:.2f}")
    assert 0.9 <= ratio <= 1.1
    assert abs(est_q - true_q) <= 1.0  # the earlier estimate: 6.1 vs 2.5
