"""The shift's counts from the journal: vehicles passed, sent aside, violations, mean
inspection time, and the same per 15 minutes for the page's chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

__all__ = ["BUCKET_MIN", "COUNT_KINDS", "shift_counts"]

BUCKET_MIN = 15
COUNT_KINDS = (
    "vehicle_stopped",
    "vehicle_released",
    "vehicle_sent_aside",
    "vehicle_passed",
    "tailgate",
    "run_through",
)


def _bucket(wall: dt.datetime, start: dt.datetime) -> int:
    return int((wall - start).total_seconds() // (BUCKET_MIN * 60))


def shift_counts(
    rows: Iterable[dict[str, Any]], *, now: dt.datetime, shift_hours: int
) -> dict[str, Any]:
    """Counts over the last ``shift_hours`` (journal rows oldest first, ``now`` aware UTC).

    Buckets are aligned to the quarter hour; inspection time runs from a vehicle's
    stop to its release or send-aside in the same run.
    """
    end = now.replace(second=0, microsecond=0)
    end = end - dt.timedelta(minutes=end.minute % BUCKET_MIN) + dt.timedelta(minutes=BUCKET_MIN)
    start = end - dt.timedelta(hours=shift_hours)
    n = shift_hours * 60 // BUCKET_MIN
    buckets = [{"passed": 0, "sent_aside": 0, "violations": 0} for _ in range(n)]
    totals = {"passed": 0, "sent_aside": 0, "violations": 0}
    stopped: dict[int, int] = {}
    inspections: list[int] = []
    for row in rows:
        wall = dt.datetime.fromisoformat(str(row["wall"]))
        if wall < start:
            continue
        kind = str(row["kind"])
        run = int(row["run"])
        at_ms = int(row["at_ms"])
        if kind == "vehicle_stopped":
            stopped[run] = at_ms
            continue
        if kind in ("vehicle_released", "vehicle_sent_aside") and run in stopped:
            inspections.append(at_ms - stopped.pop(run))
        key = {
            "vehicle_passed": "passed",
            "vehicle_sent_aside": "sent_aside",
            "tailgate": "violations",
            "run_through": "violations",
        }.get(kind)
        if key is None:
            continue
        totals[key] += 1
        i = _bucket(wall, start)
        if 0 <= i < n:
            buckets[i][key] += 1
    mean_s = round(sum(inspections) / len(inspections) / 1000.0, 1) if inspections else None
    return {
        "since": start.isoformat(timespec="seconds"),
        "bucket_minutes": BUCKET_MIN,
        **totals,
        "mean_inspection_s": mean_s,
        "inspections": len(inspections),
        "buckets": [
            {"start": (start + dt.timedelta(minutes=BUCKET_MIN * i)).isoformat(), **b}
            for i, b in enumerate(buckets)
        ],
    }
