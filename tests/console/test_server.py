"""The console application against a lane double with a real journal and hub: login limit,
CSRF, roles, the core's refusal reasons, alarms, counts, and the event stream's resume."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.config import ConsoleConfig
from controller.console.counts import COUNT_KINDS
from controller.console.errors import ConsoleError
from controller.console.server import build_console, start_console
from controller.console.users import Role, UsersFile
from controller.core import scan as core
from controller.core.commands import refusal
from controller.core.types import Command, CommandKind, LaneConfig
from controller.events import Hub
from controller.journal import Journal, read_events
from controller.stats import ShiftStats, utc_day_start

PASSWORD = "password-for-tests"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeLane:
    """The runtime's surface: hub, journal, seq/now, core state, camera, submit."""

    def __init__(self, tmp: Path, queue_size: int = 256) -> None:
        self.hub = Hub(queue_size=queue_size)
        self.journal = Journal(tmp / "journal.sqlite", lane="t", config_json="{}")
        self.seq = 0
        self.now_ms = 0
        self.state = core.initial_state(LaneConfig())
        self.camera = None
        self.shift = ShiftStats(utc_day_start())
        self.submitted: list[Command] = []

    def submit(self, command: Command) -> None:
        self.submitted.append(command)

    def core_event(self, kind: str, **data: Any) -> int:
        body = json.dumps({"kind": kind, "at_ms": self.now_ms, "data": data})
        eid = self.journal.record_event(self.seq, self.now_ms, kind, body)
        self.shift.apply(kind, body)  # as the runtime does with each event it journals
        self.hub.publish_event(
            eid, {"kind": kind, "seq": self.seq, "at_ms": self.now_ms, "body": body}
        )
        self.seq += 1
        return eid


Body = Callable[[TestClient[Any, Any], FakeLane, Clock], Awaitable[None]]


def _run(tmp_path: Path, body: Body, *, queue_size: int = 256, stream_max_s: int = 300) -> FakeLane:
    users = UsersFile(tmp_path / "users.json")
    for name, role in (("olga", Role.OPERATOR), ("vic", Role.VIEWER), ("sam", Role.SUPERVISOR)):
        users.add(name, role, PASSWORD)
    users.save()
    lane = FakeLane(tmp_path, queue_size)
    clock = Clock()
    config = ConsoleConfig(users_file=users.path, port=0, stream_max_s=stream_max_s)

    async def go() -> None:
        app = build_console(lane, config, UsersFile(users.path), clock=clock)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client, lane, clock)

    try:
        asyncio.run(go())
    finally:
        lane.journal.close()
    return lane


async def _journal_holds(lane: FakeLane, kinds: tuple[str, ...], n: int) -> None:
    """Wait (at most 10 s) until the journal's file holds n events of these kinds."""
    for _ in range(200):
        if len(await asyncio.to_thread(read_events, lane.journal.path, kinds=kinds)) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the journal never held {n} events of {kinds}")


async def _login(client: TestClient[Any, Any], user: str) -> str:
    r = await client.post("/api/login", json={"user": user, "password": PASSWORD})
    assert r.status == 200
    csrf: str = (await r.json())["csrf"]
    return csrf


def _kinds(lane: FakeLane) -> list[tuple[str, dict[str, Any]]]:
    return [(e["kind"], json.loads(e["body"])["data"]) for e in read_events(lane.journal.path)]


def test_login_limit_then_429_and_journal(tmp_path: Path) -> None:
    """Five wrong passwords: 401 each; the sixth try is 429 even when right; after a minute
    the right password works. Every attempt is journaled with user and address."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        for _ in range(5):
            r = await client.post("/api/login", json={"user": "olga", "password": "nope-nope"})
            assert r.status == 401
        r = await client.post("/api/login", json={"user": "olga", "password": PASSWORD})
        assert r.status == 429 and r.headers["Retry-After"] == "60"
        clock.t += 61
        r = await client.post("/api/login", json={"user": "olga", "password": PASSWORD})
        assert r.status == 200
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    lane = _run(tmp_path, body)
    kinds = _kinds(lane)
    assert [k for k, _ in kinds] == ["login_failed"] * 5 + ["login_throttled", "login"]
    assert {(d["user"], d["remote"]) for _, d in kinds} == {("olga", "127.0.0.1")}


def test_csrf_roles_and_the_cores_reason(tmp_path: Path) -> None:
    """No session: 401; no CSRF: 403; a viewer: 403; an operator's refused command: 409 with
    the core's reason; an allowed one is queued with the user as its source."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        assert (await client.post("/api/commands/open_lane")).status == 401
        csrf = await _login(client, "olga")
        assert (await client.post("/api/commands/open_lane")).status == 403
        h = {"X-CSRF-Token": csrf}
        r = await client.post("/api/commands/release", headers=h)
        want = refusal(lane.state.lane, None, CommandKind.RELEASE)
        assert r.status == 409 and (await r.json())["detail"] == want != ""
        r = await client.post("/api/commands/reset_fault", headers=h, json={"confirm": True})
        assert r.status == 403 and (await r.json())["detail"] == "not for role operator"
        r = await client.post("/api/commands/open_lane", headers=h)
        assert r.status == 202
        assert (await client.post("/api/commands/fly", headers=h)).status == 404
        await client.post("/api/logout", headers=h)
        assert (await client.get("/api/me")).status == 401
        csrf = await _login(client, "vic")
        r = await client.post("/api/commands/open_lane", headers={"X-CSRF-Token": csrf})
        assert r.status == 403

    lane = _run(tmp_path, body)
    assert lane.submitted == [Command(CommandKind.OPEN_LANE, "web:olga")]
    audit = [(k, d.get("user"), d.get("outcome", d.get("reason"))) for k, d in _kinds(lane)]
    assert audit == [
        ("forbidden", "", "no valid session"),
        ("login", "olga", None),
        ("csrf_refused", "olga", "missing or wrong CSRF token"),
        ("user_command", "olga", "refused: not valid in phase START"),
        ("user_command", "olga", "refused: not for role operator"),
        ("user_command", "olga", "queued"),
        ("logout", "olga", None),
        ("login", "vic", None),
        ("user_command", "vic", "refused: not for role viewer"),
    ]


def test_confirmation_and_session_expiry(tmp_path: Path) -> None:
    """Emergency open without {"confirm": true} is 428; with it queued; an idle session
    expires and a removed user's session ends at once."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        h = {"X-CSRF-Token": await _login(client, "sam")}
        assert (await client.post("/api/commands/emergency_open_on", headers=h)).status == 428
        r = await client.post("/api/commands/emergency_open_on", headers=h, json={"confirm": True})
        assert r.status == 202
        clock.t += 480 * 60 + 1
        assert (await client.get("/api/me")).status == 401
        await _login(client, "olga")
        users = UsersFile(tmp_path / "users.json")
        users.remove("olga")
        users.save()
        assert (await client.get("/api/me")).status == 401

    lane = _run(tmp_path, body)
    assert lane.submitted == [Command(CommandKind.EMERGENCY_OPEN_ON, "web:sam")]


async def _read_events(resp: Any, n: int) -> list[tuple[str, dict[str, Any], int | None]]:
    """The next ``n`` SSE messages as (event, data, id)."""
    out: list[tuple[str, dict[str, Any], int | None]] = []
    event, data, eid = "", "", None
    while len(out) < n:
        line = (await asyncio.wait_for(resp.content.readline(), 5.0)).decode().rstrip("\n")
        if line.startswith("id: "):
            eid = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            out.append((event, json.loads(data), eid))
            event, data, eid = "", "", None
    return out


def test_stream_resumes_from_last_event_id_and_fills_a_lag(tmp_path: Path) -> None:
    """Last-Event-ID 3 gets 4.. from the journal then the live ones; a subscriber whose
    bounded queue overflowed still gets every id once, in order, from the journal."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        await _login(client, "olga")  # journal id 1
        for i in range(10):  # ids 2..11
            lane.core_event("vehicle_arrived", n=i)
        resp = await client.get("/events", headers={"Last-Event-ID": "3"})
        got = await _read_events(resp, 6)
        assert [(e, i) for e, _, i in got] == [("journal", i) for i in range(4, 10)]
        for i in range(10, 40):  # ids 12..41 into a queue of 4 while the client is not reading
            lane.core_event("vehicle_stopped", n=i)
        got = await _read_events(resp, 32)
        ids = [i for _, _, i in got]
        assert ids == list(range(10, 42))
        assert got[-1][1]["data"] == {"n": 39}
        resp.close()

    _run(tmp_path, body, queue_size=4)


def test_logout_or_expiry_ends_an_open_stream(tmp_path: Path) -> None:
    """A page's event stream ends within about a second of its session's logout or expiry."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        csrf = await _login(client, "olga")
        resp = await client.get("/events")
        assert (await _read_events(resp, 1))[0][0] == "journal"
        await client.post("/api/logout", headers={"X-CSRF-Token": csrf})
        rest = await asyncio.wait_for(resp.content.read(), 3.0)  # EOF: the stream ended
        assert rest.count(b"event:") <= 1 and b'"kind":"logout"' in rest
        assert (await client.get("/events")).status == 401
        await _login(client, "olga")
        resp = await client.get("/events")
        backlog = await _read_events(resp, 3)  # login, logout, login
        assert [i for _, _, i in backlog] == [1, 2, 3]
        clock.t += 480 * 60 + 1  # the session expires with nothing else happening
        rest = await asyncio.wait_for(resp.content.read(), 3.0)
        assert b"event:" not in rest

    _run(tmp_path, body)


def test_alarm_acknowledged_by_a_named_user(tmp_path: Path) -> None:
    """A latched fault is an active alarm; an operator acknowledges it (journaled), a second
    acknowledgement is refused, a viewer cannot; a reset clears it."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        fault = lane.core_event("fault_latched", fault="motor")
        lane.core_event("vehicle_passed", count=1)
        await _journal_holds(lane, ("fault_latched", "vehicle_passed"), 2)
        h = {"X-CSRF-Token": await _login(client, "vic")}
        assert (await client.post(f"/api/alarms/{fault}/ack", headers=h)).status == 403
        h = {"X-CSRF-Token": await _login(client, "olga")}
        alarms = (await (await client.get("/api/alarms")).json())["alarms"]
        assert [(a["id"], a["status"]) for a in alarms] == [(fault, "active")]
        assert (await client.post(f"/api/alarms/{fault}/ack", headers=h)).status == 200
        assert (await client.post(f"/api/alarms/{fault}/ack", headers=h)).status == 409
        assert (await client.post("/api/alarms/999/ack", headers=h)).status == 404
        alarms = (await (await client.get("/api/alarms")).json())["alarms"]
        assert (alarms[0]["status"], alarms[0]["acknowledged_by"]) == ("acknowledged", "olga")
        lane.core_event("fault_reset", faults="motor")
        await _journal_holds(lane, ("fault_reset",), 1)
        alarms = (await (await client.get("/api/alarms")).json())["alarms"]
        assert alarms[0]["status"] == "cleared" and alarms[0]["cleared"] is not None
        counts = await (await client.get("/api/counts")).json()
        assert counts["shift"]["passed"] == 1 and sum(b["passed"] for b in counts["buckets"]) == 1
        assert len(counts["buckets"]) == 8 * 4

    lane = _run(tmp_path, body)
    acks = [d for k, d in _kinds(lane) if k == "alarm_acknowledged"]
    assert acks == [
        {
            "user": "olga",
            "role": "operator",
            "remote": "127.0.0.1",
            "alarm": 1,
            "alarm_kind": "fault_latched",
        }
    ]


def test_shift_counts_are_the_runtimes_shift_stats(tmp_path: Path) -> None:
    """After passages, an inspection timed from stop to release, a send-aside and a
    tailgate, the counts in the page's state and in ``/api/counts`` are the lane's
    ``ShiftStats`` figures (what ``status()["shift"]`` gives), and the chart's bars add up
    to the same totals."""
    seen: dict[str, Any] = {}

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        await _login(client, "olga")
        lane.core_event("vehicle_stopped")
        lane.now_ms += 4000
        lane.core_event("vehicle_released")
        lane.core_event("vehicle_passed", count=1)
        lane.core_event("tailgate", count=2)
        lane.core_event("vehicle_stopped")
        lane.now_ms += 9000
        lane.core_event("vehicle_sent_aside")
        lane.core_event("vehicle_stopped")
        lane.now_ms += 3000
        lane.core_event("vehicle_released")
        lane.core_event("vehicle_passed", count=3)
        lane.hub.publish_state({"lane": "t", "now_ms": lane.now_ms, "seq": lane.seq})
        resp = await client.get("/events", headers={"Last-Event-ID": str(lane.hub.last_event_id)})
        for _ in range(5):
            event, data, _ = (await _read_events(resp, 1))[0]
            if event == "state":
                seen["state"] = data["shift"]
                break
        resp.close()
        # The chart reads the journal, whose writer thread commits a moment after each
        # event is recorded (the totals are the runtime's own, at once): wait for it.
        await _journal_holds(lane, COUNT_KINDS, 4)
        seen["api"] = await (await client.get("/api/counts")).json()
        seen["stats"] = lane.shift.as_dict()

    lane = _run(tmp_path, body)
    stats = seen["stats"]
    rebuilt = ShiftStats.from_journal(lane.journal.path, utc_day_start()).as_dict()
    assert stats == rebuilt
    assert (stats["passed"], stats["sent_aside"], stats["violations"]) == (2, 1, 1)
    assert (stats["inspections"], stats["mean_inspection_s"]) == (3, round(16 / 3, 3))
    assert seen["state"] == stats
    assert seen["api"]["shift"] == stats
    bars = seen["api"]["buckets"]
    assert [sum(b[k] for b in bars) for k in ("passed", "sent_aside", "violations")] == [2, 1, 1]


@pytest.mark.parametrize(
    "path", ["/", "/static/console.js", "/static/console.css", "/static/auth.js"]
)
def test_static_files_are_served_with_a_strict_policy(tmp_path: Path, path: str) -> None:
    """The page and its files come with a same-origin-only content security policy."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        r = await client.get(path)
        assert r.status == 200
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert (await client.get("/static/../users.json")).status == 404

    _run(tmp_path, body)


def test_a_stream_resumed_from_a_bad_event_id_is_refused_by_name(tmp_path: Path) -> None:
    """``Last-Event-ID`` or ``?after=`` that is not an integer: 400 naming the field."""

    async def body(client: TestClient[Any, Any], lane: FakeLane, clock: Clock) -> None:
        await _login(client, "olga")
        for kwargs in ({"headers": {"Last-Event-ID": "x7"}}, {"params": {"after": "seven"}}):
            r = await client.get("/events", **kwargs)  # type: ignore[arg-type]
            assert r.status == 400
            assert await r.json() == {"error": "bad_field", "detail": "Last-Event-ID: an integer"}

    _run(tmp_path, body)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_console_over_tls_sets_a_secure_cookie(tmp_path: Path) -> None:
    """With tls_cert and tls_key the console speaks HTTPS only and its cookie is Secure."""
    cert, key = _self_signed(tmp_path)
    users = UsersFile(tmp_path / "users.json")
    users.add("olga", Role.OPERATOR, PASSWORD)
    users.save()
    config = ConsoleConfig(users_file=users.path, port=0, tls_cert=cert, tls_key=key)
    lane = FakeLane(tmp_path)

    async def go() -> tuple[int, str]:
        server = await start_console(lane, config)
        try:
            assert server.url.startswith("https://127.0.0.1:")
            context = ssl.create_default_context(cafile=str(cert))
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{server.url}api/login",
                    json={"user": "olga", "password": PASSWORD},
                    ssl=context,
                ) as r:
                    status, cookie = r.status, r.headers["Set-Cookie"]
                with pytest.raises(aiohttp.ClientError):
                    async with session.get(server.url.replace("https", "http")) as r:
                        await r.read()
            return status, cookie
        finally:
            await server.close()

    try:
        status, cookie = asyncio.run(go())
    finally:
        lane.journal.close()
    assert status == 200
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_off_loopback_without_tls_does_not_start(tmp_path: Path) -> None:
    """Bound off loopback without TLS (and without insecure_http) the console refuses to
    start, naming console.tls_cert; a broken users file is named too."""
    users = tmp_path / "users.json"
    users.write_text('{"users": []}', encoding="utf-8")
    lane = FakeLane(tmp_path)
    try:
        with pytest.raises(ConsoleError, match=r"console\.tls_cert"):
            asyncio.run(start_console(lane, ConsoleConfig(users_file=users, host="192.0.2.1")))
        users.write_text("{", encoding="utf-8")
        with pytest.raises(ConsoleError, match=r"console\.users_file: .*users\.json: not JSON"):
            asyncio.run(start_console(lane, ConsoleConfig(users_file=users, port=0)))
    finally:
        lane.journal.close()
