"""The shift on the console: the runtime's ``ShiftStats`` figures, and its chart.

The totals (passed, sent aside, violations, mean inspection) are the runtime's own
``ShiftStats`` (``Runtime.status()["shift"]``), never counted again here. The chart is
the vehicles per 15 minutes over the last ``shift_hours``: each bar is a ``ShiftStats``
of its quarter hour fed with the journal's rows, so a bar counts what the totals count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from controller.console.host import LaneHost
from controller.stats import ShiftStats, todays_shift

__all__ = ["BUCKET_MIN", "COUNT_KINDS", "shift_chart", "shift_figures"]

BUCKET_MIN = 15
COUNT_KINDS = ("run_through", "tailgate", "vehicle_passed", "vehicle_sent_aside")
"""The kinds a bar counts (a bar has no inspection time, so no ``vehicle_stopped``)."""


def shift_figures(lane: LaneHost) -> dict[str, Any]:
    """``Runtime.status()["shift"]`` without the rest of the status: the runtime's
    ``ShiftStats``, or a fresh one when the UTC day has turned with no event yet (the
    runtime starts its new shift at the next event or status)."""
    return todays_shift(lane.shift).as_dict()


def shift_chart(
    rows: Iterable[dict[str, Any]], *, now: dt.datetime, shift_hours: int
) -> dict[str, Any]:
    """Bars of ``BUCKET_MIN`` over the last ``shift_hours`` (journal rows oldest first,
    ``now`` aware UTC), aligned to the quarter hour."""
    end = now.replace(second=0, microsecond=0)
    end = end - dt.timedelta(minutes=end.minute % BUCKET_MIN) + dt.timedelta(minutes=BUCKET_MIN)
    start = end - dt.timedelta(hours=shift_hours)
    step = dt.timedelta(minutes=BUCKET_MIN)
    n = shift_hours * 60 // BUCKET_MIN
    bars = [ShiftStats((start + step * i).isoformat()) for i in range(n)]
    for row in rows:
        wall = dt.datetime.fromisoformat(str(row["wall"]))
        i = int((wall - start) // step)
        if 0 <= i < n:
            bars[i].apply(str(row["kind"]), str(row["body"]))
    return {
        "since": start.isoformat(timespec="seconds"),
        "bucket_minutes": BUCKET_MIN,
        "buckets": [
            {
                "start": (start + step * i).isoformat(),
                "passed": bar.passed,
                "sent_aside": bar.sent_aside,
                "violations": bar.violations,
            }
            for i, bar in enumerate(bars)
        ],
    }
