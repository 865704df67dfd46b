"""Frame sources over ``cv2.VideoCapture``: the one place the controller opens a camera.

An IP camera (HTTP MJPEG, RTSP), a V4L2 device or a video file all come in
through OpenCV's capture, in a thread of their own, so the scan loop never
waits on a frame. Each frame is turned grey, stamped with the monotonic time it
was read and a sequence number, and handed to a callback in that thread (the
detector runs there, with the GIL released in its kernel). A lost stream is
reopened with a growing backoff; ``stale`` tells the caller when no frame has
come for too long, which the detector reports as a camera fault.

An MJPEG stream (an IP camera over HTTP) is not decoded to colour and then
turned grey: the capture hands over each frame's JPEG bytes and they are
decoded straight to grey, at full, half or quarter size (``decode``). What
each costs per 1280x720 frame at quality 90 (``lanectl bench detector``, the
``decode`` table; two runs on a shared, loaded machine): colour then grey
3.7-4.0 ms, grey 2.6-2.7 ms, grey at half size 2.4-2.5 ms, at quarter size
2.3-2.4 ms. Most of a JPEG's decoding is its entropy decoding, which a
reduced size does not skip: the smaller sizes save the detector more than
the decoder. Other streams (H.264 over RTSP, files, V4L2 without MJPEG) are
decoded by the capture, then resized.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "DECODE_MODES",
    "CapturedFrame",
    "FrameSource",
    "SourceError",
    "decode_scale",
    "parse_source",
    "read_video",
]

DECODE_MODES: dict[str, tuple[int, int]] = {
    "colour": (cv2.IMREAD_COLOR, 1),
    "grey": (cv2.IMREAD_GRAYSCALE, 1),
    "grey_half": (cv2.IMREAD_REDUCED_GRAYSCALE_2, 2),
    "grey_quarter": (cv2.IMREAD_REDUCED_GRAYSCALE_4, 4),
}
"""Decode modes of an MJPEG stream: the ``cv2.imdecode`` flag and the size divisor.
"colour" decodes the full colour picture and turns it grey (what a capture does by itself)."""


class SourceError(ValueError):
    """A camera source string is malformed."""


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One grey frame with its capture time (monotonic ms) and sequence number."""

    seq: int
    t_ms: int
    grey: npt.NDArray[np.uint8]


def parse_source(url: str) -> str | int:
    """A V4L2 index ("0", "/dev/video0" stays a path) or a URL / file path, checked."""
    text = url.strip()
    if not text:
        raise SourceError("camera url: empty (a stream URL, device or video file)")
    if text.isdigit():
        return int(text)
    return text


def _grey(image: npt.NDArray[np.integer[Any] | np.floating[Any]]) -> npt.NDArray[np.uint8]:
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return np.ascontiguousarray(cv2.cvtColor(image, code), dtype=np.uint8)


def decode_scale(decode: str) -> int:
    """The size divisor of a decode mode; an unknown mode is a named error."""
    if decode not in DECODE_MODES:
        raise SourceError(f"decode: {decode!r} is not one of {', '.join(DECODE_MODES)}")
    return DECODE_MODES[decode][1]


def _is_jpeg(packet: npt.NDArray[Any]) -> bool:
    """A capture's raw packet that starts with JPEG's start-of-image marker."""
    flat = packet.ravel()
    return bool(packet.dtype == np.uint8 and flat.size > 4 and flat[0] == 0xFF and flat[1] == 0xD8)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class FrameSource:
    """Reads a capture in a background thread and hands each grey frame to ``on_frame``.

    ``reconnect``: reopen after the stream ends or fails (live cameras); a
    video file is read once unless ``reconnect`` is set. ``pace_fps`` plays a
    file at that rate instead of as fast as it decodes. ``decode``: one of
    ``DECODE_MODES``; frames come out at 1 / ``scale`` of the camera's size.
    """

    def __init__(
        self,
        url: str,
        on_frame: Callable[[CapturedFrame], None] | None = None,
        *,
        reconnect: bool = True,
        backoff_min_ms: int = 200,
        backoff_max_ms: int = 5000,
        open_timeout_ms: int = 3000,
        read_timeout_ms: int = 3000,
        pace_fps: float | None = None,
        clock_ms: Callable[[], int] = _monotonic_ms,
        decode: str = "grey",
    ) -> None:
        self.source = parse_source(url)
        self.scale = decode_scale(decode)
        self.decode = decode
        self.jpeg: bool | None = None
        """After the first frame: whether the stream's JPEG bytes are decoded here."""
        self.url = url
        self._on_frame = on_frame
        self._reconnect = reconnect
        self._backoff_min = backoff_min_ms
        self._backoff_max = backoff_max_ms
        self._open_timeout = open_timeout_ms
        self._read_timeout = read_timeout_ms
        self._pace = pace_fps
        self._clock = clock_ms
        self._raw = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: CapturedFrame | None = None
        self._thread: threading.Thread | None = None
        self.seq = 0
        self.opens = 0
        self.failures = 0
        self.finished = threading.Event()
        """Set when a file source reached its end (or the thread stopped)."""
        self.error: BaseException | None = None
        """An exception raised by on_frame; the thread stops on it."""

    def start(self) -> FrameSource:
        if self._thread is not None:
            raise RuntimeError("FrameSource.start: already started")
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and release the capture (bounded wait)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> FrameSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def latest(self) -> CapturedFrame | None:
        with self._lock:
            return self._latest

    def stale(self, now_ms: int | None = None, stale_ms: int = 1000) -> bool:
        """True when no frame has arrived within stale_ms (or none ever)."""
        frame = self.latest()
        now = self._clock() if now_ms is None else now_ms
        return frame is None or now - frame.t_ms > stale_ms

    def _open(self) -> cv2.VideoCapture | None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._open_timeout,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._read_timeout,
        ]
        cap = cv2.VideoCapture(self.source, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            return None
        self.opens += 1
        if self.decode != "colour" and self.jpeg is not False:
            # Ask for the stream's packets as they come (FFmpeg's capture); for MJPEG
            # each is one JPEG. The first frame read tells whether that worked.
            self._raw = bool(cap.set(cv2.CAP_PROP_FORMAT, -1))
        else:
            self._raw = False
        return cap

    def _picture(self, image: npt.NDArray[Any]) -> npt.NDArray[np.uint8] | None:
        """The grey frame from what the capture read: JPEG bytes decoded here, or a picture."""
        if self._raw:
            if self.jpeg is None:
                self.jpeg = _is_jpeg(image)
            if self.jpeg:
                decoded = cv2.imdecode(image, DECODE_MODES[self.decode][0])
                if decoded is None:
                    return None
                return _grey(np.asarray(decoded))
            return None
        grey = _grey(image)
        if self.scale != 1:
            h, w = grey.shape
            size = (-(-w // self.scale), -(-h // self.scale))
            grey = np.ascontiguousarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA))
        return grey

    def _run(self) -> None:
        backoff = self._backoff_min
        try:
            while not self._stop.is_set():
                cap = self._open()
                if cap is None:
                    self.failures += 1
                    if not self._reconnect:
                        return
                    self._stop.wait(backoff / 1000.0)
                    backoff = min(self._backoff_max, backoff * 2)
                    continue
                raw = self._raw
                try:
                    got_any = self._read_all(cap)
                finally:
                    cap.release()
                if raw and self.jpeg is False:
                    continue  # not MJPEG: open again, the capture decoding the stream
                if got_any:
                    backoff = self._backoff_min
                if not self._reconnect:
                    return
                self.failures += 1
                self._stop.wait(backoff / 1000.0)
                backoff = min(self._backoff_max, backoff * 2)
        except BaseException as exc:  # handed to the owner, who decides
            self.error = exc
        finally:
            self.finished.set()

    def _read_all(self, cap: cv2.VideoCapture) -> bool:
        got_any = False
        interval = None if self._pace is None else 1000.0 / self._pace
        next_at = float(self._clock())
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                return got_any
            grey = self._picture(image)
            if grey is None:
                if self.jpeg is False:
                    # Not MJPEG: reopen with the capture decoding the stream itself.
                    return got_any
                continue  # a corrupt JPEG: skip the frame
            got_any = True
            if interval is not None:
                delay = next_at - self._clock()
                if delay > 0:
                    self._stop.wait(delay / 1000.0)
                next_at = max(next_at + interval, float(self._clock()) - interval)
            frame = CapturedFrame(seq=self.seq, t_ms=self._clock(), grey=grey)
            self.seq += 1
            with self._lock:
                self._latest = frame
            if self._on_frame is not None:
                self._on_frame(frame)
        return got_any


def read_video(path: str) -> Iterator[tuple[int, int, npt.NDArray[np.uint8]]]:
    """Frames of a video file as (index, video time in ms, grey), for offline evaluation.

    Times come from the file's frame rate, not the wall clock, so a clip
    decoded faster than real time still feeds the detector its real timing.
    """
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{path}: cannot open video")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not 0.5 <= fps <= 1000.0:
            raise SourceError(f"{path}: unusable frame rate {fps}")
        index = 0
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                return
            yield index, round(index * 1000.0 / fps), _grey(image)
            index += 1
    finally:
        cap.release()
