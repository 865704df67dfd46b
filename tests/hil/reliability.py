"""Fault, bus-loss and crash tests: a sim and a controller with chosen [io] settings.

``harness.start_lane`` fixes the controller's bus settings (patient timeouts for
the wiring tests); these tests need to choose them, read both processes' JSON
logs, and put the simulator's plant clock and the controller's journal on one
wall clock to measure detection and recovery times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from controller.io.modbus import ModbusIo, TcpEndpoint
from controller.iomap import COILS, DISCRETE_INPUTS, INPUT_REGISTERS
from controller.journal import read_events
from tests.hil.harness import Proc, start_proc

__all__ = [
    "Observer",
    "api_post",
    "api_status",
    "event_kinds",
    "lane_config",
    "log_records",
    "plant_wall_ms",
    "start_controller",
    "start_sim",
    "truth",
    "wall_ms",
]


def start_sim(
    workdir: Path, scenario_text: str, *, seed: int = 1, args: tuple[str, ...] = ()
) -> tuple[Proc, int]:
    """``lanectl sim`` on a free loopback port with this scenario; returns (process, port)."""
    scenario = workdir / "scenario.toml"
    scenario.write_text(scenario_text, encoding="utf-8")
    proc, addr = start_proc(
        "sim",
        [
            *("sim", "--scenario", str(scenario), "--port", "0", "--seed", str(seed)),
            *("--truth-out", str(workdir / "truth.json"), *args),
        ],
        workdir,
        "listening on",
    )
    return proc, int(addr.rsplit(":", 1)[1])


def lane_config(workdir: Path, port: int, *, io: str = "", extra: str = "") -> Path:
    """A lane config for the sim on ``port``: ``io`` lines go into [io], ``extra`` after [api]."""
    config = workdir / "lane.toml"
    config.write_text(
        f"""[lane]
name = "rel"
[io]
host = "127.0.0.1"
port = {port}
{io}
[journal]
path = "{workdir / "journal.sqlite"}"
[api]
host = "127.0.0.1"
port = 0
{extra}
""",
        encoding="utf-8",
    )
    return config


def start_controller(workdir: Path, config: Path, name: str = "run") -> tuple[Proc, str]:
    """``lanectl run`` on ``config``; returns (process, API base URL)."""
    return start_proc(name, ["run", "--config", str(config)], workdir, "api listening on")


def log_records(proc: Proc) -> list[dict[str, Any]]:
    """The process's structlog JSON lines (stderr), parsed; other lines are skipped."""
    out: list[dict[str, Any]] = []
    for line in proc.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def wall_ms(iso: str) -> float:
    """An ISO-8601 UTC timestamp (logs, journal) as milliseconds since the epoch."""
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0


def plant_wall_ms(sim: Proc, plant_ms: int) -> float:
    """Wall time of plant time ``plant_ms``: the sim runs at speed 1, and each of its
    ``sim_*`` log records carries both its wall timestamp and the plant time."""
    offsets = [
        wall_ms(r["timestamp"]) - float(r["sim_ms"])
        for r in log_records(sim)
        if "sim_ms" in r and "timestamp" in r
    ]
    if not offsets:
        raise AssertionError("the sim logged no record with sim_ms to anchor its clock")
    # The monitor logs up to 100 ms after the fact: the earliest offset is the closest.
    return min(offsets) + plant_ms


def api_status(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/status", timeout=2.0) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def api_post(url: str, command: str) -> int:
    req = urllib.request.Request(f"{url}/commands/{command}", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=2.0) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def event_kinds(journal: Path) -> list[str]:
    return [e["kind"] for e in read_events(journal)] if journal.exists() else []


def truth(workdir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((workdir / "truth.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data


class Observer:
    """A second Modbus client on the sim that only reads: inputs, driven coils, io_status.

    It never writes the heartbeat, so it cannot keep the I/O watchdog from tripping.
    """

    def __init__(self, port: int) -> None:
        self.io = ModbusIo(TcpEndpoint("127.0.0.1", port), timeout_s=1.0, connect_timeout_s=2.0)

    async def __aenter__(self) -> Observer:
        await self.io.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.io.close()

    async def inputs(self) -> dict[str, bool]:
        bits = await self.io.read_discrete_inputs(len(DISCRETE_INPUTS))
        return {r.name: b for r, b in zip(DISCRETE_INPUTS, bits, strict=True)}

    async def coils(self) -> dict[str, bool]:
        bits = await self.io.read_coils(len(COILS))
        return {r.name: b for r, b in zip(COILS, bits, strict=True)}

    async def io_status(self) -> int:
        regs = await self.io.read_input_registers(len(INPUT_REGISTERS))
        return regs[0]


def run_async(coro: Any, timeout_s: float) -> Any:
    """Run one coroutine to completion with a bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))
