"""Simulated lanes publishing to a site broker: ``lanectl sim`` + ``lanectl run`` with [mqtt]."""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.site.broker import Broker
from tests.hil.harness import Proc, start_proc, stop_proc
from tests.site.helpers import SITE

__all__ = [
    "EventPump",
    "SimLane",
    "journal_ids",
    "lane_procs_fixture",
    "start_sim_lane",
    "store_ids",
    "store_rows",
]


@pytest.fixture(name="lane_procs")
def lane_procs_fixture() -> Iterator[list[Proc]]:
    """Processes a test starts; each is stopped afterwards, the last started first."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            stop_proc(proc)


@dataclass
class SimLane:
    name: str
    workdir: Path
    sim: Proc
    config: Path
    journal: Path
    run: Proc | None = None
    api_url: str = ""

    def start_controller(self, tag: str) -> None:
        self.run, self.api_url = start_proc(
            f"run-{self.name}-{tag}",
            ["run", "--config", str(self.config)],
            self.workdir,
            "api listening on",
        )


def start_sim_lane(
    workdir: Path,
    name: str,
    broker: Broker,
    procs: list[Proc],
    *,
    scenario: str = "rush",
    seed: int = 1,
) -> SimLane:
    """The sim on a free port and a lane config publishing to ``broker`` as ``name``."""
    lane_dir = workdir / name
    lane_dir.mkdir(parents=True, exist_ok=True)
    sim, addr = start_proc(
        f"sim-{name}",
        [
            *("sim", "--scenario", scenario, "--port", "0", "--seed", str(seed)),
            *("--truth-out", str(lane_dir / "truth.json")),
        ],
        lane_dir,
        "listening on",
    )
    procs.append(sim)
    port = int(addr.rsplit(":", 1)[1])
    (lane_dir / "mqtt.pass").write_text(f"pw-{name}-0123\n", encoding="utf-8")
    journal = lane_dir / "journal.sqlite"
    config = lane_dir / "lane.toml"
    config.write_text(
        f"""[lane]
name = "{name}"
[io]
host = "127.0.0.1"
port = {port}
scan_ms = 20
timeout_ms = 250
missed_scans = 2
[journal]
path = "{journal}"
[api]
host = "127.0.0.1"
port = 0
[mqtt]
url = "{broker.url}"
site = "{SITE}"
password_file = "mqtt.pass"
""",
        encoding="utf-8",
    )
    return SimLane(name, lane_dir, sim, config, journal)


class EventPump:
    """Asks each lane's API for a command its core refuses (``maintenance_off`` outside
    maintenance) ``per_s`` times a second: the API refuses each (409) and journals it as an
    ``api_command`` event, so the lanes journal a steady stream of events whatever their
    traffic does."""

    def __init__(self, lanes: list[SimLane], per_s: float = 20.0) -> None:
        self.lanes = lanes
        self.period = 1.0 / per_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-pump", daemon=True)

    def __enter__(self) -> EventPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            for lane in self.lanes:
                if not lane.api_url:
                    continue
                req = urllib.request.Request(
                    f"{lane.api_url}/commands/maintenance_off", method="POST", data=b""
                )
                try:
                    with urllib.request.urlopen(req, timeout=1.0):
                        pass
                except urllib.error.HTTPError as exc:
                    if exc.code == 409:  # refused and journaled, as meant
                        self.sent += 1
                except OSError:
                    pass


def journal_ids(journal: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5.0)
    try:
        return [int(r[0]) for r in conn.execute("SELECT id FROM events ORDER BY id")]
    finally:
        conn.close()


def store_ids(store: Path, lane: str) -> list[int]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5.0)
    try:
        return [
            int(r[0])
            for r in conn.execute("SELECT id FROM events WHERE lane = ? ORDER BY id", (lane,))
        ]
    finally:
        conn.close()


def store_rows(store: Path, lane: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5.0)
    try:
        cur = conn.execute(
            "SELECT id, journal, kind, historical, body FROM events WHERE lane = ? ORDER BY id",
            (lane,),
        )
        return [
            {"id": i, "journal": j, "kind": k, "historical": h, "body": json.loads(b)}
            for i, j, k, h, b in cur
        ]
    finally:
        conn.close()
