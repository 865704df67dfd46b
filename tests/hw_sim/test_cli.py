"""``lanectl sim`` as a process: prints its real address, serves, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

START_TIMEOUT_S = 30.0


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )


def _first_line(popen: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    got = threading.Event()

    def reader() -> None:
        assert popen.stdout is not None
        lines.append(popen.stdout.readline())
        got.set()

    threading.Thread(target=reader, daemon=True).start()
    assert got.wait(START_TIMEOUT_S), "no output from lanectl sim"
    return lines[0]


def _stop(popen: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if popen.poll() is None:
        popen.send_signal(sig)
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
    return int(popen.returncode)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_port_zero_prints_the_real_port_and_stops_on_signal(tmp_path: Path, sig: int) -> None:
    """--port 0 binds a free port, prints it, answers Modbus there, exits 0 and writes the truth."""
    truth = tmp_path / "truth.json"
    popen = _start("--scenario", "checkpoint", "--port", "0", "--truth-out", str(truth))
    try:
        line = _first_line(popen)
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        port = int(match.group(1))
        assert 0 < port < 65536
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(struct.pack(">HHHBBHH", 9, 0, 6, 1, 4, 1, 1))  # FC4, IR 1
            reply = s.recv(64)
        assert reply[:2] == b"\x00\x09" and reply[7] == 4 and reply[8] == 2
    finally:
        code = _stop(popen, sig)
    assert code == 0
    data = json.loads(truth.read_text())
    assert data["scenario"] == "checkpoint" and "summary" in data


def test_unknown_scenario_exits_nonzero_naming_it() -> None:
    """A bad --scenario fails at once with a message naming the option and the known scenarios."""
    popen = _start("--scenario", "no_such_lane", "--port", "0")
    try:
        _, err = popen.communicate(timeout=30)
    finally:
        _stop(popen)
    assert popen.returncode != 0
    assert "--scenario" in err and "no_such_lane" in err and "checkpoint" in err
