"""Starts the simulated lane and the controller as processes on loopback, and always stops them."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.children import Child, start_child, stop_child

__all__ = ["Lane", "Proc", "start_lane", "start_proc", "stop_proc", "wait_for"]

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass
class Proc:
    """A ``lanectl`` child process started by ``start_proc``."""

    child: Child

    @property
    def name(self) -> str:
        return self.child.name

    @property
    def popen(self) -> subprocess.Popen[str]:
        return self.child.proc

    @property
    def log_path(self) -> Path:
        return self.child.log_path

    @property
    def lines(self) -> list[str]:
        return self.child.lines


def start_proc(name: str, args: list[str], workdir: Path, prefix: str) -> tuple[Proc, str]:
    """Run ``python -m controller.cli ARGS``; wait (bounded) for the stdout line ``prefix ...``."""
    child, rest = start_child(
        name, args, workdir, prefix, timeout_s=START_TIMEOUT_S, error=AssertionError
    )
    return Proc(child), rest


def stop_proc(proc: Proc) -> int:
    """SIGTERM, bounded wait, then SIGKILL."""
    return stop_child(proc.child, STOP_TIMEOUT_S)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 100 ms until true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class Lane:
    workdir: Path
    sim: Proc
    run: Proc | None
    sim_wall0_ms: float
    api_url: str
    journal: Path
    truth: Path
    config: Path

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.api_url}/status", timeout=2.0) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data

    def post(self, command: str) -> int:
        req = urllib.request.Request(f"{self.api_url}/commands/{command}", method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=2.0) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def truth_data(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.truth.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data

    def stop_controller(self) -> int:
        code = 0
        if self.run is not None:
            code = stop_proc(self.run)
            self.run = None
        return code

    def restart_controller(self) -> None:
        """Stop the controller (SIGTERM) and start it again on the same config and journal."""
        assert self.stop_controller() == 0
        self.run, self.api_url = start_proc(
            "run2", ["run", "--config", str(self.config)], self.workdir, "api listening on"
        )

    def stop(self) -> None:
        self.stop_controller()
        stop_proc(self.sim)


def start_lane(
    workdir: Path,
    scenario: str,
    *,
    seed: int = 1,
    extra_config: str = "",
    open_on_start: bool = True,
) -> Lane:
    """The sim on a free port, then the controller pointed at it with its API on a free port."""
    truth = workdir / "truth.json"
    journal = workdir / "journal.sqlite"
    sim, addr = start_proc(
        "sim",
        [
            "sim",
            "--scenario",
            scenario,
            "--port",
            "0",
            "--seed",
            str(seed),
            "--truth-out",
            str(truth),
        ],
        workdir,
        "listening on",
    )
    sim_wall0_ms = time.time() * 1000.0
    port = int(addr.rsplit(":", 1)[1])
    config = workdir / "lane.toml"
    config.write_text(
        f"""[lane]
name = "hil"
open_on_start = {"true" if open_on_start else "false"}
[io]
host = "127.0.0.1"
port = {port}
# Generous on a busy CI machine: the wiring is under test here, not the latency.
timeout_ms = 250
missed_scans = 2
[journal]
path = "{journal}"
[api]
host = "127.0.0.1"
port = 0
{extra_config}
""",
        encoding="utf-8",
    )
    try:
        run, api_url = start_proc(
            "run", ["run", "--config", str(config)], workdir, "api listening on"
        )
    except BaseException:
        stop_proc(sim)
        raise
    return Lane(workdir, sim, run, sim_wall0_ms, api_url, journal, truth, config)
