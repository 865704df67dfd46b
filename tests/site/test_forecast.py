"""The arrival rate the queue policy plans for: the measured rate carried ahead by past days."""

from __future__ import annotations

import pytest

from controller.site.arrivals import DayProfile, arrivals
from controller.site.forecast import PRIOR_VEHICLES, DayHistory, forecast_vph
from controller.site.sim import SimConfig, past_days

H = 3_600_000


def _flat_then_rush() -> DayHistory:
    """60 vph all day but 300 vph from 08:00 to 09:00, in hour slots."""
    rates = [60.0] * 24
    rates[8] = 300.0
    return DayHistory(H, tuple(rates), 1)


def test_history_from_past_days_is_the_mean_rate_per_slot() -> None:
    # Two days: 4 and 2 arrivals in the first quarter hour, none after.
    day1 = [0, 60_000, 120_000, 899_999]
    day2 = [10, 20, 24 * H + 5]  # a time past midnight counts at its time of day
    h = DayHistory.from_days([day1, day2])
    assert h.days == 2 and len(h.rates_vph) == 96
    assert h.rates_vph[0] == pytest.approx((4 + 3) / 2 * 4)  # per quarter hour x 4 = per hour
    assert sum(h.rates_vph[1:]) == 0


def test_rate_between_slot_centres_and_across_midnight() -> None:
    h = _flat_then_rush()
    assert h.rate_at(8.5 * H) == pytest.approx(300.0)
    assert h.rate_at(8.0 * H) == pytest.approx(180.0)  # halfway from 07:30's 60 to 08:30's 300
    assert h.rate_at(23.75 * H) == pytest.approx(h.rate_at(-0.25 * H))
    assert h.mean_over(10 * H, 11 * H) == pytest.approx(60.0)


def test_without_history_the_forecast_is_the_measured_rate() -> None:
    assert forecast_vph(None, 5 * H, 10, 300_000, 300_000) == pytest.approx(120.0)


def test_a_usual_day_gets_the_history_ahead() -> None:
    h = _flat_then_rush()
    # 10:00, 5 vehicles in 5 min as the history expects: the rate ahead is history's.
    assert forecast_vph(h, 10 * H, 5, 300_000, 600_000) == pytest.approx(60.0)
    # 07:00, traffic as usual, the rush's ramp in history 30 min ahead: not in the next 10...
    calm = forecast_vph(h, 7 * H, 5, 300_000, 600_000)
    # ...but a lead reaching into the rush raises the rate before any arrival has.
    ahead = forecast_vph(h, 7 * H + 50 * 60_000, 5, 300_000, 600_000)
    assert calm == pytest.approx(60.0)
    assert ahead > 1.5 * calm


def test_a_busier_day_than_history_stays_busier() -> None:
    h = _flat_then_rush()
    # Twice the usual count over the window: about twice the history ahead (the prior damps).
    busy = forecast_vph(h, 10 * H, 10, 300_000, 600_000)
    assert busy == pytest.approx(60.0 * (10 + PRIOR_VEHICLES) / (5 + PRIOR_VEHICLES))
    quiet = forecast_vph(h, 10 * H, 0, 300_000, 600_000)
    assert quiet == pytest.approx(60.0 * PRIOR_VEHICLES / (5 + PRIOR_VEHICLES))


def test_bad_history_and_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="slot_ms"):
        DayHistory.from_days([[0]], slot_ms=7 * 60_000)
    with pytest.raises(ValueError, match="days"):
        DayHistory.from_days([])
    with pytest.raises(ValueError, match="rates_vph"):
        DayHistory(H, (1.0,) * 23, 1)
    with pytest.raises(ValueError, match="rates_vph"):
        DayHistory(H, (-1.0,) * 24, 1)
    with pytest.raises(ValueError, match="window_ms"):
        forecast_vph(None, 0, 1, 0, 0)
    with pytest.raises(ValueError, match="lead_ms"):
        forecast_vph(None, 0, 1, 60_000, -1)
    with pytest.raises(ValueError, match="history_days"):
        SimConfig(lanes=1, hours=1, policy="queue", seed=1, history_days=-1)


def test_the_sims_history_never_holds_the_days_own_arrivals() -> None:
    """The queue policy's past days are other draws of the profile, not the run's day."""
    config = SimConfig(lanes=2, hours=24, policy="queue", seed=4, history_days=3)
    history = past_days(config)
    assert history is not None and history.days == 3
    today = arrivals(config.profile, 4, 0, 24 * H)
    before = [arrivals(config.profile, 4, 0, 24 * H, day=-d) for d in (1, 2, 3)]
    assert all(set(day) != set(today) for day in before)
    assert len({day[:5] for day in before}) == 3
    # The history is those days' mean: about the profile's own over the day.
    total = sum(history.rates_vph) * history.slot_ms / H
    assert total == pytest.approx(sum(len(d) for d in before) / 3)
    assert past_days(SimConfig(lanes=1, hours=1, policy="queue", seed=1, history_days=0)) is None
    assert DayProfile().rate_vph(8 * H) > 4 * DayProfile().rate_vph(3 * H)
