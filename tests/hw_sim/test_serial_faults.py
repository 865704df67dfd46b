"""The RTU line-fault relay: CRC, framing, each fault kind and the reply record, on ptys."""

from __future__ import annotations

import os
import select
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.serial_faults import (
    Direction,
    LineFault,
    LineFaultKind,
    LineRelay,
    RelayProcess,
    RelayRecord,
    Reply,
    crc16,
    has_valid_frame,
    socat_pty_pair,
)

READ_DI = bytes([1, 2, 0, 0, 0, 11])
"""FC2: 11 discrete inputs from 0, unit 1 (the scan's first request), without its CRC."""


def frame(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "big")


REQUEST = frame(READ_DI)
REPLY = frame(bytes([1, 2, 2, 0x21, 0x04]))


def test_crc16_is_the_modbus_crc() -> None:
    """The textbook frame 01 03 00 00 00 0A carries CRC C5 CD."""
    assert crc16(bytes([1, 3, 0, 0, 0, 0x0A])) == 0xC5CD
    assert has_valid_frame(REQUEST) and has_valid_frame(b"\x00\x07" + REPLY)
    assert not has_valid_frame(REQUEST[:-1] + bytes([REQUEST[-1] ^ 1]))
    assert not has_valid_frame(b"")


def test_line_fault_checks_its_arguments() -> None:
    """A bad fault is a ValueError naming the field."""
    with pytest.raises(ValueError, match="duration_ms"):
        LineFault(LineFaultKind.SILENCE, 0)
    with pytest.raises(ValueError, match="delay_ms"):
        LineFault(LineFaultKind.DELAY, 100)
    with pytest.raises(ValueError, match="delay_ms"):
        LineFault(LineFaultKind.CRC, 100, delay_ms=5)


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[tuple[int, int, LineRelay]]:
    """(device fd, controller fd, relay): a relay between two socat pty pairs."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (CI installs it)")
    with (
        socat_pty_pair(tmp_path / "dev", tmp_path / "relay_dev") as (dev, relay_dev),
        socat_pty_pair(tmp_path / "relay_ctl", tmp_path / "ctl") as (relay_ctl, ctl),
    ):
        fds = [os.open(p, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK) for p in (dev, ctl)]
        try:
            with LineRelay(relay_dev, relay_ctl, seed=7) as relay:
                yield fds[0], fds[1], relay
        finally:
            for fd in fds:
                os.close(fd)


def _read(fd: int, n: int, timeout_s: float = 1.0) -> bytes:
    """Up to ``n`` bytes within ``timeout_s`` (fewer if the line goes quiet)."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while len(out) < n and (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            out += os.read(fd, n - len(out))
    return out


def _settled(relay: LineRelay) -> RelayRecord:
    """The relay's record once it has noted the last reply it delivered (it notes a reply
    just after writing it, so a reader can be a moment ahead)."""
    deadline = time.monotonic() + 2.0
    while True:
        record = relay.record()
        if (record.requests and record.requests[-1].replies) or time.monotonic() > deadline:
            return record
        time.sleep(0.01)


def _exchange(dev: int, ctl: int, reply: bytes = REPLY) -> tuple[bytes, bytes]:
    """The controller sends REQUEST; the device answers what it got; what each side saw."""
    os.write(ctl, REQUEST)
    got = _read(dev, len(REQUEST), 0.5)
    if got:
        os.write(dev, reply)
    return got, _read(ctl, len(reply), 0.5)


def test_relay_passes_frames_and_records_current_replies(
    ends: tuple[int, int, LineRelay],
) -> None:
    """With no fault both frames pass unchanged and the reply is recorded as current."""
    dev, ctl, relay = ends
    assert _exchange(dev, ctl) == (REQUEST, REPLY)
    record = _settled(relay)
    assert [(r.function, r.address) for r in record.requests] == [(2, 0)]
    assert record.requests[0].taken is Reply.CURRENT
    assert record.counters["to_device"] == record.counters["to_controller"] == 1


@pytest.mark.parametrize("kind", [LineFaultKind.GARBAGE, LineFaultKind.CRC])
def test_broken_replies_hold_no_valid_frame(
    ends: tuple[int, int, LineRelay], kind: LineFaultKind
) -> None:
    """Garbage and CRC faults deliver frames of the same length that no CRC check passes."""
    dev, ctl, relay = ends
    relay.inject(LineFault(kind, 5_000, Direction.TO_CONTROLLER))
    seen = [_exchange(dev, ctl) for _ in range(6)]
    assert all(req == REQUEST for req, _ in seen)  # requests untouched
    for _, reply in seen:
        assert len(reply) == len(REPLY) and reply != REPLY
        assert not has_valid_frame(reply)
        if kind is LineFaultKind.CRC:  # exactly one bit flipped
            assert sum(bin(a ^ b).count("1") for a, b in zip(reply, REPLY, strict=True)) == 1
    requests = _settled(relay).requests
    assert len(requests) == 6
    assert all(r.replies == [Reply.BROKEN] and r.taken is None for r in requests)


def test_silence_drops_both_ways_for_its_duration_only(ends: tuple[int, int, LineRelay]) -> None:
    """Nothing crosses a silent line; the line carries frames again once the fault ends."""
    dev, ctl, relay = ends
    window = relay.inject(LineFault(LineFaultKind.SILENCE, 1_200))
    assert _exchange(dev, ctl) == (b"", b"")
    os.write(dev, REPLY)  # an unasked frame from the device side is dropped too
    assert _read(ctl, len(REPLY), 0.2) == b""
    while relay.active() is not None:
        time.sleep(0.02)
    assert _exchange(dev, ctl) == (REQUEST, REPLY)
    assert window.frames == 2 and relay.counters["dropped"] == 2
    assert [r.taken for r in _settled(relay).requests] == [None, Reply.CURRENT]


def test_delay_holds_frames_and_late_replies_are_stale(ends: tuple[int, int, LineRelay]) -> None:
    """A delayed reply that reaches the controller after its next request is recorded stale."""
    dev, ctl, relay = ends
    relay.inject(LineFault(LineFaultKind.DELAY, 150, Direction.TO_CONTROLLER, delay_ms=300))
    t0 = time.monotonic()
    os.write(ctl, REQUEST)
    assert _read(dev, len(REQUEST)) == REQUEST
    os.write(dev, REPLY)
    assert _read(ctl, len(REPLY), 0.1) == b""  # held back
    os.write(ctl, REQUEST)  # the controller gave up and asks again
    assert _read(dev, len(REQUEST)) == REQUEST
    assert _read(ctl, len(REPLY), 2.0) == REPLY
    assert time.monotonic() - t0 >= 0.3
    assert [r.replies for r in _settled(relay).requests] == [[], [Reply.STALE]]


def test_relay_process_takes_faults_and_leaves_its_record(tmp_path: Path) -> None:
    """``python -m hw_sim.serial_faults``: faults by stdin, windows back, record at the end."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (CI installs it)")
    with (
        socat_pty_pair(tmp_path / "dev", tmp_path / "relay_dev") as (dev_path, relay_dev),
        socat_pty_pair(tmp_path / "relay_ctl", tmp_path / "ctl") as (relay_ctl, ctl_path),
    ):
        dev = os.open(dev_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        ctl = os.open(ctl_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        relay = RelayProcess(relay_dev, relay_ctl, tmp_path, seed=3)
        try:
            relay.start()
            assert _exchange(dev, ctl) == (REQUEST, REPLY)
            window = relay.inject(LineFault(LineFaultKind.CRC, 300, Direction.TO_CONTROLLER))
            assert window.end_wall - window.start_wall == pytest.approx(0.3)
            assert relay.active()
            with pytest.raises(RuntimeError, match="already active"):
                relay.inject(LineFault(LineFaultKind.SILENCE, 100))
            _, broken = _exchange(dev, ctl)
            assert len(broken) == len(REPLY) and not has_valid_frame(broken)
        finally:
            record = relay.close()
            os.close(dev)
            os.close(ctl)
    assert isinstance(record, RelayRecord) and record.error is None
    assert [r.taken for r in record.requests] == [Reply.CURRENT, None]
    assert [(w.fault.kind, w.frames) for w in record.windows] == [(LineFaultKind.CRC, 1)]
