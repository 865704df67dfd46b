"""The live supervisor's lane-hours account: the plan's lane-time against the staffed."""

from __future__ import annotations

import pytest

from controller.site.budget import BudgetConfig, LaneBudget

PLAN = tuple([1] * 8 + [3] * 8 + [2] * 8)


def test_account_follows_the_plan_of_each_hour_and_starts_again_each_day() -> None:
    """Each span counts at the hour and staffed lanes of its start; a new day starts over."""
    b = LaneBudget(PLAN)
    assert b.budget_ms is None
    b.advance(0, day=1, hour=7, staffed=2)
    assert b.budget_ms == 0
    b.advance(60_000, day=1, hour=8, staffed=2)  # a minute of hour 7: 1 planned, 2 staffed
    assert (b.planned_ms, b.staffed_ms, b.budget_ms) == (60_000, 120_000, -60_000)
    b.advance(120_000, day=1, hour=8, staffed=1)  # a minute of hour 8: 3 planned, 2 staffed
    assert b.budget_ms == -60_000 + 60_000
    b.advance(180_000, day=2, hour=0, staffed=1)
    assert (b.planned_ms, b.staffed_ms, b.budget_ms) == (0, 0, 0)
    b.advance(240_000, day=2, hour=0, staffed=1)
    assert b.budget_ms == 0


def test_bad_plan_and_hour_are_named() -> None:
    """A plan that is not 24 hours, or an hour out of the day, is refused by name."""
    with pytest.raises(ValueError, match="lanes_by_hour"):
        BudgetConfig(lanes_by_hour=(1, 2))
    with pytest.raises(ValueError, match="hour"):
        LaneBudget(PLAN).advance(0, day=1, hour=24, staffed=0)
