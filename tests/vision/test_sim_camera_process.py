"""``lanectl sim --camera-port``: the simulator serves its camera to any VideoCapture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest


@pytest.mark.hil
def test_sim_serves_camera_and_logs_truth(tmp_path: Path) -> None:
    """The sim writes the camera URL and zones, serves frames, and logs truth per frame on exit."""
    info, log = tmp_path / "info.json", tmp_path / "log.json"
    cmd = [sys.executable, "-m", "controller.cli", "sim", "--port", "0", "--scenario", "rush"]
    cmd += ["--camera-port", "0", "--camera-info-out", str(info), "--camera-log", str(log)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("listening on"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert line.startswith("listening on"), line
        data = json.loads(info.read_text())
        assert [z["name"] for z in data["zones"]] == ["approach", "bay", "barrier", "exit"]
        cap = cv2.VideoCapture(data["url"])
        try:
            frames = [cap.read() for _ in range(5)]
        finally:
            cap.release()
        assert all(ok for ok, _ in frames)
        assert frames[-1][1].shape[:2] == (360, 640)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert proc.returncode == 0
    logged = json.loads(log.read_text())
    assert logged["zones"] == ["approach", "bay", "barrier", "exit"]
    assert len(logged["frames"]) >= 5
    assert all(len(bits) == 4 for _, bits in logged["frames"])
