"""Frame sources and the simulated IP camera: files, MJPEG over HTTP, staleness, the provider."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from controller.core.types import CameraHealth
from controller.io.camera import CapturedFrame, FrameSource, SourceError, parse_source, read_video
from controller.vision.detector import DetectorSettings, Fault, SettingsError
from controller.vision.presence import (
    CameraSettings,
    PresenceProvider,
    from_config,
    settings_from_config,
)
from controller.vision.zones import ZoneError
from hw_sim.camera import CameraSpec, LaneCamera, Vehicle
from hw_sim.camera_server import MjpegServer, Publisher

SPEC = CameraSpec(width=320, height=180, fps=15.0)


def _wait(predicate: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _write_clip(path: Path, frames: int) -> None:
    cam = LaneCamera(SPEC, seed=2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 15.0, (320, 180))
    for i in range(frames):
        writer.write(cv2.cvtColor(cam.render([], 0, i * 67), cv2.COLOR_GRAY2BGR))
    writer.release()


def test_parse_source() -> None:
    """Digits select a V4L2 index; anything else stays a URL or path; empty is an error."""
    assert parse_source("0") == 0
    assert parse_source("/dev/video2") == "/dev/video2"
    assert parse_source("http://127.0.0.1:1/stream.mjpg").startswith("http")
    with pytest.raises(SourceError, match="empty"):
        parse_source("  ")


def test_read_video_gives_grey_frames_with_video_time(tmp_path: Path) -> None:
    """A file is read as grey frames stamped with the clip's own time, not the wall clock."""
    clip = tmp_path / "c.mp4"
    _write_clip(clip, 12)
    frames = list(read_video(str(clip)))
    assert [i for i, _, _ in frames] == list(range(12))
    assert frames[3][1] == 200
    assert frames[0][2].shape == (180, 320) and frames[0][2].dtype == np.uint8
    with pytest.raises(SourceError, match="cannot open"):
        list(read_video(str(tmp_path / "missing.mp4")))


def test_frame_source_reads_a_file_in_its_thread(tmp_path: Path) -> None:
    """A file source hands every frame, in order with sequence numbers, then finishes."""
    clip = tmp_path / "c.mp4"
    _write_clip(clip, 10)
    got: list[CapturedFrame] = []
    source = FrameSource(str(clip), got.append, reconnect=False)
    with source:
        assert source.finished.wait(10.0)
    assert [f.seq for f in got] == list(range(10))
    assert all(f.grey.ndim == 2 for f in got)
    assert all(b.t_ms >= a.t_ms for a, b in itertools.pairwise(got))
    assert source.error is None


@pytest.fixture
def mjpeg() -> object:
    server = MjpegServer().start()
    cam = LaneCamera(SPEC, seed=4)
    clock = {"t": 0}

    def render() -> np.ndarray:  # type: ignore[type-arg]
        clock["t"] += 67
        return cam.render([Vehicle(id=1, front_x_m=-6.0)], 0, clock["t"])

    publisher = Publisher(server, render, fps=15.0).start()
    try:
        yield server, publisher
    finally:
        publisher.close()
        server.close()


def test_mjpeg_stream_is_read_by_videocapture(mjpeg: tuple[MjpegServer, Publisher]) -> None:
    """cv2.VideoCapture reads the simulated camera's MJPEG stream like an IP camera's."""
    server, _ = mjpeg
    assert server.url.startswith("http://127.0.0.1:")
    got: list[CapturedFrame] = []
    with FrameSource(server.url, got.append) as source:
        assert _wait(lambda: len(got) >= 5)
        assert not source.stale(stale_ms=1000)
    assert got[-1].grey.shape == (180, 320)
    assert got[-1].seq == len(got) - 1


def test_snapshot_and_unknown_path(mjpeg: tuple[MjpegServer, Publisher]) -> None:
    """/snapshot.jpg returns one JPEG of the frame size; other paths are 404."""
    server, _ = mjpeg
    base = f"http://127.0.0.1:{server.port}"
    assert _wait(lambda: server._jpeg is not None)
    with urllib.request.urlopen(f"{base}/snapshot.jpg", timeout=5) as resp:
        data = resp.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (180, 320)
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{base}/other", timeout=5)


def test_server_refuses_non_loopback() -> None:
    """The simulated camera binds loopback only."""
    with pytest.raises(ValueError, match="loopback"):
        MjpegServer(host="0.0.0.0")


def test_source_reconnects_after_the_stream_returns() -> None:
    """A live source whose server goes away reconnects when a server is back on that port."""
    server = MjpegServer().start()
    port = server.port
    cam = LaneCamera(SPEC, seed=4)
    publisher = Publisher(server, lambda: cam.render([], 0, 0), fps=15.0).start()
    got: list[CapturedFrame] = []
    source = FrameSource(server.url, got.append, backoff_min_ms=50, backoff_max_ms=200).start()
    second: MjpegServer | None = None
    second_pub: Publisher | None = None
    try:
        assert _wait(lambda: len(got) >= 3)
        publisher.close()
        server.close()
        assert _wait(lambda: source.stale(stale_ms=300), 15.0)
        second = MjpegServer(port=port).start()
        second_pub = Publisher(second, lambda: cam.render([], 0, 0), fps=15.0).start()
        before = len(got)
        assert _wait(lambda: len(got) > before + 3, 20.0)
        assert source.opens >= 2
    finally:
        source.close()
        if second_pub is not None:
            second_pub.close()
        if second is not None:
            second.close()


def _zones_cfg(camera: LaneCamera) -> list[dict[str, object]]:
    return [{"name": z.name, "polygon": [list(p) for p in z.polygon]} for z in camera.zones()]


def test_provider_reports_zones_then_stale_fault(mjpeg: tuple[MjpegServer, Publisher]) -> None:
    """The provider sees the car in the bay; when frames stop it reports FAULT, never empty."""
    server, publisher = mjpeg
    cam = LaneCamera(SPEC, seed=4)
    provider = from_config(
        {"url": server.url, "zones": _zones_cfg(cam), "detector": {"stale_ms": 500}}
    )
    try:
        assert _wait(lambda: provider.zones(0).health is CameraHealth.OK, 15.0)
        # The car was there from the first frame: it is in the reference until
        # the controller says the bay is empty, so only the health is checked here.
        assert provider.frames > 0
        assert provider.last_capture_ms is not None
        assert isinstance(provider.zones(0).bay_still_ms, int)
        publisher.close()
        assert _wait(lambda: provider.zones(0).health is CameraHealth.FAULT, 10.0)
        assert Fault.STALE in provider.faults()
        # A camera that cannot see says nothing about standstill.
        assert provider.zones(0).bay_still_ms is None
    finally:
        provider.close()


def test_provider_sees_a_car_arrive(tmp_path: Path) -> None:
    """A car driving into the bay after start-up turns the bay on; the frame log records it."""
    server = MjpegServer().start()
    cam = LaneCamera(SPEC, seed=6)
    start = time.monotonic()

    def render() -> np.ndarray:  # type: ignore[type-arg]
        t = time.monotonic() - start
        cars = [] if t < 1.5 else [Vehicle(id=2, front_x_m=min(-3.0, -25.0 + 8.0 * (t - 1.5)))]
        return cam.render(cars, 0, int(t * 1000))

    publisher = Publisher(server, render, fps=15.0).start()
    log = tmp_path / "frames.json"
    provider = PresenceProvider(
        CameraSettings(
            url=server.url, zones=cam.zones(), detector=DetectorSettings(), frame_log=str(log)
        )
    )
    try:
        assert _wait(lambda: provider.zones(0).bay, 15.0)
        assert provider.zones(0).health is CameraHealth.OK
        assert any(zone == "bay" and on for _, zone, on in provider.changes)
        # It stops at the stop line 4.25 s after start: from then on the bay reports
        # how long it has stood.
        assert _wait(lambda: (provider.zones(0).bay_still_ms or 0) >= 500, 15.0)
        assert time.monotonic() - start >= 4.25 + 0.5 - 0.2
    finally:
        provider.close()
        publisher.close()
        server.close()
    frames = json.loads(log.read_text())["frames"]
    assert any(bits[1] == "1" for _, _, bits, _, _, _ in frames)
    used = [(capture, consumed) for _, capture, _, _, consumed, _ in frames if consumed is not None]
    assert used and all(consumed >= capture for capture, consumed in used)
    # No scan loop wrote coils here: no frame has a coil time.
    assert all(written is None for *_, written in frames)


def test_settings_from_config_errors() -> None:
    """Missing url, unknown zone names and bad detector keys are named errors."""
    zones = [{"name": "bay", "polygon": [[0, 0], [10, 0], [10, 10]]}]
    with pytest.raises(ZoneError, match=r"camera\.url"):
        settings_from_config({"zones": zones})
    with pytest.raises(ZoneError, match="unknown zone"):
        settings_from_config(
            {"url": "x", "zones": [{"name": "lobby", "polygon": [[0, 0], [1, 0], [1, 1]]}]}
        )
    with pytest.raises(SettingsError, match=r"camera\.detector\.nope"):
        settings_from_config({"url": "x", "zones": zones, "detector": {"nope": 1}})
    with pytest.raises(ZoneError, match="stale_ms"):
        settings_from_config({"url": "x", "zones": zones, "detector": {"stale_ms": 0}})
    ok = settings_from_config({"url": "x", "zones": zones, "detector": {"cell": 8}})
    assert ok.detector.cell == 8 and ok.stale_ms == 1000


def test_settings_from_a_config_dataclass() -> None:
    """The lane config's CameraConfig (dataclass with zone objects) is accepted as is."""
    from controller.config import CameraConfig, CameraZoneConfig

    cfg = CameraConfig(
        url="http://127.0.0.1:9/stream.mjpg",
        zones=(CameraZoneConfig(name="barrier", polygon=((0.0, 0.0), (8.0, 0.0), (8.0, 8.0))),),
        detector={"on_ms": 200},
    )
    settings = settings_from_config(cfg)
    assert settings.zones[0].name == "barrier"
    assert settings.detector.on_ms == 200
