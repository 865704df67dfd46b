"""The journal benchmark: how many events per second reach the disk, hash-chained and committed.

A checkpoint lane journals a handful of events per vehicle, so the rate only
matters in bursts (a fault storm, a replay import, a rush with alarms); the
suite measures the sustained rate of a burst: the events of real vehicle
cycles (arrived, stopped, released, passed; a passage row for each crossing),
encoded as the runtime encodes them, queued as fast as the scan loop could,
and timed until ``close()`` has drained and committed every one. The
journal lives in a temporary directory that is always removed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from controller.core import codec
from controller.core.types import Event, LaneConfig
from controller.journal import Journal, read_events
from controller.runtime import lane_config_json

__all__ = ["cycle_events", "measure", "run"]


def cycle_events(vehicles: int) -> list[Event]:
    """The events of ``vehicles`` ordinary cycles, 4 per vehicle, as the core emits them."""
    events: list[Event] = []
    for n in range(vehicles):
        t = n * 15_000
        events += [
            Event.make("vehicle_arrived", t, phase="ENTERING"),
            Event.make("vehicle_stopped", t + 6_000, dwell_ms=0),
            Event.make("vehicle_released", t + 8_000, source="auto"),
            Event.make("vehicle_passed", t + 13_000, count=n + 1),
        ]
    return events


def measure(directory: Path, events: list[Event]) -> dict[str, Any]:
    """Queue ``events`` into a fresh journal in ``directory``; time until all are committed."""
    path = directory / "bench-journal.sqlite"
    encoded = [(e.at_ms, e.kind, codec.encode_event(e)) for e in events]
    journal = Journal(path, lane="bench", config_json=lane_config_json(LaneConfig()))
    start = time.perf_counter_ns()
    for seq, (at_ms, kind, body) in enumerate(encoded):
        journal.record_event(seq, at_ms, kind, body)
    queued = time.perf_counter_ns()
    journal.close(timeout_s=60.0)
    done = time.perf_counter_ns()
    if journal.error is not None:
        raise RuntimeError(f"journal: the writer failed: {journal.error}")
    stored = len(read_events(path))
    if stored != len(events):
        raise RuntimeError(f"journal: {stored} events stored, {len(events)} appended")
    seconds = (done - start) / 1e9
    return {
        "events_per_s": round(len(events) / seconds),
        "events": len(events),
        "append_us_per_event": round((queued - start) / 1000.0 / len(events), 2),
        "committed_s": round(seconds, 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The ``journal`` suite: committed events per second over a burst of vehicle cycles."""
    events = cycle_events(1_000 if quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="lanectl-bench-journal-") as tmp:
        return measure(Path(tmp), events)
