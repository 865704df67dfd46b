"""A control-API sink without a journal file: the core's initial state (CLOSED, no scan
yet), an in-memory journal and a hub, for tests that only need the API to answer."""

from __future__ import annotations

import threading
from typing import Any

from controller.core import scan as core
from controller.core.types import Command, LaneConfig
from controller.events import Hub

__all__ = ["MemoryJournal", "MemorySink"]


class MemoryJournal:
    """Keeps ``record_event``'s rows in a list; ids count from 1 like the journal's."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str, str]] = []
        self.lock = threading.RLock()

    def record_event(self, seq: int, at_ms: int, kind: str, body: str) -> int:
        self.rows.append((seq, at_ms, kind, body))
        return len(self.rows)


class MemorySink:
    """The runtime's surface the API uses; ``limit`` commands queue, then OverflowError."""

    def __init__(self, lane: str = "t", limit: int = 50) -> None:
        self.hub = Hub()
        self.journal = MemoryJournal()
        self.seq = 0
        self.now_ms = 0
        self.state = core.initial_state(LaneConfig())
        self.commands: list[Command] = []
        self.lane = lane
        self.limit = limit

    def submit(self, command: Command) -> None:
        if len(self.commands) >= self.limit:
            raise OverflowError("command queue is full")
        self.commands.append(command)

    def status(self) -> dict[str, Any]:
        return {"lane": self.lane}
