"""The site page: every lane of the site on one screen, live, served by ``lanectl site run``.

The page logs in as the lane console does (``controller.console.webauth``: argon2id
users, cookie sessions, CSRF on every state-changing request; logins, failures
and refusals go into the supervisor's hash-chained journal). ``GET /events`` is
server-sent events: ``site`` messages with every lane's state, queue, counts and
alarms and the arrivals / open capacity chart, sent when the supervisor's view
changes; and ``journal`` messages, the supervisor journal's rows (decisions, pins,
logins) with the row id as SSE id, so a page that reconnects with
``Last-Event-ID`` gets exactly the rows it missed. ``POST /api/pins/<lane>``
pins a lane open or closed or back to the policy (``{"pin": null}``): the
``supervisor`` role only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from controller.console.sessions import Session
from controller.console.users import Role, UsersError, UsersFile
from controller.console.webauth import WebAuth, last_event_id, remote, static_file
from controller.site.dayseries import DaySeries
from controller.site.pageconf import SitePageConfig
from controller.site.policy import LaneStatus, Pin, predicted_wait_ms

if TYPE_CHECKING:
    from controller.site.supervisor import Supervisor

__all__ = ["SitePage", "SitePageError", "SitePageServer", "start_site_page"]

PAGE_AUDIT_KINDS = (
    "login",
    "login_failed",
    "login_throttled",
    "logout",
    "forbidden",
    "csrf_refused",
)
BACKLOG = 50
"""Journal rows a fresh page (no Last-Event-ID) is sent, to show the last decisions."""
SAMPLE_S = 1.0
"""How often the chart is sampled, and the longest a page waits without a ``site`` check."""
KEEPALIVE_S = 15.0
_ALARM_MODES = {
    "FAULT": "fault",
    "ESTOP": "emergency stop",
    "EMERGENCY_OPEN": "emergency open",
    "MAINTENANCE": "maintenance",
}


class SitePageError(Exception):
    """The page cannot start as configured (names the key or the file)."""


def lane_alarms(online: bool, state: dict[str, Any] | None) -> list[str]:
    """What needs a person's eye at this lane, from its availability and its last state."""
    out: list[str] = []
    if not online:
        out.append("offline")
    if state is None:
        return [*out, "no state yet"]
    mode = str(state.get("mode"))
    if mode in _ALARM_MODES:
        out.append(_ALARM_MODES[mode])
    out += [f"fault: {f}" for f in state.get("faults") or []]
    if state.get("bus_ok") is False:
        out.append("I/O bus lost")
    signals = state.get("signals")
    if isinstance(signals, dict) and signals.get("alarm"):
        out.append("alarm beacon on")
    return out


class SitePage:
    """The page's state and handlers for one supervisor."""

    def __init__(
        self,
        supervisor: Supervisor,
        config: SitePageConfig,
        users: UsersFile,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.supervisor = supervisor
        self.config = config
        self.wall = wall
        self.series = DaySeries(config.chart_bucket_s)
        self._waiters: set[asyncio.Event] = set()
        self.auth = WebAuth(
            users,
            session_s=config.session_minutes * 60.0,
            secure_cookie=config.tls_cert is not None,
            audit=self._audit,
            me=self._me,
            clock=clock,
        )
        supervisor.listeners.append(self.notify)

    def notify(self) -> None:
        """Something a page shows may have changed: every open stream looks again."""
        for event in self._waiters:
            event.set()

    def _audit(self, kind: str, *, user: str, role: str, remote: str, **data: Any) -> int:
        body = {"user": user, "role": role, "remote": remote, **data}
        row = self.supervisor.journal.append(self.supervisor.now_ms(), kind, "", body)
        self.notify()
        return row

    @staticmethod
    def _me(session: Session) -> dict[str, Any]:
        return {
            "user": session.user,
            "role": session.role.value,
            "csrf": session.csrf,
            "can_pin": session.role is Role.SUPERVISOR,
        }

    # ---- what the page shows ----

    def sample(self) -> None:
        """One point of the chart, from what the supervisor sees now."""
        sup = self.supervisor
        site = sup.tracker.view(sup.now_ms())
        usable = [v for v in site.lanes if not v.unavailable]
        serving = [v for v in usable if v.status is LaneStatus.OPEN]
        self.series.sample(
            self.wall(),
            sup.tracker.served,
            sum(v.queue for v in usable),
            sum(v.service_vph for v in serving),
            len(serving),
        )

    def snapshot(self) -> dict[str, Any]:
        """Every lane and the site, as one ``site`` message."""
        sup = self.supervisor
        site = sup.tracker.view(sup.now_ms())
        serving = [v for v in site.lanes if v.status is LaneStatus.OPEN and not v.unavailable]
        wait = predicted_wait_ms(
            sum(v.queue for v in serving),
            sum(v.service_vph for v in serving),
            len(serving),
            site.arrival_vph,
            sup.config.policy.service_cv2,
        )
        capacity = sum(v.service_vph for v in serving)
        overloaded = wait > 0 and (capacity <= 0 or site.arrival_vph >= capacity)
        lanes = []
        for v in site.lanes:
            track = sup.tracker.lanes[v.lane]
            state = track.state
            s = state or {}
            counts, queue = _table(s.get("counts")), _table(s.get("queue"))
            lanes.append(
                {
                    "lane": v.lane,
                    "online": track.online,
                    "status": v.status.value,
                    "mode": s.get("mode"),
                    "phase": s.get("phase"),
                    "signals": s.get("signals") or {},
                    "queue": v.queue,
                    "wait_s": round(v.queue / v.service_vph * 3600.0, 1),
                    "in_bay": bool(queue.get("in_bay")),
                    "approach": bool(queue.get("approach")),
                    "vehicles": counts.get("vehicles", 0),
                    "outcomes": counts.get("since_boot") or {},
                    "alarms": lane_alarms(track.online, state),
                    "unavailable": v.unavailable,
                    "pin": None if v.pin is None else v.pin.value,
                    "state_time": s.get("time"),
                }
            )
        return {
            "site": sup.site,
            "connected": sup.connected,
            "staff": site.staff,
            "open_lanes": len(serving),
            "arrival_vph": round(site.arrival_vph, 1),
            "capacity_vph": round(capacity, 1),
            # None: no open capacity, or arrivals at or above it: the queue grows without bound.
            "predicted_wait_s": None if overloaded else round(wait / 1000.0, 1),
            "lanes": lanes,
            "chart": self.series.as_dict(),
        }

    # ---- handlers ----

    async def index(self, request: web.Request) -> web.StreamResponse:
        folder = resources.files("controller.site") / "static"
        return static_file(folder, request.match_info.get("name") or "site.html")

    async def pin(self, request: web.Request) -> web.Response:
        session = self.auth.need_session(request)
        lane = request.match_info["lane"]
        if session.role is not Role.SUPERVISOR:
            return self.auth.refuse(
                request, 403, "forbidden", f"pinning a lane is not for role {session.role.value}"
            )
        if lane not in self.supervisor.tracker.lanes:
            return web.json_response(
                {"error": "unknown_lane", "detail": f"no lane {lane!r} at this site"}, status=404
            )
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "malformed_json"}, status=400)
        raw = body.get("pin", "missing") if isinstance(body, dict) else "missing"
        if raw not in ("open", "closed", None):
            return web.json_response(
                {"error": "bad_field", "detail": 'pin: "open", "closed" or null'}, status=400
            )
        self.supervisor.set_pin(
            lane, None if raw is None else Pin(raw), session.user, "web", remote=remote(request)
        )
        return web.json_response({"lane": lane, "pin": raw, "user": session.user})

    async def events(self, request: web.Request) -> web.StreamResponse:
        session = self.auth.need_session(request)
        last_id = last_event_id(request)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            with contextlib.suppress(ConnectionResetError):
                await self._relay(resp, session.token, last_id, changed)
        finally:
            self._waiters.discard(changed)
        return resp

    async def _relay(
        self, resp: web.StreamResponse, token: str, last_id: int | None, changed: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.stream_max_s
        journal = self.supervisor.journal
        if last_id is None:
            last_id = max(0, journal.last_id() - BACKLOG)
        await resp.write(b"retry: 1000\n\n")
        sent_site = ""
        last_write = loop.time()
        while self.auth.sessions.alive(token) and loop.time() < deadline:
            changed.clear()
            for row in journal.rows(None, last_id):
                await _send(resp, "journal", row, row["id"])
                last_id = row["id"]
                last_write = loop.time()
            text = json.dumps(self.snapshot(), separators=(",", ":"))
            if text != sent_site:
                await resp.write(f"event: site\ndata: {text}\n\n".encode())
                sent_site = text
                last_write = loop.time()
            if loop.time() - last_write >= KEEPALIVE_S:
                await resp.write(b": keepalive\n\n")
                last_write = loop.time()
            with contextlib.suppress(TimeoutError):
                wait = min(SAMPLE_S, max(0.0, deadline - loop.time()))
                await asyncio.wait_for(changed.wait(), wait)

    async def sampler(self) -> None:
        """Samples the chart every ``SAMPLE_S`` until cancelled."""
        while True:
            self.sample()
            self.notify()
            await asyncio.sleep(SAMPLE_S)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth.guard], client_max_size=4096)
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name}", self.index)
        self.auth.add_routes(app)
        app.router.add_get("/events", self.events)
        app.router.add_post("/api/pins/{lane}", self.pin)
        return app


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _send(resp: web.StreamResponse, event: str, data: dict[str, Any], eid: int) -> None:
    text = json.dumps(data, separators=(",", ":"), default=str)
    await resp.write(f"id: {eid}\nevent: {event}\ndata: {text}\n\n".encode())


@dataclass(slots=True)
class SitePageServer:
    page: SitePage
    runner: web.AppRunner
    sampler: asyncio.Task[None]
    url: str

    async def close(self) -> None:
        self.sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sampler
        await self.runner.cleanup()


async def start_site_page(supervisor: Supervisor, config: SitePageConfig) -> SitePageServer:
    """Bind and serve the page; port 0 picks a free port."""
    if not config.users_file.is_file():
        raise SitePageError(
            f"web.users_file: {config.users_file}: no such file "
            "(`lanectl users add NAME --role ROLE --users-file FILE` writes it)"
        )
    try:
        users = UsersFile(config.users_file)
    except UsersError as exc:
        raise SitePageError(f"web.users_file: {exc}") from None
    context: ssl.SSLContext | None = None
    if config.tls_cert is not None and config.tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise SitePageError(f"web.tls_cert: {config.tls_cert}: {exc}") from None
    page = SitePage(supervisor, config, users)
    runner = web.AppRunner(page.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, ssl_context=context).start()
    except OSError as exc:
        await runner.cleanup()
        raise SitePageError(
            f"web: cannot bind {config.host}:{config.port}: {exc.strerror}"
        ) from None
    port = int(runner.addresses[0][1]) if runner.addresses else config.port
    scheme = "https" if context is not None else "http"
    sampler = asyncio.create_task(page.sampler())
    return SitePageServer(page, runner, sampler, f"{scheme}://{config.host}:{port}/")
