"""Faults on a Modbus RTU serial line: a relay between two socat pty pairs.

    simulator --- pty pair --- LineRelay --- pty pair --- controller

The relay forwards frames both ways and, on command and for a bounded time,
goes silent (drops frames), replaces frames with garbage, corrupts them (a
bit flipped, so the CRC no longer matches) or delays them. The garbage and the
corrupted frames are checked to hold no CRC-valid frame anywhere, so whatever
a receiver takes from them is its own error. Everything random comes from one
seeded generator, so a run is repeatable.

``RelayProcess`` runs the relay in a process of its own (``python -m
hw_sim.serial_faults``), commanded over its stdin, so its timing does not
depend on what the test process is doing meanwhile.

For the tests' checks the relay records every request the controller sends
and what reached the controller while that request was its latest: a current
reply (it left the device after that request reached it), a stale one (it
left the device earlier: RTU has no transaction id to tell them apart) or a
broken one. A controller that goes on with its sequence after only broken
replies, or uses a stale one, has believed a frame it should not have.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import os
import queue
import random
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Direction",
    "FaultWindow",
    "LineFault",
    "LineFaultKind",
    "LineRelay",
    "RelayProcess",
    "RelayRecord",
    "Reply",
    "RequestRecord",
    "crc16",
    "has_valid_frame",
    "socat_pty_pair",
]


def crc16(data: bytes) -> int:
    """The Modbus RTU CRC of ``data``, as the two bytes go on the wire (low byte first)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return ((crc & 0xFF) << 8) | (crc >> 8)


def has_valid_frame(data: bytes) -> bool:
    """True if any slice of ``data`` of 4 bytes or more ends in its own correct CRC."""
    n = len(data)
    for start in range(n):
        for end in range(start + 4, n + 1):
            if crc16(data[start : end - 2]) == int.from_bytes(data[end - 2 : end], "big"):
                return True
    return False


def _request_size(buf: bytes) -> int | None:
    """Length of the request frame at the head of ``buf``: 0 if more bytes are needed to
    tell, None for a function this relay does not know (the buffer goes as one frame)."""
    if len(buf) < 2:
        return 0
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else 0
    return None


def _reply_size(buf: bytes) -> int | None:
    """Length of the reply frame at the head of ``buf`` (0: need more, None: unknown)."""
    if len(buf) < 2:
        return 0
    fc = buf[1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4):
        return 5 + buf[2] if len(buf) >= 3 else 0
    if fc in (5, 6, 15, 16):
        return 8
    return None


class LineFaultKind(enum.Enum):
    """What the line does to frames while a fault is active."""

    SILENCE = "silence"
    """Every frame is dropped."""
    GARBAGE = "garbage"
    """Every frame is replaced by garbage of the same length holding no valid frame."""
    CRC = "crc"
    """One bit of every frame is flipped: the CRC no longer matches."""
    DELAY = "delay"
    """Every frame is held ``delay_ms`` (order kept)."""


class Direction(enum.Enum):
    """Which way the fault acts: towards the I/O device, the controller, or both."""

    BOTH = "both"
    TO_DEVICE = "to_device"
    TO_CONTROLLER = "to_controller"


@dataclass(frozen=True, slots=True)
class LineFault:
    """One fault: ``kind`` for ``duration_ms`` on frames going ``direction``."""

    kind: LineFaultKind
    duration_ms: int
    direction: Direction = Direction.BOTH
    delay_ms: int = 0
    """DELAY: how long each frame is held."""

    def __post_init__(self) -> None:
        if self.duration_ms <= 0:
            raise ValueError(f"duration_ms: must be positive, got {self.duration_ms}")
        if self.kind is LineFaultKind.DELAY and self.delay_ms <= 0:
            raise ValueError(f"delay_ms: a delay fault needs a positive delay, got {self.delay_ms}")
        if self.kind is not LineFaultKind.DELAY and self.delay_ms:
            raise ValueError(f"delay_ms: only a delay fault takes a delay, not {self.kind.value}")

    def acts_on(self, to_device: bool) -> bool:
        if self.direction is Direction.BOTH:
            return True
        return (self.direction is Direction.TO_DEVICE) == to_device


@dataclass(slots=True)
class FaultWindow:
    """A fault as it ran: wall-clock start and end (s since the epoch) and what it did."""

    fault: LineFault
    start_wall: float
    end_wall: float
    end_mono: float
    frames: int = 0
    """Frames the fault acted on."""


class Reply(enum.Enum):
    """A frame that reached the controller while a request was its latest."""

    CURRENT = "current"
    """Intact, and it left the device after that request had reached it."""
    STALE = "stale"
    """Intact, but it left the device before that request reached it."""
    BROKEN = "broken"
    """Garbage or corrupted: no receiver may believe it."""


@dataclass(slots=True)
class RequestRecord:
    """A request from the controller as the relay saw it, and the replies it met."""

    wall: float
    function: int
    address: int
    replies: list[Reply] = field(default_factory=list)
    """What reached the controller while this was its latest request, in order."""

    @property
    def taken(self) -> Reply | None:
        """The reply a correct client takes: the first that is not broken (None: none came)."""
        return next((r for r in self.replies if r is not Reply.BROKEN), None)


@dataclass(slots=True)
class _Side:
    """One end of the relay: its fd, bytes not yet framed, frames waiting to be written."""

    fd: int
    to_device: bool
    """Frames read here go to the device (this is the controller's side)."""
    buf: bytearray = field(default_factory=bytearray)
    last_rx: float = 0.0
    out: deque[tuple[float, bytes, tuple[int, bool]]] = field(default_factory=deque)
    """(due, bytes, (number, intact)) to write here, in order: a request's own number, or
    for a reply the latest request the device had been given when it replied."""
    last_due: float = 0.0


class LineRelay:
    """Forwards RTU frames between ``device_path`` (the I/O side) and ``controller_path``.

    ``start()`` opens both ends and runs the relay in a thread; ``inject`` starts a
    fault now that ends by itself; ``close()`` stops the thread and closes the ends.
    """

    GAP_S = 0.005
    """An incomplete frame is sent on as it is after this long without a byte."""

    def __init__(self, device_path: str, controller_path: str, *, seed: int = 0) -> None:
        self.device_path = device_path
        self.controller_path = controller_path
        self.rng = random.Random(seed)
        self.windows: list[FaultWindow] = []
        self.requests: list[RequestRecord] = []
        self.counters: dict[str, int] = {
            "to_device": 0,
            "to_controller": 0,
            "dropped": 0,
            "garbled": 0,
            "corrupted": 0,
            "delayed": 0,
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sides: tuple[_Side, _Side] | None = None
        self._request_index = 0
        """Requests read from the controller so far (the latest one's number)."""
        self._forwarded = 0
        """Number of the latest request written to the device."""
        self.error: BaseException | None = None

    def start(self) -> LineRelay:
        fds: list[int] = []
        try:
            for path in (self.device_path, self.controller_path):
                fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                fds.append(fd)
                tty.setraw(fd, termios.TCSANOW)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise OSError(f"serial relay: cannot open {path}: {exc}") from exc
        self._sides = (_Side(fds[0], to_device=False), _Side(fds[1], to_device=True))
        self._thread = threading.Thread(target=self._run, name="rtu-line-relay", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._sides is not None:
            for side in self._sides:
                os.close(side.fd)
            self._sides = None

    def __enter__(self) -> LineRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inject(self, fault: LineFault) -> FaultWindow:
        """Start ``fault`` now; it ends by itself after its duration. One at a time."""
        with self._lock:
            now = time.monotonic()
            if self.windows and self.windows[-1].end_mono > now:
                raise RuntimeError("inject: a line fault is already active")
            wall = time.time()
            window = FaultWindow(
                fault, wall, wall + fault.duration_ms / 1000.0, now + fault.duration_ms / 1000.0
            )
            self.windows.append(window)
        return window

    def record(self) -> RelayRecord:
        """What the relay did so far: its fault windows, requests and counters."""
        with self._lock:
            return RelayRecord(
                list(self.windows),
                list(self.requests),
                dict(self.counters),
                None if self.error is None else repr(self.error),
            )

    def active(self) -> FaultWindow | None:
        with self._lock:
            if self.windows and self.windows[-1].end_mono > time.monotonic():
                return self.windows[-1]
        return None

    # ---- the relay thread ----

    def _run(self) -> None:
        assert self._sides is not None
        device, controller = self._sides
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = 0.05
                for side in (device, controller):
                    if side.out:
                        timeout = min(timeout, max(0.0, side.out[0][0] - now))
                    if side.buf:
                        timeout = min(timeout, max(0.0, side.last_rx + self.GAP_S - now))
                readable, _, _ = select.select([device.fd, controller.fd], [], [], timeout)
                now = time.monotonic()
                for side in (device, controller):
                    if side.fd in readable:
                        self._read(side, now)
                    self._frame(side, now, device if side.to_device else controller)
                for side in (device, controller):
                    self._flush(side, now)
        except BaseException as exc:
            self.error = exc
            raise

    def _read(self, side: _Side, now: float) -> None:
        try:
            data = os.read(side.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # The other end of the pty pair is closed for a moment (a reconnect): wait.
            time.sleep(0.001)
            return
        side.buf.extend(data)
        side.last_rx = now

    def _frame(self, side: _Side, now: float, target: _Side) -> None:
        """Cut whole frames off ``side.buf`` and hand each to the fault logic."""
        while side.buf:
            head = bytes(side.buf)
            size = _request_size(head) if side.to_device else _reply_size(head)
            if size is None:
                frame = head
            elif size == 0 or len(head) < size:
                if now - side.last_rx < self.GAP_S:
                    return
                frame = head  # an incomplete frame goes on as it is, as a cable would
            else:
                frame = head[:size]
            del side.buf[: len(frame)]
            self._pass(frame, side.to_device, now, target)

    def _pass(self, frame: bytes, to_device: bool, now: float, target: _Side) -> None:
        window = self.active()
        fault = window.fault if window is not None and window.fault.acts_on(to_device) else None
        intact = fault is None or fault.kind is LineFaultKind.DELAY
        number = self._note(frame, to_device)
        delay = 0.0
        if fault is not None:
            assert window is not None
            window.frames += 1
            kind = fault.kind
            if kind is LineFaultKind.SILENCE:
                self.counters["dropped"] += 1
                return
            if kind is LineFaultKind.GARBAGE:
                self.counters["garbled"] += 1
                frame = self._garbage(frame)
            elif kind is LineFaultKind.CRC:
                self.counters["corrupted"] += 1
                frame = self._flip(frame)
            else:
                self.counters["delayed"] += 1
                delay = fault.delay_ms / 1000.0
        self.counters["to_device" if to_device else "to_controller"] += 1
        due = max(now + delay, target.last_due)
        target.last_due = due
        target.out.append((due, frame, (number, intact)))

    def _note(self, frame: bytes, to_device: bool) -> int:
        """Number each request and record it. A reply is tagged with the latest request
        the device had been given when the reply left it: what it can be an answer to."""
        if not to_device:
            return self._forwarded
        function = frame[1] if len(frame) >= 2 else -1
        address = int.from_bytes(frame[2:4], "big") if len(frame) >= 4 else -1
        self.requests.append(RequestRecord(time.time(), function, address))
        self._request_index += 1
        return self._request_index

    def _flush(self, side: _Side, now: float) -> None:
        # Frames written on the controller's side (the side whose reads go to the
        # device) are replies; on the device's side, requests.
        replies = side.to_device
        while side.out and side.out[0][0] <= now:
            due, data, tag = side.out[0]
            if replies:
                # A reply is about to reach the controller: first take in any request it
                # has sent meanwhile, so the reply is judged against its latest request.
                self._drain(now)
            try:
                written = os.write(side.fd, data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # The other end is closed (a reconnect): the frame is lost, as on a cable.
                side.out.popleft()
                continue
            if written < len(data):
                side.out[0] = (due, data[written:], tag)
                return
            side.out.popleft()
            number, intact = tag
            if not replies:
                if intact:
                    self._forwarded = max(self._forwarded, number)
            elif self.requests:
                if not intact:
                    reply = Reply.BROKEN
                elif number == self._request_index:
                    reply = Reply.CURRENT
                else:
                    reply = Reply.STALE
                self.requests[-1].replies.append(reply)

    def _drain(self, now: float) -> None:
        """Read and pass on what the controller has sent (the relay thread only)."""
        assert self._sides is not None
        device, controller = self._sides
        if select.select([controller.fd], [], [], 0)[0]:
            self._read(controller, now)
            self._frame(controller, now, device)

    def _garbage(self, frame: bytes) -> bytes:
        """Garbage as long as ``frame``: in turn a plausible header (same unit and
        function, random body) or plain random bytes; never a CRC-valid frame."""
        n = max(len(frame), 4)
        while True:
            if self.counters["garbled"] % 2 and len(frame) >= 2:
                data = frame[:2] + self.rng.randbytes(n - 2)
            else:
                data = self.rng.randbytes(n)
            if not has_valid_frame(data):
                return data

    def _flip(self, frame: bytes) -> bytes:
        """``frame`` with one bit flipped (a CRC error), never leaving a CRC-valid frame."""
        if len(frame) < 4:
            return self._garbage(frame)
        while True:
            bit = self.rng.randrange(len(frame) * 8)
            data = bytearray(frame)
            data[bit // 8] ^= 1 << (bit % 8)
            if not has_valid_frame(bytes(data)):
                return bytes(data)


@dataclass(slots=True)
class RelayRecord:
    """Everything a relay run leaves for checks, as it crosses a process boundary (JSON)."""

    windows: list[FaultWindow]
    requests: list[RequestRecord]
    counters: dict[str, int]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": [
                {
                    "kind": w.fault.kind.value,
                    "duration_ms": w.fault.duration_ms,
                    "direction": w.fault.direction.value,
                    "delay_ms": w.fault.delay_ms,
                    "start_wall": w.start_wall,
                    "end_wall": w.end_wall,
                    "frames": w.frames,
                }
                for w in self.windows
            ],
            "requests": [
                [r.wall, r.function, r.address, [x.value for x in r.replies]] for r in self.requests
            ],
            "counters": self.counters,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RelayRecord:
        windows = [
            FaultWindow(
                _fault_from_json(w), w["start_wall"], w["end_wall"], 0.0, frames=w["frames"]
            )
            for w in data["windows"]
        ]
        requests = [
            RequestRecord(wall, fc, address, [Reply(x) for x in replies])
            for wall, fc, address, replies in data["requests"]
        ]
        return cls(windows, requests, dict(data["counters"]), data["error"])


def _fault_from_json(spec: dict[str, Any]) -> LineFault:
    """A LineFault from its JSON form; a bad one is a ValueError naming the key."""
    try:
        return LineFault(
            LineFaultKind(spec["kind"]),
            int(spec["duration_ms"]),
            Direction(spec.get("direction", "both")),
            int(spec.get("delay_ms", 0)),
        )
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]}: missing from the fault {spec}") from None


def _fault_to_json(fault: LineFault) -> dict[str, Any]:
    return {
        "kind": fault.kind.value,
        "duration_ms": fault.duration_ms,
        "direction": fault.direction.value,
        "delay_ms": fault.delay_ms,
    }


class RelayProcess:
    """A ``LineRelay`` in a child process: ``inject`` sends it a fault, ``close`` returns
    its record. Every wait is bounded; the child is killed if it does not stop."""

    TIMEOUT_S = 10.0

    def __init__(self, device_path: str, controller_path: str, workdir: Path, *, seed: int = 0):
        self.record_path = workdir / "relay_record.json"
        self.args = [
            *(device_path, controller_path, "--seed", str(seed)),
            *("--record", str(self.record_path)),
        ]
        self.log_path = workdir / "relay.log"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.last_end_wall = 0.0

    def start(self) -> RelayProcess:
        with self.log_path.open("w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hw_sim.serial_faults", *self.args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        assert self.proc.stdout is not None
        out = self.proc.stdout

        def reader() -> None:
            with contextlib.suppress(OSError, ValueError):
                for line in out:
                    self.lines.put(line.strip())

        threading.Thread(target=reader, name="relay-stdout", daemon=True).start()
        line = self._line()
        if not line.startswith("relaying"):
            self.close()
            raise OSError(f"serial relay did not start: {line!r}; see {self.log_path}")
        return self

    def _line(self) -> str:
        try:
            return self.lines.get(timeout=self.TIMEOUT_S)
        except queue.Empty:
            raise TimeoutError(
                f"serial relay: no answer within {self.TIMEOUT_S} s; see {self.log_path}"
            ) from None

    def inject(self, fault: LineFault) -> FaultWindow:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(_fault_to_json(fault)) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        if "error" in answer:
            raise RuntimeError(f"serial relay: {answer['error']}")
        self.last_end_wall = answer["end_wall"]
        return FaultWindow(fault, answer["start_wall"], answer["end_wall"], 0.0)

    def active(self) -> bool:
        return time.time() < self.last_end_wall

    def close(self) -> RelayRecord | None:
        """Stop the child (EOF on stdin, then SIGKILL after a bounded wait); its record."""
        proc = self.proc
        if proc is None:
            return None
        self.proc = None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(self.TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(self.TIMEOUT_S)
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return RelayRecord.from_json(data)

    def __enter__(self) -> RelayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """Relay between two serial devices; one JSON fault per stdin line, answered with its
    wall-clock window; the record (JSON) is written to ``--record`` at EOF or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m hw_sim.serial_faults")
    parser.add_argument("device", help="the I/O side's serial device")
    parser.add_argument("controller", help="the controller side's serial device")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", type=Path, default=Path("relay_record.json"))
    args = parser.parse_args(argv)
    relay = LineRelay(args.device, args.controller, seed=args.seed).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(f"relaying {args.device} <-> {args.controller}", flush=True)
        for line in sys.stdin:
            try:
                window = relay.inject(_fault_from_json(json.loads(line)))
            except (ValueError, RuntimeError, TypeError, AttributeError) as exc:
                print(json.dumps({"error": str(exc)}), flush=True)
                continue
            print(
                json.dumps({"start_wall": window.start_wall, "end_wall": window.end_wall}),
                flush=True,
            )
    finally:
        relay.close()
        tmp = args.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(relay.record().to_json()), encoding="utf-8")
        os.replace(tmp, args.record)
    return 0


@contextlib.contextmanager
def socat_pty_pair(a: Path, b: Path, timeout_s: float = 10.0) -> Iterator[tuple[str, str]]:
    """Two pseudo-terminals joined back to back by socat, as a null-modem cable joins two
    serial ports; links ``a`` and ``b`` name them. socat is stopped when the block ends."""
    if shutil.which("socat") is None:
        raise FileNotFoundError("socat: not installed (Debian package socat)")
    proc = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not (a.exists() and b.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise OSError(f"socat made no pty pair at {a}, {b} (exit {proc.poll()})")
            time.sleep(0.02)
        yield str(a), str(b)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


if __name__ == "__main__":
    raise SystemExit(main())
