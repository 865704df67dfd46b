"""What a restarted controller takes over from the journal: latched faults and the count.

The runtime journals a ``persisted`` record after the events of a scan, through
the journal's writer queue; a kill -9 can land between the two, so the last
``persisted`` record may lag the last events. ``recover_persisted`` starts from
that record and folds in every event journaled from its scan on: a crossing
sets the count to the running total it carries, ``fault_latched`` adds its
fault, ``fault_reset`` clears the faults it names. Folding an event twice
changes nothing, so the events of the record's own scan may be folded again.
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.core.scan import Persisted
from controller.journal import PASSAGE_KINDS, read_events_since, read_last_persisted_row

__all__ = ["RECOVERY_EVENTS", "recover_persisted"]

RECOVERY_EVENTS: tuple[str, ...] = (*sorted(PASSAGE_KINDS), "fault_latched", "fault_reset")
"""The events that change what survives a restart."""


def recover_persisted(path: str | Path) -> Persisted | None:
    """The restart state as of the journal's last event; None for a journal with neither."""
    p = Path(path)
    if not p.exists():
        return None
    row = read_last_persisted_row(p)
    base = Persisted.from_json(str(row["body"])) if row is not None else Persisted()
    after = int(row["seq"]) if row is not None else None
    events = read_events_since(p, after_seq=after, kinds=RECOVERY_EVENTS)
    if row is None and not events:
        return None
    count = base.count
    faults = set(base.faults)
    for event in events:
        kind = str(event["kind"])
        data = _data(event)
        if kind in PASSAGE_KINDS:
            value = data.get("count")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{p}: event {event['id']} ({kind}): count is {value!r}")
            count = value
        elif kind == "fault_latched":
            fault = data.get("fault")
            if isinstance(fault, str) and fault:
                faults.add(fault)
        elif kind == "fault_reset":
            cleared = data.get("faults")
            if isinstance(cleared, str):
                faults.difference_update(f for f in cleared.split(",") if f)
    return Persisted(faults=tuple(sorted(faults)), count=count)


def _data(event: dict[str, object]) -> dict[str, object]:
    try:
        body = json.loads(str(event["body"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"event {event['id']}: body is not JSON ({exc})") from exc
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"event {event['id']}: body has no data object")
    return data
