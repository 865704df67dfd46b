"""The lane on the site broker: state, events from the journal, availability, commands.

A subscriber of the runtime's event hub, running as an asyncio task beside the
API: it never runs inside a scan, and all its SQLite work happens in worker
threads. Topics below ``lanectl/<site>/<lane>/``:

- ``state``: retained JSON (mode, phase, signals, queue estimate, counts), on change.
- ``event``: QoS 1 JSON, one per journal event, ``id`` = the journal id, in id order.
  Events are read from the journal, never from memory, so nothing is published that
  a kill -9 could take back out of the journal (the next run would reuse its id).
- ``availability``: retained ``{"status": "online", "boot": ...}`` on connect, and
  ``offline`` as the last will (or on a clean stop).
- ``cmd/<command>``: from the supervisor (the ACL lets no one else publish there);
  vetted by ``controller.core.commands.refusal`` on the lane's last state and inputs,
  as the console does (so console, API and MQTT refuse with the core's own reason),
  then submitted as a core ``Command`` with source ``mqtt:<user>`` (the scan decides
  again), and journaled as ``remote_command`` with who sent it and any refusal.

Store and forward: the journal keeps the last id the broker acknowledged
(``controller.site.cursor``); after an outage or a restart everything above it is
sent again, oldest first, marked ``historical``. QoS 1 may deliver twice; the
site store keeps each (lane, journal, id) once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import sqlite3
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.config import MqttConfig
from controller.core.commands import refusal
from controller.core.scan import ScanState
from controller.core.types import Command, CommandKind
from controller.events import Hub, HubMessage, Subscription, journal_and_publish, state_inputs
from controller.journal import JournalError
from controller.logs import get_logger
from controller.site.cursor import Ledger
from controller.site.mqtt import BrokerAddress, LinkDown, Message, MqttLink, Will, parse_url

__all__ = [
    "LanePublisher",
    "PublisherHost",
    "PublisherStats",
    "state_payload",
]

WINDOW = 200
"""Events in flight (published, not yet acknowledged) at most."""
CURSOR_WRITE_S = 1.0
"""The cursor is written at most this often: a kill -9 resends up to this much, once more."""
MIN_STEP_S = 0.05
REFUSED_RETRY_S = 5.0
STOP_DRAIN_S = 2.0
COMMAND_ALIASES = {"open": "open_lane", "close": "close_lane", "reset": "reset_fault"}
COMMAND_IDS_KEPT = 256
OUTCOMES = {
    "vehicle_passed": "passed",
    "vehicle_sent_aside": "sent_aside",
    "vehicle_backed_out": "backed_out",
    "tailgate": "tailgate",
    "run_through": "run_through",
}


class _Journal(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def lock(self) -> threading.RLock: ...

    def record_event(self, seq: int, at_ms: int, kind: str, body: str) -> int: ...


class PublisherHost(Protocol):
    """What the publisher needs from the runtime."""

    hub: Hub
    seq: int
    now_ms: int
    state: ScanState

    @property
    def journal(self) -> _Journal: ...

    def submit(self, command: Command) -> None: ...


@dataclass(slots=True)
class PublisherStats:
    """Delivery figures (also the ``/metrics`` MQTT gauges)."""

    connected: bool = False
    connects: int = 0
    published: int = 0
    historical: int = 0
    acked_id: int = 0
    refused: int = 0
    commands: int = 0
    last_drain_s: float | None = None
    """Connect -> cursor caught up with the journal, for the last connect with a backlog."""
    outcomes: dict[str, int] = field(default_factory=dict)


def _iso_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def state_payload(
    data: dict[str, Any],
    *,
    site: str,
    lane: str,
    boot: str,
    approach_since_ms: int | None,
    outcomes: dict[str, int],
) -> dict[str, Any]:
    """The retained ``state`` message from a hub state message."""
    core: dict[str, Any] = data.get("core", {})
    outputs: dict[str, bool] = core.get("outputs", {})
    inputs: dict[str, bool] = data.get("inputs", {})
    now_ms = int(data.get("now_ms", 0))
    entry = next((c for c in ("green", "amber", "red") if outputs.get(f"entry_{c}")), "off")
    in_bay = bool(core.get("vehicle_in_bay")) or bool(inputs.get("loop_bay"))
    approach = bool(inputs.get("loop_approach"))
    return {
        "site": site,
        "lane": lane,
        "boot": boot,
        "time": _iso_now(),
        "mode": core.get("mode"),
        "phase": core.get("phase"),
        "faults": core.get("faults", []),
        "bus_ok": data.get("bus_ok"),
        "signals": {
            "entry": entry,
            "exit": "green" if outputs.get("exit_green") else "red",
            "lane_use": "open" if outputs.get("lane_open") else "closed",
            "warn": bool(outputs.get("warn")),
            "alarm": bool(outputs.get("alarm")),
        },
        "barrier_position": data.get("barrier_position"),
        # The loops see at most one vehicle each: a lower bound on the queue, and how long
        # the approach loop has stood occupied (a queue reaching back over it).
        "queue": {
            "in_bay": in_bay,
            "approach": approach,
            "waiting_min": int(in_bay) + int(approach),
            "approach_occupied_ms": (
                now_ms - approach_since_ms if approach and approach_since_ms is not None else 0
            ),
        },
        "counts": {"vehicles": core.get("count", 0), "since_boot": dict(outcomes)},
    }


class LanePublisher:
    """Runs while ``stop`` is unset; see the module docstring."""

    def __init__(self, host: PublisherHost, config: MqttConfig) -> None:
        self.host = host
        self.config = config
        self.prefix = f"lanectl/{config.site}/{config.lane}"
        self.stream = f"{config.site}/{config.lane}"
        self.boot = uuid.uuid4().hex
        self.stats = PublisherStats()
        self.log = get_logger(lane=config.lane, part="mqtt")
        self.path = Path(host.journal.path)
        h, port, tls = parse_url(config.url)
        self.address = BrokerAddress(
            h,
            port,
            tls,
            None if config.cafile is None else str(config.cafile),
            None if config.certfile is None else str(config.certfile),
            None if config.keyfile is None else str(config.keyfile),
        )
        self.acked = 0
        self.known_max = 0
        self._journal_key = ""
        self._connection = 0
        self._connected = False
        self._need_birth = False
        self._next_id = 1
        self._live_from = 1
        self._inflight: dict[int, int] = {}
        self._acked_ids: set[int] = set()
        self._persisted = 0
        self._persisted_at = 0.0
        self._blocked_until = 0.0
        self._connected_at = 0.0
        self._drain_until: int | None = None
        self._state: dict[str, Any] | None = None
        self._state_dirty = False
        self._approach_since: int | None = None
        self._command_ids: deque[str] = deque(maxlen=COMMAND_IDS_KEPT)
        self._wake = asyncio.Event()
        self._link: MqttLink | None = None
        self._ledger: Ledger

    @property
    def backlog(self) -> int:
        """Journaled events the broker has not acknowledged."""
        return max(0, max(self.known_max, self.host.hub.last_event_id) - self.acked)

    # ---- the task ----

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        ledger = await asyncio.to_thread(Ledger, self.path, self.stream)
        self._ledger = ledger
        self.acked = await asyncio.to_thread(ledger.acked)
        self._persisted = self.acked
        self.stats.acked_id = self.acked
        self._journal_key = await asyncio.to_thread(ledger.journal_key)
        self.known_max = await asyncio.to_thread(ledger.max_event_id)
        offline = json.dumps({"status": "offline", "boot": self.boot}).encode()

        def threadsafe(fn: Any) -> Any:
            return lambda *a: loop.call_soon_threadsafe(fn, *a)

        link = MqttLink(
            self.address,
            client_id=f"lanectl-{self.config.site}-{self.config.lane}",
            username=self.config.username,
            password=self.config.password,
            will=Will(f"{self.prefix}/availability", offline),
            on_connect=threadsafe(self._on_connect),
            on_disconnect=threadsafe(self._on_disconnect),
            on_ack=threadsafe(self._on_ack),
            on_message=threadsafe(self._on_command),
        )
        self._link = link
        link.start()
        self.log.info("mqtt_starting", broker=self.address.describe(), acked_id=self.acked)
        try:
            with self.host.hub.subscribe("mqtt") as sub:
                reader = asyncio.create_task(self._read_hub(sub))
                try:
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 0.25)
                        self._wake.clear()
                        try:
                            await self._step()
                        except (OSError, sqlite3.Error, JournalError) as exc:
                            # A busy or unreadable journal: the lane runs on, the backlog
                            # waits in the journal, and the next try comes in a second.
                            self.log.error("mqtt_step_failed", error=repr(exc))
                            await asyncio.sleep(1.0)
                        # Events that come close together go out together (one journal read).
                        await asyncio.sleep(MIN_STEP_S)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        finally:
            try:
                await self._close(link, offline)
            finally:
                await asyncio.to_thread(ledger.close)

    async def _close(self, link: MqttLink, offline: bytes) -> None:
        if self._connected:
            # The scan loop has stopped and its journal is closed: send what it journaled
            # last (bounded), so a clean stop leaves nothing for the next run to resend.
            top = await asyncio.to_thread(self._ledger.max_event_id)
            self.known_max = max(self.known_max, top)
            deadline = time.monotonic() + STOP_DRAIN_S
            while self._connected and self.acked < top and time.monotonic() < deadline:
                await self._send_events(link)
                await asyncio.sleep(0.02)
            with contextlib.suppress(LinkDown):
                link.publish(f"{self.prefix}/availability", offline, qos=1, retain=True)
            deadline = time.monotonic() + 1.0
            while self._inflight and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        await asyncio.to_thread(link.stop)
        await self._write_cursor(force=True)
        self.log.info("mqtt_stopped", acked_id=self.acked, backlog=self.backlog)

    async def _read_hub(self, sub: Subscription) -> None:
        while True:
            msg: HubMessage = await sub.get()
            if msg.kind == "state":
                self._note_state(msg.data)
            elif msg.id is not None:
                self.known_max = max(self.known_max, msg.id)
                kind = str(msg.data.get("kind", ""))
                if kind in OUTCOMES:
                    name = OUTCOMES[kind]
                    self.stats.outcomes[name] = self.stats.outcomes.get(name, 0) + 1
            self._wake.set()

    def _note_state(self, data: dict[str, Any]) -> None:
        inputs = data.get("inputs", {})
        if inputs.get("loop_approach"):
            if self._approach_since is None:
                self._approach_since = int(data.get("now_ms", 0))
        else:
            self._approach_since = None
        self._state = data
        self._state_dirty = True

    async def _step(self) -> None:
        link = self._link
        if link is None:
            return
        if self._connected and self._need_birth:
            await self._birth(link)
        if self._connected and self._state_dirty and self._state is not None:
            self._state_dirty = False
            payload = state_payload(
                self._state,
                site=self.config.site,
                lane=self.config.lane,
                boot=self.boot,
                approach_since_ms=self._approach_since,
                outcomes=self.stats.outcomes,
            )
            with contextlib.suppress(LinkDown):
                link.publish(f"{self.prefix}/state", _dumps(payload), qos=1, retain=True)
        if self._connected:
            await self._send_events(link)
        await self._write_cursor()

    async def _birth(self, link: MqttLink) -> None:
        connection = self._connection
        journal_max = await asyncio.to_thread(self._ledger.max_event_id)
        if connection != self._connection or not self._connected:
            return
        self._need_birth = False
        self.known_max = max(self.known_max, journal_max)
        # What was journaled before this connect goes out as history; what follows is live.
        self._live_from = max(self.known_max, self.host.hub.last_event_id) + 1
        self._drain_until = self._live_from - 1 if self._live_from - 1 > self.acked else None
        born = {"status": "online", "boot": self.boot, "time": _iso_now(), "acked_id": self.acked}
        try:
            link.subscribe(f"{self.prefix}/cmd/#", qos=1, retain_as_published=True)
            link.publish(f"{self.prefix}/availability", _dumps(born), qos=1, retain=True)
        except LinkDown:
            return
        self._state_dirty = self._state is not None
        self.log.info(
            "mqtt_online",
            boot=self.boot,
            acked_id=self.acked,
            backlog=self._live_from - 1 - self.acked,
        )

    async def _send_events(self, link: MqttLink) -> None:
        if time.monotonic() < self._blocked_until:
            return
        top = max(self.known_max, self.host.hub.last_event_id)
        room = WINDOW - len(self._inflight)
        if room <= 0 or self._next_id > top:
            return
        connection = self._connection
        rows = await asyncio.to_thread(self._ledger.events_after, self._next_id - 1, room)
        if connection != self._connection or not self._connected:
            return
        for row in rows:
            eid = int(row["id"])
            if eid < self._next_id:
                continue
            payload = {
                "site": self.config.site,
                "lane": self.config.lane,
                "journal": self._journal_key,
                "id": eid,
                "kind": row["kind"],
                "time": row["wall"],
                "at_ms": row["at_ms"],
                "run": row["run"],
                "seq": row["seq"],
                "body": json.loads(row["body"]),
                "historical": eid < self._live_from,
                "boot": self.boot,
            }
            try:
                mid = link.publish(f"{self.prefix}/event", _dumps(payload), qos=1)
            except LinkDown:
                return
            self._inflight[mid] = eid
            self._next_id = eid + 1
            self.stats.published += 1
            if eid < self._live_from:
                self.stats.historical += 1
        if len(rows) < room and self._next_id <= top:
            # The hub has ids the journal writer has not committed yet: look again shortly.
            asyncio.get_running_loop().call_later(0.02, self._wake.set)
        elif rows:
            self._wake.set()

    async def _write_cursor(self, *, force: bool = False) -> None:
        if self.acked <= self._persisted:
            return
        now = time.monotonic()
        if not force and now - self._persisted_at < CURSOR_WRITE_S:
            return
        acked = self.acked
        self._persisted_at = now
        await asyncio.to_thread(self._ledger.write, acked)
        self._persisted = max(self._persisted, acked)

    # ---- link callbacks, handed to the event loop ----

    def _on_connect(self, connection: int, ok: bool, reason: str) -> None:
        if not ok:
            self.log.warning("mqtt_connect_refused", broker=self.address.describe(), reason=reason)
            return
        self._connection = connection
        self._connected = True
        self._connected_at = time.monotonic()
        self._inflight.clear()
        self._acked_ids.clear()
        self._next_id = self.acked + 1
        self._need_birth = True
        self.stats.connected = True
        self.stats.connects += 1
        self._wake.set()

    def _on_disconnect(self, connection: int, reason: str) -> None:
        if connection != self._connection:
            return
        self._connected = False
        self.stats.connected = False
        self._inflight.clear()
        self._acked_ids.clear()
        self.log.warning("mqtt_offline", reason=reason, acked_id=self.acked, backlog=self.backlog)
        self._wake.set()

    def _on_ack(self, connection: int, mid: int, ok: bool, reason: str) -> None:
        if connection != self._connection:
            return
        eid = self._inflight.pop(mid, None)
        if eid is None:
            return
        if not ok:
            # Refused (an ACL that does not match this lane): resend from the cursor later.
            self.stats.refused += 1
            self._blocked_until = time.monotonic() + REFUSED_RETRY_S
            self._next_id = self.acked + 1
            self.log.error("mqtt_event_refused", id=eid, reason=reason)
            return
        self._acked_ids.add(eid)
        while self.acked + 1 in self._acked_ids:
            self._acked_ids.discard(self.acked + 1)
            self.acked += 1
        self.stats.acked_id = self.acked
        if self._drain_until is not None and self.acked >= self._drain_until:
            self.stats.last_drain_s = round(time.monotonic() - self._connected_at, 3)
            self.log.info("mqtt_drained", up_to=self._drain_until, seconds=self.stats.last_drain_s)
            self._drain_until = None
        self._wake.set()

    def _on_command(self, message: Message) -> None:
        name = message.topic.rsplit("/", 1)[-1]
        user = "supervisor"
        error = ""
        command_id: str | None = None
        try:
            body = json.loads(message.payload) if message.payload.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the payload must be a JSON object")
            user = str(body.get("user", user))[:64]
            raw_id = body.get("id")
            command_id = None if raw_id is None else str(raw_id)[:64]
        except ValueError as exc:
            error = f"bad payload: {exc}"
        kind_name = COMMAND_ALIASES.get(name, name)
        kind = next((k for k in CommandKind if k.value == kind_name), None)
        source = f"mqtt:{user}"
        if not error and message.retain:
            error = "retained command ignored (it would act again at every reconnect)"
        elif not error and kind is None:
            error = f"unknown command {name!r}"
        elif not error and command_id is not None and command_id in self._command_ids:
            error = "repeat of a command already taken (QoS 1 redelivery)"
        queued = False
        refused = ""
        if not error and kind is not None:
            refused = refusal(self.host.state.lane, state_inputs(self.host.hub.last_state), kind)
            error = refused
        if not error and kind is not None:
            if command_id is not None:
                self._command_ids.append(command_id)
            try:
                self.host.submit(Command(kind, source))
                queued = True
            except OverflowError as exc:
                error = str(exc)
        self.stats.commands += 1
        record: dict[str, Any] = {
            "command": kind_name,
            "source": source,
            # Only the supervisor role may publish below cmd/ (the broker's ACL).
            "role": "supervisor",
            "queued": queued,
            "topic": message.topic,
        }
        if command_id is not None:
            record["id"] = command_id
        if error:
            record["error"] = error
        if refused:
            record["refused"] = True
        host = self.host
        journal_and_publish(host.journal, host.hub, host.seq, host.now_ms, "remote_command", record)
        self.log.info("remote_command", **record)


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")
