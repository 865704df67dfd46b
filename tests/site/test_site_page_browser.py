"""The site page in a real browser (Chromium driven by Playwright) against a real
``lanectl site demo``: its own Mosquitto, three simulated lanes (``lanectl sim`` +
``lanectl run`` each) and the supervisor with its page. The page shows every lane,
follows a lane's state change within a second, a supervisor's pin closes a lane, a
viewer cannot pin, and the demo stops everything it started.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from controller.children import Child, start_child, stop_child
from controller.console.users import Role, UsersFile
from controller.site.decisionlog import DecisionLog
from tests.browser import log_in
from tests.site.helpers import wait_until

pytestmark = [pytest.mark.hil, pytest.mark.slow]

LANES = ("lane1", "lane2", "lane3")
SUPERVISOR_PW = "supervisor-page-pw"
VIEWER_PW = "viewer-page-pw-1"
LATENCIES_MS: list[float] = []


@dataclass
class Demo:
    child: Child
    workdir: Path
    url: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("sitedemo")
    (workdir / "pw").write_text(SUPERVISOR_PW + "\n", encoding="utf-8")
    keep = workdir / "site"
    child, rest = start_child(
        "site-demo",
        [
            *("site", "demo", "--lanes", str(len(LANES)), "--keep", str(keep)),
            *("--password-file", str(workdir / "pw"), "--tick-s", "0.5"),
        ],
        workdir,
        "site page:",
        timeout_s=120.0,
    )
    try:
        # The page re-reads its users file when it changes: a viewer joins.
        users = UsersFile(keep / "users.json")
        users.add("vic", Role.VIEWER, VIEWER_PW)
        users.save()
        url = rest.split()[0]
        assert rest.split()[1:] == ["user", "supervisor", "password", SUPERVISOR_PW]
        yield Demo(child, keep, url)
    finally:
        stop_child(child, 60.0)


def _login(page: Page, demo: Demo, user: str, password: str) -> None:
    log_in(page, demo.url, user, password, view="site", ready="window.sitepage.last !== null")


def _iso_ms(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp() * 1000.0


def _first_seen(page: Page) -> dict[tuple[str, str], list[tuple[float, str, str]]]:
    """For each lane state (lane, its time) that came live (not in the first message of a
    stream): when the page first had it, mode and phase."""
    received: list[dict[str, Any]] = page.evaluate("window.sitepage.received")
    seen: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
    replayed = {
        (lane["lane"], lane["time"]) for r in received if r["replayed"] for lane in r["lanes"]
    }
    for r in received:
        for lane in r["lanes"]:
            if (lane["lane"], lane["time"]) in replayed:
                continue
            if lane["time"]:
                seen.setdefault((lane["lane"], lane["time"]), []).append(
                    (float(r["t"]), str(lane["mode"]), str(lane["phase"]))
                )
    return seen


def test_page_shows_every_lane_and_follows_a_pin_within_a_second(
    page: Page, demo: Demo, tmp_path: Path
) -> None:
    """Every lane has its row; the supervisor pins lane2 closed on the page, the supervisor
    closes it, and the page holds the lane's CLOSED state within a second of the lane
    publishing it; every lane state the page got is timed the same way."""
    _login(page, demo, "supervisor", SUPERVISOR_PW)
    page.wait_for_function(
        f"() => document.querySelectorAll('#lanes tr[data-lane]').length === {len(LANES)}",
        timeout=30_000,
    )
    rows = page.eval_on_selector_all("#lanes tr[data-lane]", "rs => rs.map(r => r.dataset.lane)")
    assert rows == list(LANES)
    # The supervisor opens lanes as queues build; wait for lane2 to be open before pinning.
    page.wait_for_selector('tr[data-lane="lane2"][data-mode="OPEN"]', timeout=90_000)
    pinned_ms = page.evaluate("Date.now()")
    page.click('tr[data-lane="lane2"] button[data-pin="closed"]')
    page.wait_for_selector('tr[data-lane="lane2"] button[data-pin="closed"].chosen', timeout=5000)
    page.wait_for_selector('tr[data-lane="lane2"][data-mode="CLOSED"]', timeout=90_000)
    seen = _first_seen(page)
    closed = sorted(
        (times[0][0], _iso_ms(time))
        for (lane, time), times in seen.items()
        if lane == "lane2"
        and _iso_ms(time) > pinned_ms
        and any(mode == "CLOSED" for _, mode, _ in times)
    )
    assert closed, "the page never had lane2 CLOSED"
    got_ms, published_ms = closed[0]
    assert got_ms - published_ms < 1000.0, (
        f"lane2 CLOSED reached the page {got_ms - published_ms} ms late"
    )
    samples = [times[0][0] - _iso_ms(time) for (_, time), times in seen.items()]
    LATENCIES_MS.extend(samples)
    assert len(samples) >= 3
    # A bar of an empty bucket has no height and is never "visible": wait for one with
    # arrivals, which the queues that opened lane2 guarantee.
    page.wait_for_selector('#chart rect.bar:not([data-arrivals="0"])', timeout=20_000)
    assert page.eval_on_selector("#chart", "s => s.querySelectorAll('path.cap').length") == 1
    assert page.text_content("#journal li[data-kind='pin']") is not None
    page.screenshot(path=str(tmp_path / "site-live.png"), full_page=True)
    log = DecisionLog(demo.workdir / "supervisor.sqlite")
    try:
        rows_ = log.rows()
    finally:
        log.close()
    pins = [(r["lane"], r["body"]["pin"], r["body"]["user"]) for r in rows_ if r["kind"] == "pin"]
    assert pins == [("lane2", "closed", "supervisor")]
    closes = [r for r in rows_ if r["kind"] == "decision" and r["body"]["action"] == "close"]
    assert [(r["lane"], r["body"]["reason"]) for r in closes][:1] == [("lane2", "pinned_closed")]


def test_viewer_sees_the_site_but_cannot_pin(page: Page, demo: Demo) -> None:
    """A viewer's pin buttons are disabled, and a pin forced through the page's own API
    call is refused (403) and changes nothing."""
    _login(page, demo, "vic", VIEWER_PW)
    page.wait_for_function(
        f"() => document.querySelectorAll('#lanes tr[data-lane]').length === {len(LANES)}",
        timeout=10_000,
    )
    disabled = page.eval_on_selector_all("#lanes button[data-pin]", "bs => bs.map(b => b.disabled)")
    assert disabled and all(disabled)
    result = page.evaluate("api('/api/pins/lane1', {pin: 'open'})")
    assert result["status"] == 403
    assert result["data"]["detail"] == "pinning a lane is not for role viewer"
    last = page.evaluate("window.sitepage.last")
    lane1 = next(lane for lane in last["lanes"] if lane["lane"] == "lane1")
    assert lane1["pin"] is None


def test_demo_stops_everything_it_started(demo: Demo) -> None:
    """SIGTERM (as Ctrl-C): the demo prints its report, exits 0, and its broker and lanes
    are gone."""
    broker_port = int(
        next(
            line.split("=")[1]
            for line in (demo.workdir / "site.toml").read_text(encoding="utf-8").splitlines()
            if line.startswith("port =")
        )
    )
    assert stop_child(demo.child, 60.0) == 0
    out = "\n".join(demo.child.lines)
    assert "supervisor journal verified" in out
    assert "lane2" in out and "pinned_closed" in out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", broker_port), timeout=1.0).close()
    for lane in LANES:
        api = [ln for ln in (demo.workdir / f"run-{lane}.log").read_text().splitlines()]
        assert any("runtime_stopped" in ln for ln in api), lane
    if LATENCIES_MS:
        ordered = sorted(LATENCIES_MS)
        print(
            f"\nsite page: lane state published -> page, {len(ordered)} states: "
            f"p50 {statistics.median(ordered):.1f} ms, "
            f"p99 {ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]:.1f} ms, "
            f"max {ordered[-1]:.1f} ms"
        )
    wait_until(lambda: demo.child.proc.poll() is not None, 5, "the demo exited")
