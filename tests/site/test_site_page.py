"""The site page's routes against a supervisor fed scripted lane messages (no broker):
login and roles, CSRF, pins for the supervisor role only, the SSE content and its resume,
the ``[web]`` config's named errors, and the chart's buckets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.config import ConfigError
from controller.console.users import Role, UsersFile
from controller.site.dayseries import DaySeries
from controller.site.mqtt import Message
from controller.site.page import SitePage, lane_alarms
from controller.site.policy import Pin
from controller.site.supconf import load_supervisor
from controller.site.supervisor import Supervisor

PASSWORD = "password-for-tests"
SITE_TOML = """[site]
name = "north"
[broker]
port = 1883
[[users]]
name = "alice"
role = "supervisor"
password_file = "alice.pass"
[store]
username = "alice"
[supervisor]
staff = 2
{web}
"""
WEB = """[web]
users_file = "users.json"
port = 0
chart_bucket_s = 60
"""


def _config(tmp: Path, web: str = WEB) -> Path:
    (tmp / "alice.pass").write_text("pw-alice-0123\n", encoding="utf-8")
    path = tmp / "site.toml"
    path.write_text(SITE_TOML.format(web=web), encoding="utf-8")
    return path


def _lane_state(mode: str, phase: str = "READY", **extra: Any) -> dict[str, Any]:
    return {
        "mode": mode,
        "phase": phase,
        "faults": [],
        "bus_ok": True,
        "time": "2026-01-01T00:00:00.000+00:00",
        "signals": {"entry": "red", "lane_use": "open", "alarm": False},
        "queue": {"in_bay": True, "approach": True, "waiting_min": 2, "approach_occupied_ms": 0},
        "counts": {"vehicles": 3, "since_boot": {"vehicle_passed": 3}},
        **extra,
    }


def _message(sup: Supervisor, lane: str, leaf: str, payload: dict[str, Any]) -> None:
    topic = f"lanectl/north/{lane}/{leaf}"
    sup._on_message(Message(topic, json.dumps(payload).encode(), 1, True, False))


Body = Callable[[TestClient[Any, Any], Supervisor, SitePage], Awaitable[None]]


def _run(tmp_path: Path, body: Body) -> Supervisor:
    users = UsersFile(tmp_path / "users.json")
    for name, role in (("sam", Role.SUPERVISOR), ("olga", Role.OPERATOR), ("vic", Role.VIEWER)):
        users.add(name, role, PASSWORD)
    users.save()
    config = load_supervisor(_config(tmp_path))
    assert config.page is not None
    sup = Supervisor(config)
    for lane, mode in (("lane1", "OPEN"), ("lane2", "CLOSED")):
        _message(sup, lane, "availability", {"status": "online", "boot": "b"})
        _message(sup, lane, "state", _lane_state(mode))

    async def go() -> None:
        page = SitePage(sup, config.page, UsersFile(users.path))  # type: ignore[arg-type]
        async with TestClient(TestServer(page.app(), host="127.0.0.1")) as client:
            await body(client, sup, page)

    try:
        asyncio.run(go())
    finally:
        sup.journal.close()
    return sup


async def _login(client: TestClient[Any, Any], user: str) -> str:
    r = await client.post("/api/login", json={"user": user, "password": PASSWORD})
    assert r.status == 200
    me = await r.json()
    assert me["can_pin"] is (user == "sam")
    csrf: str = me["csrf"]
    return csrf


async def _messages(resp: Any, n: int) -> list[tuple[str, dict[str, Any], int | None]]:
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


def _rows(tmp_path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    from controller.site.decisionlog import DecisionLog

    log = DecisionLog(tmp_path / "supervisor.sqlite")
    try:
        return [(r["kind"], r["lane"], r["body"]) for r in log.rows()]
    finally:
        log.close()


def test_pins_need_a_session_csrf_and_the_supervisor_role(tmp_path: Path) -> None:
    """No session: 401; no CSRF token: 403; operator and viewer: 403; the supervisor pins
    lane2 open (the tracker has it, the journal names who and from where) and back to
    auto; an unknown lane is 404 and a bad value 400."""

    async def body(client: TestClient[Any, Any], sup: Supervisor, page: SitePage) -> None:
        assert (await client.get("/api/me")).status == 401
        assert (await client.get("/events")).status == 401
        assert (await client.post("/api/pins/lane2", json={"pin": "open"})).status == 401
        for user in ("olga", "vic"):
            csrf = await _login(client, user)
            r = await client.post("/api/pins/lane2", json={"pin": "open"})
            assert r.status == 403 and (await r.json())["error"] == "csrf_refused"
            r = await client.post(
                "/api/pins/lane2", json={"pin": "open"}, headers={"X-CSRF-Token": csrf}
            )
            assert r.status == 403
            assert (await r.json())["detail"] == f"pinning a lane is not for role {user_role(user)}"
            await client.post("/api/logout", headers={"X-CSRF-Token": csrf})
        assert sup.tracker.pins == {}
        h = {"X-CSRF-Token": await _login(client, "sam")}
        r = await client.post("/api/pins/lane2", json={"pin": "open"}, headers=h)
        assert r.status == 200 and await r.json() == {"lane": "lane2", "pin": "open", "user": "sam"}
        assert sup.tracker.pins == {"lane2": Pin.OPEN}
        assert (await client.post("/api/pins/lane9", json={"pin": "open"}, headers=h)).status == 404
        assert (await client.post("/api/pins/lane2", json={"pin": "up"}, headers=h)).status == 400
        r = await client.post("/api/pins/lane2", json={"pin": None}, headers=h)
        assert r.status == 200 and sup.tracker.pins == {}

    _run(tmp_path, body)
    rows = _rows(tmp_path)
    assert [(k, b.get("user"), b.get("reason")) for k, _, b in rows if k != "pin"] == [
        ("forbidden", "", "no valid session"),
        ("login", "olga", None),
        ("csrf_refused", "olga", "missing or wrong CSRF token"),
        ("forbidden", "olga", "pinning a lane is not for role operator"),
        ("logout", "olga", None),
        ("login", "vic", None),
        ("csrf_refused", "vic", "missing or wrong CSRF token"),
        ("forbidden", "vic", "pinning a lane is not for role viewer"),
        ("logout", "vic", None),
        ("login", "sam", None),
    ]
    pins = [
        (lane, b["pin"], b["user"], b["source"], b["remote"]) for k, lane, b in rows if k == "pin"
    ]
    assert pins == [
        ("lane2", "open", "sam", "web", "127.0.0.1"),
        ("lane2", None, "sam", "web", "127.0.0.1"),
    ]


def user_role(user: str) -> str:
    return {"olga": "operator", "vic": "viewer", "sam": "supervisor"}[user]


def test_stream_sends_every_lane_then_follows_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh stream gets the journal rows then a ``site`` message with both lanes; a lane's
    new state is pushed when it comes (the stream's own recheck is pushed out past the
    test's waits); a stream resumed with Last-Event-ID gets only the rows after that id."""
    monkeypatch.setattr("controller.site.page.SAMPLE_S", 60.0)

    async def body(client: TestClient[Any, Any], sup: Supervisor, page: SitePage) -> None:
        await _login(client, "vic")
        resp = await client.get("/events")
        assert resp.headers["Content-Type"] == "text/event-stream"
        (journal, site) = await _messages(resp, 2)
        assert (journal[0], journal[1]["kind"], journal[1]["body"]["user"], journal[2]) == (
            "journal",
            "login",
            "vic",
            1,
        )
        assert site[0] == "site" and site[2] is None
        lanes = {lane["lane"]: lane for lane in site[1]["lanes"]}
        assert set(lanes) == {"lane1", "lane2"}
        assert lanes["lane1"]["mode"] == "OPEN" and lanes["lane1"]["status"] == "open"
        assert lanes["lane2"]["mode"] == "CLOSED" and lanes["lane2"]["status"] == "closed"
        assert lanes["lane1"]["vehicles"] == 3 and lanes["lane1"]["queue"] == 1
        assert lanes["lane1"]["alarms"] == []
        assert site[1]["open_lanes"] == 1 and site[1]["site"] == "north"
        # One vehicle waiting at the one open lane, 80 vph: 45 s.
        assert site[1]["capacity_vph"] == 80.0 and site[1]["predicted_wait_s"] == 45.0
        # lane2 latches a fault: the next site message has it, with its alarm.
        _message(sup, "lane2", "state", _lane_state("FAULT", "HALTED", faults=["motor"]))
        while True:
            ((event, data, _),) = await _messages(resp, 1)
            if event != "site":
                continue
            lane2 = next(lane for lane in data["lanes"] if lane["lane"] == "lane2")
            if lane2["mode"] == "FAULT":
                break
        assert lane2["phase"] == "HALTED" and lane2["unavailable"] == "fault"
        assert lane2["alarms"] == ["fault", "fault: motor"]
        resp.close()
        sup.set_pin("lane1", Pin.CLOSED, "sam", "web")
        resp = await client.get("/events", headers={"Last-Event-ID": "1"})
        rows = await _messages(resp, 1)
        assert [(e, d["kind"], d["lane"], i) for e, d, i in rows] == [
            ("journal", "pin", "lane1", 2)
        ]
        resp.close()
        # A fresh stream gets only the newest BACKLOG rows, then the site.
        monkeypatch.setattr("controller.site.page.BACKLOG", 1)
        sup.set_pin("lane1", None, "sam", "web")
        resp = await client.get("/events")
        rows = await _messages(resp, 2)
        assert [(e, d.get("kind"), i) for e, d, i in rows] == [
            ("journal", "pin", 3),
            ("site", None, None),
        ]
        resp.close()

    _run(tmp_path, body)


def test_site_toml_web_errors_name_the_key(tmp_path: Path) -> None:
    """``[web]`` problems are ConfigErrors naming web.KEY."""
    cases = {
        "[web]\nport = 0\n": "web.users_file",
        '[web]\nusers_file = "u.json"\nport = 70000\n': "web.port",
        '[web]\nusers_file = "u.json"\nhost = "0.0.0.0"\n': "web.tls_cert",
        '[web]\nusers_file = "u.json"\ncolour = "red"\n': "web.colour",
        '[web]\nusers_file = "u.json"\ninsecure_http = "yes"\n': "web.insecure_http",
        '[web]\nusers_file = "u.json"\nchart_bucket_s = 0\n': "web.chart_bucket_s",
    }
    for text, key in cases.items():
        with pytest.raises(ConfigError) as err:
            load_supervisor(_config(tmp_path, text))
        assert err.value.key == key, text
    config = load_supervisor(_config(tmp_path, '[web]\nusers_file = "u.json"\n'))
    assert config.page is not None and config.page.port == 8790
    assert config.page.users_file == tmp_path / "u.json"
    assert load_supervisor(_config(tmp_path, "")).page is None


def test_chart_buckets_count_arrivals_and_open_capacity() -> None:
    """Arrivals are vehicles served plus queue growth per bucket; capacity is the open lanes'
    rate integrated over the time each bucket covers."""
    series = DaySeries(60)
    series.sample(1200.0, served=0, queue=0, capacity_vph=120.0, open_lanes=1)
    series.sample(1230.0, served=2, queue=3, capacity_vph=240.0, open_lanes=2)
    series.sample(1260.0, served=4, queue=1, capacity_vph=240.0, open_lanes=2)
    series.sample(1290.0, served=5, queue=1, capacity_vph=240.0, open_lanes=2)
    buckets = series.as_dict()["buckets"]
    assert [b["start"][11:19] for b in buckets] == ["00:20:00", "00:21:00"]
    # 0..30 s: 2 served + 3 queued = 5; 30..60 s (into the next bucket): 2 served - 2 queue
    # = 0; 60..90 s: 1 served.
    assert [b["arrivals"] for b in buckets] == [5.0, 1.0]
    # 30 s at 120 vph = 1 vehicle; then 30 s at 240 vph = 2 in bucket 2, 30 s more = 2.
    assert [b["capacity"] for b in buckets] == [1.0, 4.0]
    assert [b["open_lanes"] for b in buckets] == [1.0, 2.0]
    with pytest.raises(ValueError, match="bucket_s"):
        DaySeries(0)


def test_lane_alarms_from_availability_and_state() -> None:
    """Offline, no state, fault modes, faults, a lost bus and the beacon are each named."""
    assert lane_alarms(False, None) == ["offline", "no state yet"]
    state = {"mode": "ESTOP", "faults": ["edge"], "bus_ok": False, "signals": {"alarm": True}}
    assert lane_alarms(True, state) == [
        "emergency stop",
        "fault: edge",
        "I/O bus lost",
        "alarm beacon on",
    ]
    assert lane_alarms(True, {"mode": "OPEN", "signals": {"alarm": False}}) == []


def test_site_run_names_a_missing_users_file(tmp_path: Path) -> None:
    """``lanectl site run`` with ``[web]`` whose users file does not exist exits 2 naming
    web.users_file, before it connects anywhere."""
    config = _config(tmp_path, '[web]\nusers_file = "nobody.json"\nport = 0\n')
    proc = subprocess.run(
        [sys.executable, "-m", "controller.cli", "site", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "web.users_file" in proc.stderr and "nobody.json" in proc.stderr


def test_the_page_shares_the_consoles_login_and_refuses_a_bad_event_id(tmp_path: Path) -> None:
    """The site page loads the console's own ``auth.js`` (one login for both pages), and a
    stream resumed from an event id that is not an integer gets a 400 naming the field."""
    from importlib import resources

    shared = (resources.files("controller.console") / "static" / "auth.js").read_bytes()

    async def body(client: TestClient[Any, Any], sup: Supervisor, page: SitePage) -> None:
        html = await (await client.get("/")).text()
        assert html.index('src="/static/auth.js"') < html.index('src="/static/site.js"')
        r = await client.get("/static/auth.js")
        assert r.status == 200 and await r.read() == shared
        await _login(client, "vic")
        r = await client.get("/events", headers={"Last-Event-ID": "later"})
        assert r.status == 400
        assert await r.json() == {"error": "bad_field", "detail": "Last-Event-ID: an integer"}

    _run(tmp_path, body)


@pytest.mark.hil
def test_site_run_serves_the_page(tmp_path: Path) -> None:
    """``lanectl site run`` with ``[web]`` prints the page's URL next to the supervisor's;
    the page's HTML comes without a session, its API and stream need one."""
    from tests.hil.harness import start_proc, stop_proc
    from tests.site.helpers import start_site_broker

    broker = start_site_broker(tmp_path)
    try:
        UsersFile(tmp_path / "users.json").save()
        text = _config(tmp_path).read_text(encoding="utf-8")
        text = text.replace("port = 1883", f"port = {broker.port}")
        (tmp_path / "site.toml").write_text(text, encoding="utf-8")
        proc, _ = start_proc(
            "supervisor",
            ["site", "run", "--config", str(tmp_path / "site.toml")],
            tmp_path,
            "supervisor running",
        )
        try:
            line = wait_for_line(proc.lines, "site page listening on ")
            url = line.removeprefix("site page listening on ").strip()
            with urllib.request.urlopen(url, timeout=5.0) as resp:
                assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
                assert b'<script src="/static/site.js"' in resp.read()
            for path in ("api/me", "events"):
                with pytest.raises(urllib.error.HTTPError) as err:
                    urllib.request.urlopen(url + path, timeout=5.0)
                assert err.value.code == 401
        finally:
            assert stop_proc(proc) == 0
    finally:
        broker.stop()


def wait_for_line(lines: list[str], prefix: str) -> str:
    from tests.site.helpers import wait_until

    wait_until(lambda: any(ln.startswith(prefix) for ln in lines), 10, prefix)
    return next(ln for ln in lines if ln.startswith(prefix))
