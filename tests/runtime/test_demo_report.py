"""Demo report matching: clock offset found, missing and double-counted crossings named."""

from __future__ import annotations

from controller.commands.demo import match_crossings


def test_pairs_across_unknown_offset() -> None:
    """Crossings pair with passages whose wall times sit a fixed unknown offset away."""
    truth = [(10_000, "passed"), (30_000, "passed"), (31_500, "tailgate")]
    journal = [
        (5_010_400.0, "vehicle_passed"),
        (5_030_300.0, "vehicle_passed"),
        (5_031_900.0, "tailgate"),
    ]
    pairs, lost, extra, offset = match_crossings(truth, journal, offset_hint_ms=5_000_000.0)
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    assert lost == [] and extra == []
    assert 5_000_000 <= offset <= 5_000_500


def test_missing_and_double_counted() -> None:
    """A crossing with no passage is lost; a second passage for one crossing is extra."""
    truth = [(10_000, "passed"), (40_000, "passed"), (70_000, "passed")]
    journal = [
        (1_010_000.0, "vehicle_passed"),
        (1_010_200.0, "vehicle_passed"),
        (1_070_100.0, "vehicle_passed"),
    ]
    pairs, lost, extra, _ = match_crossings(truth, journal, offset_hint_ms=1_000_000.0)
    assert len(pairs) == 2
    assert lost == [1]
    assert extra == [1]


def test_nothing_to_match() -> None:
    """No crossings and no passages: nothing lost, nothing extra."""
    pairs, lost, extra, _ = match_crossings([], [], offset_hint_ms=0.0)
    assert (pairs, lost, extra) == ([], [], [])
