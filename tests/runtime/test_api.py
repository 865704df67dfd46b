"""Control API: commands the core would take are queued, those it would refuse get 409 with
its reason; tokens are enforced, bad bodies get named 4xx errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.api import ApiError, build_app, start_api
from controller.config import ApiConfig
from controller.core import scan as core
from controller.core.commands import refusal
from controller.core.types import Command, CommandKind, Inputs, LaneConfig
from controller.events import Hub
from controller.iomap import DISCRETE_INPUTS
from controller.journal import Journal, read_events

TOKEN = "0123456789abcdef-token"


class Sink:
    """The runtime's surface the API uses, over the real core: ``scan`` runs one scan with
    the queued commands, journals the core's events and publishes the state as the
    runtime does (its inputs are what the API's refusal is judged on)."""

    def __init__(self, tmp: Path) -> None:
        self.hub = Hub()
        self.journal = Journal(tmp / "journal.sqlite", lane="t", config_json="{}")
        self.seq = 0
        self.now_ms = 0
        self.state = core.initial_state(LaneConfig())
        self.commands: list[Command] = []
        self.pending: list[Command] = []
        self.inputs = Inputs(barrier_down=True)

    def submit(self, command: Command) -> None:
        if len(self.pending) >= 3:
            raise OverflowError("command queue is full")
        self.commands.append(command)
        self.pending.append(command)

    def status(self) -> dict[str, Any]:
        return {"lane": "t", "queued": len(self.commands)}

    def scan(self, **inputs: bool) -> list[str]:
        """One scan after 100 ms with these inputs (and the queued commands); its events."""
        self.seq += 1
        self.now_ms += 100
        if inputs:
            self.inputs = Inputs(**inputs)
        step = Inputs(**{**_flags(self.inputs), "commands": tuple(self.pending)})
        self.pending.clear()
        result = core.scan(self.state, step, self.now_ms)
        self.state = result.state
        for event in result.events:
            body = json.dumps({"kind": event.kind, "data": dict(event.data)})
            self.journal.record_event(self.seq, self.now_ms, event.kind, body)
        named = {d.name: bool(getattr(self.inputs, d.name)) for d in DISCRETE_INPUTS}
        self.hub.last_state = {"inputs": named, "io_status": 0, "bus_ok": self.inputs.bus_ok}
        return [e.kind for e in result.events]


def _flags(inputs: Inputs) -> dict[str, Any]:
    return {n: getattr(inputs, n) for n in Inputs.__slots__ if n != "commands"}


def _with_client(
    tmp: Path,
    token: str | None,
    body: Callable[[TestClient[Any, Any], Sink], Awaitable[None]],
) -> Sink:
    sink = Sink(tmp)

    async def go() -> None:
        app = build_app(sink, token=token, max_body_bytes=256)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client, sink)

    try:
        asyncio.run(go())
    finally:
        sink.journal.close()
    return sink


def _journaled(sink: Sink, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(e["body"])["data"] for e in read_events(sink.journal.path) if e["kind"] == kind
    ]


def test_commands_by_path_and_body(tmp_path: Path) -> None:
    """POST /commands/{name} and POST /command both queue the right CommandKind, each once
    the core would take it."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        sink.scan(barrier_down=True)
        r = await client.post("/commands/open")
        assert r.status == 202 and (await r.json())["queued"] == "open_lane"
        assert sink.scan() == ["mode_changed"]
        sink.scan(barrier_down=True, loop_bay=True)
        for _ in range(100):
            if sink.state.lane.phase.name == "INSPECTING":
                break
            sink.scan()
        r = await client.post("/command", json={"command": "send_aside", "source": "kiosk"})
        assert r.status == 202 and (await r.json())["queued"] == "send_aside"
        assert "vehicle_sent_aside" in sink.scan()
        r = await client.post("/commands/release")
        assert r.status == 202
        assert "vehicle_released" in sink.scan()
        r = await client.get("/status")
        assert (await r.json()) == {"lane": "t", "queued": 3}

    sink = _with_client(tmp_path, None, body)
    assert [c.kind for c in sink.commands] == [
        CommandKind.OPEN_LANE,
        CommandKind.SEND_ASIDE,
        CommandKind.RELEASE,
    ]
    assert sink.commands[1].source == "api:kiosk"
    assert [(d["command"], d["source"], d["queued"]) for d in _journaled(sink, "api_command")] == [
        ("open_lane", "api", True),
        ("send_aside", "api:kiosk", True),
        ("release", "api", True),
    ]
    assert not _journaled(sink, "command_rejected")


@pytest.mark.parametrize(
    ("name", "setup"),
    [
        ("release", ()),
        ("send_aside", ("open_lane",)),
        ("open_lane", ("open_lane",)),
        ("close_lane", ()),
        ("maintenance_off", ()),
        ("reset_fault", ()),
        ("manual_raise", ()),
    ],
)
def test_refused_command_is_409_with_core_reason(
    tmp_path: Path, name: str, setup: tuple[str, ...]
) -> None:
    """A command the core would refuse now (release with an empty bay, open_lane on an OPEN
    lane, ...) is 409 with the very reason the core gives, is not queued, and no
    ``command_rejected`` follows; the refusal is journaled with who asked."""
    reasons: list[str] = []

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        sink.scan(barrier_down=True)
        for command in setup:
            assert (await client.post(f"/commands/{command}")).status == 202
            sink.scan()
        expected = refusal(sink.state.lane, sink.inputs, CommandKind(name))
        assert expected, f"{name} should be refused here"
        queued = len(sink.commands)
        r = await client.post(f"/commands/{name}", json={"source": "kiosk"})
        assert r.status == 409
        reply = await r.json()
        assert reply == {"error": "refused", "command": name, "detail": expected}
        reasons.append(reply["detail"])
        assert len(sink.commands) == queued and not sink.pending
        # Had it been queued, this scan would have rejected it.
        assert "command_rejected" not in sink.scan()

    sink = _with_client(tmp_path, None, body)
    assert not _journaled(sink, "command_rejected")
    refused = [d for d in _journaled(sink, "api_command") if not d["queued"]]
    assert refused == [
        {
            "command": name,
            "source": "api:kiosk",
            "remote": "127.0.0.1",
            "queued": False,
            "reason": reasons[0],
        }
    ]


def test_refusal_reason_is_the_cores_own(tmp_path: Path) -> None:
    """What the API answers 409 with is what the core's scan journals when the same command
    reaches it anyway (queued behind the API's back): the same words."""

    details: list[str] = []

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        sink.scan(barrier_down=True)
        r = await client.post("/commands/release")
        assert r.status == 409
        details.append((await r.json())["detail"])
        sink.submit(Command(CommandKind.RELEASE, "direct"))
        assert sink.scan() == ["command_rejected"]

    sink = _with_client(tmp_path, None, body)
    (rejected,) = _journaled(sink, "command_rejected")
    assert rejected["reason"] == details[0] and details[0].startswith("not valid in phase")
    assert rejected["source"] == "direct"


def test_bad_requests_are_named(tmp_path: Path) -> None:
    """Malformed JSON is 400 malformed_json, unknown commands 404, big bodies 413, floods 503."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        sink.scan(barrier_down=True)
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
            assert (await client.post("/commands/open")).status == 202
        r = await client.post("/commands/open")
        assert r.status == 503 and (await r.json())["error"] == "busy"

    sink = _with_client(tmp_path, None, body)
    assert len(sink.commands) == 3


def test_token_required_and_checked(tmp_path: Path) -> None:
    """With a token, requests without it or with a wrong one get 401 and nothing is queued."""

    async def body(client: TestClient[Any, Any], sink: Sink) -> None:
        sink.scan(barrier_down=True)
        assert (await client.get("/status")).status == 401
        r = await client.post("/commands/open", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        assert not sink.commands
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.post("/commands/open", headers=ok)).status == 202
        assert (await client.get("/status", headers=ok)).status == 200

    sink = _with_client(tmp_path, TOKEN, body)
    assert len(sink.commands) == 1


def test_refuses_non_loopback_without_token(tmp_path: Path) -> None:
    """start_api refuses to bind a non-loopback address when no token is configured."""

    async def go() -> None:
        with pytest.raises(ApiError, match="token"):
            await start_api(Sink(tmp_path), ApiConfig(host="0.0.0.0", port=0, token=None))

    asyncio.run(go())


def test_start_api_port_zero(tmp_path: Path) -> None:
    """Port 0 binds a free loopback port and reports it."""

    async def go() -> None:
        server = await start_api(Sink(tmp_path), ApiConfig(host="127.0.0.1", port=0))
        try:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}"
        finally:
            await server.close()

    asyncio.run(go())
