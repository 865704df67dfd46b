"""The site sim: N lanes, each its real core against its simulated plant, opened and closed by
a supervisor, on one simulated clock.

Every lane runs ``controller.core.scan`` every ``scan_ms`` against its plant
(reads the discrete inputs and io status, scans, writes the coils and the
heartbeat), as the runtime and the model-in-the-loop soak do. One arrival
stream (``controller.site.arrivals``) feeds the site; each driver joins the
open lane with the fewest vehicles in it. Drivers switch lanes (``switch_ms``; None: they
never do): every second, while one lane's line of uncommitted drivers (not yet on the
approach loop) is at least ``SWITCH_GAP`` longer than an open lane's, the driver at the back of
the longer line moves to the shorter one, reaching its back ``switch_ms`` later, with the wait
still counted from their first arrival. A lane that has just opened draws the backs of the
longest lines that way, a closing lane's line drains to the open ones, and a driver on the
approach loop or in the bay never moves (``hw_sim.site_lane`` takes them out and puts them
in). Every ``tick_ms`` the supervisor
looks at the lanes and applies its policy: ``queue`` (``policy.decide``, the
live rules) or ``fixed`` (``policy.fixed_plan`` from each hour's mean demand).
The queue policy sees what a real supervisor sees: each lane's queue, each lane's
service rate measured from its own services, the arrivals of the last
``arrival_window_ms``, and a time-of-day history of ``history_days`` past days
(other draws of the same profile, never the day it runs), which carries today's
rate over the next ``lead_ms`` (``controller.site.forecast``).
Opening a lane sends OPEN_LANE to its core; closing one first stops sending it
drivers and, once its queue has entered the bay, sends CLOSE_LANE (the core
finishes the vehicle in the bay in CLOSED mode). A lane counts as staffed from
the opening decision until it is closed and empty: that is ``lane_hours``.

A driver's wait is from arrival to entering the bay (front past the entry
signal); drivers still queued at the end count with what they have waited.
With ``budget`` the queue policy is also given the site's staffing plan (the fixed plan's
lanes per hour: the roster a site makes from each hour's mean demand) as a lane-hours budget:
``SiteView.budget_ms`` is the plan's lane-time so far minus the lane-time staffed so far, and
``BUDGET_SPAN_MS`` / ``BUDGET_RESERVE_MS`` raise its bounds as that runs out.

The plants come from a ``PlantFactory`` (``hw_sim.site_lane.SiteLanes``), given
by the caller, so this module never imports the simulator.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from controller.core.lane import Motion, Signal
from controller.core.scan import ScanState, initial_state, scan
from controller.core.types import (
    Command,
    CommandKind,
    Inputs,
    LaneConfig,
    Mode,
    Outputs,
    Phase,
)
from controller.iomap import coils_from_outputs, inputs_from_bits
from controller.site.arrivals import DayProfile, arrivals, hourly_means
from controller.site.forecast import DayHistory, forecast_vph
from controller.site.policy import (
    Action,
    Decision,
    LaneStatus,
    LaneView,
    PolicyConfig,
    PolicyState,
    SiteView,
    decide,
    fixed_plan,
)

__all__ = [
    "BUDGET_RESERVE_MS",
    "BUDGET_SPAN_MS",
    "POLICIES",
    "QUEUE_RULES",
    "SERVICE_VPH",
    "SWITCH_GAP",
    "SWITCH_MS",
    "DayPoint",
    "LanePlant",
    "PlantFactory",
    "ScanObserver",
    "SimConfig",
    "SimResult",
    "run_site_sim",
]

POLICIES = ("queue", "fixed")
PolicyName = Literal["queue", "fixed"]

_MS_PER_HOUR = 3_600_000

SERVICE_VPH = 80.0
"""A checkpoint lane's service rate with a queue (``checkpoint`` scenario: 10-40 s of
inspection plus the boom cycle and the next car driving in, about 45 s): the fixed plan's
figure and the live policy's estimate before it has measured its lanes."""

QUEUE_RULES = PolicyConfig(
    open_wait_ms=55_000,
    open_dwell_ms=10_000,
    close_wait_ms=50_000,
    close_dwell_ms=60_000,
    min_open_ms=120_000,
    min_lanes=1,
    service_cv2=0.1,
)
"""The live policy's bounds in the site sim (the README gives what they buy and cost)."""

BUDGET_SPAN_MS = 3_600_000
"""With ``--budget``: each lane-hour spent beyond the plan (past the reserve) doubles the bounds."""
BUDGET_RESERVE_MS = 3_600_000
"""With ``--budget``: the lane-time kept in hand. From the late evening the plan runs one lane,
the fewest the rule may run, so a debt left then is never repaid: with half a lane-hour in
hand the day ended 0.2-0.6 % over the plan on four of seeds 1-7."""

SWITCH_MS = 10_000
"""The time a driver takes to pull out of one line and reach the back of another."""
SWITCH_GAP = 2
"""A driver moves when their line is at least this much longer than an open lane's: a line
one longer gains nothing for the switch time."""
_SWITCH_EVERY_MS = 1000

_COMMAND_RETRY_MS = 5000
_SERVICE_ALPHA = 0.2
_SLEEP_AFTER_SCANS = 20


class LanePlant(Protocol):
    """One simulated lane's field side, as the site sim drives it."""

    def read(self) -> tuple[list[bool], int]:
        """The discrete inputs and the io status register."""
        ...

    def write(self, coils: list[bool] | None, heartbeat: int) -> None:
        """Write the coils (None: unchanged) and the heartbeat."""
        ...

    def advance(self, ms: int) -> None: ...

    def admit(self, arrival_ms: int) -> int:
        """A driver arriving at ``arrival_ms`` joins this lane; returns the vehicle's id."""
        ...

    def entered(self) -> list[tuple[int, int]]:
        """(vehicle id, time) of each vehicle that entered the bay since the last call."""
        ...

    def in_lane(self) -> int:
        """Vehicles sent here that have not yet gone across the barrier line or aside."""
        ...

    def empty(self) -> bool:
        """No vehicle anywhere in the lane's plant (driving off beyond the exit included)."""
        ...

    def skip(self, ms: int) -> None:
        """Let ``ms`` pass with nothing in the lane and nothing moving: only the clocks move."""
        ...

    def queued(self) -> int:
        """Drivers here not yet committed (not yet on the approach loop), those on their way
        here from another lane included."""
        ...

    def withdraw(self) -> int | None:
        """The last uncommitted driver leaves the line for another lane: its id, or None."""
        ...

    def join(self, vid: int, arrival_ms: int) -> None:
        """A driver withdrawn from another lane reaches the back of this line at ``arrival_ms``."""
        ...


PlantFactory = Callable[[int], LanePlant]
"""Builds the plant of lane ``index`` (0-based)."""

ScanObserver = Callable[[str, int, ScanState, Inputs], None]
"""Called after every scan of a lane with its name, the time, its core's new state and the
inputs it scanned: what the lane's runtime would hand its MQTT publisher (tests compare the
supervisor's estimates from those messages with the sim's truth)."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One site sim run."""

    lanes: int
    hours: float
    policy: PolicyName
    seed: int
    start_h: float = 0.0
    """Time of day the run starts at (hours after midnight)."""
    staff: int | None = None
    """Lanes the staff on duty can run; None: every lane."""
    scan_ms: int = 100
    tick_ms: int = 10_000
    """The supervisor looks at the lanes this often."""
    service_vph: float = SERVICE_VPH
    max_utilisation: float = 0.85
    rules: PolicyConfig = QUEUE_RULES
    profile: DayProfile = field(default_factory=DayProfile)
    lane: LaneConfig = field(default_factory=LaneConfig)
    history_days: int = 7
    """Past days (drawn from the same profile, other seeds) whose arrivals give the queue
    policy its time-of-day history; 0: it plans on the measured rate alone."""
    arrival_window_ms: int = 300_000
    """The window today's arrival rate is measured over."""
    lead_ms: int = 300_000
    """How far ahead the queue policy's arrival rate looks."""
    budget: bool = False
    """The queue policy keeps to the lane-hours of the fixed plan (see the module docstring)."""
    switch_ms: int | None = SWITCH_MS
    """Drivers switch lanes, taking this long (the module docstring); None: a driver stays in
    the lane they joined (the model before lane switching)."""
    skip_idle: bool = True
    """Skip the scans of a lane that is closed, empty and at rest (its core would change
    nothing); False scans every lane every ``scan_ms`` (the same result, slower)."""

    def __post_init__(self) -> None:
        if isinstance(self.lanes, bool) or not isinstance(self.lanes, int) or self.lanes < 1:
            raise ValueError(f"lanes: must be a positive integer, got {self.lanes!r}")
        if not (math.isfinite(self.hours) and 0 < self.hours <= 24 * 7):
            raise ValueError(f"hours: must be in (0, 168], got {self.hours!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if not (math.isfinite(self.start_h) and 0 <= self.start_h < 24):
            raise ValueError(f"start_h: must be in [0, 24), got {self.start_h!r}")
        if self.staff is not None and (
            isinstance(self.staff, bool) or not isinstance(self.staff, int) or self.staff < 1
        ):
            raise ValueError(f"staff: must be a positive integer, got {self.staff!r}")
        if not 1 <= self.scan_ms <= 1000:
            raise ValueError(f"scan_ms: must be in 1..1000, got {self.scan_ms}")
        if isinstance(self.history_days, bool) or not 0 <= self.history_days <= 365:
            raise ValueError(f"history_days: must be in 0..365, got {self.history_days!r}")
        if not 60_000 <= self.arrival_window_ms <= 3_600_000:
            raise ValueError(
                f"arrival_window_ms: must be in 60000..3600000, got {self.arrival_window_ms}"
            )
        if not 0 <= self.lead_ms <= 3_600_000:
            raise ValueError(f"lead_ms: must be in 0..3600000, got {self.lead_ms}")
        if self.switch_ms is not None and (
            isinstance(self.switch_ms, bool)
            or not isinstance(self.switch_ms, int)
            or not 0 <= self.switch_ms <= 600_000
        ):
            raise ValueError(f"switch_ms: must be in 0..600000 or None, got {self.switch_ms!r}")
        if self.tick_ms < self.scan_ms or self.tick_ms % self.scan_ms:
            raise ValueError(
                f"scan_ms: {self.scan_ms} must divide the supervisor tick_ms {self.tick_ms}"
            )

    @property
    def start_ms(self) -> int:
        return round(self.start_h * _MS_PER_HOUR)

    @property
    def end_ms(self) -> int:
        return self.start_ms + round(self.hours * _MS_PER_HOUR)

    @property
    def staff_on_duty(self) -> int:
        return self.lanes if self.staff is None else min(self.staff, self.lanes)


@dataclass(frozen=True, slots=True)
class DayPoint:
    """The site at one supervisor tick (for the plot of the day)."""

    t_ms: int
    queue: int
    """Vehicles waiting before an entry signal, all lanes."""
    open_lanes: int
    staffed: int
    arrival_vph: float


@dataclass(frozen=True, slots=True)
class SimResult:
    """What one run measured; everything but ``wall_s`` is a function of the config."""

    config: SimConfig
    arrived: int
    entered: int
    waiting_at_end: int
    waits_ms: tuple[int, ...]
    """Per arrival, in arrival order (the still-queued with what they have waited)."""
    entries: tuple[tuple[int, int], ...]
    """(time the vehicle entered the bay, its wait) for the plot."""
    lane_hours: float
    max_staffed: int
    decisions: tuple[Decision, ...]
    timeline: tuple[DayPoint, ...]
    scans: int
    wall_s: float
    switches: int = 0
    """Drivers who moved from one lane's line to another's."""

    def wait_stats_s(self) -> dict[str, float]:
        waits = sorted(self.waits_ms)
        if not waits:
            return {"mean": 0.0, "p95": 0.0, "max": 0.0}
        p95 = waits[max(0, math.ceil(0.95 * len(waits)) - 1)]
        return {
            "mean": round(sum(waits) / len(waits) / 1000, 2),
            "p95": round(p95 / 1000, 2),
            "max": round(waits[-1] / 1000, 2),
        }

    def summary(self) -> dict[str, object]:
        """The JSON the command prints."""
        return {
            "policy": self.config.policy,
            "vehicles": self.arrived,
            "wait_s": self.wait_stats_s(),
            "lane_hours": round(self.lane_hours, 3),
            "decisions": len(self.decisions),
        }


class _Lane:
    """One lane: its core's state, its plant, and what the supervisor knows of it."""

    def __init__(
        self,
        name: str,
        plant: LanePlant,
        config: LaneConfig,
        service_vph: float,
        skip_idle: bool,
        observer: ScanObserver | None = None,
    ):
        self.skip_idle = skip_idle
        self.observer = observer
        self.name = name
        self.plant = plant
        self.state: ScanState = initial_state(config)
        self.status = LaneStatus.CLOSED
        self.open_since: int | None = None
        self.want_open = False
        self.next_command_ms = 0
        self.heartbeat = 0
        self.written: Outputs | None = None
        self.key: tuple[list[bool], int] | None = None
        self.inputs: Inputs | None = None
        self.waiting: dict[int, int] = {}
        """Vehicle id -> arrival time, for vehicles sent here and not yet in the bay."""
        self.service_ms = _MS_PER_HOUR / service_vph
        self.last_entry_ms: int | None = None
        self.saturated = False
        """A vehicle was waiting when the last one entered: the next gap is a service time."""
        self.staffed_ms = 0
        self.quiet_scans = 0
        """Scans in a row that left the core's state as it was."""
        self.asleep_ms = 0
        """Time skipped while the lane was closed, empty and quiet (``_SLEEP_AFTER_SCANS``)."""

    @property
    def service_vph(self) -> float:
        return _MS_PER_HOUR / self.service_ms

    def unavailable(self) -> str:
        mode = self.state.lane.mode
        if mode is Mode.MAINTENANCE:
            return "maintenance"
        if mode in (Mode.FAULT, Mode.ESTOP, Mode.EMERGENCY_OPEN):
            return mode.name.lower()
        return ""

    def sleeping(self) -> bool:
        """Closed, empty, at rest: its scans would change nothing until it is opened."""
        return (
            self.status is LaneStatus.CLOSED
            and not self.want_open
            and self.quiet_scans >= _SLEEP_AFTER_SCANS
            and self.state.lane.mode is Mode.CLOSED
            and self.state.lane.phase is Phase.READY
            and self.state.lane.entry is Signal.RED
            and self.state.lane.motion is Motion.IDLE
            and not self.waiting
            and self.plant.empty()
        )

    def wake(self) -> None:
        if self.asleep_ms:
            self.plant.skip(self.asleep_ms)
            self.asleep_ms = 0
        self.quiet_scans = 0

    def scan(self, t: int, scan_ms: int) -> bool:
        """One scan of the core against the plant; False when skipped (the lane sleeps)."""
        if self.asleep_ms or (
            self.skip_idle and self.quiet_scans >= _SLEEP_AFTER_SCANS and self.sleeping()
        ):
            self.asleep_ms += scan_ms
            return False
        bits, io_status = self.plant.read()
        commands: tuple[Command, ...] = ()
        if self.want_open is not self.state.lane.lane_open and t >= self.next_command_ms:
            kind = CommandKind.OPEN_LANE if self.want_open else CommandKind.CLOSE_LANE
            commands = (Command(kind, "supervisor"),)
            self.next_command_ms = t + _COMMAND_RETRY_MS
        key = self.key
        if commands:
            inputs = inputs_from_bits(bits, io_status=io_status, commands=commands)
            self.key = self.inputs = None
        elif key is not None and self.inputs is not None and key[1] == io_status and key[0] == bits:
            inputs = self.inputs
        else:
            inputs = inputs_from_bits(bits, io_status=io_status)
            self.key = (bits, io_status)
            self.inputs = inputs
        result = scan(self.state, inputs, t)
        self.quiet_scans = self.quiet_scans + 1 if result.state is self.state else 0
        self.state = result.state
        if self.observer is not None:
            self.observer(self.name, t, result.state, inputs)
        coils = None
        if result.outputs is not self.written:
            coils = coils_from_outputs(result.outputs)
            self.written = result.outputs
        self.heartbeat = (self.heartbeat + 1) & 0xFFFF
        self.plant.write(coils, self.heartbeat)
        self.plant.advance(scan_ms)
        if self.status is not LaneStatus.CLOSED:
            self.staffed_ms += scan_ms
        return True

    def take_entries(self, entries: list[tuple[int, int]], waits: dict[int, int]) -> None:
        for vid, at in self.plant.entered():
            arrived = self.waiting.pop(vid)
            waits[vid] = at - arrived
            entries.append((at, at - arrived))
            if self.saturated and self.last_entry_ms is not None:
                gap = at - self.last_entry_ms
                self.service_ms += _SERVICE_ALPHA * (gap - self.service_ms)
            self.last_entry_ms = at
            self.saturated = bool(self.waiting)

    def settle(self) -> None:
        """A closing lane: stop it once its queue is in; call it closed once it is empty."""
        if self.status is not LaneStatus.CLOSING:
            return
        if not self.waiting:
            self.want_open = False
        if (
            not self.want_open
            and not self.state.lane.lane_open
            and not self.waiting
            and self.plant.empty()
        ):
            self.status = LaneStatus.CLOSED
            self.open_since = None

    def apply(self, action: Action, t: int) -> None:
        if action is Action.OPEN:
            self.wake()
            self.status = LaneStatus.OPEN
            self.open_since = t
            self.want_open = True
            self.next_command_ms = t
        else:
            self.status = LaneStatus.CLOSING


def _switch(lanes: list[_Lane], t: int, switch_ms: int) -> int:
    """Drivers at the back of lines at least ``SWITCH_GAP`` longer than an open lane's move to
    the shortest open line, one at a time, longest line first; returns how many moved."""
    targets = [lane for lane in lanes if lane.status is LaneStatus.OPEN and not lane.unavailable()]
    if not targets:
        return 0
    sources = [lane for lane in lanes if lane.waiting]
    if not sources or (len(sources) == 1 and sources[0] in targets and len(targets) == 1):
        return 0
    queued = {lane.name: lane.plant.queued() for lane in {*targets, *sources}}
    moved = 0
    while sources:
        src = max(sources, key=lambda lane: queued[lane.name])
        dst = min(targets, key=lambda lane: queued[lane.name])
        if src is dst or queued[src.name] - queued[dst.name] < SWITCH_GAP:
            break
        vid = src.plant.withdraw()
        if vid is None:
            sources.remove(src)
            continue
        dst.plant.join(vid, t + switch_ms)
        dst.waiting[vid] = src.waiting.pop(vid)
        queued[src.name] -= 1
        queued[dst.name] += 1
        moved += 1
    return moved


def _choose(lanes: list[_Lane]) -> _Lane:
    """The open lane with the fewest vehicles in it (the first of equals)."""
    pool = [lane for lane in lanes if lane.status is LaneStatus.OPEN and not lane.unavailable()]
    if not pool:
        pool = [lane for lane in lanes if lane.status is not LaneStatus.CLOSED] or lanes
    return min(pool, key=lambda lane: lane.plant.in_lane())


class _Fixed:
    """The fixed plan: k lanes per hour from the hour's mean demand, lowest numbers first."""

    def __init__(self, config: SimConfig) -> None:
        hours = math.ceil(config.hours)
        self.demand = hourly_means(config.profile, config.start_ms, hours)
        plan = fixed_plan(self.demand, config.service_vph, config.lanes, config.max_utilisation)
        self.plan = tuple(min(k, config.staff_on_duty) for k in plan)
        self.start_ms = config.start_ms

    def lanes_at(self, t: int) -> int:
        """The plan's lanes at ``t``."""
        return self.plan[min(len(self.plan) - 1, (t - self.start_ms) // _MS_PER_HOUR)]

    def decide(self, lanes: list[_Lane], t: int) -> list[Decision]:
        hour = min(len(self.plan) - 1, (t - self.start_ms) // _MS_PER_HOUR)
        k = self.plan[hour]
        fields: tuple[tuple[str, int | float | str | bool], ...] = (
            ("demand_vph", round(self.demand[hour], 1)),
            ("hour", hour),
            ("k", k),
        )
        usable = [lane for lane in lanes if not lane.unavailable()]
        serving = [lane for lane in usable if lane.status is LaneStatus.OPEN]
        out: list[Decision] = []
        if len(serving) < k:
            closed = sorted(
                (lane for lane in usable if lane.status is not LaneStatus.OPEN),
                key=lambda lane: (lane.status is not LaneStatus.CLOSING, lanes.index(lane)),
            )
            for lane in closed[: k - len(serving)]:
                out.append(Decision(Action.OPEN, lane.name, t, "fixed_plan", fields))
        elif len(serving) > k:
            for lane in sorted(serving, key=lanes.index, reverse=True)[: len(serving) - k]:
                out.append(Decision(Action.CLOSE, lane.name, t, "fixed_plan", fields))
        return out


def past_days(config: SimConfig) -> DayHistory | None:
    """The time-of-day history the queue policy gets: ``history_days`` whole days before the
    run, drawn from the same profile with the run's seed but as other days (never the run's
    own arrivals); None without history."""
    if config.history_days == 0:
        return None
    day_ms = 24 * _MS_PER_HOUR
    days = (
        arrivals(config.profile, config.seed, 0, day_ms, day=-d)
        for d in range(1, config.history_days + 1)
    )
    return DayHistory.from_days(days)


def run_site_sim(
    config: SimConfig, factory: PlantFactory, observer: ScanObserver | None = None
) -> SimResult:
    """Run the site for ``config.hours`` simulated hours with the plants ``factory`` builds;
    ``observer`` (if any) sees every lane's every scan."""
    wall0 = time.perf_counter()
    lanes = [
        _Lane(f"L{i + 1}", factory(i), config.lane, config.service_vph, config.skip_idle, observer)
        for i in range(config.lanes)
    ]
    by_name = {lane.name: lane for lane in lanes}
    stream = deque(arrivals(config.profile, config.seed, config.start_ms, config.end_ms))
    arrived = len(stream)
    recent: deque[int] = deque()
    fixed = _Fixed(config) if config.policy == "fixed" else None
    history = past_days(config) if fixed is None else None
    roster = _Fixed(config) if fixed is None and config.budget else None
    rules = config.rules
    if roster is not None and rules.budget_span_ms == 0:
        rules = dataclasses.replace(
            rules, budget_span_ms=BUDGET_SPAN_MS, budget_reserve_ms=BUDGET_RESERVE_MS
        )
    planned_ms = 0
    rules_state = PolicyState()
    decisions: list[Decision] = []
    timeline: list[DayPoint] = []
    waits: dict[int, int] = {}
    order: list[int] = []
    entries: list[tuple[int, int]] = []
    staff = config.staff_on_duty
    scan_ms = config.scan_ms
    max_staffed = 0
    scans = 0
    switches = 0
    t = config.start_ms
    next_tick = t
    next_switch = t
    while t < config.end_ms:
        if t >= next_tick:
            next_tick = t + config.tick_ms
            for lane in lanes:
                lane.take_entries(entries, waits)
                lane.settle()
            full = config.arrival_window_ms
            while recent and recent[0] <= t - full:
                recent.popleft()
            window = min(full, max(full // 3, t - config.start_ms))
            arrival_vph = len(recent) * _MS_PER_HOUR / window
            if fixed is not None:
                made = fixed.decide(lanes, t)
            else:
                site = SiteView(
                    now_ms=t,
                    staff=staff,
                    lanes=tuple(
                        LaneView(
                            lane=lane.name,
                            status=lane.status,
                            queue=len(lane.waiting),
                            service_vph=lane.service_vph,
                            open_since_ms=lane.open_since,
                            unavailable=lane.unavailable(),
                        )
                        for lane in lanes
                    ),
                    arrival_vph=forecast_vph(history, t, len(recent), window, config.lead_ms),
                    budget_ms=(
                        None
                        if roster is None
                        else planned_ms - sum(lane.staffed_ms for lane in lanes)
                    ),
                )
                rules_state, made_t = decide(rules, rules_state, site)
                if roster is not None:
                    planned_ms += roster.lanes_at(t) * config.tick_ms
                made = list(made_t)
            for d in made:
                by_name[d.lane].apply(d.action, t)
                decisions.append(d)
            staffed = sum(1 for lane in lanes if lane.status is not LaneStatus.CLOSED)
            max_staffed = max(max_staffed, staffed)
            timeline.append(
                DayPoint(
                    t_ms=t,
                    queue=sum(len(lane.waiting) for lane in lanes),
                    open_lanes=sum(1 for lane in lanes if lane.status is LaneStatus.OPEN),
                    staffed=staffed,
                    arrival_vph=round(arrival_vph, 1),
                )
            )
        while stream and stream[0] <= t:
            at = stream.popleft()
            recent.append(at)
            for lane in lanes:
                lane.take_entries(entries, waits)
            lane = _choose(lanes)
            lane.wake()
            vid = lane.plant.admit(at)
            lane.waiting[vid] = at
            order.append(vid)
        if config.switch_ms is not None and t >= next_switch:
            next_switch = t + _SWITCH_EVERY_MS
            switches += _switch(lanes, t, config.switch_ms)
        for lane in lanes:
            scans += lane.scan(t, scan_ms)
        t += scan_ms
    for lane in lanes:
        lane.take_entries(entries, waits)
    still = {vid: at for lane in lanes for vid, at in lane.waiting.items()}
    for vid, at in still.items():
        waits[vid] = t - at
    return SimResult(
        config=config,
        arrived=arrived,
        entered=arrived - len(still),
        waiting_at_end=len(still),
        waits_ms=tuple(waits[vid] for vid in order),
        entries=tuple(entries),
        lane_hours=sum(lane.staffed_ms for lane in lanes) / _MS_PER_HOUR,
        max_staffed=max_staffed,
        decisions=tuple(decisions),
        timeline=tuple(timeline),
        scans=scans,
        wall_s=round(time.perf_counter() - wall0, 3),
        switches=switches,
    )
