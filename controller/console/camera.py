"""The camera on the page: zones and presence as a small dict for the event stream, and
the latest frame as an MJPEG stream (a few frames a second) for an ``<img>``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from aiohttp import web

__all__ = ["MJPEG_FPS", "SharedCameraView", "SharedJpeg", "camera_view", "mjpeg"]

MJPEG_FPS = 4.0
_BOUNDARY = "lanectlframe"


def camera_view(camera: Any) -> dict[str, Any] | None:
    """Zones (polygons in frame pixels), presence per zone, faults; None without a camera."""
    if camera is None or not hasattr(camera, "view"):
        return None
    view = camera.view()
    occupied = dict(view.occupied)
    height, width = view.frame.shape if view.frame is not None else (0, 0)
    return {
        "width": int(width),
        "height": int(height),
        "zones": [
            {
                "name": z.name,
                "polygon": [[round(x, 1), round(y, 1)] for x, y in z.polygon],
                "occupied": bool(occupied.get(z.name, False)),
            }
            for z in view.zones
        ],
        "faults": sorted(f.value for f in view.faults),
    }


class SharedCameraView:
    """One camera view for every page's stream, taken at most once per ``every_s``: each
    stream asks five times a second, and twenty pages each taking their own copied the
    camera's frame a hundred times a second on the controller's event loop."""

    def __init__(
        self,
        camera: Any,
        every_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_s <= 0:
            raise ValueError(f"camera view: every_s must be > 0, got {every_s}")
        self._camera = camera
        self._every_s = every_s
        self._clock = clock
        self._taken_at: float | None = None
        self._view: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any] | None:
        now = self._clock()
        if self._taken_at is None or now - self._taken_at >= self._every_s:
            self._view = camera_view(self._camera)
            self._taken_at = now
        return self._view


def _jpeg(frame: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise ValueError("camera frame: JPEG encoding failed")
    return bytes(buf)


class SharedJpeg:
    """The camera's latest frame as JPEG, encoded once per frame for every page: each page
    encoding its own copy made twenty pages twenty 1280x720 encodings per frame."""

    def __init__(self, camera: Any) -> None:
        self._camera = camera
        self._lock = asyncio.Lock()
        self._seq = -1
        self._data = b""
        self.encoded = 0
        """Frames encoded so far."""

    async def latest(self) -> tuple[int, bytes] | None:
        """The newest frame's sequence number and JPEG, None before the first frame."""
        async with self._lock:
            view = self._camera.view()
            if view.frame is None:
                return None
            if view.seq != self._seq:
                self._data = await asyncio.to_thread(_jpeg, view.frame)
                self._seq = view.seq
                self.encoded += 1
            return self._seq, self._data


async def mjpeg(
    request: web.Request, frames: SharedJpeg | None, max_s: float
) -> web.StreamResponse:
    """multipart/x-mixed-replace of the latest frames until the client goes or ``max_s``."""
    if frames is None:
        raise web.HTTPNotFound(text="no camera configured")
    resp = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={_BOUNDARY}",
            "Cache-Control": "no-store",
        }
    )
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    last_seq = -1
    try:
        while loop.time() < deadline:
            latest = await frames.latest()
            if latest is not None and latest[0] != last_seq:
                last_seq, data = latest
                head = (
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n"
                ).encode()
                await resp.write(head + data + b"\r\n")
            await asyncio.sleep(1.0 / MJPEG_FPS)
    except ConnectionResetError:
        pass  # the page went away
    return resp
