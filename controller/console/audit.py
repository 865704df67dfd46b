"""Who did what: console actions go into the journal's hash chain and out on the event hub."""

from __future__ import annotations

from controller.console.host import LaneHost
from controller.core.types import EventValue
from controller.events import journal_and_publish

__all__ = ["AUDIT_KINDS", "audit"]

AUDIT_KINDS = (
    "login",
    "login_failed",
    "login_throttled",
    "logout",
    "user_command",
    "alarm_acknowledged",
    "forbidden",
    "csrf_refused",
)
"""Journal event kinds written by the console (never replayed: the core does not emit them)."""


def audit(
    lane: LaneHost, kind: str, *, user: str, role: str, remote: str, **data: EventValue
) -> int:
    """Journal one console action with user, role and remote address; returns its id."""
    if kind not in AUDIT_KINDS:
        raise ValueError(f"audit kind {kind!r}: use one of {', '.join(AUDIT_KINDS)}")
    values: dict[str, EventValue] = {"user": user, "role": role, "remote": remote, **data}
    return journal_and_publish(lane.journal, lane.hub, lane.seq, lane.now_ms, kind, values)
