"""Shift statistics: rebuilt from the journal since the shift began, then kept live per event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from controller.core.codec import encode_event
from controller.core.types import Event
from controller.journal import Journal, read_events
from controller.stats import ShiftStats, todays_shift, utc_day_start

# (kind, at_ms) of one run: two inspections (4 s and 10 s), a pass, a send-aside, a tailgate,
# a run-through, and a vehicle that stopped and backed out (not an inspection).
RUN = (
    ("vehicle_stopped", 1000),
    ("vehicle_released", 5000),
    ("vehicle_passed", 9000),
    ("tailgate", 9500),
    ("vehicle_stopped", 20_000),
    ("vehicle_sent_aside", 30_000),
    ("vehicle_stopped", 40_000),
    ("vehicle_backed_out", 41_000),
    ("run_through", 50_000),
    ("mode_changed", 51_000),
)


def _body(kind: str, at_ms: int) -> str:
    return encode_event(Event.make(kind, at_ms, count=1))


def _journal(path: Path, runs: tuple[tuple[tuple[str, int], ...], ...]) -> None:
    for events in runs:
        j = Journal(path, lane="t", config_json="{}")
        for n, (kind, at) in enumerate(events):
            j.record_event(j.first_seq + n, at, kind, _body(kind, at))
        j.close()
        assert j.error is None


def test_from_journal_counts_the_shift() -> None:
    """Passed, sent aside, violations and the mean inspection time come out of the events."""
    stats = ShiftStats(utc_day_start())
    for kind, at in RUN:
        stats.apply(kind, _body(kind, at))
    assert stats.as_dict() | {"since": ""} == {
        "since": "",
        "passed": 1,
        "sent_aside": 1,
        "violations": 2,
        "tailgates": 1,
        "run_throughs": 1,
        "inspections": 2,
        "mean_inspection_s": 7.0,
    }


def test_rebuilt_from_the_journal_equals_the_live_stats(tmp_path: Path) -> None:
    """Two runs journaled: from_journal gives what applying every event live gave, and an
    inspection cut by the restart (stopped in run 1, released in run 2) is not timed."""
    path = tmp_path / "j.sqlite"
    cut = (("vehicle_stopped", 60_000),)
    second = (("vehicle_released", 70_000), *RUN)
    _journal(path, (RUN + cut, second))
    rebuilt = ShiftStats.from_journal(path, utc_day_start())
    assert rebuilt.passed == 2 and rebuilt.sent_aside == 2 and rebuilt.violations == 4
    assert rebuilt.inspections == 4 and rebuilt.mean_inspection_s == 7.0
    live = ShiftStats(utc_day_start())
    for kind, at in RUN:
        live.apply(kind, _body(kind, at))
    assert rebuilt.as_dict()["passed"] == 2 * live.passed


def test_events_before_the_shift_start_are_left_out(tmp_path: Path) -> None:
    """Only events journaled at or after since_wall count."""
    path = tmp_path / "j.sqlite"
    _journal(path, (RUN,))
    _journal(path, ((("vehicle_passed", 100),),))
    last = read_events(path)[-1]
    stats = ShiftStats.from_journal(path, str(last["wall"]))
    assert (stats.passed, stats.violations, stats.inspections) == (1, 0, 0)
    assert stats.mean_inspection_s is None


def test_missing_journal_is_an_empty_shift(tmp_path: Path) -> None:
    """A lane's first start has no journal yet: all zero."""
    stats = ShiftStats.from_journal(tmp_path / "none.sqlite", utc_day_start())
    assert stats.passed == stats.sent_aside == stats.violations == stats.inspections == 0


def test_bad_since_and_body_are_named() -> None:
    """A since_wall that is not an ISO UTC time, or an event body without at_ms, is named."""
    with pytest.raises(ValueError, match="since_wall"):
        ShiftStats("yesterday")
    with pytest.raises(ValueError, match="since_wall"):
        ShiftStats("2026-01-01T00:00:00")
    with pytest.raises(ValueError, match="at_ms"):
        ShiftStats(utc_day_start()).apply("vehicle_stopped", '{"kind": "vehicle_stopped"}')
    assert ShiftStats("2026-01-01T00:00:00Z").since_wall == "2026-01-01T00:00:00.000+00:00"


def test_a_shift_lasts_its_utc_day_and_the_next_day_starts_fresh() -> None:
    shift = ShiftStats("2026-12-04T00:00:00.000+00:00")
    shift.apply("vehicle_passed", _body("vehicle_passed", 1000))
    late = dt.datetime(2026, 12, 4, 23, 59, 59, tzinfo=dt.UTC)
    assert todays_shift(shift, late) is shift
    next_day = todays_shift(shift, late + dt.timedelta(seconds=2))
    assert next_day is not shift
    assert next_day.since_wall == "2026-12-05T00:00:00.000+00:00"
    assert next_day.passed == 0
    assert shift.passed == 1
