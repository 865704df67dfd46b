"""The runtime's one publish point: lane state and journal events for whoever listens.

The scan loop publishes without ever waiting: each subscriber has a bounded queue,
and a subscriber that falls behind loses its oldest messages and is marked
``lagged``, so it can catch up from the journal (events carry their journal id)
instead of slowing the lane. The console's event stream and the MQTT publisher
are subscribers; neither lives in ``runtime.py``.

The scan runs in a thread of its own while the subscribers live on the event
loop: once ``bind`` names that loop, a publish from any other thread is queued
and handed over with one ``call_soon_threadsafe`` per batch, and a publish on
the loop first delivers what is queued, so subscribers see events in the order
their journal ids were given (the runtime holds the journal's lock across an
event's ``record_event`` and its publish).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from controller.core.types import Inputs
from controller.iomap import DISCRETE_INPUTS, inputs_from_bits

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "EventJournal",
    "Hub",
    "HubMessage",
    "Subscription",
    "journal_and_publish",
    "state_inputs",
]

DEFAULT_QUEUE_SIZE = 256

MessageKind = Literal["state", "event"]


@dataclass(frozen=True, slots=True)
class HubMessage:
    """``state``: the lane's view after a change (``id`` None); ``event``: a journaled
    event, ``id`` its journal id and ``data`` its kind, scan, time and body."""

    kind: MessageKind
    data: dict[str, Any]
    id: int | None = None


@dataclass(slots=True)
class Subscription:
    """One listener's bounded queue; ``dropped`` counts messages it lost by lagging."""

    name: str
    queue: asyncio.Queue[HubMessage]
    dropped: int = 0
    lagged: bool = False

    async def get(self) -> HubMessage:
        return await self.queue.get()

    def get_nowait(self) -> HubMessage | None:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


@dataclass(slots=True)
class Hub:
    """Fan-out of state and events to bounded per-subscriber queues (event-loop thread)."""

    queue_size: int = DEFAULT_QUEUE_SIZE
    subscribers: list[Subscription] = field(default_factory=list)
    last_state: dict[str, Any] | None = None
    last_event_id: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int = 0
    _pending: collections.deque[HubMessage] = field(default_factory=collections.deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake_due: bool = False

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"hub: queue_size must be >= 1, got {self.queue_size}")

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribers live on ``loop`` (call from its thread): other threads' publishes are
        handed over to it."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def unbind(self) -> None:
        """Deliver what is queued, then publish directly again (call from the loop's thread)."""
        self._drain()
        self._loop = None

    @contextlib.contextmanager
    def subscribe(self, name: str) -> Iterator[Subscription]:
        """A subscription for the ``with`` block; the last state is its first message."""
        self._drain_here()
        sub = Subscription(name, asyncio.Queue(self.queue_size))
        if self.last_state is not None:
            sub.queue.put_nowait(HubMessage("state", self.last_state))
        self.subscribers.append(sub)
        try:
            yield sub
        finally:
            self.subscribers.remove(sub)

    def publish_state(self, state: dict[str, Any]) -> None:
        self._deliver(HubMessage("state", state))

    def publish_event(self, event_id: int, data: dict[str, Any]) -> None:
        self._deliver(HubMessage("event", data, event_id))

    def _deliver(self, message: HubMessage) -> None:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._drain_here()
            self._apply(message)
            return
        with self._lock:
            self._pending.append(message)
            wake = not self._wake_due
            self._wake_due = True
        if wake:
            # RuntimeError: the loop has closed, nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain)

    def _drain_here(self) -> None:
        if self._pending and (self._loop is None or threading.get_ident() == self._loop_thread):
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            self._wake_due = False
        for message in batch:
            self._apply(message)

    def _apply(self, message: HubMessage) -> None:
        if message.kind == "state":
            self.last_state = message.data
        elif message.id is not None:
            self.last_event_id = max(self.last_event_id, message.id)
        for sub in self.subscribers:
            q = sub.queue
            if q.full():
                q.get_nowait()
                sub.dropped += 1
                sub.lagged = True
            q.put_nowait(message)


def state_inputs(state: dict[str, Any] | None) -> Inputs | None:
    """The inputs behind a ``state`` message (None before the first scan), so whoever
    asks the core which command is allowed now asks it with what the scan last read."""
    named = None if state is None else state.get("inputs")
    if state is None or not isinstance(named, dict):
        return None
    bits = [bool(named.get(d.name, False)) for d in DISCRETE_INPUTS]
    return inputs_from_bits(
        bits, io_status=int(state.get("io_status", 0)), bus_ok=bool(state.get("bus_ok"))
    )


class EventJournal(Protocol):
    """Where an event from outside the scan goes: the lane's journal (``controller.journal``)."""

    @property
    def lock(self) -> threading.RLock: ...

    def record_event(self, seq: int, at_ms: int, kind: str, body: str) -> int: ...


def journal_and_publish(
    journal: EventJournal, hub: Hub, seq: int, at_ms: int, kind: str, data: dict[str, Any]
) -> int:
    """Journal one event from outside the scan (console, control API, MQTT commands) and
    hand it to the hub; returns its journal id. One lock across the id and the publish, as
    the runtime takes it, so an event the scan journals meanwhile cannot reach the hub
    first."""
    body = json.dumps({"kind": kind, "at_ms": at_ms, "data": data}, separators=(",", ":"))
    with journal.lock:
        eid = journal.record_event(seq, at_ms, kind, body)
        hub.publish_event(eid, {"kind": kind, "seq": seq, "at_ms": at_ms, "body": body})
    return eid
