"""The simulated lane and the controller with its console, on loopback, for console tests."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hil.harness import Proc, start_proc, stop_proc

__all__ = ["PASSWORDS", "ConsoleLane", "journal_events", "start_console_lane", "wait_until"]

PASSWORDS = {
    "olga": ("operator", "olga-operator-pw"),
    "sam": ("supervisor", "sam-supervisor-pw"),
    "vic": ("viewer", "vic-viewer-pw"),
    "otto": ("operator", "otto-operator-pw"),
}
"""The console's users in these tests: name -> (role, password)."""

# One car, a while after start, that the simulated operator never releases by itself
# (a 10 min dwell): the tests release it from the page.
SCENARIO = """
[scenario]
name = "console"
description = "One car; the operator at the page releases it."
[traffic]
rate_per_hour = 60
first_arrival_s = {first_arrival_s}
max_vehicles = 1
kinds = {{ car = 1.0 }}
behaviours = {{ compliant = 1.0 }}
[operator]
dwell_s = [600, 600]
aside_share = 0.0
"""


@dataclass
class ConsoleLane:
    workdir: Path
    sim: Proc
    run: Proc
    url: str
    api_url: str
    journal: Path

    def stop(self) -> None:
        stop_proc(self.run)
        stop_proc(self.sim)


def start_console_lane(
    workdir: Path, *, first_arrival_s: float, stream_max_s: int = 300, camera: bool = True
) -> ConsoleLane:
    """Users file, scenario, sim (with its camera), then the controller with the console."""
    from controller.console.users import UsersFile, parse_role

    users = UsersFile(workdir / "users.json")
    for name, (role, password) in PASSWORDS.items():
        users.add(name, parse_role(role), password)
    users.save()
    scenario = workdir / "console.toml"
    scenario.write_text(SCENARIO.format(first_arrival_s=first_arrival_s), encoding="utf-8")
    info = workdir / "camera_info.json"
    sim_args = ["sim", "--scenario", str(scenario), "--port", "0", "--seed", "3"]
    if camera:
        sim_args += ["--camera-port", "0", "--camera-info-out", str(info)]
    sim, addr = start_proc("sim", sim_args, workdir, "listening on")
    port = int(addr.rsplit(":", 1)[1])
    journal = workdir / "journal.sqlite"
    camera_toml = ""
    if camera:
        data = json.loads(info.read_text(encoding="utf-8"))
        camera_toml = "\n".join(
            [
                "[camera]",
                f"url = {json.dumps(data['url'])}",
                *(
                    f"[[camera.zone]]\nname = {json.dumps(z['name'])}\npolygon = "
                    + json.dumps(z["polygon"])
                    for z in data["zones"]
                ),
            ]
        )
    config = workdir / "lane.toml"
    config.write_text(
        f"""[lane]
name = "console-test"
open_on_start = true
[io]
host = "127.0.0.1"
port = {port}
timeout_ms = 250
missed_scans = 2
# A shared CI machine can stall a process for a moment: the console is under test here.
watchdog_ms = 3000
[journal]
path = "{journal}"
[api]
host = "127.0.0.1"
port = 0
[console]
users_file = "users.json"
host = "127.0.0.1"
port = 0
stream_max_s = {stream_max_s}
{camera_toml}
""",
        encoding="utf-8",
    )
    try:
        run, url = start_proc(
            "run", ["run", "--config", str(config)], workdir, "console listening on"
        )
    except BaseException:
        stop_proc(sim)
        raise
    api_line = next(ln for ln in run.lines if ln.startswith("api listening on"))
    api_url = api_line.removeprefix("api listening on").strip()
    return ConsoleLane(workdir, sim, run, url, api_url, journal)


def journal_events(path: Path, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Committed journal events (id, seq, wall, kind, data), oldest first."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = conn.execute("SELECT id, seq, wall, kind, body FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    out = []
    for eid, seq, wall, kind, body in rows:
        if kinds and kind not in kinds:
            continue
        out.append(
            {"id": eid, "seq": seq, "wall": wall, "kind": kind, "data": json.loads(body)["data"]}
        )
    return out


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll every 50 ms until ``predicate()`` is truthy; its value, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
