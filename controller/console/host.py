"""What the console needs from the controller process (the runtime, or a test double)."""

from __future__ import annotations

from typing import Any, Protocol

from controller.core.scan import ScanState
from controller.core.types import Command
from controller.events import Hub
from controller.stats import ShiftStats

__all__ = ["JournalLike", "LaneHost"]


class JournalLike(Protocol):
    @property
    def path(self) -> Any: ...

    def record_event(self, seq: int, at_ms: int, kind: str, body: str) -> int: ...


class LaneHost(Protocol):
    """The runtime's surface the console reads and drives."""

    hub: Hub
    journal: Any
    seq: int
    now_ms: int
    state: ScanState
    camera: Any
    shift: ShiftStats
    """The shift's statistics the runtime keeps (``status()["shift"]``): the page's counts."""

    def submit(self, command: Command) -> None: ...
