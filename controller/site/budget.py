"""The live supervisor's lane-hours budget: a staffing plan against the lane-time staffed.

``[supervisor.budget]`` in site.toml names the site's plan, the lanes it staffs in each
hour of the day; ``LaneBudget`` folds in, tick by tick, the plan's lane-time and the
lane-time the open lanes took, and gives the policy their difference as
``SiteView.budget_ms`` (as ``lanectl site sim --budget`` does with the fixed plan). Both
count from the supervisor's start or the day's start, whichever is later: a restart
starts the day's account again. Pure: the caller passes the time and the hour.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOURS", "BudgetConfig", "LaneBudget"]

HOURS = 24


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """``[supervisor.budget]``: the plan and how the policy's bounds answer a debt."""

    lanes_by_hour: tuple[int, ...]
    """Lanes the plan staffs in each hour of the day, local time, hour 0 first."""
    span_ms: int = 3_600_000
    """Lane-time staffed beyond the plan (past the reserve) that doubles both bounds."""
    reserve_ms: int = 3_600_000
    """Lane-time kept in hand: the bounds rise once less than this is left."""
    max_scale: float = 8.0
    """The bounds rise at most this many times."""

    def __post_init__(self) -> None:
        if len(self.lanes_by_hour) != HOURS:
            raise ValueError(
                f"lanes_by_hour: must be {HOURS} values, got {len(self.lanes_by_hour)}"
            )


class LaneBudget:
    """The plan's lane-time so far minus the lane-time staffed so far, today."""

    __slots__ = ("_hour", "_last_ms", "_staffed", "day", "plan", "planned_ms", "staffed_ms")

    def __init__(self, lanes_by_hour: tuple[int, ...]) -> None:
        self.plan = lanes_by_hour
        self.day: int | None = None
        self.planned_ms = 0
        self.staffed_ms = 0
        self._last_ms = 0
        self._hour = 0
        self._staffed = 0

    def advance(self, now_ms: int, day: int, hour: int, staffed: int) -> None:
        """Fold in the time since the last call at that call's hour and staffed lanes, then
        remember these; a new ``day`` (any ordinal) starts the account again."""
        if not 0 <= hour < HOURS:
            raise ValueError(f"hour: must be in 0..23, got {hour}")
        if day != self.day:
            self.day, self.planned_ms, self.staffed_ms = day, 0, 0
        else:
            span = max(0, now_ms - self._last_ms)
            self.planned_ms += self.plan[self._hour] * span
            self.staffed_ms += self._staffed * span
        self._last_ms, self._hour, self._staffed = now_ms, hour, staffed

    @property
    def budget_ms(self) -> int | None:
        """``SiteView.budget_ms``: negative once more was staffed than planned; None before
        the first ``advance``."""
        return None if self.day is None else self.planned_ms - self.staffed_ms
