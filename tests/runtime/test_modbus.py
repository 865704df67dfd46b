"""Modbus adapter: real requests against the simulated lane; bad replies rejected as BusError."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from controller.io.modbus import BusError, ModbusIo, TcpEndpoint
from tests.hil.harness import Proc, start_proc, stop_proc

Reply = Callable[[int, int, bytes], bytes | None]


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


def _with_fake(reply: Reply, body: Callable[[ModbusIo], Awaitable[None]]) -> None:
    """Run ``body`` against a raw TCP responder whose answers come from ``reply``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _proto, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(length - 1)
                out = reply(tid, unit, pdu)
                if out is not None:
                    writer.write(out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def go() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        io = ModbusIo(TcpEndpoint("127.0.0.1", port), timeout_s=0.1)
        try:
            await io.connect()
            await asyncio.wait_for(body(io), 10)
        finally:
            io.close()
            server.close()
            await server.wait_closed()

    asyncio.run(go())


def _frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def test_no_reply_is_a_timeout() -> None:
    """A device that never answers gives BusError(timeout=True) within the request timeout."""

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert info.value.timeout
        assert "no reply within 100 ms" in str(info.value)

    _with_fake(lambda tid, unit, pdu: None, body)


def test_wrong_transaction_is_not_believed() -> None:
    """A reply carrying another transaction id is dropped, so the request times out."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return _frame((tid + 7) & 0xFFFF, unit, bytes([2, 2, 0xFF, 0x07]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError) as info:
            await io.read_discrete_inputs(11)
        assert info.value.timeout

    _with_fake(reply, body)


def test_wrong_function_rejected() -> None:
    """A well-formed reply for another function code is rejected, naming both codes."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return _frame(tid, unit, bytes([4, 6, 0, 1, 0, 2, 0, 3]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="function 4, sent 2"):
            await io.read_discrete_inputs(11)

    _with_fake(reply, body)


def test_short_reply_rejected() -> None:
    """A discrete-input reply with fewer bits than asked is rejected."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return _frame(tid, unit, bytes([2, 1, 0xFF]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="8 bits for 11 asked"):
            await io.read_discrete_inputs(11)

    _with_fake(reply, body)


def test_exception_reply_rejected() -> None:
    """A Modbus exception reply becomes BusError with its exception code."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return _frame(tid, unit, bytes([pdu[0] | 0x80, 2]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="exception reply, code 2"):
            await io.write_coils([True] * 11)

    _with_fake(reply, body)


def test_wrong_echo_rejected() -> None:
    """An FC6 reply echoing another value than written is rejected."""

    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        return _frame(tid, unit, bytes([6, 0, 0, 0, 9]))

    async def body(io: ModbusIo) -> None:
        with pytest.raises(BusError, match="echoes"):
            await io.write_register(0, 8)

    _with_fake(reply, body)
