"""End to end with a Modbus master that is not pymodbus: mbpoll against ``lanectl sim``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.hil,
    pytest.mark.skipif(
        shutil.which("mbpoll") is None,
        reason="mbpoll is not installed (Debian package mbpoll; .ci/run installs it)",
    ),
]

START_TIMEOUT_S = 30.0
SCENARIO = """
[scenario]
name = "one_car"
[traffic]
schedule_s = [0.5]
kinds = { car = 1.0 }
behaviours = { compliant = 1.0 }
approach_speed_kmh = 30
[operator]
dwell_s = 600
aside_share = 0.0
"""


class Sim:
    def __init__(self, popen: subprocess.Popen[str], port: int, workdir: Path) -> None:
        self.popen = popen
        self.port = port
        self.truth = workdir / "truth.json"
        self.edge_log = workdir / "edges.json"

    def mbpoll(self, table: int, ref: int, count: int = 1) -> list[int]:
        """One poll (-1) of ``count`` items from zero-based reference ``ref`` in ``table``."""
        out = subprocess.run(
            [
                "mbpoll",
                "-m",
                "tcp",
                "-a",
                "1",
                "-t",
                str(table),
                "-0",
                "-r",
                str(ref),
                "-c",
                str(count),
                "-1",
                "-o",
                "1",
                "-p",
                str(self.port),
                "127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        values = dict((int(a), int(b)) for a, b in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out, re.M))
        return [values[ref + i] for i in range(count)]

    def mbpoll_write_coils(self, ref: int, bits: list[int]) -> str:
        return subprocess.run(
            [
                "mbpoll",
                "-m",
                "tcp",
                "-a",
                "1",
                "-t",
                "0",
                "-0",
                "-r",
                str(ref),
                "-1",
                "-o",
                "1",
                "-p",
                str(self.port),
                "127.0.0.1",
                *map(str, bits),
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    scenario = tmp_path / "one_car.toml"
    scenario.write_text(SCENARIO)
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "sim",
            "--scenario",
            str(scenario),
            "--port",
            "0",
            "--watchdog-ms",
            "0",
            "--speed",
            "4",
            "--truth-out",
            str(tmp_path / "truth.json"),
            "--edge-log",
            str(tmp_path / "edges.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def reader() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.append(line)
            ready.set()

    threading.Thread(target=reader, daemon=True).start()
    try:
        assert ready.wait(START_TIMEOUT_S), "lanectl sim printed nothing"
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", lines[0])
        assert match, lines[0]
        port = int(match.group(1))
        assert port != 0
        yield Sim(popen, port, tmp_path)
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)


def _wait_for(sim: Sim, table: int, ref: int, want: int, timeout_s: float = 30.0) -> list[int]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = sim.mbpoll(table, ref)[0]
        seen.append(value)
        if value == want:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"table {table} ref {ref} never read {want}: {seen[-10:]}")


def test_mbpoll_reads_and_writes_the_register_map(sim: Sim) -> None:
    """Coil 0 makes IR 1 climb to 1000 and DI 4 read 1; a car on the bay loop reads 1 on DI 1."""
    # DI 0 (approach loop) may already see the arriving car; the entry is dark, so not the bay.
    assert sim.mbpoll(1, 0, 11)[1:] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert sim.mbpoll(3, 1) == [0]
    # raise (coil 0) and entry green (coil 4), one FC15 write of coils 0..4
    sim.mbpoll_write_coils(0, [1, 0, 0, 0, 1])
    assert sim.mbpoll(0, 0, 5) == [1, 0, 0, 0, 1]
    positions = _wait_for(sim, 3, 1, 1000)
    assert positions == sorted(positions)
    assert sim.mbpoll(1, 4, 2) == [1, 0]
    _wait_for(sim, 1, 1, 1)
    assert sim.mbpoll(1, 0, 4)[1:4] == [1, 0, 0]
    sim.popen.send_signal(signal.SIGTERM)
    assert sim.popen.wait(10) == 0
    truth = json.loads(sim.truth.read_text())
    [car] = truth["vehicles"]
    assert car["bay_entry_ms"] is not None and car["crossing"] is None
    edges = json.loads(sim.edge_log.read_text())
    assert edges["count"] == len(edges["edge_to_coil_ns"])
