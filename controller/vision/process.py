"""The camera provider with the detector in a child process (``[camera] process = true``).

In the controller's own process the detector's Python and numpy work holds the
GIL for stretches the scan thread must wait out, however short the switch
interval (a C call is never interrupted). Here the detector (a
:class:`~controller.vision.presence.PresenceProvider`, unchanged) runs in a
child process started with the ``spawn`` method, and the scan reads its latest
answer from shared memory: no pickling, no lock, no system call per scan.
``[camera] process = true`` chooses it (``controller.runtime.make_camera``).

Two segments, each under a seqlock (a counter that is odd while the writer
writes; a reader copies, then checks the counter did not move) with a CRC of
the small one, so a torn read is retried and never believed:

- ``state``: the child's latest answer (frame sequence and capture time, the
  ``CameraZones`` fields, the faults, the debounced presence per zone) and,
  written by the parent, the zones the controller knows are empty;
- ``frame``: the latest grey frame for the console (up to ``MAX_FRAME_PIXELS``).

A reader that cannot get a consistent copy in ``_READ_TRIES`` tries keeps the
last good one, whose capture time then goes stale: the scan never waits on the
child. ``close`` goes over a pipe; the child answers with its per-frame log
and exits. The child watches its parent (the pipe's end of file, and its
parent pid) and exits when the parent is gone; the parent watches the child's
sentinel, and a dead child is a STALE camera fault at once, never an empty
lane. Shared-memory segments are created and unlinked by the parent only.
"""

from __future__ import annotations

import collections
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from controller.core.types import CameraHealth, CameraZones
from controller.io.camera import DECODE_MODES, CapturedFrame, FrameSource
from controller.vision.diagnostics import Fault
from controller.vision.presence import (
    ZONE_FIELDS,
    CameraSettings,
    CameraView,
    PresenceProvider,
    scale_zones,
    settings_from_config,
)

__all__ = [
    "MAX_FRAME_PIXELS",
    "START_TIMEOUT_S",
    "CameraProcessError",
    "ProcessProvider",
    "from_config",
]

MAX_FRAME_PIXELS = 3840 * 2160
"""The largest grey frame the console's buffer holds (a 4K camera); pages are only
backed by memory once written. A larger frame still gives zones, but no console picture."""
START_TIMEOUT_S = 30.0
"""How long ``wait_ready`` waits for the child's first answer."""
CLOSE_TIMEOUT_S = 5.0
_READ_TRIES = 64
_PARENT_POLL_S = 0.2
_LOG_FRAMES = 200_000
"""Frames kept for the frame log, as the in-process provider keeps."""
_FAULTS: tuple[Fault, ...] = tuple(Fault)

# The state segment: [0:8] the answer's seqlock counter, then the answer; [64:72] the
# empty-zones counter, then four flags. The answer: frame seq, capture ms, bay_still_ms
# (-1: none), faults bitmask, health (0 fault, 1 ok), the four CameraZones flags,
# answered (1 once the detector answered a frame), the presence per zone (4), CRC.
_ANSWER = struct.Struct("<qqqIBBBBBB4BI")
_ANSWER_AT = 8
_EMPTY = struct.Struct("<4B")
_EMPTY_SEQ_AT = 128
_EMPTY_AT = 136
_STATE_SIZE = 192
# The frame segment: [0:8] seqlock counter, [8:32] frame seq, height, width; pixels at 64.
_FRAME_HEAD = struct.Struct("<qii")
_FRAME_HEAD_AT = 8
_PIXELS_AT = 64


class CameraProcessError(RuntimeError):
    """The detector's child process could not be started or did not answer in time."""


def _buffer(shm: SharedMemory) -> memoryview:
    buf = shm.buf
    if buf is None:
        raise ValueError(f"shared memory {shm.name}: closed")
    return buf


def _counter(buf: memoryview, at: int) -> int:
    return int(struct.unpack_from("<q", buf, at)[0])


def _set_counter(buf: memoryview, at: int, value: int) -> None:
    struct.pack_into("<q", buf, at, value)


class _Answer:
    """One decoded answer of the child (immutable once built)."""

    __slots__ = ("answered", "capture_ms", "faults", "occupied", "seq", "zones")

    def __init__(
        self,
        seq: int,
        capture_ms: int,
        zones: CameraZones,
        faults: frozenset[Fault],
        occupied: tuple[bool, ...],
        answered: bool,
    ) -> None:
        self.seq = seq
        self.capture_ms = capture_ms
        self.zones = zones
        self.faults = faults
        self.occupied = occupied
        """The debounced presence per zone, in the settings' zone order (the view's)."""
        self.answered = answered


def _pack_answer(
    seq: int,
    capture_ms: int,
    zones: CameraZones,
    faults: frozenset[Fault],
    occupied: tuple[bool, ...],
    answered: bool,
) -> bytes:
    mask = 0
    for i, fault in enumerate(_FAULTS):
        if fault in faults:
            mask |= 1 << i
    flags = (zones.approach, zones.bay, zones.barrier, zones.exit)
    padded = (*occupied, False, False, False, False)[:4]
    fields = (
        seq,
        capture_ms,
        -1 if zones.bay_still_ms is None else zones.bay_still_ms,
        mask,
        int(zones.health is CameraHealth.OK),
        *(int(f) for f in flags),
        int(answered),
        *(int(o) for o in padded),
    )
    body = _ANSWER.pack(*fields, 0)
    crc = zlib.crc32(body[: _ANSWER.size - 4])
    return body[: _ANSWER.size - 4] + struct.pack("<I", crc)


def _unpack_answer(raw: bytes, n_zones: int) -> _Answer | None:
    if zlib.crc32(raw[: _ANSWER.size - 4]) != struct.unpack_from("<I", raw, _ANSWER.size - 4)[0]:
        return None
    seq, capture, still, mask, health, a, b, c, d, answered, *rest = _ANSWER.unpack(raw)
    occupied = tuple(bool(o) for o in rest[:4])[:n_zones]
    ok = health == 1
    zones = (
        CameraZones(
            health=CameraHealth.OK,
            approach=bool(a),
            bay=bool(b),
            barrier=bool(c),
            exit=bool(d),
            bay_still_ms=None if still < 0 else int(still),
        )
        if ok
        else CameraZones(health=CameraHealth.FAULT)
    )
    faults = frozenset(f for i, f in enumerate(_FAULTS) if mask & (1 << i))
    return _Answer(int(seq), int(capture), zones, faults, occupied, bool(answered))


def _read_consistent(buf: memoryview, seq_at: int, body_at: int, size: int) -> bytes | None:
    """Copy ``size`` bytes at ``body_at`` under the seqlock at ``seq_at``; None when the
    writer kept it busy for every try (or died mid-write)."""
    for _ in range(_READ_TRIES):
        before = _counter(buf, seq_at)
        if before & 1:
            continue
        raw = bytes(buf[body_at : body_at + size])
        if _counter(buf, seq_at) == before:
            return raw
    return None


def _write_locked(buf: memoryview, seq_at: int, body_at: int, data: bytes) -> None:
    count = _counter(buf, seq_at)
    _set_counter(buf, seq_at, count + 1)
    buf[body_at : body_at + len(data)] = data
    _set_counter(buf, seq_at, count + 2)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class ProcessProvider:
    """Camera zones for the scan loop from a detector in a child process (same interface as
    :class:`~controller.vision.presence.PresenceProvider`)."""

    def __init__(
        self,
        settings: CameraSettings,
        *,
        clock_ms: Callable[[], int] = _monotonic_ms,
        standalone: bool = False,
        source_factory: Callable[..., FrameSource] = FrameSource,
    ) -> None:
        """``source_factory`` is called in the child (it must pickle: a class or a module's
        function), as ``PresenceProvider`` calls it."""
        self.settings = settings
        self._clock = clock_ms
        zones = settings.zones
        scale = DECODE_MODES[settings.decode][1]
        self._view_zones = scale_zones(zones, scale) if scale != 1 else zones
        self._n_zones = len(self._view_zones)
        self._state_shm: SharedMemory | None = SharedMemory(create=True, size=_STATE_SIZE)
        self._state_name = self._state_shm.name
        self._frame_name = ""
        self._frame_shm: SharedMemory | None = None
        # Held while reading a segment and while removing it: the console may still ask
        # for a view while the runtime closes the camera. Never contended by the scan
        # for more than a 60-byte copy (the frame has its own lock).
        self._state_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        self._proc: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._closed = False
        self._dead = threading.Event()
        self._last: _Answer | None = None
        self._last_raw = b""
        self._last_frame: tuple[int, npt.NDArray[np.uint8] | None] = (-1, None)
        self._consumed_seq = -1
        self._seen: dict[int, list[object]] = {}
        """Per answer a scan read (frame log): seq -> its entry, the oldest first."""
        self._awaiting_write: list[object] | None = None
        try:
            self._frame_shm = SharedMemory(create=True, size=_PIXELS_AT + MAX_FRAME_PIXELS)
            self._frame_name = self._frame_shm.name
            child_settings = replace(settings, frame_log=None)
            ctx = multiprocessing.get_context("spawn")
            parent_end, child_end = ctx.Pipe(duplex=True)
            self._conn = parent_end
            self._proc = ctx.Process(
                target=_child_main,
                args=(
                    child_settings,
                    self._state_name,
                    self._frame_shm.name,
                    child_end,
                    os.getpid(),
                    standalone,
                    settings.frame_log is not None,
                    source_factory,
                ),
                name="lanectl-camera",
                daemon=True,
            )
            self._proc.start()
            child_end.close()
        except BaseException:
            self._release()
            raise
        self._watcher = threading.Thread(target=self._watch, name="camera-child", daemon=True)
        self._watcher.start()

    # ---- health of the child ----

    def _watch(self) -> None:
        """Wait on the child's sentinel (GIL released): its death is a fault at once."""
        multiprocessing.connection.wait([self._proc.sentinel])
        self._dead.set()

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return None if self._proc is None else int(self._proc.pid)

    @property
    def alive(self) -> bool:
        return not self._dead.is_set()

    @property
    def segments(self) -> tuple[str, ...]:
        """The names of the shared-memory segments (under /dev/shm on Linux)."""
        return (self._state_name, self._frame_name)

    def latest(self) -> tuple[int, int, CameraZones] | None:
        """The child's latest answer as it wrote it: (frame seq, capture ms, zones), not
        judged for staleness; None before the first."""
        answer = self._answer()
        return None if answer is None else (answer.seq, answer.capture_ms, answer.zones)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until the child has answered once (tests and tools; the runtime never
        waits). Raises CameraProcessError on timeout or when the child has died."""
        deadline = time.monotonic() + timeout_s
        while self._answer() is None:
            if self._dead.is_set():
                raise CameraProcessError(f"camera child exited with {self._proc.exitcode}")
            if time.monotonic() > deadline:
                raise CameraProcessError(f"camera child gave no answer within {timeout_s} s")
            time.sleep(0.02)

    # ---- reading the shared memory ----

    def _answer(self) -> _Answer | None:
        """The child's latest consistent answer (the last good one on a torn read).

        Decoded only when its bytes changed (once per frame, not once per scan)."""
        with self._state_lock:
            shm = self._state_shm
            raw = (
                None if shm is None else _read_consistent(_buffer(shm), 0, _ANSWER_AT, _ANSWER.size)
            )
        if raw is None or raw == self._last_raw:
            return self._last
        answer = _unpack_answer(raw, self._n_zones)
        if answer is not None and answer.answered:
            self._last_raw = raw
            self._last = answer
        return self._last

    @property
    def last_capture_ms(self) -> int | None:
        """Monotonic ms at which the frame behind the latest answer was read."""
        answer = self._answer()
        return None if answer is None else answer.capture_ms

    def faults(self, now_ms: int | None = None) -> frozenset[Fault]:
        """The child's detector faults, plus STALE when its answer is older than
        ``stale_ms`` or the child is gone."""
        now = self._clock() if now_ms is None else now_ms
        return self._faults(self._answer(), now)

    def _faults(self, answer: _Answer | None, now: int) -> frozenset[Fault]:
        faults = set(answer.faults) if answer is not None else set()
        if (
            answer is None
            or now - answer.capture_ms > self.settings.stale_ms
            or self._dead.is_set()
        ):
            faults.add(Fault.STALE)
        return frozenset(faults)

    def zones(self, now_ms: int) -> CameraZones:
        """Latest zones with health from shared memory; never blocks, never waits."""
        del now_ms
        answer = self._answer()
        if answer is None:
            return CameraZones(health=CameraHealth.FAULT)
        if answer.seq != self._consumed_seq:
            self._consumed_seq = answer.seq
            if self.settings.frame_log is not None:
                self._log_use(answer)
        if self._faults(answer, self._clock()):
            return CameraZones(health=CameraHealth.FAULT)
        return answer.zones

    def _log_use(self, answer: _Answer) -> None:
        """The first scan to read this answer (the frame log's fifth field)."""
        present = {z.name: on for z, on in zip(self._view_zones, answer.occupied, strict=True)}
        bits = "".join("1" if present.get(z) else "0" for z in ZONE_FIELDS)
        healthy = answer.zones.health is CameraHealth.OK
        entry: list[object] = [answer.seq, answer.capture_ms, bits, healthy, self._clock(), None]
        if len(self._seen) >= _LOG_FRAMES:
            del self._seen[next(iter(self._seen))]
        self._seen[answer.seq] = entry
        self._awaiting_write = entry

    def coils_written(self) -> None:
        """The scan that first used the latest answer has written its coils (frame log)."""
        entry, self._awaiting_write = self._awaiting_write, None
        if entry is not None:
            entry[5] = self._clock()

    def note_empty(self, bay: bool, barrier: bool, approach: bool, exit: bool) -> None:
        """The controller knows these zones are empty: written to shared memory for the
        child (only they may refresh their reference)."""
        data = _EMPTY.pack(int(bay), int(barrier), int(approach), int(exit))
        with self._state_lock:
            if self._state_shm is None:
                return
            buf = _buffer(self._state_shm)
            if bytes(buf[_EMPTY_AT : _EMPTY_AT + _EMPTY.size]) != data:
                _write_locked(buf, _EMPTY_SEQ_AT, _EMPTY_AT, data)

    def view(self) -> CameraView:
        """The latest frame, zones, presence and faults, for the console (read only)."""
        answer = self._answer()
        frame_seq, frame = self._read_frame()
        occupied: tuple[tuple[str, bool], ...] = ()
        if answer is not None:
            occupied = tuple(
                (z.name, on) for z, on in zip(self._view_zones, answer.occupied, strict=True)
            )
        return CameraView(frame, frame_seq, self._view_zones, occupied, self.faults())

    def _read_frame(self) -> tuple[int, npt.NDArray[np.uint8] | None]:
        with self._frame_lock:
            shm = self._frame_shm
            if shm is not None:
                self._last_frame = self._copy_frame(_buffer(shm))
            return self._last_frame

    def _copy_frame(self, buf: memoryview) -> tuple[int, npt.NDArray[np.uint8] | None]:
        for _ in range(_READ_TRIES):
            before = _counter(buf, 0)
            if before & 1:
                time.sleep(0.0005)
                continue
            seq, height, width = _FRAME_HEAD.unpack_from(buf, _FRAME_HEAD_AT)
            if seq == self._last_frame[0] or height <= 0:
                return self._last_frame
            size = height * width
            pixels = np.frombuffer(buf, np.uint8, size, _PIXELS_AT).reshape(height, width).copy()
            if _counter(buf, 0) == before:
                self._last_frame = (int(seq), pixels)
                return self._last_frame
        return self._last_frame

    # ---- shutdown ----

    def close(self) -> None:
        """Ask the child to stop, collect its frame log, and remove the shared memory;
        a child that does not stop in time is killed. Every wait is bounded."""
        if self._closed:
            return
        self._closed = True
        frames: list[list[object]] | None = None
        conn, proc = self._conn, self._proc
        try:
            if conn is not None and proc is not None and not self._dead.is_set():
                try:
                    conn.send(("close",))
                    if conn.poll(CLOSE_TIMEOUT_S):
                        reply = conn.recv()
                        if isinstance(reply, tuple) and reply and reply[0] == "frames":
                            frames = list(reply[1])
                except (OSError, EOFError):
                    pass
        finally:
            self._release()
        if self.settings.frame_log is not None:
            self._write_frame_log(frames)

    def _release(self) -> None:
        proc = self._proc
        if proc is not None and proc.pid is not None:
            proc.join(CLOSE_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
                proc.join(CLOSE_TIMEOUT_S)
        self._dead.set()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._frame_lock, self._state_lock:
            for shm in (self._frame_shm, self._state_shm):
                if shm is None:
                    continue
                shm.close()
                with contextlib.suppress(FileNotFoundError):
                    shm.unlink()
            self._frame_shm = self._state_shm = None

    def _write_frame_log(self, frames: list[list[object]] | None) -> None:
        """Every frame the child saw (or, without its log, every answer a scan read), with
        the first scan that used it and that scan's coil write."""
        if frames is None:
            merged = list(self._seen.values())
        else:
            merged = []
            for seq, t_ms, bits, healthy in frames:
                seen = self._seen.get(seq) if isinstance(seq, int) else None
                used = (None, None) if seen is None else (seen[4], seen[5])
                merged.append([seq, t_ms, bits, healthy, *used])
        assert self.settings.frame_log is not None
        path = Path(self.settings.frame_log)
        data = {"zones": list(ZONE_FIELDS), "frames": merged}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)


def from_config(cfg: object) -> ProcessProvider:
    """The child-process provider for a lane config's ``[camera]`` section."""
    return ProcessProvider(settings_from_config(cfg))


# ---- the child ----


class _Publisher:
    """In the child: after each frame the detector answered, the answer and the frame
    into shared memory; before it, the controller's empty zones into the provider."""

    def __init__(self, state: SharedMemory, frame: SharedMemory, log_frames: bool) -> None:
        self.state = state
        self.frame = frame
        self.provider: PresenceProvider | None = None
        self.log_frames = log_frames
        self.frames: collections.deque[list[object]] = collections.deque(maxlen=_LOG_FRAMES)
        self._empty_seq = -1

    def after_frame(self, captured: CapturedFrame) -> None:
        provider = self.provider
        if provider is None:
            return
        view = provider.view()
        zones = provider.zones(captured.t_ms)
        capture = provider.last_capture_ms
        if capture is None:
            return
        present = dict(view.occupied)
        occupied = tuple(present.get(z.name, False) for z in view.zones)
        answered = bool(view.occupied)
        answer = _pack_answer(view.seq, capture, zones, view.faults, occupied, answered)
        _write_locked(_buffer(self.state), 0, _ANSWER_AT, answer)
        if view.frame is not None:
            self._write_frame(view.seq, view.frame)
        if self.log_frames:
            bits = "".join("1" if present.get(z) else "0" for z in ZONE_FIELDS)
            self.frames.append([view.seq, capture, bits, zones.health is CameraHealth.OK])

    def _write_frame(self, seq: int, frame: npt.NDArray[np.uint8]) -> None:
        height, width = frame.shape
        buf = _buffer(self.frame)
        count = _counter(buf, 0)
        _set_counter(buf, 0, count + 1)
        if height * width <= MAX_FRAME_PIXELS:
            target = np.frombuffer(buf, np.uint8, height * width, _PIXELS_AT)
            target[:] = frame.reshape(-1)
            _FRAME_HEAD.pack_into(buf, _FRAME_HEAD_AT, seq, height, width)
        else:
            _FRAME_HEAD.pack_into(buf, _FRAME_HEAD_AT, seq, 0, 0)
        _set_counter(buf, 0, count + 2)

    def empty_zones(self) -> None:
        """Hand the controller's latest empty zones to the provider when they changed."""
        provider = self.provider
        buf = _buffer(self.state)
        if provider is None or _counter(buf, _EMPTY_SEQ_AT) == self._empty_seq:
            return
        raw = _read_consistent(buf, _EMPTY_SEQ_AT, _EMPTY_AT, _EMPTY.size)
        if raw is None:
            return
        self._empty_seq = _counter(buf, _EMPTY_SEQ_AT)
        bay, barrier, approach, exit_ = (bool(v) for v in _EMPTY.unpack(raw))
        provider.note_empty(bay=bay, barrier=barrier, approach=approach, exit=exit_)


def _child_main(
    settings: CameraSettings,
    state_name: str,
    frame_name: str,
    conn: multiprocessing.connection.Connection,
    parent_pid: int,
    standalone: bool,
    log_frames: bool,
    source_factory: Callable[..., FrameSource],
) -> None:
    """The child: the unchanged in-process provider, its answers into shared memory, until
    the parent says close, its pipe ends or it is no longer our parent."""
    # The parent stops the child (close, or its own death); Ctrl-C at a terminal reaches
    # the whole process group and must not kill the detector before the scan loop ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = _attach(state_name)
    frame = _attach(frame_name)
    publisher = _Publisher(state, frame, log_frames)

    def source(url: str, on_frame: Callable[[CapturedFrame], None], **kw: Any) -> FrameSource:
        def both(captured: CapturedFrame) -> None:
            publisher.empty_zones()
            on_frame(captured)
            publisher.after_frame(captured)

        return source_factory(url, both, **kw)

    provider = PresenceProvider(settings, source_factory=source, standalone=standalone)
    publisher.provider = provider
    closed = False
    try:
        while os.getppid() == parent_pid:
            try:
                if not conn.poll(_PARENT_POLL_S):
                    continue
                message = conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, tuple) and message and message[0] == "close":
                provider.close()
                closed = True
                conn.send(("frames", list(publisher.frames)))
                break
    finally:
        if not closed:
            provider.close()
        conn.close()
        state.close()
        frame.close()


def _attach(name: str) -> SharedMemory:
    """Open the parent's segment. A spawned child shares the parent's resource tracker,
    whose registry is a set: attaching registers the name again (no change), and the
    parent's unlink removes it once. The child never unlinks."""
    return SharedMemory(name=name)
