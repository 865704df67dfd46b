"""Decoding an MJPEG camera straight to grey, at full, half or quarter size."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.io.camera import DECODE_MODES, CapturedFrame, FrameSource, SourceError
from controller.vision.presence import CameraSettings, PresenceProvider, settings_from_config
from controller.vision.zones import ZoneError
from hw_sim.camera import CameraSpec, LaneCamera
from hw_sim.camera_server import MjpegServer

SPEC = CameraSpec(width=320, height=180, fps=15.0)


def _wait(predicate: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def still() -> Iterator[tuple[MjpegServer, npt.NDArray[np.uint8]]]:
    """A camera serving one frame over and over (so every frame read is that one)."""
    server = MjpegServer(quality=90).start()
    frame = LaneCamera(SPEC, seed=6).render([], 0, 0)
    stop = time.monotonic() + 30.0
    import threading

    done = threading.Event()

    def publish() -> None:
        while not done.is_set() and time.monotonic() < stop:
            server.publish(frame)
            done.wait(0.05)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        yield server, frame
    finally:
        done.set()
        thread.join(5.0)
        server.close()


@pytest.mark.parametrize("decode", ["grey", "grey_half", "grey_quarter", "colour"])
def test_mjpeg_frames_are_the_jpeg_decoded_straight_to_grey(
    still: tuple[MjpegServer, npt.NDArray[np.uint8]], decode: str
) -> None:
    """Each frame equals cv2.imdecode of the served JPEG with the mode's flag (colour: the
    capture's own decode, turned grey), at 1/scale of the camera's size."""
    server, frame = still
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    flag, scale = DECODE_MODES[decode]
    got: list[CapturedFrame] = []
    with FrameSource(server.url, got.append, decode=decode) as source:
        assert _wait(lambda: len(got) >= 3)
    assert source.error is None
    grey = got[-1].grey
    assert grey.shape == (180 // scale, 320 // scale) and grey.dtype == np.uint8
    if decode == "colour":
        assert source.jpeg is None
        want = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
        assert np.abs(grey.astype(int) - want.astype(int)).max() <= 1
    else:
        assert source.jpeg is True
        assert np.array_equal(grey, cv2.imdecode(jpeg, flag))


def test_a_stream_that_is_not_mjpeg_is_decoded_by_the_capture_and_resized(
    tmp_path: Path,
) -> None:
    """An MPEG-4 file: its packets are not JPEG, so it is reopened and decoded by the
    capture, every frame read, at half size when asked."""
    clip = tmp_path / "c.mp4"
    cam = LaneCamera(SPEC, seed=2)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 15.0, (320, 180))
    for i in range(8):
        writer.write(cv2.cvtColor(cam.render([], 0, i * 67), cv2.COLOR_GRAY2BGR))
    writer.release()
    got: list[CapturedFrame] = []
    source = FrameSource(str(clip), got.append, reconnect=False, decode="grey_half")
    with source:
        assert source.finished.wait(10.0)
    assert source.error is None
    assert source.jpeg is False
    assert [f.seq for f in got] == list(range(8))
    assert all(f.grey.shape == (90, 160) for f in got)


def test_unknown_decode_modes_are_named_errors() -> None:
    """A decode mode that does not exist is an error naming the key, in the source and config."""
    with pytest.raises(SourceError, match="decode"):
        FrameSource("x.mp4", decode="grey_third")
    zones = [{"name": "bay", "polygon": [[0, 0], [100, 0], [100, 60], [0, 60]]}]
    with pytest.raises(ZoneError, match=r"camera\.detector\.decode"):
        settings_from_config({"url": "x", "zone": zones, "detector": {"decode": "half"}})
    tiny = [{"name": "bay", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}]
    with pytest.raises(ZoneError, match="too small"):
        settings_from_config({"url": "x", "zone": tiny, "detector": {"decode": "grey_quarter"}})
    ok = settings_from_config({"url": "x", "zone": zones, "detector": {"decode": "grey_half"}})
    assert ok.decode == "grey_half"


def test_the_provider_scales_the_zones_with_the_picture(
    still: tuple[MjpegServer, npt.NDArray[np.uint8]],
) -> None:
    """At half size the detector sees a 160x90 picture with every zone halved, and answers."""
    server, _ = still
    zones = LaneCamera(SPEC).zones()
    settings = CameraSettings(url=server.url, zones=zones, decode="grey_half")
    provider = PresenceProvider(settings, standalone=True)
    try:
        assert _wait(lambda: provider.frames >= 8)
        detector = provider._detector
        assert detector is not None
        assert (detector.height, detector.width) == (90, 160)
        bay = next(z for z in zones if z.name == "bay")
        assert detector._zones[detector.zone_names.index("bay")].polygon == tuple(
            (x / 2, y / 2) for x, y in bay.polygon
        )
    finally:
        provider.close()
