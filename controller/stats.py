"""The shift's statistics, computed from journal events so a kill -9 loses none of them.

``ShiftStats.from_journal(path, since_wall)`` rebuilds them at start from every
event journaled since the shift began; ``apply(kind, body)`` then folds in each
event as the runtime journals it (the same kind and encoded body the event hub
carries). Inspection time runs from ``vehicle_stopped`` to the vehicle's
``vehicle_released`` or ``vehicle_sent_aside``; event times are per-run
monotonic milliseconds, so an inspection cut by a restart is not timed.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from controller.journal import read_events_since

__all__ = ["STAT_EVENTS", "ShiftStats", "todays_shift", "utc_day_start"]

STAT_EVENTS: frozenset[str] = frozenset(
    {
        "vehicle_stopped",
        "vehicle_released",
        "vehicle_sent_aside",
        "vehicle_backed_out",
        "vehicle_passed",
        "tailgate",
        "run_through",
    }
)
"""The event kinds the statistics are made of (others are ignored by ``apply``)."""


def utc_day_start(now: _dt.datetime | None = None) -> str:
    """Midnight UTC of ``now``'s day (default: today) as the journal writes wall times."""
    moment = now or _dt.datetime.now(_dt.UTC)
    midnight = moment.astimezone(_dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.isoformat(timespec="milliseconds")


class ShiftStats:
    """Vehicles passed, sent aside, violations (tailgates, run-throughs) and inspection time."""

    __slots__ = (
        "_stopped_at",
        "inspection_ms",
        "inspections",
        "passed",
        "run_throughs",
        "sent_aside",
        "since_wall",
        "tailgates",
    )

    def __init__(self, since_wall: str) -> None:
        self.since_wall = _utc_iso(since_wall)
        self.passed = 0
        self.sent_aside = 0
        self.tailgates = 0
        self.run_throughs = 0
        self.inspections = 0
        """Inspections timed: stopped, then released or sent aside, in one run."""
        self.inspection_ms = 0
        """Total of the timed inspections, milliseconds."""
        self._stopped_at: int | None = None

    @classmethod
    def from_journal(cls, path: str | Path, since_wall: str) -> ShiftStats:
        """The statistics of every event journaled at or after ``since_wall`` (ISO UTC).

        A missing journal file is an empty shift (a lane's first start).
        """
        stats = cls(since_wall)
        if not Path(path).exists():
            return stats
        run = None
        for row in read_events_since(path, since_wall, kinds=tuple(sorted(STAT_EVENTS))):
            if row["run"] != run:
                run = row["run"]
                stats._stopped_at = None
            stats.apply(str(row["kind"]), str(row["body"]))
        # The runtime that asks starts a new run: its clock starts over.
        stats._stopped_at = None
        return stats

    def apply(self, event_kind: str, body: str) -> None:
        """Fold in one journaled event: ``body`` is its encoded JSON (``codec.encode_event``)."""
        if event_kind not in STAT_EVENTS:
            return
        if event_kind == "vehicle_passed":
            self.passed += 1
        elif event_kind == "tailgate":
            self.tailgates += 1
        elif event_kind == "run_through":
            self.run_throughs += 1
        elif event_kind == "vehicle_stopped":
            self._stopped_at = _at_ms(body)
        elif event_kind == "vehicle_backed_out":
            self._stopped_at = None
        if event_kind in ("vehicle_released", "vehicle_sent_aside"):
            if event_kind == "vehicle_sent_aside":
                self.sent_aside += 1
            stopped = self._stopped_at
            if stopped is not None:
                at = _at_ms(body)
                if at >= stopped:
                    self.inspections += 1
                    self.inspection_ms += at - stopped
                self._stopped_at = None

    @property
    def violations(self) -> int:
        """Vehicles across the line without their own release: tailgates and run-throughs."""
        return self.tailgates + self.run_throughs

    @property
    def mean_inspection_s(self) -> float | None:
        """Mean seconds from standstill to the operator's decision; None before the first."""
        if not self.inspections:
            return None
        return round(self.inspection_ms / self.inspections / 1000.0, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since_wall,
            "passed": self.passed,
            "sent_aside": self.sent_aside,
            "violations": self.violations,
            "tailgates": self.tailgates,
            "run_throughs": self.run_throughs,
            "inspections": self.inspections,
            "mean_inspection_s": self.mean_inspection_s,
        }


def _utc_iso(text: str) -> str:
    """``text`` in the journal's own wall-time spelling, so the two compare as strings."""
    try:
        moment = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"since_wall: {text!r} is not an ISO-8601 time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"since_wall: {text!r} has no UTC offset")
    return moment.astimezone(_dt.UTC).isoformat(timespec="milliseconds")


def _at_ms(body: str) -> int:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"event body: not JSON ({exc})") from exc
    at = data.get("at_ms") if isinstance(data, dict) else None
    if isinstance(at, bool) or not isinstance(at, int):
        raise ValueError(f"event body: at_ms must be an integer, got {at!r}")
    return at


def todays_shift(shift: ShiftStats, now: _dt.datetime | None = None) -> ShiftStats:
    """``shift`` while its UTC day lasts, else a fresh shift for ``now``'s day: the one rule
    for when a shift ends, for the runtime that keeps it and for the pages that read it."""
    day = utc_day_start(now)
    return shift if shift.since_wall == day else ShiftStats(day)
