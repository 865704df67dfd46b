"""``GET /events``: the lane's state and journal events pushed to a page (SSE).

Each journal event goes out with its journal id as the SSE ``id``. A client that
reconnects with ``Last-Event-ID`` first gets every event above that id read back
from the journal, then the live ones; ids are contiguous, so a jump (a lagged
queue lost some) is filled from the journal too. The stream subscribes to the hub
*before* reading the journal and skips ids it already sent: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from controller.console.host import LaneHost
from controller.events import HubMessage
from controller.journal import read_events_after

__all__ = ["BACKLOG", "EncodedMessages", "EventStream", "event_from_row"]

BACKLOG = 50
"""Events a fresh page (no Last-Event-ID) is sent from the journal, to show the last events."""
KEEPALIVE_S = 15.0
CATCH_UP_WAIT_S = 2.0
"""How long a journal read waits for events the writer thread has not committed yet."""


def event_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row as the page sees an event."""
    try:
        body = json.loads(row["body"])
    except (TypeError, ValueError):
        body = {}
    data = body.get("data", {}) if isinstance(body, dict) else {}
    return {
        "id": int(row["id"]),
        "kind": row["kind"],
        "seq": row["seq"],
        "at_ms": row["at_ms"],
        "wall": row.get("wall"),
        "data": data,
    }


class EncodedMessages:
    """Each hub message encoded once per audience, not once per page.

    Every page gets the same message object from the hub; twenty pages encoding (and, for
    a state, vetting every command) twenty times held the interpreter lock that long
    against the scan thread. A page's state depends on its role only, so the role is the
    audience. The message itself is kept with its bytes, so a recycled ``id`` never hits.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str], tuple[HubMessage, bytes]] = OrderedDict()
        self.encoded = 0

    def get(self, msg: HubMessage, audience: str, encode: Callable[[HubMessage], bytes]) -> bytes:
        key = (id(msg), audience)
        hit = self._items.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        data = encode(msg)
        self.encoded += 1
        self._items[key] = (msg, data)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return data


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


async def read_after(lane: LaneHost, after: int, upto: int) -> list[dict[str, Any]]:
    """Journal events with ids in (after, upto], waiting (bounded) for the writer thread."""
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_WAIT_S
    cursor = after
    while cursor < upto:
        rows = await asyncio.to_thread(
            read_events_after, lane.journal.path, cursor, limit=min(1000, upto - cursor)
        )
        rows = [r for r in rows if int(r["id"]) <= upto]
        if rows:
            out.extend(rows)
            cursor = int(rows[-1]["id"])
            continue
        if loop.time() >= deadline:
            break  # older than the journal keeps, or never committed: nothing more to send
        await asyncio.sleep(0.02)
    return out


class EventStream:
    """One page's stream: catch up from the journal, then relay the hub."""

    def __init__(
        self,
        lane: LaneHost,
        *,
        enrich_state: Callable[[dict[str, Any]], dict[str, Any]],
        camera: Callable[[], dict[str, Any] | None] | None,
        max_s: float,
        ended: Callable[[], bool],
        audience: str = "",
        encoded: EncodedMessages | None = None,
    ) -> None:
        self.lane = lane
        self.audience = audience
        """Pages of one audience get the same state (``enrich_state`` depends on it only)."""
        self.encoded = encoded or EncodedMessages()
        self.enrich_state = enrich_state
        self.camera = camera
        self.max_s = max_s
        self.ended = ended
        self.sent = 0

    async def serve(self, request: web.Request, last_id: int | None) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        # The page going away ends the stream; it resumes from its Last-Event-ID.
        with contextlib.suppress(ConnectionResetError):
            await self._relay(request, resp, last_id)
        return resp

    async def _relay(
        self, request: web.Request, resp: web.StreamResponse, last_id: int | None
    ) -> None:
        lane = self.lane
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_s
        with lane.hub.subscribe(f"console:{request.remote}") as sub:
            target = lane.hub.last_event_id
            self.sent = max(0, target - BACKLOG) if last_id is None else last_id
            await resp.write(b"retry: 1000\n\n")
            await self._catch_up(resp, target)
            last_camera: dict[str, Any] | None = None
            last_write = camera_checked = loop.time()
            while not self.ended() and loop.time() < deadline:
                wait = min(0.2 if self.camera else 1.0, max(0.0, deadline - loop.time()))
                try:
                    msg = await asyncio.wait_for(sub.get(), wait)
                except TimeoutError:
                    msg = None
                if msg is not None and msg.kind == "event" and msg.id is not None:
                    if msg.id <= self.sent:
                        continue
                    if msg.id > self.sent + 1:
                        await self._catch_up(resp, msg.id - 1)
                    await resp.write(self.encoded.get(msg, "", _journal_message))
                    self.sent = msg.id
                    last_write = loop.time()
                elif msg is not None:
                    await resp.write(self.encoded.get(msg, self.audience, self._state_message))
                    last_write = loop.time()
                if self.camera is not None and loop.time() - camera_checked >= 0.2:
                    camera_checked = loop.time()
                    view = self.camera()
                    if view is not None and view != last_camera:
                        await self._send(resp, "camera", view)
                        last_camera = view
                        last_write = loop.time()
                if loop.time() - last_write >= KEEPALIVE_S:
                    await resp.write(b": keepalive\n\n")
                    last_write = loop.time()

    async def _catch_up(self, resp: web.StreamResponse, upto: int) -> None:
        for row in await read_after(self.lane, self.sent, upto):
            eid = int(row["id"])
            await self._send(resp, "journal", event_from_row(row), eid)
            self.sent = eid
        # Ids the journal no longer holds (its ring was cut) are not waited for again.
        self.sent = max(self.sent, upto)

    def _state_message(self, msg: HubMessage) -> bytes:
        return _encode("state", self.enrich_state(msg.data))

    @staticmethod
    async def _send(
        resp: web.StreamResponse, event: str, data: dict[str, Any], eid: int | None = None
    ) -> None:
        await resp.write(_encode(event, data, eid))


def _encode(event: str, data: dict[str, Any], eid: int | None = None) -> bytes:
    """One SSE message."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = f"id: {eid}\n" if eid is not None else ""
    return f"{head}event: {event}\ndata: {text}\n\n".encode()


def _journal_message(msg: HubMessage) -> bytes:
    eid = msg.id or 0
    return _encode("journal", _live_event(eid, msg.data), eid)


def _live_event(eid: int, data: dict[str, Any]) -> dict[str, Any]:
    row = {"id": eid, "wall": _now_iso(), **data}
    return event_from_row(row)
