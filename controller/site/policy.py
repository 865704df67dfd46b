"""The supervisor's rules for opening and closing lanes, as a pure function of what it sees.

``decide(config, state, site)`` takes every lane's view (open, closing or
closed; in fault or maintenance; pinned by an operator; its queue and service
rate estimate), the staff on duty and the time as integer milliseconds, and
returns the next policy state and at most a few decisions, each with a reason
code and the figures behind it so the supervisor can journal why. No I/O, no
clock, no randomness: the same views give the same decisions, in the site sim
and on a real site.

The rules, in the order they are applied:

1. An operator's pin wins: a lane pinned closed is closed, a lane pinned open
   is opened (making room under the staff limit by closing an unpinned lane).
2. Never more lanes staffed than the staff on duty (closing and open lanes
   count; lanes in fault or maintenance are left out of everything).
3. At least ``min_lanes`` lanes serve.
4. Open one more lane when the predicted wait has stayed above
   ``open_wait_ms`` for ``open_dwell_ms``.
5. Close one lane when the wait predicted with one lane fewer has stayed
   under ``close_wait_ms`` (below the opening bound: hysteresis) for
   ``close_dwell_ms``, and the lane has been open ``min_open_ms``.

With a staffing plan (``SiteView.budget_ms``: the lane-time the site's plan has had so far
minus the lane-time staffed so far) and ``budget_span_ms`` set, both bounds of 4 and 5 are
raised while the site has spent beyond the plan: doubled for each ``budget_span_ms`` spent
beyond ``budget_reserve_ms`` in hand, never lowered, at most ``budget_max_scale`` times.
The live rule then moves the plan's lane-hours to where the queues are instead of adding
to them.

The predicted wait is the larger of two: the live queue at the serving lanes
over their capacity (what a driver arriving now has ahead), and the wait the
arrival rate gives at that capacity in the long run (Erlang C with the
Allen-Cunneen correction for a service time less variable than exponential),
which sees a queue coming before it has formed. ``fixed_plan`` is the
plan a site makes without the live queue: from each hour's mean demand, k
lanes so that utilisation stays under a bound.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Action",
    "Decision",
    "LaneStatus",
    "LaneView",
    "Pin",
    "PolicyConfig",
    "PolicyState",
    "SiteView",
    "budget_scale",
    "decide",
    "erlang_c",
    "fixed_plan",
    "predicted_wait_ms",
]

_MS_PER_HOUR = 3_600_000

FieldValue = int | float | str | bool


class LaneStatus(enum.Enum):
    """Where a lane stands for the supervisor."""

    OPEN = "open"
    """Staffed and taking new drivers."""
    CLOSING = "closing"
    """Staffed, finishing its queue, taking no new drivers."""
    CLOSED = "closed"


class Pin(enum.Enum):
    """An operator's pin on a lane: the policy leaves it open or closed."""

    OPEN = "open"
    CLOSED = "closed"


class Action(enum.Enum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class LaneView:
    """One lane as the supervisor sees it."""

    lane: str
    status: LaneStatus
    queue: int
    """Vehicles waiting before the lane's entry signal."""
    service_vph: float
    """Estimate of the vehicles per hour the lane serves while it has a queue."""
    open_since_ms: int | None = None
    """When the lane last opened; None while it is closed."""
    unavailable: str = ""
    """Why the lane cannot serve ("fault", "maintenance"); empty when it can."""
    pin: Pin | None = None

    def __post_init__(self) -> None:
        if not self.lane:
            raise ValueError("lane: must be a non-empty name")
        if isinstance(self.queue, bool) or not isinstance(self.queue, int) or self.queue < 0:
            raise ValueError(f"{self.lane}: queue: must be a non-negative integer")
        if not (math.isfinite(self.service_vph) and self.service_vph > 0):
            raise ValueError(f"{self.lane}: service_vph: must be a positive number")
        if self.status is not LaneStatus.CLOSED and self.open_since_ms is None:
            raise ValueError(f"{self.lane}: open_since_ms: needed while the lane is staffed")


@dataclass(frozen=True, slots=True)
class SiteView:
    """Everything one decision looks at."""

    now_ms: int
    staff: int
    """Lanes the staff on duty can run."""
    lanes: tuple[LaneView, ...]
    arrival_vph: float = 0.0
    """Arrival rate the rule plans for: the site sim's forecast of the next minutes
    (``controller.site.forecast``), the supervisor's measured rate (0 when unknown: the rule
    then looks at queues only)."""
    budget_ms: int | None = None
    """Lane-time (ms) the staffing plan has had so far minus the lane-time staffed so far
    (negative: spent beyond the plan); None: no plan known (no budget)."""

    def __post_init__(self) -> None:
        if isinstance(self.staff, bool) or not isinstance(self.staff, int) or self.staff < 0:
            raise ValueError(f"staff: must be a non-negative integer, got {self.staff!r}")
        names = [lane.lane for lane in self.lanes]
        if len(set(names)) != len(names):
            raise ValueError(f"lanes: duplicate lane names in {names}")
        if not (math.isfinite(self.arrival_vph) and self.arrival_vph >= 0):
            raise ValueError(f"arrival_vph: must be a non-negative number, got {self.arrival_vph}")
        if self.budget_ms is not None and (
            isinstance(self.budget_ms, bool) or not isinstance(self.budget_ms, int)
        ):
            raise ValueError(f"budget_ms: must be an integer or None, got {self.budget_ms!r}")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Bounds and times of the rules (milliseconds)."""

    open_wait_ms: int = 120_000
    open_dwell_ms: int = 60_000
    close_wait_ms: int = 30_000
    close_dwell_ms: int = 300_000
    min_open_ms: int = 900_000
    min_lanes: int = 1
    service_cv2: float = 0.1
    """Squared coefficient of variation of a lane's service time (0 fixed, 1 exponential)."""
    budget_span_ms: int = 0
    """Lane-time spent beyond the plan that doubles both bounds; 0: no budget."""
    budget_reserve_ms: int = 0
    """Lane-time to keep in hand: the bounds rise once less than this is left."""
    budget_max_scale: float = 8.0
    """The bounds rise at most this many times."""

    def __post_init__(self) -> None:
        for name in (
            "open_wait_ms",
            "open_dwell_ms",
            "close_wait_ms",
            "close_dwell_ms",
            "min_open_ms",
            "min_lanes",
            "budget_span_ms",
            "budget_reserve_ms",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
        if not (math.isfinite(self.service_cv2) and 0 <= self.service_cv2 <= 4):
            raise ValueError(f"service_cv2: must be in [0, 4], got {self.service_cv2!r}")
        if not (math.isfinite(self.budget_max_scale) and self.budget_max_scale >= 1):
            raise ValueError(f"budget_max_scale: must be >= 1, got {self.budget_max_scale!r}")
        if self.close_wait_ms >= self.open_wait_ms:
            raise ValueError(
                f"close_wait_ms: {self.close_wait_ms} must be under open_wait_ms "
                f"{self.open_wait_ms} (hysteresis)"
            )


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the rules remember between calls: since when a bound has been crossed."""

    above_since_ms: int | None = None
    below_since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Open or close one lane, why (``reason``, a code) and the figures behind it."""

    action: Action
    lane: str
    at_ms: int
    reason: str
    fields: tuple[tuple[str, FieldValue], ...] = field(default=())

    def get(self, key: str) -> FieldValue | None:
        for k, v in self.fields:
            if k == key:
                return v
        return None

    def as_dict(self) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {
            "action": self.action.value,
            "lane": self.lane,
            "at_ms": self.at_ms,
            "reason": self.reason,
        }
        out.update(self.fields)
        return out


_NO_CAPACITY_MS = 10**12


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/k queue with ``offered`` = arrivals / service."""
    if servers < 1:
        raise ValueError(f"servers: must be at least 1, got {servers}")
    if offered >= servers:
        return 1.0
    term = 1.0
    below = 1.0
    for i in range(1, servers):
        term *= offered / i
        below += term
    top = term * offered / servers * servers / (servers - offered)
    return top / (below + top)


def predicted_wait_ms(
    queue: int, capacity_vph: float, servers: int, arrival_vph: float, service_cv2: float
) -> int:
    """The larger of the live queue's wait and the long-run wait at the arrival rate (ms)."""
    if servers < 1 or capacity_vph <= 0:
        return 0 if queue == 0 and arrival_vph == 0 else _NO_CAPACITY_MS
    live = queue / capacity_vph * _MS_PER_HOUR
    if arrival_vph >= capacity_vph:
        return _NO_CAPACITY_MS
    mu = capacity_vph / servers
    steady = (
        erlang_c(servers, arrival_vph / mu)
        / (capacity_vph - arrival_vph)
        * _MS_PER_HOUR
        * (1 + service_cv2)
        / 2
    )
    return round(max(live, steady))


def budget_scale(config: PolicyConfig, budget_ms: int | None) -> float:
    """How many times the wait bounds are raised for the lane-time spent beyond the plan."""
    if config.budget_span_ms == 0 or budget_ms is None:
        return 1.0
    spent = (config.budget_reserve_ms - budget_ms) / config.budget_span_ms
    return min(config.budget_max_scale, max(1.0, math.pow(2.0, min(spent, 64.0))))


def _decision(
    action: Action, lane: LaneView, now_ms: int, reason: str, **data: FieldValue
) -> Decision:
    return Decision(action, lane.lane, now_ms, reason, tuple(sorted(data.items())))


def _close_order(lane: LaneView) -> tuple[int, int, int]:
    """Which open lane to close first: unpinned, shortest queue, most recently opened."""
    return (lane.pin is Pin.OPEN, lane.queue, -(lane.open_since_ms or 0))


def decide(
    config: PolicyConfig, state: PolicyState, site: SiteView
) -> tuple[PolicyState, tuple[Decision, ...]]:
    """Apply the rules once; at most one open or close by the queue rules per call."""
    now = site.now_ms
    usable = [lane for lane in site.lanes if not lane.unavailable]
    staffed = [lane for lane in usable if lane.status is not LaneStatus.CLOSED]
    serving = [lane for lane in usable if lane.status is LaneStatus.OPEN]
    out: list[Decision] = []

    # 1. Pins.
    for lane in usable:
        if lane.pin is Pin.CLOSED and lane.status is LaneStatus.OPEN:
            out.append(_decision(Action.CLOSE, lane, now, "pinned_closed"))
    pinned_open = [
        lane for lane in usable if lane.pin is Pin.OPEN and lane.status is not LaneStatus.OPEN
    ]
    closing_now = {d.lane for d in out}
    for lane in pinned_open:
        if lane.status is LaneStatus.CLOSING or len(staffed) < site.staff:
            out.append(_decision(Action.OPEN, lane, now, "pinned_open"))
            if lane.status is LaneStatus.CLOSED:
                staffed.append(lane)
            continue
        room = sorted(
            (o for o in serving if o.pin is None and o.lane not in closing_now),
            key=_close_order,
        )
        if room:
            # The pinned lane opens once this one has finished its queue and left the staff.
            out.append(
                _decision(Action.CLOSE, room[0], now, "staff_limit", making_room_for=lane.lane)
            )
            closing_now.add(room[0].lane)
    if out:
        return PolicyState(), tuple(out)

    # 2. Staff limit.
    excess = len(staffed) - site.staff
    if excess > 0:
        for lane in sorted(serving, key=_close_order)[:excess]:
            out.append(
                _decision(
                    Action.CLOSE, lane, now, "staff_limit", staffed=len(staffed), staff=site.staff
                )
            )
        return PolicyState(), tuple(out)

    candidates = sorted(
        (o for o in usable if o.status is not LaneStatus.OPEN and o.pin is not Pin.CLOSED),
        key=lambda o: (o.status is not LaneStatus.CLOSING, site.lanes.index(o)),
    )

    def can_open(lane: LaneView) -> bool:
        return lane.status is LaneStatus.CLOSING or len(staffed) < site.staff

    # 3. Minimum lanes.
    if len(serving) < config.min_lanes:
        for lane in candidates:
            if can_open(lane):
                return PolicyState(), (
                    _decision(
                        Action.OPEN,
                        lane,
                        now,
                        "min_lanes",
                        serving=len(serving),
                        min_lanes=config.min_lanes,
                    ),
                )
        return PolicyState(), ()

    scale = budget_scale(config, site.budget_ms)
    open_bound = round(config.open_wait_ms * scale)
    close_bound = round(config.close_wait_ms * scale)
    queue = sum(o.queue for o in serving)
    capacity = sum(o.service_vph for o in serving)
    wait = predicted_wait_ms(queue, capacity, len(serving), site.arrival_vph, config.service_cv2)
    figures: dict[str, FieldValue] = {
        "predicted_wait_ms": wait,
        "queue": queue,
        "serving": len(serving),
        "staffed": len(staffed),
        "staff": site.staff,
        "arrival_vph": round(site.arrival_vph, 1),
        "capacity_vph": round(capacity, 1),
    }
    if site.budget_ms is not None and config.budget_span_ms:
        figures["budget_ms"] = site.budget_ms
        figures["bound_scale"] = round(scale, 3)

    # 4. Open one more.
    if wait > open_bound:
        since = state.above_since_ms if state.above_since_ms is not None else now
        if now - since >= config.open_dwell_ms:
            for lane in candidates:
                if can_open(lane):
                    return PolicyState(above_since_ms=now), (
                        _decision(
                            Action.OPEN,
                            lane,
                            now,
                            "wait_above_bound",
                            bound_ms=open_bound,
                            above_since_ms=since,
                            **figures,
                        ),
                    )
        return PolicyState(above_since_ms=since), ()

    # 5. Close one, with hysteresis.
    closable = sorted(
        (
            o
            for o in serving
            if o.pin is not Pin.OPEN
            and now - (now if o.open_since_ms is None else o.open_since_ms) >= config.min_open_ms
        ),
        key=_close_order,
    )
    if len(serving) <= config.min_lanes or not closable:
        return PolicyState(), ()
    lane = closable[0]
    fewer = predicted_wait_ms(
        queue,
        capacity - lane.service_vph,
        len(serving) - 1,
        site.arrival_vph,
        config.service_cv2,
    )
    if fewer >= close_bound:
        return PolicyState(), ()
    since = state.below_since_ms if state.below_since_ms is not None else now
    if now - since < config.close_dwell_ms:
        return PolicyState(below_since_ms=since), ()
    return PolicyState(below_since_ms=now), (
        _decision(
            Action.CLOSE,
            lane,
            now,
            "queues_fell",
            bound_ms=close_bound,
            wait_one_fewer_ms=fewer,
            below_since_ms=since,
            **figures,
        ),
    )


def fixed_plan(
    hourly_vph: Sequence[float], service_vph: float, lanes: int, max_utilisation: float = 0.85
) -> tuple[int, ...]:
    """Lanes per hour: the fewest k with demand / (k x service) under the bound (1..lanes)."""
    if not (math.isfinite(service_vph) and service_vph > 0):
        raise ValueError(f"service_vph: must be a positive number, got {service_vph}")
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes: must be a positive integer, got {lanes!r}")
    if not 0 < max_utilisation <= 1:
        raise ValueError(f"max_utilisation: must be in (0, 1], got {max_utilisation}")
    plan: list[int] = []
    for hour, demand in enumerate(hourly_vph):
        if not (math.isfinite(demand) and demand >= 0):
            raise ValueError(f"hourly_vph[{hour}]: must be a non-negative number, got {demand}")
        k = 1
        while k < lanes and demand / (k * service_vph) >= max_utilisation:
            k += 1
        plan.append(k)
    return tuple(plan)
