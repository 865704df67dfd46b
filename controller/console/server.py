"""The console's aiohttp application: login, the page, its event stream and its commands.

Every state-changing request needs a session cookie (401 without) and the session's
CSRF token in ``X-CSRF-Token`` (403 without); refusals are journaled with the
remote address. A command is checked against the user's role and then against the
core's own ``commands.refusal`` (409 with the core's reason) before it is queued;
emergency open, manual motion and fault reset also need ``{"confirm": true}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from controller.config import ConsoleConfig, is_loopback
from controller.console.alarms import RELEVANT_KINDS, build_alarms
from controller.console.audit import audit
from controller.console.camera import SharedCameraView, SharedJpeg, mjpeg
from controller.console.counts import COUNT_KINDS, shift_chart, shift_figures
from controller.console.errors import ConsoleError
from controller.console.host import LaneHost
from controller.console.sessions import Session
from controller.console.stream import EncodedMessages, EventStream, read_after
from controller.console.users import ROLE_COMMANDS, Role, UsersError, UsersFile, can_acknowledge
from controller.console.webauth import WebAuth, last_event_id, remote, static_file
from controller.core.commands import refusals
from controller.core.types import Command, CommandKind
from controller.events import state_inputs
from controller.journal import read_events

__all__ = ["CONFIRM_COMMANDS", "ConsoleError", "ConsoleServer", "build_console", "start_console"]

CONFIRM_COMMANDS = frozenset(
    {
        CommandKind.EMERGENCY_OPEN_ON,
        CommandKind.MANUAL_RAISE,
        CommandKind.MANUAL_LOWER,
        CommandKind.RESET_FAULT,
    }
)
"""Commands the page asks a second, explicit confirmation for (and the server insists on)."""
_COMMANDS = {kind.value: kind for kind in CommandKind}
_ALARM_ROWS = 5000
_COUNT_ROWS = 50_000


def command_view(lane: LaneHost, state: dict[str, Any], role: Role) -> dict[str, str]:
    """Each command's refusal for this user now: the role first, then the core's reason."""
    reasons = refusals(lane.state.lane, state_inputs(state))
    allowed = ROLE_COMMANDS[role]
    return {
        name: (reason if _COMMANDS[name] in allowed else f"not for role {role.value}")
        for name, reason in reasons.items()
    }


def build_console(
    lane: LaneHost,
    config: ConsoleConfig,
    users: UsersFile,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The console application for ``lane``; ``users`` is re-read when its file changes."""
    static = resources.files("controller.console") / "static"

    def journal(kind: str, *, user: str, role: str, remote: str, **data: Any) -> int:
        return audit(lane, kind, user=user, role=role, remote=remote, **data)

    auth = WebAuth(
        users,
        session_s=config.session_minutes * 60.0,
        secure_cookie=config.tls_cert is not None,
        audit=journal,
        me=_me,
        clock=clock,
    )
    sessions = auth.sessions
    encoded = EncodedMessages()
    has_camera = hasattr(lane.camera, "view")
    shared_view = SharedCameraView(lane.camera) if has_camera else None
    shared_jpeg = SharedJpeg(lane.camera) if has_camera else None
    need_session = auth.need_session

    async def page(request: web.Request) -> web.StreamResponse:
        return static_file(static, request.match_info.get("name") or "index.html")

    async def events(request: web.Request) -> web.StreamResponse:
        session = need_session(request)
        last_id = last_event_id(request)
        token = session.token

        def enrich(state: dict[str, Any]) -> dict[str, Any]:
            lane_state = lane.state.lane
            return {
                **state,
                "commands": command_view(lane, state, session.role),
                "shift": shift_figures(lane),
                "bay_since_ms": lane_state.bay_since,
                "phase_since_ms": lane_state.phase_since,
            }

        def ended() -> bool:
            # Logout or expiry ends the stream. An open page does not keep its session alive:
            # only requests a person makes do.
            return not sessions.alive(token)

        stream = EventStream(
            lane,
            enrich_state=enrich,
            camera=shared_view,
            max_s=float(config.stream_max_s),
            ended=ended,
            audience=session.role.value,
            encoded=encoded,
        )
        return await stream.serve(request, last_id)

    async def command(request: web.Request) -> web.Response:
        session = need_session(request)
        name = request.match_info["name"]
        kind = _COMMANDS.get(name)
        if kind is None:
            return web.json_response(
                {"error": "unknown_command", "detail": f"{name!r}; known: {sorted(_COMMANDS)}"},
                status=404,
            )
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "malformed_json"}, status=400)
        confirmed = isinstance(body, dict) and body.get("confirm") is True
        who = {"user": session.user, "role": session.role.value, "remote": remote(request)}
        reason = ""
        status = 202
        if kind not in ROLE_COMMANDS[session.role]:
            reason, status = f"not for role {session.role.value}", 403
        elif kind in CONFIRM_COMMANDS and not confirmed:
            reason, status = "needs a second, explicit confirmation", 428
        else:
            state = lane.hub.last_state or {}
            reason = command_view(lane, state, session.role)[kind.value]
            if reason:
                status = 409
        if not reason:
            try:
                lane.submit(Command(kind, f"web:{session.user}"))
            except OverflowError as exc:
                reason, status = str(exc), 503
        outcome = "queued" if not reason else f"refused: {reason}"
        audit(lane, "user_command", command=kind.value, outcome=outcome, **who)
        if reason:
            return web.json_response(
                {"error": "refused", "command": kind.value, "detail": reason}, status=status
            )
        return web.json_response(
            {"queued": kind.value, "source": f"web:{session.user}"}, status=202
        )

    async def alarms(request: web.Request) -> web.Response:
        need_session(request)
        await read_after(lane, lane.hub.last_event_id - 1, lane.hub.last_event_id)
        rows = await asyncio.to_thread(
            read_events, lane.journal.path, limit=_ALARM_ROWS, kinds=RELEVANT_KINDS
        )
        return web.json_response(
            {"alarms": [a.as_dict() for a in build_alarms(rows)]},
            headers={"Cache-Control": "no-store"},
        )

    # Acknowledgements made here, by alarm id: the journal's writer thread may not have
    # stored the last one when the next request reads it back.
    acked: dict[int, str] = {}

    async def acknowledge(request: web.Request) -> web.Response:
        session = need_session(request)
        who = {"user": session.user, "role": session.role.value, "remote": remote(request)}
        if not can_acknowledge(session.role):
            return web.json_response(
                {"error": "refused", "detail": f"not for role {session.role.value}"}, status=403
            )
        try:
            alarm_id = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "bad_field", "detail": "alarm id"}, status=400)
        rows = await asyncio.to_thread(
            read_events, lane.journal.path, limit=_ALARM_ROWS, kinds=RELEVANT_KINDS
        )
        found = {a.id: a for a in build_alarms(rows)}.get(alarm_id)
        if found is None:
            return web.json_response(
                {"error": "unknown_alarm", "detail": f"no alarm {alarm_id}"}, status=404
            )
        by = found.acknowledged_by or acked.get(alarm_id)
        if by is not None:
            return web.json_response(
                {"error": "refused", "detail": f"acknowledged by {by}"}, status=409
            )
        if len(acked) >= 4096:
            acked.pop(next(iter(acked)))
        acked[alarm_id] = session.user
        eid = audit(lane, "alarm_acknowledged", alarm=alarm_id, alarm_kind=found.kind, **who)
        return web.json_response({"acknowledged": alarm_id, "event": eid})

    async def counts(request: web.Request) -> web.Response:
        need_session(request)
        rows = await asyncio.to_thread(
            read_events, lane.journal.path, limit=_COUNT_ROWS, kinds=COUNT_KINDS
        )
        chart = shift_chart(rows, now=dt.datetime.now(dt.UTC), shift_hours=config.shift_hours)
        data = {"shift": shift_figures(lane), **chart}
        return web.json_response(data, headers={"Cache-Control": "no-store"})

    async def camera_stream(request: web.Request) -> web.StreamResponse:
        need_session(request)
        return await mjpeg(request, shared_jpeg, config.session_minutes * 60.0)

    app = web.Application(middlewares=[auth.guard], client_max_size=4096)
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", page)
    auth.add_routes(app)
    app.router.add_get("/events", events)
    app.router.add_post("/api/commands/{name}", command)
    app.router.add_get("/api/alarms", alarms)
    app.router.add_post("/api/alarms/{id}/ack", acknowledge)
    app.router.add_get("/api/counts", counts)
    app.router.add_get("/camera.mjpg", camera_stream)
    return app


def _me(session: Session) -> dict[str, Any]:
    return {
        "user": session.user,
        "role": session.role.value,
        "csrf": session.csrf,
        "commands": sorted(k.value for k in ROLE_COMMANDS[session.role]),
        "confirm": sorted(k.value for k in CONFIRM_COMMANDS),
        "acknowledge": can_acknowledge(session.role),
    }


@dataclass(slots=True)
class ConsoleServer:
    runner: web.AppRunner
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_console(lane: LaneHost, config: ConsoleConfig) -> ConsoleServer:
    """Bind and serve the console; port 0 picks a free port."""
    tls = config.tls_cert is not None and config.tls_key is not None
    if not tls and not config.insecure_http and not is_loopback(config.host):
        raise ConsoleError(
            f"console.tls_cert: required when the console binds to {config.host} "
            "(not loopback), unless insecure_http = true"
        )
    try:
        users = UsersFile(config.users_file)
    except UsersError as exc:
        raise ConsoleError(f"console.users_file: {exc}") from None
    context: ssl.SSLContext | None = None
    if tls:
        assert config.tls_cert is not None and config.tls_key is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise ConsoleError(f"console.tls_cert: {config.tls_cert}: {exc}") from None
    app = build_console(lane, config, users)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, ssl_context=context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConsoleError(
            f"console: cannot bind {config.host}:{config.port}: {exc.strerror}"
        ) from None
    addresses = runner.addresses
    port = int(addresses[0][1]) if addresses else config.port
    return ConsoleServer(runner, config.host, port, "https" if tls else "http")
