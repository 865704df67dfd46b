"""Demo report matching: clock offset found, missing and double-counted crossings named."""

from __future__ import annotations

from controller.commands.demo import match_crossings


def test_pairs_across_unknown_offset() -> None:
    """Crossings pair with passages whose wall times sit a fixed unknown offset away."""
    truth = [(10_000, 11_000, "passed"), (30_000, 31_000, "passed"), (31_500, 32_500, "tailgate")]
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
    truth = [(10_000, 11_000, "passed"), (40_000, 41_000, "passed"), (70_000, 71_000, "passed")]
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


def test_long_vehicle_counted_seconds_after_its_front_crossed() -> None:
    """A truck creeping out is counted when its rear clears, 4 s after its front crossed:
    that pairs with it (it lay outside a fixed window around the front's crossing)."""
    truth = [(49_040, 51_090, "passed"), (114_720, 120_860, "passed"), (170_710, 172_270, "passed")]
    journal = [
        (1_049_600.0, "vehicle_passed"),
        (1_118_820.0, "vehicle_passed"),
        (1_171_190.0, "vehicle_passed"),
    ]
    pairs, lost, extra, _ = match_crossings(truth, journal, offset_hint_ms=1_000_000.0)
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    assert lost == [] and extra == []
    # Counted after the rear was clear (plus the tolerance) it is not this crossing.
    late = [(1_049_600.0, "vehicle_passed"), (1_130_000.0, "vehicle_passed")]
    _, lost, extra, _ = match_crossings(truth[:2], late, offset_hint_ms=1_000_000.0)
    assert lost == [1] and extra == [1]
