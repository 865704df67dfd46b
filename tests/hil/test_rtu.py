"""Modbus RTU end to end: ``lanectl sim --serial`` and the controller's serial client on a pty pair.

socat joins two pseudo-terminals back to back, as a null-modem cable joins two
serial ports; the simulator serves RTU on one end and the controller talks to
the other, so the whole RTU path (framing, CRC, line timing) is exercised.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.config import ConfigError, load_config
from controller.io.modbus import BusError, ModbusIo, RtuEndpoint
from controller.journal import read_events
from controller.runtime import endpoint_from_config
from tests.hil.harness import Proc, start_proc, stop_proc, wait_for

pytestmark = pytest.mark.hil

BAUD = 115200

ONE_CAR = """
[scenario]
name = "rtu-one-car"
description = "One compliant car through the lane."
[traffic]
schedule_s = [2]
kinds = { car = 1.0 }
behaviours = { compliant = 1.0 }
approach_speed_kmh = [40, 40]
bay_speed_kmh = [15, 15]
[operator]
dwell_s = [1, 1]
aside_share = 0.0
hold_ms = 300
[boom]
raise_ms = 1500
lower_ms = 1500
"""


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: cannot make a serial pty pair (CI installs it)")
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


def _sim(tmp_path: Path, device: str, scenario_text: str) -> tuple[Proc, str]:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(scenario_text, encoding="utf-8")
    return start_proc(
        "sim",
        [
            *("sim", "--scenario", str(scenario), "--rtu", device),
            *("--baudrate", str(BAUD), "--truth-out", str(tmp_path / "truth.json")),
        ],
        tmp_path,
        "listening on",
    )


def test_adapter_reads_and_writes_over_rtu(tmp_path: Path, pty_pair: tuple[str, str]) -> None:
    """The controller's serial client reads the map's sizes and its writes land (read back)."""
    sim_end, ctl_end = pty_pair
    sim, address = _sim(tmp_path, sim_end, '[scenario]\nname = "empty"\n')
    try:
        assert address == sim_end

        async def go() -> None:
            io = ModbusIo(RtuEndpoint(ctl_end, baudrate=BAUD), timeout_s=1.0)
            await io.connect()
            try:
                await io.write_register(1, 0)  # watchdog off: this test stops heartbeats
                await io.write_register(0, 1234)
                await io.write_registers(2, [0x0102, 0, 7])
                coils = [False] * 11
                coils[2] = coils[5] = coils[8] = True  # entry red, exit red, lane closed
                await io.write_coils(coils)
                bits = await io.read_discrete_inputs(11)
                regs = await io.read_input_registers(3)
            finally:
                io.close()
            assert len(bits) == 11 and bits[5]  # the boom starts down
            assert len(regs) == 3 and regs[0] & 1 == 0  # watchdog not tripped
            assert io.failures == 0
            assert io.requests == 6

        asyncio.run(asyncio.wait_for(go(), 30.0))
    finally:
        stop_proc(sim)


def test_dead_line_is_a_timeout_bus_error(pty_pair: tuple[str, str]) -> None:
    """Nothing answers on the line: each request is a named timeout BusError, never a hang."""
    _, ctl_end = pty_pair

    async def go() -> list[BusError]:
        io = ModbusIo(RtuEndpoint(ctl_end, baudrate=BAUD), timeout_s=0.2)
        await io.connect()
        errors: list[BusError] = []
        try:
            for _ in range(3):
                with pytest.raises(BusError) as info:
                    await io.read_discrete_inputs(11)
                errors.append(info.value)
        finally:
            io.close()
        assert io.failures == 3
        return errors

    errors = asyncio.run(asyncio.wait_for(go(), 30.0))
    assert all(e.timeout and e.request.startswith("FC2") for e in errors)


def test_rtu_endpoint_checks_line_settings() -> None:
    """Bad serial settings are named ValueErrors; a missing device is a named BusError."""
    with pytest.raises(ValueError, match="parity"):
        RtuEndpoint("/dev/ttyS0", parity="X")
    with pytest.raises(ValueError, match="stopbits"):
        RtuEndpoint("/dev/ttyS0", stopbits=3)
    with pytest.raises(ValueError, match="device"):
        RtuEndpoint("")
    assert RtuEndpoint("/dev/ttyS0", 9600, "E").describe() == "rtu:///dev/ttyS0?9600E1"

    async def go() -> None:
        io = ModbusIo(RtuEndpoint("/nonexistent/tty-lanectl"), connect_timeout_s=0.5)
        with pytest.raises(BusError, match="tty-lanectl"):
            await io.connect()

    asyncio.run(asyncio.wait_for(go(), 10.0))


def _rtu_config(tmp_path: Path, device: str) -> Path:
    config = tmp_path / "lane.toml"
    config.write_text(
        f"""[lane]
name = "rtu"
[io]
transport = "rtu"
device = "{device}"
baudrate = {BAUD}
parity = "N"
scan_ms = 20
timeout_ms = 250
missed_scans = 2
[journal]
path = "{tmp_path / "journal.sqlite"}"
[api]
host = "127.0.0.1"
port = 0
""",
        encoding="utf-8",
    )
    return config


def test_config_rtu_keys(tmp_path: Path) -> None:
    """`transport = "rtu"` needs a device; serial keys under TCP are named errors."""
    config = _rtu_config(tmp_path, "/dev/ttyUSB0")
    endpoint = endpoint_from_config(load_config(config).io)
    assert endpoint == RtuEndpoint("/dev/ttyUSB0", baudrate=BAUD)
    text = config.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('device = "/dev/ttyUSB0"\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.device: missing"):
        load_config(bad)
    bad.write_text(text.replace('parity = "N"', 'parity = "M"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.parity"):
        load_config(bad)
    bad.write_text(text.replace('transport = "rtu"', 'transport = "tcp"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.device: only transport 'rtu'"):
        load_config(bad)
    bad.write_text(text.replace('transport = "rtu"', 'transport = "ascii"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.transport"):
        load_config(bad)


def test_controller_cycles_a_car_over_rtu(tmp_path: Path, pty_pair: tuple[str, str]) -> None:
    """`lanectl run` over RTU opens the lane and passes one car: counted once, no boom contact."""
    sim_end, ctl_end = pty_pair
    sim, _ = _sim(tmp_path, sim_end, ONE_CAR)
    run: Proc | None = None
    try:
        config = _rtu_config(tmp_path, ctl_end)
        run, api_url = start_proc(
            "run", ["run", "--config", str(config)], tmp_path, "api listening on"
        )

        def status() -> dict[str, Any]:
            with urllib.request.urlopen(f"{api_url}/status", timeout=2.0) as resp:
                data: dict[str, Any] = json.loads(resp.read())
            return data

        wait_for(lambda: status()["bus"]["connected"], 20.0, "the controller to connect over RTU")
        assert status()["bus"]["endpoint"].startswith(f"rtu://{ctl_end}")
        journal = tmp_path / "journal.sqlite"

        def passed() -> bool:
            return any(e["kind"] == "vehicle_passed" for e in read_events(journal))

        wait_for(passed, 90.0, "the car to pass over RTU")
        wait_for(lambda: status()["core"]["phase"] == "READY", 30.0, "the boom to come down")
        assert status()["core"]["count"] == 1
        assert stop_proc(run) == 0
        run = None
    finally:
        if run is not None:
            stop_proc(run)
        stop_proc(sim)
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    assert truth["contacts"] == []
    assert truth["summary"]["passed"] == 1
    kinds = [e["kind"] for e in read_events(tmp_path / "journal.sqlite")]
    assert kinds.count("vehicle_passed") == 1
    assert "bus_lost" not in kinds
