"""Control API: commands reach the sink, tokens are enforced, bad bodies get named 4xx errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.api import ApiError, build_app, start_api
from controller.config import ApiConfig
from controller.core.types import Command, CommandKind

TOKEN = "0123456789abcdef-token"


class Sink:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def submit(self, command: Command) -> None:
        if len(self.commands) >= 3:
            raise OverflowError("command queue is full")
        self.commands.append(command)

    def status(self) -> dict[str, Any]:
        return {"lane": "t", "queued": len(self.commands)}


def _with_client(
    token: str | None, body: Callable[[TestClient[Any, Any], Sink], Awaitable[None]]
) -> Sink:
    sink = Sink()

    async def go() -> None:
        app = build_app(sink, token=token, max_body_bytes=256)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client, sink)

    asyncio.run(go())
    return sink


def test_commands_by_path_and_body() -> None:
    """POST /commands/{name} and POST /command both queue the right CommandKind."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        r = await client.post("/commands/release")
        assert r.status == 202
        r = await client.post("/command", json={"command": "send_aside", "source": "kiosk"})
        assert r.status == 202 and (await r.json())["queued"] == "send_aside"
        r = await client.post("/commands/open")
        assert r.status == 202
        r = await client.get("/status")
        assert (await r.json()) == {"lane": "t", "queued": 3}

    sink = _with_client(None, body)
    assert [c.kind for c in sink.commands] == [
        CommandKind.RELEASE,
        CommandKind.SEND_ASIDE,
        CommandKind.OPEN_LANE,
    ]
    assert sink.commands[1].source == "api:kiosk"


def test_bad_requests_are_named() -> None:
    """Malformed JSON is 400 malformed_json, unknown commands 404, big bodies 413, floods 503."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        r = await client.post(
            "/command", data=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert r.status == 400 and (await r.json())["error"] == "malformed_json"
        r = await client.post("/command", json=["release"])
        assert r.status == 400 and (await r.json())["error"] == "malformed_json"
        r = await client.post("/command", json={"cmd": "release"})
        assert r.status == 400 and (await r.json())["error"] == "bad_field"
        r = await client.post("/commands/fly")
        assert r.status == 404 and (await r.json())["error"] == "unknown_command"
        r = await client.post("/command", data=b"x" * 1000)
        assert r.status == 413
        for _ in range(3):
            await client.post("/commands/release")
        r = await client.post("/commands/release")
        assert r.status == 503 and (await r.json())["error"] == "busy"

    sink = _with_client(None, body)
    assert len(sink.commands) == 3


def test_token_required_and_checked() -> None:
    """With a token, requests without it or with a wrong one get 401 and nothing is queued."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        assert (await client.get("/status")).status == 401
        r = await client.post("/commands/release", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        assert not sink.commands
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.post("/commands/release", headers=ok)).status == 202
        assert (await client.get("/status", headers=ok)).status == 200

    sink = _with_client(TOKEN, body)
    assert len(sink.commands) == 1


def test_refuses_non_loopback_without_token() -> None:
    """start_api refuses to bind a non-loopback address when no token is configured."""

    async def go() -> None:
        with pytest.raises(ApiError, match="token"):
            await start_api(Sink(), ApiConfig(host="0.0.0.0", port=0, token=None))

    asyncio.run(go())


def test_start_api_port_zero() -> None:
    """Port 0 binds a free loopback port and reports it."""

    async def go() -> None:
        server = await start_api(Sink(), ApiConfig(host="127.0.0.1", port=0))
        try:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}"
        finally:
            await server.close()

    asyncio.run(go())
