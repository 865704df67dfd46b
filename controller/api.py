"""The control API: HTTP JSON for operator consoles and external systems.

It runs in the scan loop's event loop.

A command is vetted with the core's own ``commands.refusal`` on the lane's last state
and inputs, as the console and the MQTT path do: one the core would refuse is answered
409 with the core's reason and never queued; one it would take is queued for the next
scan (202). Each is journaled as ``api_command`` with its source, address and outcome.
It binds to 127.0.0.1 by default; bound anywhere else it refuses to start
without a bearer token, because anyone who reaches it can raise the barrier.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from controller.config import ApiConfig, is_loopback
from controller.core.commands import refusal
from controller.core.scan import ScanState
from controller.core.types import Command, CommandKind
from controller.events import EventJournal, Hub, journal_and_publish, state_inputs

__all__ = [
    "COMMAND_NAMES",
    "ApiError",
    "ApiServer",
    "CommandSink",
    "build_app",
    "start_api",
]

COMMAND_NAMES: dict[str, CommandKind] = {kind.value: kind for kind in CommandKind}
"""Wire names: the CommandKind values (release, send_aside, open_lane, ...)."""
_ALIASES = {"open": "open_lane", "close": "close_lane", "reset": "reset_fault"}


class ApiError(Exception):
    """The API cannot start as configured (e.g. no token on a non-loopback address)."""


class CommandSink(Protocol):
    """What the API drives: the runtime (or a test double). ``state`` and ``hub.last_state``
    are what the core's refusal is judged on; ``journal``, ``seq`` and ``now_ms`` place the
    ``api_command`` row."""

    @property
    def hub(self) -> Hub: ...

    @property
    def journal(self) -> EventJournal: ...

    @property
    def seq(self) -> int: ...

    @property
    def now_ms(self) -> int: ...

    @property
    def state(self) -> ScanState: ...

    def submit(self, command: Command) -> None: ...

    def status(self) -> dict[str, Any]: ...


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def build_app(
    sink: CommandSink,
    *,
    token: str | None,
    max_body_bytes: int = 4096,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
) -> web.Application:
    """The aiohttp application; ``token`` None means no authentication (loopback only);
    ``metrics`` renders ``/metrics`` (Prometheus text: body, content type)."""

    @web.middleware
    async def auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if token is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                return web.json_response(
                    {"error": "unauthorized", "detail": "missing or wrong bearer token"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="lanectl"'},
                )
        return await handler(request)

    async def get_status(request: web.Request) -> web.Response:
        return web.json_response(sink.status())

    async def get_commands(request: web.Request) -> web.Response:
        return web.json_response({"commands": sorted(COMMAND_NAMES)})

    def _journal(kind: CommandKind, source: str, remote: str, reason: str) -> None:
        data: dict[str, Any] = {
            "command": kind.value,
            "source": source,
            "remote": remote,
            "queued": not reason,
        }
        if reason:
            data["reason"] = reason
        journal_and_publish(sink.journal, sink.hub, sink.seq, sink.now_ms, "api_command", data)

    def _submit(name: str, source: str, remote: str) -> web.Response:
        name = _ALIASES.get(name, name)
        kind = COMMAND_NAMES.get(name)
        if kind is None:
            return _error(
                404, "unknown_command", f"{name!r}; known: {', '.join(sorted(COMMAND_NAMES))}"
            )
        reason = refusal(sink.state.lane, state_inputs(sink.hub.last_state), kind)
        if reason:
            _journal(kind, source, remote, reason)
            return web.json_response(
                {"error": "refused", "command": kind.value, "detail": reason}, status=409
            )
        try:
            sink.submit(Command(kind, source))
        except OverflowError as exc:
            _journal(kind, source, remote, str(exc))
            return _error(503, "busy", str(exc))
        _journal(kind, source, remote, "")
        return web.json_response({"queued": kind.value, "source": source}, status=202)

    async def _read_json(request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _error(413, "body_too_large", f"limit is {max_body_bytes} bytes")
        try:
            raw = await request.content.read(max_body_bytes + 1)
        except web.HTTPException:
            raise
        if len(raw) > max_body_bytes:
            return _error(413, "body_too_large", f"limit is {max_body_bytes} bytes")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, "malformed_json", str(exc))
        if not isinstance(body, dict):
            return _error(400, "malformed_json", "the body must be a JSON object")
        return body

    def _source(body: dict[str, Any]) -> str | web.Response:
        source = body.get("source", "api")
        if not isinstance(source, str) or not 0 < len(source) <= 64:
            return _error(400, "bad_field", "source: a string of 1..64 characters")
        return f"api:{source}" if source != "api" else "api"

    async def post_named(request: web.Request) -> web.Response:
        body = await _read_json(request)
        if isinstance(body, web.Response):
            return body
        source = _source(body)
        if isinstance(source, web.Response):
            return source
        return _submit(request.match_info["name"], source, request.remote or "")

    async def post_command(request: web.Request) -> web.Response:
        body = await _read_json(request)
        if isinstance(body, web.Response):
            return body
        name = body.get("command")
        if not isinstance(name, str):
            return _error(400, "bad_field", "command: required, a string")
        source = _source(body)
        if isinstance(source, web.Response):
            return source
        return _submit(name, source, request.remote or "")

    app = web.Application(middlewares=[auth], client_max_size=max_body_bytes)
    app.router.add_get("/status", get_status)
    app.router.add_get("/commands", get_commands)
    app.router.add_post("/commands/{name}", post_named)
    app.router.add_post("/command", post_command)
    if metrics is not None:
        render = metrics

        async def get_metrics(request: web.Request) -> web.Response:
            body, content_type = render()
            return web.Response(body=body, headers={"Content-Type": content_type})

        app.router.add_get("/metrics", get_metrics)
    return app


@dataclass(slots=True)
class ApiServer:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_api(
    sink: CommandSink,
    config: ApiConfig,
    *,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
) -> ApiServer:
    """Bind and serve; port 0 picks a free port (``ApiServer.port`` is the real one)."""
    if not is_loopback(config.host) and not config.token:
        raise ApiError(f"api.token: required when the API binds to {config.host} (not loopback)")
    app = build_app(sink, token=config.token, max_body_bytes=config.max_body_bytes, metrics=metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ApiError(f"api: cannot bind {config.host}:{config.port}: {exc.strerror}") from None
    addresses = runner.addresses
    port = int(addresses[0][1]) if addresses else config.port
    return ApiServer(runner=runner, host=config.host, port=port)
