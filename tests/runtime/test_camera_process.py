"""The detector in a child process: same answers as in process, through shared memory; a
dead child is a camera fault; nothing is left behind; the console's stream still works."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config import Config, ConfigError, parse_config
from controller.console.camera import SharedJpeg, camera_view, mjpeg
from controller.core.types import CameraHealth, CameraZones
from controller.runtime import make_camera
from controller.vision import process as proc_mod
from controller.vision.detector import DetectorSettings, Fault
from controller.vision.presence import CameraSettings, PresenceProvider
from controller.vision.process import ProcessProvider
from tests.runtime.camera_fakes import STEP_MS, pause_until, scene_zones, scripted

SCENE_FRAMES = 150
"""6 s: the car arrives at 1.5 s and stands at the stop line from about 4.3 s."""


def _settings(url: str, log: Path | None = None, stale_ms: int = 5000) -> CameraSettings:
    return CameraSettings(
        url=url,
        zones=scene_zones(),
        detector=DetectorSettings(),
        stale_ms=stale_ms,
        frame_log=None if log is None else str(log),
    )


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie has exited; only its parent's wait is missing.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def _shm_exists(name: str) -> bool:
    return Path("/dev/shm", name.lstrip("/")).exists()


# ---- the shared-memory record ----


@pytest.mark.parametrize(
    "zones",
    [
        CameraZones(health=CameraHealth.FAULT),
        CameraZones(health=CameraHealth.OK, bay=True, bay_still_ms=1234),
        CameraZones(
            health=CameraHealth.OK, approach=True, barrier=True, exit=True, bay_still_ms=None
        ),
        CameraZones(health=CameraHealth.OK, bay=True, bay_still_ms=0),
        CameraZones(health=CameraHealth.OK, approach=True, exit=True, bay_still_ms=7),
    ],
)
def test_answer_record_round_trips(zones: CameraZones) -> None:
    """Every field of the answer comes back as written; a flipped byte is refused (CRC)."""
    faults = frozenset({Fault.SHAKEN, Fault.BLINDED})
    raw = proc_mod._pack_answer(41, 123_456_789, zones, faults, (True, False, True, False), True)
    answer = proc_mod._unpack_answer(raw, 4)
    assert answer is not None
    assert (answer.seq, answer.capture_ms, answer.zones) == (41, 123_456_789, zones)
    assert answer.faults == faults and answer.occupied == (True, False, True, False)
    assert answer.answered
    broken = bytearray(raw)
    broken[9] ^= 0x01
    assert proc_mod._unpack_answer(bytes(broken), 4) is None


def test_a_reader_never_believes_a_write_in_progress() -> None:
    """An odd seqlock counter (a write under way, or a writer that died in it) yields no
    copy after a bounded number of tries: the caller keeps its last good answer."""
    buf = memoryview(bytearray(64))
    proc_mod._write_locked(buf, 0, 8, b"abcd")
    assert proc_mod._read_consistent(buf, 0, 8, 4) == b"abcd"
    proc_mod._set_counter(buf, 0, proc_mod._counter(buf, 0) + 1)
    started = time.monotonic()
    assert proc_mod._read_consistent(buf, 0, 8, 4) is None
    assert time.monotonic() - started < 0.5


# ---- the child process ----


@pytest.mark.slow
def test_child_answers_as_the_in_process_provider(tmp_path: Path) -> None:
    """On the same rendered stream (same frames, same relative times) the child's answers
    read through shared memory are the in-process provider's, frame by frame."""
    inproc_log, child_log = tmp_path / "in.json", tmp_path / "child.json"
    url = f"scripted:{SCENE_FRAMES}"
    child = ProcessProvider(_settings(url, child_log), source_factory=scripted)
    inproc = PresenceProvider(_settings(url, inproc_log), source_factory=scripted)
    through_shm: dict[int, tuple[int, CameraZones]] = {}
    try:
        child.wait_ready()
        deadline = time.monotonic() + SCENE_FRAMES * STEP_MS / 1000.0 + 30.0
        while time.monotonic() < deadline:
            latest = child.latest()
            if latest is not None:
                through_shm[latest[0]] = (latest[1], latest[2])
                if latest[0] == SCENE_FRAMES - 1:
                    break
            time.sleep(0.002)
        assert pause_until(lambda: inproc.frames >= SCENE_FRAMES, 30.0)
    finally:
        child.close()
        inproc.close()
    expected = json.loads(inproc_log.read_text())["frames"]
    got = json.loads(child_log.read_text())["frames"]
    assert len(expected) == len(got) == SCENE_FRAMES
    t_in, t_child = expected[0][1], got[0][1]
    # seq, time since the first frame, presence bits (approach, bay, barrier, exit), healthy
    assert [(e[0], e[1] - t_in, e[2], e[3]) for e in expected] == [
        (g[0], g[1] - t_child, g[2], g[3]) for g in got
    ]
    # The scene's car was seen: it entered the bay, and the in-process answers say so too.
    assert any(e[2][1] == "1" for e in expected)
    # What a scan reads through shared memory is what the child's detector answered.
    assert len(through_shm) >= SCENE_FRAMES // 2
    by_seq = {e[0]: e for e in expected}
    for seq, (capture, zones) in through_shm.items():
        bits, healthy = by_seq[seq][2], by_seq[seq][3]
        assert capture - t_child == by_seq[seq][1] - t_in
        assert (zones.health is CameraHealth.OK) == healthy
        if healthy:
            flags = (zones.approach, zones.bay, zones.barrier, zones.exit)
            assert "".join("1" if f else "0" for f in flags) == bits
    standing = [z for _, z in through_shm.values() if z.bay and (z.bay_still_ms or 0) >= 500]
    assert standing, "the car standing in the bay reports its standstill"


@pytest.mark.slow
def test_a_killed_child_is_a_camera_fault_at_once(tmp_path: Path) -> None:
    """SIGKILL to the child: the scan's answer is FAULT (STALE) at once (the parent waits on
    the child's sentinel), not only once the last answer is stale_ms old; never an empty
    lane; closing afterwards still removes the segments."""
    stale_ms = 2000
    provider = ProcessProvider(
        _settings("scripted:forever", stale_ms=stale_ms), source_factory=scripted
    )
    pid = provider.pid
    assert pid is not None
    try:
        provider.wait_ready()
        assert pause_until(lambda: provider.zones(0).health is CameraHealth.OK, 30.0)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        assert pause_until(lambda: provider.zones(0).health is CameraHealth.FAULT, 5.0)
        took_ms = (time.monotonic() - killed) * 1000.0
        assert took_ms < stale_ms / 4, took_ms
        assert Fault.STALE in provider.faults()
        assert not provider.alive
        assert provider.zones(0) == CameraZones(health=CameraHealth.FAULT)
    finally:
        provider.close()
    assert _gone(pid)
    assert not any(_shm_exists(name) for name in provider.segments)


@pytest.mark.slow
def test_close_leaves_no_process_and_no_segment(tmp_path: Path) -> None:
    """A clean close stops the child (bounded) and unlinks both segments; view() after
    close still answers from what it last read."""
    provider = ProcessProvider(_settings("scripted:forever"), source_factory=scripted)
    pid = provider.pid
    assert pid is not None
    names = provider.segments
    assert all(_shm_exists(name) for name in names)
    provider.wait_ready()
    assert pause_until(lambda: provider.view().frame is not None, 10.0)
    started = time.monotonic()
    provider.close()
    assert time.monotonic() - started < proc_mod.CLOSE_TIMEOUT_S * 2
    assert _gone(pid)
    assert not any(_shm_exists(name) for name in names)
    assert provider.view().frame is not None
    assert provider.zones(0).health is CameraHealth.FAULT
    provider.close()  # a second close is harmless


@pytest.mark.slow
def test_the_child_ends_with_its_parent(tmp_path: Path) -> None:
    """The controller killed with SIGKILL: its camera child exits by itself (the pipe's end
    and the parent pid), and the resource tracker removes the segments."""
    script = textwrap.dedent(
        """
        import sys, time
        from controller.vision.presence import CameraSettings
        from controller.vision.detector import DetectorSettings
        from controller.vision.process import ProcessProvider
        from tests.runtime.camera_fakes import scene_zones, scripted

        if __name__ == "__main__":
            p = ProcessProvider(
                CameraSettings(url="scripted:forever", zones=scene_zones(),
                               detector=DetectorSettings()),
                source_factory=scripted,
            )
            p.wait_ready()
            print(p.pid, *p.segments, flush=True)
            time.sleep(60)
        """
    )
    path = tmp_path / "parent.py"
    path.write_text(script)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    parent = subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()
        assert len(line) == 3, line
        child_pid, names = int(line[0]), line[1:]
        assert not _gone(child_pid)
        parent.kill()
        parent.wait(10)
        assert pause_until(lambda: _gone(child_pid), 5.0)
        assert pause_until(lambda: not any(_shm_exists(n) for n in names), 10.0)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


# ---- config and console ----


def _lane(tmp_path: Path, camera: str) -> Config:
    text = textwrap.dedent(
        f"""
        [lane]
        name = "t"
        [io]
        host = "127.0.0.1"
        port = 1502
        [journal]
        path = "{tmp_path / "j.sqlite"}"
        [camera]
        url = "scripted:10"
        {camera}
        [[camera.zone]]
        name = "bay"
        polygon = [[0, 0], [100, 0], [100, 100]]
        """
    )
    return parse_config(tomllib.loads(text), tmp_path / "lane.toml")


def test_config_chooses_the_provider(tmp_path: Path) -> None:
    """``[camera] process`` is a boolean, named in its error; true (the default) is the
    child process, false the in-process provider, each made by make_camera."""
    default = _lane(tmp_path, "")
    assert default.camera is not None and default.camera.process is True
    off = _lane(tmp_path, "process = false")
    assert off.camera is not None and off.camera.process is False
    with pytest.raises(ConfigError, match=r"camera\.process.*true or false"):
        _lane(tmp_path, 'process = "yes"')
    for config, kind in ((default, ProcessProvider), (off, PresenceProvider)):
        camera = make_camera(config)
        try:
            assert type(camera) is kind
        finally:
            assert camera is not None
            camera.close()


@pytest.mark.slow
def test_console_camera_stream_through_the_child() -> None:
    """``/camera.mjpg`` and the page's camera view work on the child's shared frames: the
    JPEG decodes to the child's latest frame size, and the zones are drawn."""
    provider = ProcessProvider(_settings("scripted:forever"), source_factory=scripted)

    async def go() -> tuple[bytes, dict[str, Any] | None]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await mjpeg(request, SharedJpeg(provider), 1.0)

        app = web.Application()
        app.router.add_get("/camera.mjpg", handler)
        async with TestClient(TestServer(app)) as client:
            resp = await asyncio.wait_for(client.get("/camera.mjpg"), 10.0)
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            body = await asyncio.wait_for(resp.read(), 10.0)
        return body, camera_view(provider)

    try:
        provider.wait_ready()
        assert pause_until(lambda: provider.view().frame is not None, 10.0)
        body, view = asyncio.run(go())
    finally:
        provider.close()
    start = body.index(b"\xff\xd8")
    end = body.index(b"\xff\xd9", start) + 2
    picture = cv2.imdecode(np.frombuffer(body[start:end], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None and picture.shape == (180, 320)
    assert view is not None and (view["width"], view["height"]) == (320, 180)
    assert {z["name"] for z in view["zones"]} == {"approach", "bay", "barrier", "exit"}
