"""Modbus adapter: real requests against the simulated lane; bad replies rejected as BusError."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from controller.io.modbus import BusError, ModbusIo, TcpEndpoint
from tests.hil.harness import Proc, start_proc, stop_proc
from tests.runtime.fake_modbus import CLOSE, FakeModbus, Late, Reply, frame


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[int]:
    scenario = tmp_path / "empty.toml"
    scenario.write_text('[scenario]\nname = "empty"\n[traffic]\nschedule_s = [3600]\n')
    proc: Proc | None = None
    try:
        proc, addr = start_proc(
            "sim", ["sim", "--scenario", str(scenario), "--port", "0"], tmp_path, "listening on"
        )
        yield int(addr.rsplit(":", 1)[1])
    finally:
        if proc is not None:
            stop_proc(proc)


def test_requests_against_sim(sim: int) -> None:
    """FC2/FC4 reads return the map's sizes; FC15/FC6/FC16 writes land where the map says."""

    async def go() -> None:
        io = ModbusIo(TcpEndpoint("127.0.0.1", sim), timeout_s=0.5)
        await io.connect()
        checker = AsyncModbusTcpClient("127.0.0.1", port=sim, timeout=2, retries=0)
        try:
            assert io.connected
            bits = await io.read_discrete_inputs(11)
            assert len(bits) == 11 and all(isinstance(b, bool) for b in bits)
            regs = await io.read_input_registers(3)
            assert len(regs) == 3
            await io.write_register(1, 1234)
            await io.write_register(0, 7)
            await io.write_registers(2, [0x0506, 0, 42])
            coils = [False] * 11
            coils[2] = coils[5] = coils[8] = True
            await io.write_coils(coils)
            assert await checker.connect()
            hr = await checker.read_holding_registers(0, count=5)
            assert list(hr.registers) == [7, 1234, 0x0506, 0, 42]
            read = await checker.read_coils(0, count=11)
            assert list(read.bits[:11]) == coils
        finally:
            checker.close()
            io.close()
        assert not io.connected
        assert io.failures == 0

    asyncio.run(go())


def test_connect_refused() -> None:
    """Connecting to a closed port raises BusError naming the endpoint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        io = ModbusIo(TcpEndpoint("127.0.0.1", port), connect_timeout_s=0.5)
        with pytest.raises(BusError, match=f"127.0.0.1:{port}"):
            await io.connect()

    asyncio.run(go())


def _with_fake(reply: Reply, body: Callable[[ModbusIo], Awaitable[None]]) -> FakeModbus:
    """Run ``body`` against a raw TCP responder (in a thread of its own: the adapter's
    requests block their loop) whose answers come from ``reply``."""
    with FakeModbus(reply) as fake:

        async def go() -> None:
            io = ModbusIo(TcpEndpoint("127.0.0.1", fake.port), timeout_s=0.1)
            try:
                await io.connect()
                await body(io)
            finally:
                io.close()

        asyncio.run(asyncio.wait_for(go(), 10))
    return fake


def _bits_pdu(bits: list[bool]) -> bytes:
    """The PDU of an FC2 reply carrying ``bits`` (LSB first, padded to whole bytes)."""
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        packed[i // 8] |= int(bit) << (i % 8)
    return bytes([2, len(packed)]) + bytes(packed)


def test_no_reply_is_a_timeout() -> None:
    """A device that never answers gives BusError(timeout=True) within the request timeout."""

    async def body(io: ModbusIo) -> None:
        t0 = time.monotonic()
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert time.monotonic() - t0 >= 0.1  # it waited out its timeout, no less
        assert info.value.timeout
        assert "no reply within 100 ms" in str(info.value)
        assert io.connected  # a timeout leaves the connection to the caller

    _with_fake(lambda tid, unit, pdu: None, body)


def test_wrong_transaction_is_not_believed() -> None:
    """A reply carrying another transaction id is dropped, so the request times out."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return frame((tid + 7) & 0xFFFF, unit, bytes([2, 2, 0xFF, 0x07]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert info.value.timeout

    _with_fake(reply, body)


def test_wrong_function_rejected() -> None:
    """A well-formed reply for another function code is rejected, naming both codes."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return frame(tid, unit, bytes([4, 6, 0, 1, 0, 2, 0, 3]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="function 4, sent 2"):
            await io.read_discrete_inputs(11)

    _with_fake(reply, body)


def test_short_reply_rejected() -> None:
    """A discrete-input reply with fewer bits than asked is rejected."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return frame(tid, unit, bytes([2, 1, 0xFF]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="8 bits for 11 asked"):
            await io.read_discrete_inputs(11)

    _with_fake(reply, body)


def test_exception_reply_rejected() -> None:
    """A Modbus exception reply becomes BusError with its exception code."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return frame(tid, unit, bytes([pdu[0] | 0x80, 2]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="exception reply, code 2"):
            await io.write_coils([True] * 11)

    _with_fake(reply, body)


def test_wrong_echo_rejected() -> None:
    """An FC6 reply echoing another value than written is rejected."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return frame(tid, unit, bytes([6, 0, 0, 0, 9]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="echoes"):
            await io.write_register(0, 8)

    _with_fake(reply, body)


ANSWER_1 = [True, False, True] + [False] * 8
ANSWER_2 = [False, True, False] + [True] * 8


def test_late_reply_is_not_taken_for_the_next_request() -> None:
    """TCP: the first reply comes 150 ms late (timeout 100 ms), after the next request was
    sent; the next request takes its own reply (by transaction id), not the late one."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes | Late:
        if tid == 1:
            return Late(0.15, frame(tid, unit, _bits_pdu(ANSWER_1)))
        return frame(tid, unit, _bits_pdu(ANSWER_2))

    got: list[list[bool]] = []

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert info.value.timeout
        got.append(await io.read_discrete_inputs(11))
        got.append(await io.read_discrete_inputs(11))

    fake = _with_fake(reply, body)
    assert got == [ANSWER_2, ANSWER_2]
    assert [tid for tid, _, _ in fake.requests] == [1, 2, 3]


def test_late_bytes_waiting_in_the_socket_are_discarded() -> None:
    """The tail of a late reply reaches the socket while nothing is asked; the next
    request discards it first instead of reading it as the start of its reply."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes | Late:
        if tid == 1:
            # Half a frame, after the timeout: on its own it is no reply at all.
            return Late(0.15, frame(tid, unit, _bits_pdu(ANSWER_1))[:5])
        return frame(tid, unit, _bits_pdu(ANSWER_2))

    got: list[list[bool]] = []

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert info.value.timeout
        await asyncio.sleep(0.2)  # the half frame is in the socket by now
        got.append(await io.read_discrete_inputs(11))

    _with_fake(reply, body)
    assert got == [ANSWER_2]


def test_closed_connection_is_not_reopened() -> None:
    """The I/O side closes the connection: the request fails (not as a timeout), the next
    one fails as not connected, and no second connection is ever opened by itself."""
    errors: list[BusError] = []

    async def body(io: ModbusIo) -> None:
        for _ in range(2):
            with pytest.raises(BusError) as info:
                await io.read_discrete_inputs(11)
            errors.append(info.value)
        assert not io.connected

    fake = _with_fake(lambda tid, unit, pdu: CLOSE, body)
    assert not errors[0].timeout and not errors[1].timeout
    assert errors[0].request.startswith("FC2")
    assert errors[1].reason == "not connected"
    assert fake.connections == 1
    assert len(fake.requests) == 1


def test_connect_runs_beside_the_loop() -> None:
    """A connect that hangs (the listener's backlog is full, so its SYN goes unanswered)
    ends as a BusError after connect_timeout_s, and the caller's event loop runs on
    meanwhile: the scans beside a reconnect keep their timing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))

            async def go() -> tuple[int, float]:
                ticks = 0
                done = asyncio.Event()

                async def ticker() -> None:
                    nonlocal ticks
                    while not done.is_set():
                        await asyncio.sleep(0.01)
                        ticks += 1

                task = asyncio.create_task(ticker())
                io = ModbusIo(TcpEndpoint("127.0.0.1", port), connect_timeout_s=0.5)
                t0 = time.monotonic()
                try:
                    with pytest.raises(BusError, match=f"127.0.0.1:{port}"):
                        await io.connect()
                finally:
                    done.set()
                    await task
                return ticks, time.monotonic() - t0

            ticks, took = asyncio.run(asyncio.wait_for(go(), 10))
        finally:
            for filler in fillers:
                filler.close()
    assert took >= 0.5  # it did wait for the connect (the backlog held)
    assert ticks >= 10  # 10 ms ticks went on during the half second


def test_first_request_runs_beside_the_loop() -> None:
    """Connected to an I/O side that accepts the connection but never answers (a gateway
    whose device is down), the first request waits out its timeout in the worker thread:
    the caller's event loop runs on, as the scans beside a reconnect must."""
    ticks: list[int] = []

    async def body(io: ModbusIo) -> None:
        count = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal count
            while not done.is_set():
                await asyncio.sleep(0.01)
                count += 1

        task = asyncio.create_task(ticker())
        try:
            with pytest.raises(BusError) as info:
                await io.write_register(0, 1)
            assert info.value.timeout
        finally:
            done.set()
            await task
        ticks.append(count)

    _with_fake(lambda tid, unit, pdu: None, body)
    assert ticks[0] >= 4  # 10 ms ticks during a 100 ms timeout (on the loop: none)


_TIMEOUTS_SCRIPT = """
import asyncio
from controller.io.modbus import BusError, ModbusIo, TcpEndpoint
from tests.runtime.fake_modbus import FakeModbus

with FakeModbus(lambda tid, unit, pdu: None) as fake:
    async def go():
        io = ModbusIo(TcpEndpoint("127.0.0.1", fake.port), timeout_s=0.1)
        await io.connect()
        for _ in range(3):
            try:
                await io.read_discrete_inputs(11)
            except BusError as exc:
                print(exc)
        io.close()
    asyncio.run(go())
"""


def test_a_timeout_leaves_no_bare_line_in_the_log() -> None:
    """pymodbus's own "No response received" lines never reach stderr, where the
    controller's structured log writes JSON lines; the BusError says it instead. (In a
    process of its own: pytest's log capture would hide what Python's last-resort
    handler prints.)"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _TIMEOUTS_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("no reply within 100 ms") == 3, out.stdout
    assert out.stderr == "", out.stderr
