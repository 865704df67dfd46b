"""The simulated lane's optional transports: Modbus/TCP Security (TLS) and RTU on a serial line."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTlsClient

from hw_sim.plant import Plant
from hw_sim.scenario import Scenario, TrafficSpec
from hw_sim.server import SerialPort, SimServer, TlsFiles

EMPTY = Scenario(name="empty", traffic=TrafficSpec(rate_per_hour=None, schedule_s=()))
TEST_TIMEOUT_S = 30.0


Client = AsyncModbusTlsClient | AsyncModbusSerialClient


async def _exercise(server: SimServer, make_client: Callable[[SimServer], Client]) -> None:
    """Read the inputs, write raise + entry green, read them back, then the boom position."""
    await server.start()
    runner = asyncio.ensure_future(server.run())
    client = make_client(server)
    try:
        assert await client.connect()
        di = await client.read_discrete_inputs(0, count=11)
        assert di.bits[:6] == [False, False, False, False, False, True]  # boom down
        assert not (await client.write_coils(0, [True, False, False, False, True])).isError()
        coils = await client.read_coils(0, count=11)
        assert coils.bits[:5] == [True, False, False, False, True]
        assert not (await client.write_register(0, 7)).isError()
        assert server.io.heartbeat == 7
        await asyncio.sleep(0.3)
        ir = await client.read_input_registers(0, count=3)
        assert 0 < ir.registers[1] <= 1000
        assert server.counters.requests == 5
    finally:
        client.close()
        await server.shutdown()
        await asyncio.wait_for(runner, 5.0)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=lanectl-sim",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return TlsFiles(str(cert), str(key))


def test_tls_serves_the_same_map(tls_files: TlsFiles) -> None:
    """Over TLS a verifying client writes and reads the map exactly as over plain TCP."""

    async def body() -> None:
        plant = Plant(EMPTY, 1, watchdog_ms=0)
        server = SimServer(plant, host="127.0.0.1", port=0, tls=tls_files)
        ctx = ssl.create_default_context(cafile=tls_files.certfile)
        await _exercise(
            server,
            lambda s: AsyncModbusTlsClient(
                "127.0.0.1", port=s.port, sslctx=ctx, timeout=2, retries=0, reconnect_delay=0
            ),
        )

    asyncio.run(asyncio.wait_for(body(), TEST_TIMEOUT_S))


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: cannot make a serial pty pair")
    a, b = tmp_path / "sim_tty", tmp_path / "ctl_tty"
    proc = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (a.exists() and b.exists()):
            assert time.monotonic() < deadline, "socat made no pty pair"
            time.sleep(0.05)
        yield str(a), str(b)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_rtu_on_a_serial_line_serves_the_same_map(pty_pair: tuple[str, str]) -> None:
    """RTU over a pty pair: the same addresses, the same values, requests counted."""
    sim_end, ctl_end = pty_pair

    async def body() -> None:
        plant = Plant(EMPTY, 1, watchdog_ms=0)
        server = SimServer(plant, serial=SerialPort(sim_end, baudrate=115200))
        await _exercise(
            server,
            lambda _: AsyncModbusSerialClient(
                ctl_end, baudrate=115200, timeout=2, retries=1, reconnect_delay=0
            ),
        )
        assert server.address == sim_end

    asyncio.run(asyncio.wait_for(body(), TEST_TIMEOUT_S))


def test_tls_and_serial_together_are_refused() -> None:
    """One transport per server: asking for TLS and RTU at once is a named error."""
    plant = Plant(EMPTY, 1)
    with pytest.raises(ValueError, match="tls, serial"):
        SimServer(plant, tls=TlsFiles("c", "k"), serial=SerialPort("/dev/null"))
