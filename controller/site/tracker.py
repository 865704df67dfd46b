"""What the supervisor knows of each lane, from the lanes' own MQTT messages only.

The tracker turns each lane's retained ``state`` and ``availability`` into the
policy's ``LaneView`` and calls ``policy.decide``; it does no I/O and reads no
clock (the caller passes ``now_ms``), so a test scripts lane states and ticks.

Estimates, from what a lane publishes:

- Queue (vehicles waiting before the entry signal, as the policy counts it): the
  vehicle on the approach loop, plus half a vehicle per service time the loop has
  stood covered (``queue.approach_occupied_ms``). The vehicle in the bay is being
  served and is not counted. A loop that stays covered means the queue reaches back
  over it; the lane served one vehicle per service time meanwhile, each replaced on
  the loop, so the covered time alone does not say how many joined behind. A whole
  vehicle per service time (the earlier estimate, with the bay's vehicle added)
  gave about twice the true queue against the site sim's truth, and its growth,
  counted as arrivals on top of the vehicles served, put the arrival rate 20 % over
  the true one under a rush; half a vehicle matches the sim's queue within about
  a vehicle per lane, saturated or not (``tests/site/test_tracker_sim.py``).
- Service rate: each lane's own, from its completed services. When its count
  rises, the next vehicle stood on the approach loop at the previous rise and
  the bay and approach never stood empty since (the lane never waited for
  traffic), the time between the two rises over the vehicles counted is one
  service time. The estimate is an exponentially weighted mean of those
  (``SERVICE_ALPHA``) within a factor ``SERVICE_SPAN`` of the config's
  ``service_vph``, which stands in until a lane has been measured. Lanes differ
  (a slower operator, more trucks): the policy sums their own rates.
- Arrival rate: over the last ``arrival_window_ms``, vehicles served (the rises of
  ``counts.vehicles``, summed over lanes) plus the growth of the queue estimate,
  per hour; 0 until a minute has been seen (the policy then judges queues only).

A lane is left out (``unavailable``) while it is offline (last will, no
availability yet), has sent no state, is in fault, ESTOP, emergency open or
maintenance, or has lost its I/O bus. A command just sent counts as done for
``command_timeout_ms``, so one decision is not sent again every tick while the
lane's state catches up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from controller.site.policy import (
    Action,
    Decision,
    LaneStatus,
    LaneView,
    Pin,
    PolicyConfig,
    PolicyState,
    SiteView,
    decide,
)

__all__ = ["LaneTrack", "Tracker"]

_MS_PER_HOUR = 3_600_000
_MIN_ARRIVAL_SPAN_MS = 60_000
SERVICE_ALPHA = 0.2
"""Weight of the newest service time in a lane's estimate."""
SERVICE_SPAN = 4.0
"""A lane's estimate stays within the config's rate divided and multiplied by this."""
_LEFT_OUT_MODES = {
    "FAULT": "fault",
    "ESTOP": "estop",
    "EMERGENCY_OPEN": "emergency_open",
    "MAINTENANCE": "maintenance",
}


@dataclass(slots=True)
class LaneTrack:
    """One lane as its messages left it."""

    lane: str
    online: bool = False
    boot: str = ""
    state: dict[str, Any] | None = None
    open_since_ms: int | None = None
    pending: tuple[Action, int] | None = None
    """The last command sent and when; it stands in for the lane's state until confirmed."""
    last_count: int | None = None
    last_rise_ms: int | None = None
    """When the count last rose."""
    saturated: bool = False
    """The next vehicle stood on the approach at the last rise and the lane (open) never stood
    empty since: the next rise ends one service time."""
    service_ms: float | None = None
    """This lane's measured service time; None until one was measured."""
    services: int = 0
    """Service times measured."""


@dataclass(slots=True)
class Tracker:
    """Every lane of one site, the policy's memory, the pins."""

    policy: PolicyConfig
    staff: int
    service_vph: float = 80.0
    command_timeout_ms: int = 15_000
    arrival_window_ms: int = 600_000
    pins: dict[str, Pin] = field(default_factory=dict)
    lanes: dict[str, LaneTrack] = field(default_factory=dict)
    rules: PolicyState = field(default_factory=PolicyState)
    served: int = 0
    """Vehicles served by all lanes since the tracker started (rises of their counts)."""
    samples: deque[tuple[int, int, int]] = field(default_factory=deque)
    """(now_ms, served, total queue) at each tick, for the arrival rate."""
    budget_ms: int | None = None
    """``SiteView.budget_ms``, set by the supervisor from its lane-hours budget (None: none)."""

    def track(self, lane: str) -> LaneTrack:
        if lane not in self.lanes:
            self.lanes[lane] = LaneTrack(lane)
        return self.lanes[lane]

    # ---- what the lanes publish ----

    def on_availability(self, lane: str, payload: dict[str, Any]) -> None:
        t = self.track(lane)
        t.online = payload.get("status") == "online"
        t.boot = str(payload.get("boot", ""))

    def on_state(self, lane: str, payload: dict[str, Any], now_ms: int) -> None:
        t = self.track(lane)
        was_open = t.state is not None and _is_open(t.state)
        t.state = payload
        if _is_open(payload):
            if not was_open or t.open_since_ms is None:
                t.open_since_ms = now_ms
        else:
            t.open_since_ms = None
        if t.pending is not None and (t.pending[0] is Action.OPEN) == _is_open(payload):
            t.pending = None
        counts = payload.get("counts")
        count = counts.get("vehicles") if isinstance(counts, dict) else None
        queue = payload.get("queue")
        approach = isinstance(queue, dict) and queue.get("approach") is True
        present = approach or (isinstance(queue, dict) and queue.get("in_bay") is True)
        if isinstance(count, int) and not isinstance(count, bool):
            if t.last_count is not None and count > t.last_count:
                self.served += count - t.last_count
                self._measure(t, count - t.last_count, now_ms)
                t.last_rise_ms = now_ms
                t.saturated = approach
            elif t.last_count is None or count < t.last_count:
                t.last_rise_ms = None
            t.last_count = count
        if not present or not _is_open(payload):
            t.saturated = False

    def _measure(self, t: LaneTrack, vehicles: int, now_ms: int) -> None:
        """One service time from a rise of the count after a rise with a vehicle waiting."""
        if not t.saturated or t.last_rise_ms is None or now_ms <= t.last_rise_ms:
            return
        sample = (now_ms - t.last_rise_ms) / vehicles
        nominal = _MS_PER_HOUR / self.service_vph
        sample = min(max(sample, nominal / SERVICE_SPAN), nominal * SERVICE_SPAN)
        t.service_ms = (
            sample
            if t.service_ms is None
            else t.service_ms + SERVICE_ALPHA * (sample - t.service_ms)
        )
        t.services += 1

    def set_pin(self, lane: str, pin: Pin | None) -> None:
        if pin is None:
            self.pins.pop(lane, None)
        else:
            self.pins[lane] = pin

    # ---- estimates ----

    def lane_service_vph(self, lane: str) -> float:
        """``lane``'s own service rate estimate (the config's until one was measured)."""
        t = self.lanes.get(lane)
        if t is None or t.service_ms is None:
            return self.service_vph
        return _MS_PER_HOUR / t.service_ms

    def queue(self, lane: str) -> int:
        """Vehicles waiting at ``lane`` (see the module docstring)."""
        state = self.lanes[lane].state or {}
        q = state.get("queue")
        if not isinstance(q, dict):
            return 0
        if q.get("approach") is not True:
            return 0
        occupied = _nonneg_int(q.get("approach_occupied_ms"))
        return 1 + int(occupied * self.lane_service_vph(lane) // (2 * _MS_PER_HOUR))

    def unavailable(self, lane: str) -> str:
        t = self.lanes[lane]
        if not t.online:
            return "offline"
        if t.state is None:
            return "no_state"
        mode = str(t.state.get("mode"))
        if mode in _LEFT_OUT_MODES:
            return _LEFT_OUT_MODES[mode]
        if t.state.get("bus_ok") is False:
            return "bus_lost"
        return ""

    def arrival_vph(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        t0, served0, queue0 = self.samples[0]
        t1, served1, queue1 = self.samples[-1]
        span = t1 - t0
        if span < _MIN_ARRIVAL_SPAN_MS:
            return 0.0
        return max(0.0, (served1 - served0 + queue1 - queue0) * _MS_PER_HOUR / span)

    def view(self, now_ms: int) -> SiteView:
        """The policy's input now; a pending command stands in for the lane's state."""
        views = []
        for name in sorted(self.lanes):
            t = self.lanes[name]
            if t.pending is not None and now_ms - t.pending[1] >= self.command_timeout_ms:
                t.pending = None
            is_open = t.state is not None and _is_open(t.state)
            since = t.open_since_ms
            if t.pending is not None:
                is_open = t.pending[0] is Action.OPEN
                since = t.pending[1] if is_open else None
            views.append(
                LaneView(
                    lane=name,
                    status=LaneStatus.OPEN if is_open else LaneStatus.CLOSED,
                    queue=self.queue(name),
                    service_vph=self.lane_service_vph(name),
                    open_since_ms=(now_ms if since is None else since) if is_open else None,
                    unavailable=self.unavailable(name),
                    pin=self.pins.get(name),
                )
            )
        return SiteView(
            now_ms=now_ms,
            staff=self.staff,
            lanes=tuple(views),
            arrival_vph=self.arrival_vph(),
            budget_ms=self.budget_ms,
        )

    # ---- the tick ----

    def tick(self, now_ms: int) -> tuple[SiteView, tuple[Decision, ...]]:
        """Apply the policy once; each decision's lane is marked pending."""
        total_queue = sum(self.queue(name) for name in self.lanes if not self.unavailable(name))
        self.samples.append((now_ms, self.served, total_queue))
        while self.samples and self.samples[0][0] < now_ms - self.arrival_window_ms:
            self.samples.popleft()
        site = self.view(now_ms)
        self.rules, decisions = decide(self.policy, self.rules, site)
        for d in decisions:
            self.lanes[d.lane].pending = (d.action, now_ms)
        return site, decisions


def _is_open(state: dict[str, Any]) -> bool:
    return state.get("mode") == "OPEN"


def _nonneg_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))
