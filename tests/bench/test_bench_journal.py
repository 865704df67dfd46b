"""pytest-benchmark timing of journal appends (``make bench``): a burst of vehicle-cycle events.

Each round opens a fresh journal, queues the events of 250 vehicle cycles
and closes it, so the time covers encoding, hashing and committing every row.
``lanectl bench journal`` reports the same as events per second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.bench.journal import cycle_events, measure


def test_bench_journal_append_burst(benchmark: Any, tmp_path: Path) -> None:
    """Times a 1000-event burst into a new journal; every event must be stored."""
    events = cycle_events(250)
    rounds = iter(range(1_000_000))

    def burst() -> dict[str, Any]:
        directory = tmp_path / f"round-{next(rounds)}"
        directory.mkdir()
        return measure(directory, events)

    benchmark.group = "journal"
    result = benchmark.pedantic(burst, rounds=5, iterations=1)
    assert result["events"] == 1000
