"""The simulated camera on the network: MJPEG over HTTP, as an IP camera serves it.

The controller reads it with ``cv2.VideoCapture("http://127.0.0.1:PORT/stream.mjpg")``
exactly as it would read a real camera, so the whole path (JPEG coding, HTTP,
OpenCV's demuxer, the capture thread) is exercised. A publisher thread renders
frames of the plant at the camera's rate and ``publish``es them; every client
gets the latest frame (slow clients skip frames, as with a real camera).
Binds loopback only.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from hw_sim.camera import ZONE_NAMES, CameraSpec, Condition, LaneCamera, VehicleLike

__all__ = ["BOUNDARY", "MjpegServer", "PlantLike", "Publisher", "SimCamera"]

BOUNDARY = "lanectlframe"


class MjpegServer:
    """Serves the latest published frame as ``/stream.mjpg`` and ``/snapshot.jpg``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quality: int = 90) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"host: {host!r} is not loopback; the simulator binds 127.0.0.1 only")
        if not 1 <= quality <= 100:
            raise ValueError(f"quality: {quality} is outside 1..100")
        self._quality = quality
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closing = False
        self.clients = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("/stream.mjpg"):
                    server._stream(self)
                elif self.path.startswith("/snapshot.jpg"):
                    server._snapshot(self)
                else:
                    self.send_error(HTTPStatus.NOT_FOUND, "use /stream.mjpg or /snapshot.jpg")

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def publish(self, frame: npt.NDArray[np.uint8]) -> None:
        """Encode a grey frame once and wake every client."""
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise ValueError("publish: JPEG encoding failed")
        with self._cond:
            self._jpeg = data.tobytes()
            self._seq += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def _next(self, seen: int, timeout_s: float) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq != seen or self._closing, timeout_s)
            return self._seq, self._jpeg

    def _snapshot(self, handler: BaseHTTPRequestHandler) -> None:
        _, jpeg = self._next(0, 2.0)
        if jpeg is None:
            handler.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
            return
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(jpeg)))
        handler.end_headers()
        handler.wfile.write(jpeg)

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        seen = 0
        self.clients += 1
        try:
            while not self._closing:
                seq, jpeg = self._next(seen, 1.0)
                if jpeg is None or seq == seen:
                    continue
                seen = seq
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode("ascii")
                handler.wfile.write(head + jpeg + b"\r\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return
        finally:
            self.clients -= 1


class Publisher:
    """Renders a frame every interval in a thread and publishes it (the camera's shutter)."""

    def __init__(
        self,
        server: MjpegServer,
        render: Callable[[], npt.NDArray[np.uint8]],
        fps: float,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps: must be positive, got {fps}")
        self._server = server
        self._render = render
        self._interval = 1.0 / fps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-publisher", daemon=True)
        self.frames = 0
        self.error: BaseException | None = None

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                self._server.publish(self._render())
                self.frames += 1
        except BaseException as exc:  # reported to the owner
            self.error = exc


class PlantLike(Protocol):
    """What the camera reads of the plant (hw_sim.plant.Plant provides it)."""

    @property
    def now_ms(self) -> int: ...
    @property
    def vehicles(self) -> Sequence[VehicleLike]: ...
    @property
    def boom_position(self) -> int: ...


class SimCamera:
    """The plant's camera on the network: renders the plant, serves MJPEG, logs truth per frame.

    Each published frame is logged with its publish time (monotonic ms, the
    clock the controller stamps captures with on the same machine) and the
    zone truth at that moment, so a detector on the other side of the stream
    can be scored frame by frame.
    """

    def __init__(
        self,
        plant: PlantLike,
        *,
        port: int = 0,
        spec: CameraSpec | None = None,
        condition: Condition = Condition.DAY,
        seed: int = 0,
    ) -> None:
        self.plant = plant
        self.camera = LaneCamera(spec or CameraSpec(), condition, seed)
        self.server = MjpegServer(port=port)
        self.log: collections.deque[tuple[int, str]] = collections.deque(maxlen=200_000)
        self._publisher = Publisher(self.server, self._render, self.camera.spec.fps)

    def _render(self) -> npt.NDArray[np.uint8]:
        vehicles = list(self.plant.vehicles)
        frame = self.camera.render(vehicles, self.plant.boom_position, self.plant.now_ms)
        truth = self.camera.truth(vehicles)
        bits = "".join("1" if truth[z] else "0" for z in ZONE_NAMES)
        self.log.append((time.monotonic_ns() // 1_000_000, bits))
        return frame

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> SimCamera:
        self.server.start()
        self._publisher.start()
        return self

    def close(self) -> None:
        self._publisher.close()
        self.server.close()

    def info(self) -> dict[str, object]:
        """URL and zones, for whoever configures the controller's ``[camera]``."""
        return {
            "url": self.url,
            "fps": self.camera.spec.fps,
            "zones": [
                {"name": z.name, "polygon": [list(p) for p in z.polygon]}
                for z in self.camera.zones()
            ],
        }

    def truth_log(self) -> dict[str, object]:
        """Per published frame: [publish monotonic ms, "abcd" truth bits in ZONE_NAMES order]."""
        return {"zones": list(ZONE_NAMES), "frames": [list(entry) for entry in self.log]}
