"""The console in a real browser (Chromium driven by Playwright) against the real controller
and the simulated lane on loopback: login and its limit, the live lane, interlocked
buttons, roles, CSRF, confirmation, the camera, and a stream resumed with no gap.

The tests of the main lane run in file order on one lane: its one car arrives a while
after start, so the first test sees the bay empty and the second sees the car come.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import log_in
from tests.console.harness import (
    PASSWORDS,
    ConsoleLane,
    journal_events,
    start_console_lane,
    wait_until,
)

pytestmark = [pytest.mark.hil, pytest.mark.slow]

FIRST_ARRIVAL_S = 25.0  # after the first test, even on a slow shared machine
COMMAND_NAMES = (
    "release",
    "send_aside",
    "open_lane",
    "close_lane",
    "maintenance_on",
    "maintenance_off",
    "manual_raise",
    "manual_lower",
    "emergency_open_on",
    "emergency_open_off",
    "reset_fault",
)
LATENCIES_MS: list[float] = []
"""State change (journal wall time of the scan's event) -> the page has the state, all tests."""


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleLane]:
    lane = start_console_lane(tmp_path_factory.mktemp("console"), first_arrival_s=FIRST_ARRIVAL_S)
    try:
        yield lane
    finally:
        lane.stop()


def _login(page: Page, lane: ConsoleLane, user: str) -> None:
    log_in(
        page,
        lane.url,
        user,
        PASSWORDS[user][1],
        view="console",
        ready="window.lanectl.lastState !== null",
    )


def _state(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = page.evaluate("window.lanectl.lastState")
    return value


def _phase(page: Page) -> str:
    return str(_state(page)["core"]["phase"])


def _wall_ms(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp() * 1000.0


STATE_CHANGING = frozenset({"mode_changed", "fault_latched", "vehicle_released"})
"""Journal events whose scan always changes the state the page is sent."""


def _collect_latency(page: Page, lane: ConsoleLane) -> list[float]:
    """For each state-changing journal event since the page's first state: the page's
    arrival of the first live state at least as new as the event's scan, minus the event's
    journal time (the runtime sends at most one state per 100 ms, the newest)."""
    arrivals: list[dict[str, Any]] = page.evaluate("window.lanectl.states")
    if not arrivals:
        return []
    first_seq = int(arrivals[0]["seq"])
    live = [a for a in arrivals if not a["replayed"]]
    samples: list[float] = []
    for ev in journal_events(lane.journal):
        seq = int(ev["seq"])
        if ev["kind"] not in STATE_CHANGING or seq <= first_seq:
            continue
        shown = next((a for a in live if int(a["seq"]) >= seq), None)
        if shown is not None:  # else not on the page yet: the caller counts the samples
            samples.append(shown["t"] - _wall_ms(ev["wall"]))
    LATENCIES_MS.extend(samples)
    return samples


def _post(url: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, method="POST", data=b"{}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5.0) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_release_is_disabled_with_its_reason_while_the_bay_is_empty(
    page: Page, lane: ConsoleLane
) -> None:
    """With the lane OPEN and the bay empty, release and send aside are refused by the core's
    reason, open lane is refused (already open), close lane is allowed for an operator."""
    _login(page, lane, "olga")
    wait_until(lambda: _phase(page) == "READY", 10.0, "the lane READY on the page")
    release = page.locator('button[data-command="release"]')
    assert release.is_disabled()
    assert page.inner_text('[data-reason-for="release"]') == "not valid in phase READY"
    assert page.inner_text('[data-reason-for="open_lane"]') == "lane is OPEN"
    assert page.locator('button[data-command="close_lane"]').is_enabled()
    assert page.inner_text('[data-reason-for="reset_fault"]') == "not for role operator"
    assert page.get_attribute("#entry-signal", "data-aspect") == "green"
    # The bearer API's status agrees with the page: the same core, the same phase.
    with urllib.request.urlopen(f"{lane.api_url}/status", timeout=2.0) as resp:
        assert json.loads(resp.read())["core"]["phase"] == "READY"
    _collect_latency(page, lane)


def test_page_follows_a_car_and_release_raises_the_boom(page: Page, lane: ConsoleLane) -> None:
    """A car arrives: the entry signal leaves green on the page within a second of the scan
    that saw it, the camera's bay zone turns occupied, release becomes enabled once the car
    is inspected, and clicking it raises the simulated boom and journals the user."""
    _login(page, lane, "olga")
    assert page.get_attribute("#entry-signal", "data-aspect") == "green"
    bay = page.locator('#camera-zones polygon[data-zone="bay"]')
    wait_until(lambda: bay.count() == 1, 10.0, "the bay zone drawn")
    assert bay.get_attribute("data-occupied") == "false"
    wait_until(
        lambda: page.get_attribute("#entry-signal", "data-aspect") != "green",
        FIRST_ARRIVAL_S + 30.0,
        "the entry signal to change when the car arrives",
    )
    arrived = wait_until(
        lambda: journal_events(lane.journal, ("vehicle_arrived",)), 5.0, "vehicle_arrived"
    )[0]
    states = page.evaluate("window.lanectl.states")
    seen = [s["t"] for s in states if s["seq"] == arrived["seq"]]
    assert seen, "the page never got the state of the scan in which the car arrived"
    assert seen[0] - _wall_ms(arrived["wall"]) < 1000.0
    wait_until(lambda: bay.get_attribute("data-occupied") == "true", 10.0, "bay zone occupied")
    assert "on" in (bay.get_attribute("class") or "").split()

    wait_until(lambda: _phase(page) == "INSPECTING", 20.0, "the car inspected")
    release = page.locator('button[data-command="release"]')
    wait_until(release.is_enabled, 2.0, "release enabled")
    assert page.inner_text('[data-reason-for="release"]') == ""
    release.click()
    wait_until(
        lambda: _state(page)["inputs"]["barrier_up"], 15.0, "the simulated boom at its up limit"
    )
    assert int(page.get_attribute("#boom", "data-position") or 0) >= 950
    commands = journal_events(lane.journal, ("user_command",))
    assert [c["data"]["command"] for c in commands] == ["release"]
    assert commands[0]["data"]["user"] == "olga"
    assert commands[0]["data"]["role"] == "operator"
    assert commands[0]["data"]["remote"] == "127.0.0.1"
    assert commands[0]["data"]["outcome"] == "queued"
    released = journal_events(lane.journal, ("vehicle_released",))
    assert [r["data"]["source"] for r in released] == ["web:olga"]
    # The shift's counts on the page are the runtime's ShiftStats, as the bearer API's
    # status gives them.
    wait_until(lambda: journal_events(lane.journal, ("vehicle_passed",)), 20.0, "the car passed")
    wait_until(lambda: page.inner_text("#count-passed") == "1", 5.0, "the page's count")
    with urllib.request.urlopen(f"{lane.api_url}/status", timeout=2.0) as resp:
        shift = json.loads(resp.read())["shift"]
    assert (shift["passed"], shift["inspections"]) == (1, 1)
    assert page.inner_text("#count-aside") == str(shift["sent_aside"])
    assert page.inner_text("#count-violations") == str(shift["violations"])
    mean, _, rest = page.inner_text("#count-inspection").partition(" s ")
    assert float(mean) == shift["mean_inspection_s"] > 0 and rest == "(1)"
    _collect_latency(page, lane)


def test_camera_picture_updates_with_its_zones(page: Page, lane: ConsoleLane) -> None:
    """The camera picture is live (two looks a second apart differ) with four zones drawn
    and no fault shown on a healthy camera."""
    _login(page, lane, "olga")
    img = page.locator("#camera-img")
    wait_until(
        lambda: page.evaluate("document.getElementById('camera-img').naturalWidth") == 640,
        10.0,
        "the first camera frame",
    )
    first = img.screenshot()
    wait_until(lambda: img.screenshot() != first, 5.0, "a new camera frame")
    zones = page.locator("#camera-zones polygon")
    assert sorted(zones.nth(i).get_attribute("data-zone") or "" for i in range(zones.count())) == [
        "approach",
        "barrier",
        "bay",
        "exit",
    ]
    assert page.locator("#camera-fault").is_hidden()


def test_alarm_is_acknowledged_by_a_named_user(page: Page, lane: ConsoleLane) -> None:
    """The camera's start-up fault is in the alarm list; an operator acknowledges it on the
    page: the list says by whom, and the journal holds it with user, role and address."""
    _login(page, lane, "olga")
    row = page.locator("#alarms tbody tr").first
    wait_until(lambda: row.count() == 1, 5.0, "an alarm in the list")
    alarm_id = int(row.get_attribute("data-alarm") or 0)
    assert "camera fault" in row.inner_text()
    page.click(f'button[data-ack="{alarm_id}"]')
    wait_until(lambda: "by olga" in row.inner_text(), 3.0, "the acknowledgement on the page")
    acks = journal_events(lane.journal, ("alarm_acknowledged",))
    assert [(a["data"]["alarm"], a["data"]["user"], a["data"]["role"]) for a in acks] == [
        (alarm_id, "olga", "operator")
    ]
    assert page.locator(f'button[data-ack="{alarm_id}"]').count() == 0


def test_viewer_sees_no_command_enabled_and_forged_posts_are_refused(
    page: Page, lane: ConsoleLane
) -> None:
    """A viewer's buttons are all disabled; a POST with no session gets 401, one with the
    session but no CSRF token 403, and the viewer's own command 403; all journaled."""
    _login(page, lane, "vic")
    for name in COMMAND_NAMES:
        assert page.locator(f'button[data-command="{name}"]').is_disabled(), name
        assert page.inner_text(f'[data-reason-for="{name}"]') == "not for role viewer"
    before = journal_events(lane.journal)[-1]["id"]
    assert _post(f"{lane.url}api/commands/release") == 401
    assert page.request.post(f"{lane.url}api/commands/release").status == 403
    csrf = page.evaluate("window.lanectl.me.csrf")
    r = page.request.post(f"{lane.url}api/commands/close_lane", headers={"X-CSRF-Token": csrf})
    assert r.status == 403 and r.json()["detail"] == "not for role viewer"

    def audit() -> list[dict[str, Any]]:
        kinds = ("forbidden", "csrf_refused", "user_command")
        return [e for e in journal_events(lane.journal, kinds) if e["id"] > before]

    got = wait_until(lambda: len(audit()) >= 3 and audit(), 5.0, "three audit events")
    assert [(e["kind"], e["data"]["user"]) for e in got] == [
        ("forbidden", ""),
        ("csrf_refused", "vic"),
        ("user_command", "vic"),
    ]
    assert all(e["data"]["remote"] == "127.0.0.1" for e in got)
    assert got[2]["data"]["outcome"] == "refused: not for role viewer"
    assert _phase(page) != "READY" or _state(page)["core"]["mode"] == "OPEN"


def test_wrong_password_is_refused_and_the_sixth_failure_gets_429(
    page: Page, lane: ConsoleLane
) -> None:
    """Five wrong passwords in a minute get 401 each, the sixth attempt 429 (even with the
    right password); each is journaled with the user and the address."""
    page.goto(lane.url)
    page.wait_for_selector("#login-form", state="visible")
    before = journal_events(lane.journal)[-1]["id"]
    statuses = []
    for attempt in range(6):
        page.fill("#login-user", "otto")
        page.fill("#login-password", "otto-operator-pw" if attempt == 5 else "wrong-pw")
        with page.expect_response(lambda r: r.url.endswith("/api/login")) as info:
            page.click("#login-submit")
        statuses.append(info.value.status)
    assert statuses == [401] * 5 + [429]
    assert "Too many failed logins" in page.inner_text("#login-error")
    assert page.locator("#console").is_hidden()

    def audit() -> list[dict[str, Any]]:
        kinds = ("login_failed", "login_throttled", "login")
        return [e for e in journal_events(lane.journal, kinds) if e["id"] > before]

    got = wait_until(lambda: len(audit()) >= 6 and audit(), 5.0, "six audit events")
    assert [e["kind"] for e in got] == ["login_failed"] * 5 + ["login_throttled"]
    assert {(e["data"]["user"], e["data"]["remote"]) for e in got} == {("otto", "127.0.0.1")}


def test_emergency_open_does_nothing_until_confirmed(page: Page, lane: ConsoleLane) -> None:
    """Emergency open asks for a second confirmation: cancelled, nothing is sent; confirmed,
    the lane goes EMERGENCY_OPEN and the supervisor is journaled."""
    _login(page, lane, "sam")
    mode_before = _state(page)["core"]["mode"]
    assert mode_before != "EMERGENCY_OPEN"
    button = page.locator('button[data-command="emergency_open_on"]')
    wait_until(button.is_enabled, 5.0, "emergency open enabled for a supervisor")
    button.click()
    assert page.locator("#confirm").is_visible()
    page.click("#confirm-cancel")
    time.sleep(1.0)
    assert _state(page)["core"]["mode"] == mode_before
    sent = [
        e
        for e in journal_events(lane.journal, ("user_command",))
        if e["data"]["command"] == "emergency_open_on"
    ]
    assert sent == []
    # The server insists too: a request without the confirmation is refused (428).
    csrf = page.evaluate("window.lanectl.me.csrf")
    r = page.request.post(
        f"{lane.url}api/commands/emergency_open_on", headers={"X-CSRF-Token": csrf}, data={}
    )
    assert r.status == 428
    assert _state(page)["core"]["mode"] == mode_before
    button.click()
    page.click("#confirm-ok")
    wait_until(
        lambda: _state(page)["core"]["mode"] == "EMERGENCY_OPEN", 3.0, "EMERGENCY_OPEN on the page"
    )

    def sent_now() -> list[dict[str, Any]]:
        return [
            e
            for e in journal_events(lane.journal, ("user_command",))
            if e["data"]["command"] == "emergency_open_on"
        ]

    sent = wait_until(lambda: len(sent_now()) >= 2 and sent_now(), 3.0, "two user_command")
    assert [(e["data"]["user"], e["data"]["outcome"]) for e in sent] == [
        ("sam", "refused: needs a second, explicit confirmation"),
        ("sam", "queued"),
    ]
    off = page.locator('button[data-command="emergency_open_off"]')
    wait_until(off.is_enabled, 3.0, "end emergency open enabled")
    off.click()
    wait_until(
        lambda: _state(page)["core"]["mode"] != "EMERGENCY_OPEN", 3.0, "emergency open ended"
    )
    _collect_latency(page, lane)


def test_state_changes_reach_the_page_within_a_second(page: Page, lane: ConsoleLane) -> None:
    """The lane closed and opened 50 times over the bearer API: every change of mode is on
    the page within a second of the scan that made it (the figures are printed below)."""
    _login(page, lane, "olga")
    wait_until(lambda: _state(page)["core"]["mode"] in ("OPEN", "CLOSED"), 5.0, "a cycle mode")
    for _ in range(50):
        for command, mode in (("close", "CLOSED"), ("open", "OPEN")):
            if _state(page)["core"]["mode"] == mode:
                continue
            assert _post(f"{lane.api_url}/commands/{command}") == 202
            wait_until(lambda m=mode: _state(page)["core"]["mode"] == m, 2.0, f"mode {mode}")
    samples = _collect_latency(page, lane)
    assert len(samples) >= 99
    assert max(samples) < 1000.0


def test_stream_cut_by_the_server_resumes_with_no_gap_and_no_duplicate(
    browser: Browser, tmp_path: Path
) -> None:
    """Streams end every 2 s (stream_max_s); the page resumes with Last-Event-ID and holds
    every event the journal holds from its first one on, in order, none twice."""
    lane = start_console_lane(tmp_path, first_arrival_s=3600.0, stream_max_s=2, camera=False)
    context = browser.new_context()
    try:
        page = context.new_page()
        _login(page, lane, "olga")
        t_end = time.monotonic() + 7.0
        while time.monotonic() < t_end:  # events arriving whether the page is connected or not
            assert _post(f"{lane.url}api/commands/release") == 401
            time.sleep(0.1)
        last = journal_events(lane.journal)[-1]["id"]
        wait_until(
            lambda: page.evaluate("window.lanectl.eventIds.at(-1)") == last, 5.0, "the last event"
        )
        ids: list[int] = page.evaluate("window.lanectl.eventIds")
        opens = page.evaluate("window.lanectl.streamOpens")
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        journal_ids = [e["id"] for e in journal_events(lane.journal) if e["id"] >= ids[0]]
        assert opens >= 3, opens
        assert len(ids) == len(set(ids))
        assert ids == journal_ids
        assert len(ids) > 50
    finally:
        context.close()
        lane.stop()


def test_journal_says_who_did_what_and_still_replays_identically(lane: ConsoleLane) -> None:
    """`lanectl journal tail --who` lists the console's logins and commands with user, role
    and address; the journal, console actions included, verifies and replays bit for bit."""
    from controller.cli import main
    from controller.journal import replay, verify

    lane.stop()  # the controller flushes its journal on SIGTERM
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "journal",
            "tail",
            "--who",
            "-n",
            "500",
            str(lane.journal),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(
        "olga (operator) from 127.0.0.1: user_command command=release outcome=queued" in ln
        for ln in lines
    )
    assert any("otto (-) from 127.0.0.1: login_failed" in ln for ln in lines)
    assert any("sam (supervisor) from 127.0.0.1: login" in ln for ln in lines)
    assert all(" from " in ln for ln in lines)
    assert main(["journal", "verify", str(lane.journal)]) == 0
    assert verify(lane.journal).ok
    result = replay(lane.journal)
    assert result.identical, result.divergence


def test_latency_figures() -> None:
    """The state -> page latencies measured above, printed (the figure is not a test bound)."""
    assert LATENCIES_MS, "no latency sample was collected"
    ordered = sorted(LATENCIES_MS)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"\nconsole state -> page latency: n={len(ordered)} "
        f"p50={statistics.median(ordered):.1f} ms p99={p99:.1f} ms max={ordered[-1]:.1f} ms"
    )
