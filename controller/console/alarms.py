"""Alarms and faults as an operator's list, built from the journal's events.

An alarm is raised by an event (a latched fault, a camera fault, a lost bus, a stuck
loop, a sensor disagreement, a safety override), cleared by the event that ends its
cause (``fault_reset``, ``camera_restored``, ``bus_restored``; a fault reset clears
the rest too), and acknowledged by a named user (``alarm_acknowledged``, journaled).
Its id is the journal id of the event that raised it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ALARM_KINDS", "RELEVANT_KINDS", "Alarm", "build_alarms"]

ALARM_KINDS = frozenset(
    {
        "fault_latched",
        "camera_fault",
        "bus_lost",
        "stuck_loop",
        "sensor_disagreement",
        "safety_override",
        "motor_fault",
    }
)
_CLEARED_BY = {"camera_restored": "camera_fault", "bus_restored": "bus_lost"}
RELEVANT_KINDS = (*sorted(ALARM_KINDS), *_CLEARED_BY, "fault_reset", "alarm_acknowledged")
"""Every event kind the alarm list reads."""


@dataclass(slots=True)
class Alarm:
    id: int
    kind: str
    text: str
    raised: str
    cleared: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None

    @property
    def status(self) -> str:
        if self.acknowledged_by is None:
            return "active" if self.cleared is None else "cleared, unacknowledged"
        return "acknowledged" if self.cleared is None else "cleared"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "raised": self.raised,
            "cleared": self.cleared,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "status": self.status,
        }


def _data(row: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(row["body"])
    except (TypeError, ValueError):
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _text(kind: str, data: dict[str, Any]) -> str:
    detail = ", ".join(f"{k} {v}" for k, v in sorted(data.items()) if not k.startswith("in_"))
    if kind == "safety_override":
        detail = f"rule {data.get('rule')}: {data.get('reason')}"
    return f"{kind.replace('_', ' ')}" + (f" ({detail})" if detail else "")


def build_alarms(rows: Iterable[dict[str, Any]]) -> list[Alarm]:
    """The alarm list from journal event rows (oldest first); newest alarm first."""
    alarms: dict[int, Alarm] = {}
    for row in rows:
        kind = str(row["kind"])
        wall = str(row["wall"])
        data = _data(row)
        if kind in ALARM_KINDS:
            alarms[int(row["id"])] = Alarm(int(row["id"]), kind, _text(kind, data), wall)
        elif kind in _CLEARED_BY:
            for alarm in alarms.values():
                if alarm.kind == _CLEARED_BY[kind] and alarm.cleared is None:
                    alarm.cleared = wall
        elif kind == "fault_reset":
            for alarm in alarms.values():
                if alarm.cleared is None and alarm.kind not in _CLEARED_BY.values():
                    alarm.cleared = wall
        elif kind == "alarm_acknowledged":
            target = alarms.get(int(data.get("alarm", -1)))
            if target is not None and target.acknowledged_by is None:
                target.acknowledged_by = str(data.get("user"))
                target.acknowledged_at = wall
    return sorted(alarms.values(), key=lambda a: a.id, reverse=True)
