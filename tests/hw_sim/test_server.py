"""The Modbus TCP server over the plant, as clients see it: the map, the counters, every fault."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from controller.core.types import Outputs
from controller.iomap import coils_from_outputs
from hw_sim.faults import FaultKind, FaultSpec
from hw_sim.plant import Plant, Vehicle
from hw_sim.scenario import Behaviour, Scenario, TrafficSpec, VehicleKind
from hw_sim.server import SimServer

TEST_TIMEOUT_S = 30.0
EMPTY = Scenario(name="empty", traffic=TrafficSpec(rate_per_hour=None, schedule_s=()))


def _scenario(*faults: FaultSpec) -> Scenario:
    return Scenario(name="t", traffic=EMPTY.traffic, faults=faults)


def _always(kind: FaultKind, **kw: Any) -> FaultSpec:
    return FaultSpec(kind, at_ms=0, duration_ms=3_600_000, **kw)


@contextlib.asynccontextmanager
async def serving(
    scenario: Scenario = EMPTY, *, speed: float = 1.0, watchdog_ms: int = 0
) -> AsyncIterator[SimServer]:
    plant = Plant(scenario, 1, watchdog_ms=watchdog_ms)
    plant.step()
    server = SimServer(plant, host="127.0.0.1", port=0, speed=speed)
    await server.start()
    runner = asyncio.ensure_future(server.run())
    try:
        yield server
    finally:
        await server.shutdown()
        await asyncio.wait_for(runner, 5.0)


@contextlib.asynccontextmanager
async def client(server: SimServer, timeout: float = 1.0) -> AsyncIterator[AsyncModbusTcpClient]:
    c = AsyncModbusTcpClient(
        "127.0.0.1", port=server.port, timeout=timeout, retries=0, reconnect_delay=0
    )
    try:
        assert await c.connect()
        yield c
    finally:
        c.close()


def run(coro: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro(), TEST_TIMEOUT_S)

    asyncio.run(bounded())


def _raw_exchange(port: int, request: bytes, timeout: float = 1.0) -> bytes:
    chunks = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(TimeoutError, ConnectionError):
            s.sendall(request)
            while len(chunks) < 260:
                data = s.recv(260)
                if not data:
                    break
                chunks += data
                if len(chunks) >= 7 and len(chunks) >= 6 + struct.unpack(">H", chunks[4:6])[0]:
                    break
        return chunks


def _read_coils_adu(tid: int = 1) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, 1, 1, 0, 11)


def test_register_map_addresses_are_exact() -> None:
    """Coil 0 raise, DI 5 barrier_down, IR 1 boom position, HR 0 heartbeat: no address shift."""

    async def body() -> None:
        async with serving(speed=10.0) as server, client(server) as c:
            di = await c.read_discrete_inputs(0, count=11)
            assert not di.isError()
            assert di.bits[:11] == [False] * 5 + [True] + [False] * 5
            out = Outputs(barrier_raise=True, entry_red=False, entry_green=True)
            assert not (await c.write_coils(0, coils_from_outputs(out))).isError()
            assert server.io.effective_outputs() == out
            assert not (await c.write_register(0, 1234)).isError()
            assert server.io.heartbeat == 1234
            hr = await c.read_holding_registers(0, count=5)
            assert hr.registers == [1234, 0, 0, 0, 0]
            deadline = time.monotonic() + 10
            while True:
                ir = await c.read_input_registers(0, count=3)
                if ir.registers[1] == 1000 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert ir.registers[1] == 1000
            di = await c.read_discrete_inputs(4, count=2)
            assert di.bits[:2] == [True, False]
            coils = await c.read_coils(0, count=11)
            assert coils.bits[:11] == coils_from_outputs(out)
            bad = await c.read_coils(5, count=10)
            assert bad.isError() and bad.exception_code == 2
            assert server.counters.requests >= 9 and server.counters.malformed == 0

    run(body)


def test_vehicle_on_bay_loop_reads_on_discrete_input_1() -> None:
    """A car standing on the bay loop reads 1 on DI 1 and 0 on the other loops."""

    async def body() -> None:
        async with serving() as server, client(server) as c:
            server.plant.add_vehicle(
                Vehicle(1, VehicleKind.CAR, Behaviour.COMPLIANT, 4.5, 1.8, front_x_m=-1.0)
            )
            await asyncio.sleep(0.1)
            di = await c.read_discrete_inputs(0, count=4)
            assert di.bits[:4] == [False, True, False, False]

    run(body)


def test_watchdog_over_modbus_sets_io_status_and_fail_outputs() -> None:
    """No heartbeat writes: IR0 bit 0 sets and the coils read back the fail state."""

    async def body() -> None:
        async with serving(watchdog_ms=500) as server, client(server) as c:
            await c.write_coils(0, coils_from_outputs(Outputs(entry_red=False, entry_green=True)))
            while server.plant.now_ms < 1000:
                await asyncio.sleep(0.02)
            ir = await c.read_input_registers(0, count=1)
            assert ir.registers[0] & 1
            coils = await c.read_coils(0, count=11)
            assert coils.bits[2] and not coils.bits[4] and coils.bits[8] and coils.bits[10]
            for n in range(1, 4):
                await c.write_register(0, n)
            ir = await c.read_input_registers(0, count=1)
            assert ir.registers[0] == 0

    run(body)


@pytest.mark.parametrize(
    ("kind", "index", "value"), [("stuck_on", 1, True), ("stuck_off", 5, False)]
)
def test_stuck_input_as_seen_by_a_client(kind: str, index: int, value: bool) -> None:
    """stuck_on loop_bay reads 1 on an empty lane; stuck_off barrier_down reads 0 when down."""
    name = {1: "loop_bay", 5: "barrier_down"}[index]
    fault = _always(FaultKind(kind), input=name)

    async def body() -> None:
        async with serving(_scenario(fault)) as server, client(server) as c:
            await asyncio.sleep(0.05)
            di = await c.read_discrete_inputs(0, count=11)
            assert di.bits[index] is value
            assert server.plant.physical_inputs[index] is not value

    run(body)


@pytest.mark.parametrize("kind", ["barrier_jam", "motor_fault", "slow_barrier"])
def test_boom_faults_as_seen_by_a_client(kind: str) -> None:
    """Raise for 4 sim s: jam, motor fault keep IR1 at 0 (DI 8 on motor fault); slow stops short."""
    extra = {"factor": 3.0} if kind == "slow_barrier" else {}
    fault = _always(FaultKind(kind), **extra)

    async def body() -> None:
        async with serving(_scenario(fault), speed=10.0) as server, client(server) as c:
            await c.write_coils(0, [True])
            start = server.plant.now_ms
            while server.plant.now_ms - start < 4000:
                await asyncio.sleep(0.02)
            ir = await c.read_input_registers(1, count=1)
            di = await c.read_discrete_inputs(8, count=1)
            if kind == "slow_barrier":
                assert 300 < ir.registers[0] < 700
            else:
                assert ir.registers[0] == 0
            assert di.bits[0] is (kind == "motor_fault")

    run(body)


def test_estop_fault_reads_on_discrete_input_7() -> None:
    """An estop fault shows as DI 7 pressed."""

    async def body() -> None:
        async with serving(_scenario(_always(FaultKind.ESTOP))) as server, client(server) as c:
            await asyncio.sleep(0.05)
            assert (await c.read_discrete_inputs(7, count=1)).bits[0] is True

    run(body)


def test_bus_delay_holds_each_reply_back() -> None:
    """bus_delay 300 ms: the reply is correct but comes no sooner than the delay."""

    async def body() -> None:
        fault = _always(FaultKind.BUS_DELAY, delay_ms=300)
        async with serving(_scenario(fault)) as server, client(server, timeout=3.0) as c:
            t0 = time.monotonic()
            ir = await c.read_input_registers(0, count=3)
            assert time.monotonic() - t0 >= 0.3
            assert not ir.isError()
            assert server.counters.delayed == 1

    run(body)


def test_bus_drop_never_answers() -> None:
    """bus_drop: the request is read and counted, the client times out."""

    async def body() -> None:
        async with serving(_scenario(_always(FaultKind.BUS_DROP))) as server:
            async with client(server, timeout=0.5) as c:
                with pytest.raises(ModbusException):
                    await c.read_coils(0, count=11)
            assert server.counters.requests >= 1 and server.counters.dropped >= 1
            assert server.counters.replies == 0

    run(body)


def test_disconnect_closes_the_connection() -> None:
    """disconnect: the server closes every connection, so a raw client reads EOF."""

    async def body() -> None:
        async with serving(_scenario(_always(FaultKind.DISCONNECT))) as server:
            reply = await asyncio.to_thread(_raw_exchange, server.port, _read_coils_adu())
            assert reply == b""
            assert server.counters.disconnects >= 1

    run(body)


def test_disconnect_fault_starting_drops_open_connections() -> None:
    """A disconnect window that opens later drops a client that was connected and working."""
    fault = FaultSpec(FaultKind.DISCONNECT, at_ms=1000, duration_ms=10_000)

    async def body() -> None:
        async with serving(_scenario(fault), speed=2.0) as server, client(server) as c:
            assert not (await c.read_coils(0, count=11)).isError()
            while server.plant.now_ms < 1100:
                await asyncio.sleep(0.02)
            with pytest.raises(ModbusException):
                await c.read_coils(0, count=11)
            assert server.counters.disconnects >= 1

    run(body)


def test_garbage_reply_is_malformed_on_the_wire() -> None:
    """garbage_reply: each reply has a bad protocol id, a lying length or a truncated PDU."""

    async def body() -> None:
        async with serving(_scenario(_always(FaultKind.GARBAGE_REPLY))) as server:
            for tid in (1, 2, 3):
                raw = await asyncio.to_thread(_raw_exchange, server.port, _read_coils_adu(tid), 0.3)
                assert len(raw) >= 7
                _, pid, length, _ = struct.unpack(">HHHB", raw[:7])
                truncated = length == 2 and len(raw) == 8
                assert pid != 0 or length != len(raw) - 6 or truncated
            async with client(server, timeout=0.5) as c:
                with pytest.raises(ModbusException):
                    await c.read_coils(0, count=11)
            assert server.counters.garbage >= 4

    run(body)


def test_exception_reply_carries_the_configured_code() -> None:
    """exception_reply code 6: the client gets a Modbus exception response with code 6."""

    async def body() -> None:
        fault = _always(FaultKind.EXCEPTION_REPLY, code=6)
        async with serving(_scenario(fault)) as server, client(server) as c:
            rr = await c.read_discrete_inputs(0, count=11)
            assert rr.isError() and rr.exception_code == 6
            assert server.counters.exceptions >= 1

    run(body)


def test_malformed_requests_are_counted_and_the_server_survives() -> None:
    """Bad protocol id and unknown function code count as malformed; good requests still work."""

    async def body() -> None:
        async with serving() as server:
            bad_pid = struct.pack(">HHHBBHH", 1, 0x1234, 6, 1, 1, 0, 11)
            await asyncio.to_thread(_raw_exchange, server.port, bad_pid, 0.3)
            bad_fc = struct.pack(">HHHBB", 2, 0, 2, 1, 0x55)
            reply = await asyncio.to_thread(_raw_exchange, server.port, bad_fc, 1.0)
            assert reply[7] == 0xD5 and reply[8] == 1  # exception: illegal function
            assert server.counters.malformed == 2
            async with client(server) as c:
                assert not (await c.read_coils(0, count=11)).isError()

    run(body)


def test_latency_probe_records_edges_answered_by_a_polling_client() -> None:
    """A client reading DI and writing coils every 5 ms yields one edge-to-coil sample per edge."""
    fault = FaultSpec(FaultKind.STUCK_ON, at_ms=300, duration_ms=300, input="loop_bay")

    async def body() -> None:
        async with serving(_scenario(fault)) as server, client(server) as c:
            while server.plant.now_ms < 900:
                await c.read_discrete_inputs(0, count=11)
                await c.write_coils(0, [False] * 11)
                await asyncio.sleep(0.005)
            await c.read_discrete_inputs(0, count=11)
            await c.write_coils(0, [False] * 11)
            samples = server.io.edge_to_coil_ns()
            assert len(samples) == 2
            assert all(s > 0 for s in samples)

    run(body)
