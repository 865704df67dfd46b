"""The hardware-in-the-loop latency benchmark: sensor edge -> coil written, measured by the plant.

Two real processes talk Modbus TCP on loopback, as on site: ``lanectl sim``
(the plant behind its I/O module) and ``lanectl run`` (the controller). The
I/O module stamps every discrete-input edge it makes and every coil write it
receives with one monotonic clock, so the latency is measured where the field
sees it, independently of the controller's own idea of its scan: the edge's
wait for the next read, the read, the scan and the write, loopback included.
``--edge-log`` hands the samples over when the simulator exits.

The stimulus is the ``hil`` scenario written here: a queue of compliant cars
(one every 4 s) worked by auto-release with early entry, plus a test pulse on
the approach loop, which the core only watches for a stuck loop: every 61 ms
a 20 ms stuck-on fault (two edges while the loop is free) and, 30 ms later, a
20 ms stuck-off fault (two edges while a queued car stands on it). The plant
runs on a 1 ms step and 61 ms is prime to every scan period, so the edges
fall at every phase of the scan, as a vehicle's would; on the plant's default
10 ms step they would lock to one phase of a 2, 5 or 10 ms scan and the
distribution would depend on how the two processes happened to start.
Nothing happens on the inputs until ``quiet_s`` after the simulator starts;
the controller must be scanning by then (checked through its control API,
retried once with a longer quiet time), so the only sample from before it ran
is the plant's power-on edge, which is dropped. Both processes are always
stopped (SIGTERM, bounded wait, SIGKILL).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.bench.stats import histogram, summary
from controller.children import Child, Children

__all__ = [
    "PERIODS_MS",
    "SCAN_PRIORITY",
    "SIM_PRIORITY",
    "HilError",
    "HilRun",
    "Load",
    "io_module_priority",
    "lane_config_toml",
    "measure_period",
    "run",
    "scan_stats",
    "scenario_toml",
    "wait_scanning",
]

PERIODS_MS: tuple[int, ...] = (2, 5, 10)
START_TIMEOUT_S = 20.0
HIST_WIDTH_MS = 0.25
HIST_LIMIT_MS = 25.0
_PULSE_S = 0.02
_PULSE_EVERY_S = 0.061
_PULSE_OFF_AFTER_S = 0.03
_PLANT_STEP_MS = 1
_CAR_EVERY_S = 4.0
SCAN_PRIORITY = 20
"""SCHED_FIFO priority the benchmark lane asks for its scan thread (refused: time-shared)."""
SIM_PRIORITY = 10
"""SCHED_FIFO priority asked for the I/O simulator's threads, under the scan thread's. The
simulator stands in for the lane's I/O module, a device with a processor of its own that
the controller PC's load never delays; time-shared beside a loaded controller, its own
replies came late and counted against the controller (2 ms scan under load: Modbus read
p99 3.0 ms, 7.6 % overruns)."""


class HilError(RuntimeError):
    """A process did not start or stop, or the run produced no usable samples (log in message)."""


@dataclass(frozen=True, slots=True)
class HilRun:
    """The samples of one scan period, in ms, with how the run went."""

    scan_ms: int
    samples_ms: tuple[float, ...]
    seconds: float
    quiet_s: float
    controller_ready_s: float
    """Time from the simulator's start to the controller's first reported scan."""
    scans: int
    overruns: int
    scan_p50_ms: float
    scan_p99_ms: float
    """The controller's own scan durations (read + core + write), from its control API."""
    late_p99_ms: float = 0.0
    """How late the controller's scans started after their deadlines (its control API)."""
    load: tuple[dict[str, Any], ...] = ()
    """What each load part did while the samples were taken (``bench hil --load``)."""
    read_p99_ms: float = 0.0
    """The controller's Modbus round trip for a scan's reads (FC2 + FC4), p99."""
    scan_thread: dict[str, Any] | None = None
    """What the controller's scan thread got from the OS (priority, CPUs, timer slack)."""
    bus_failures: int = 0
    """Requests the controller saw fail (a reply later than ``timeout_ms``, a lost link):
    each may cost a reconnect, and the edges meanwhile wait for it."""
    sim_priority: dict[str, Any] | None = None
    """What the I/O simulator's threads got from the OS (``io_module_priority``)."""

    def as_run(self) -> dict[str, Any]:
        """The run's figures besides its samples, as the suites print them."""
        return {
            "seconds": self.seconds,
            "controller_ready_s": self.controller_ready_s,
            "scans": self.scans,
            "overruns": self.overruns,
            "scan_p50_ms": self.scan_p50_ms,
            "scan_p99_ms": self.scan_p99_ms,
            "late_p99_ms": self.late_p99_ms,
            "read_p99_ms": self.read_p99_ms,
            "bus_failures": self.bus_failures,
            "scan_thread": self.scan_thread,
            "sim_priority": self.sim_priority,
        }


class Load(Protocol):
    """Work the controller process does beside the scan during one run (``hil_load``)."""

    def sim_args(self) -> list[str]:
        """Extra ``lanectl sim`` arguments (e.g. the camera)."""

    def config_toml(self) -> str:
        """Extra lane config sections; called once the simulator is up."""

    def start(self, ctl: Child) -> None:
        """Start the clients once the controller scans; raises the run's error if one fails."""

    def stop(self) -> None:
        """Stop the clients (before the controller stops)."""

    def report(self) -> tuple[dict[str, Any], ...]:
        """Per load part: its name, whether it ran and what it did (after the controller
        stopped, so its exit logs are written)."""


def scenario_toml(quiet_s: float, seconds: float) -> str:
    """The ``hil`` scenario: cars from ``quiet_s`` on, and the approach-loop test pulse."""
    cars = ", ".join(
        f"{quiet_s + i * _CAR_EVERY_S:.1f}" for i in range(int(seconds / _CAR_EVERY_S) + 2)
    )
    return "\n".join(
        [
            "[scenario]",
            'name = "hil"',
            'description = "Latency bench: a queue of cars and a test pulse on the approach loop."',
            "[traffic]",
            f"schedule_s = [{cars}]",
            "kinds = { car = 1.0 }",
            "behaviours = { compliant = 1.0 }",
            "[operator]",
            "dwell_s = [3600, 3600]",
            "aside_share = 0.0",
            *_pulse("stuck_on", quiet_s),
            *_pulse("stuck_off", quiet_s + _PULSE_OFF_AFTER_S),
            "",
        ]
    )


def _pulse(kind: str, at_s: float) -> list[str]:
    return [
        "[[faults]]",
        f'kind = "{kind}"',
        'input = "loop_approach"',
        f"at_s = {at_s:.3f}",
        f"duration_s = {_PULSE_S}",
        f"repeat_s = {_PULSE_EVERY_S}",
    ]


def lane_config_toml(port: int, scan_ms: int, journal: Path) -> str:
    """The benchmark lane's config: loopback I/O and API, auto-release, early entry."""
    return "\n".join(
        [
            "[lane]",
            'name = "bench"',
            "open_on_start = true",
            "[io]",
            'host = "127.0.0.1"',
            f"port = {port}",
            f"scan_ms = {scan_ms}",
            # As deployed (README): real-time priority for the scan thread where the OS
            # grants it; the run's ``scan_thread`` says what it got.
            f"scan_priority = {SCAN_PRIORITY}",
            "[policy]",
            "auto_release_ms = 2000",
            "early_entry = true",
            "[journal]",
            f"path = {json.dumps(str(journal))}",
            "[api]",
            'host = "127.0.0.1"',
            "port = 0",
            "",
        ]
    )


def _status(api_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{api_url}/status", timeout=1.0) as resp:
        data = json.loads(resp.read().decode("utf-8"))
    if not isinstance(data, dict):
        raise HilError(f"{api_url}/status: expected a JSON object")
    return data


def io_module_priority(pid: int, priority: int = SIM_PRIORITY) -> dict[str, Any]:
    """Put every thread of process ``pid`` on SCHED_FIFO ``priority`` (threads it starts
    later inherit it); where the OS refuses, the process stays time-shared and the answer
    says why."""
    threads = 0
    error: str | None = None
    try:
        for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")):
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
            threads += 1
    except (OSError, AttributeError) as exc:
        error = str(exc)
    granted = threads > 0 and error is None
    return {
        "policy": "fifo" if granted else "other",
        "priority": priority if granted else 0,
        "priority_asked": priority,
        "threads": threads,
        "error": error,
    }


def scan_stats(api_url: str) -> dict[str, Any]:
    try:
        scan = _status(api_url).get("scan", {})
    except (OSError, ValueError, urllib.error.URLError):
        return {}
    return scan if isinstance(scan, dict) else {}


def wait_scanning(api_url: str, child: Child, deadline: float) -> None:
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise HilError(f"run exited with {child.proc.returncode}; see {child.log_path}")
        if int(scan_stats(api_url).get("scans", 0) or 0) > 0:
            return
        time.sleep(0.02)
    raise HilError(f"run did not start scanning within {START_TIMEOUT_S:.0f} s")


def _attempt(
    scan_ms: int, seconds: float, quiet_s: float, workdir: Path, load: Load | None = None
) -> HilRun | None:
    """One sim + run pair; None when the controller (and its load) was not running before
    the stimulus."""
    scenario = workdir / f"hil-{scan_ms}ms.toml"
    scenario.write_text(scenario_toml(quiet_s, seconds), encoding="utf-8")
    edge_log = workdir / f"edges-{scan_ms}ms.json"
    with Children(workdir, error=HilError, start_timeout_s=START_TIMEOUT_S) as children:
        sim, addr = children.start(
            f"sim-{scan_ms}ms",
            [
                "sim",
                "--scenario",
                str(scenario),
                "--port",
                "0",
                "--edge-log",
                str(edge_log),
                "--step-ms",
                str(_PLANT_STEP_MS),
                *(load.sim_args() if load is not None else ()),
            ],
            "listening on",
        )
        sim_priority = io_module_priority(sim.proc.pid)
        sim_t0 = time.monotonic()
        port = int(addr.rsplit(":", 1)[1])
        config = workdir / f"lane-{scan_ms}ms.toml"
        journal = workdir / f"journal-{scan_ms}ms.sqlite"
        try:
            extra = load.config_toml() if load is not None else ""
            config.write_text(lane_config_toml(port, scan_ms, journal) + extra, encoding="utf-8")
            ctl, api_url = children.start(
                f"run-{scan_ms}ms", ["run", "--config", str(config)], "api listening on"
            )
            wait_scanning(api_url, ctl, time.monotonic() + START_TIMEOUT_S)
            if load is not None:
                load.start(ctl)
            ready_s = time.monotonic() - sim_t0
            if ready_s >= quiet_s:
                return None
            children.watch(sim_t0 + quiet_s + seconds)
            stats = scan_stats(api_url)
        finally:
            if load is not None:
                load.stop()
        children.stop(ctl, what="run")
        children.stop(sim, what="sim")
    try:
        ns = json.loads(edge_log.read_text(encoding="utf-8"))["edge_to_coil_ns"]
    except (OSError, ValueError, KeyError) as exc:
        raise HilError(f"sim wrote no usable edge log {edge_log}: {exc}") from exc
    # The first sample is the plant's power-on edge, answered by the controller's first scan.
    samples = tuple(n / 1e6 for n in ns[1:])
    if len(samples) < 10:
        raise HilError(f"{scan_ms} ms scan: only {len(samples)} edge samples in {seconds} s")
    return HilRun(
        scan_ms=scan_ms,
        samples_ms=samples,
        seconds=seconds,
        quiet_s=quiet_s,
        controller_ready_s=round(ready_s, 3),
        scans=int(stats.get("scans", 0) or 0),
        overruns=int(stats.get("overruns", 0) or 0),
        scan_p50_ms=float(stats.get("scan_p50_ms", 0.0) or 0.0),
        scan_p99_ms=float(stats.get("scan_p99_ms", 0.0) or 0.0),
        late_p99_ms=float(stats.get("late_p99_ms", 0.0) or 0.0),
        load=load.report() if load is not None else (),
        read_p99_ms=float(stats.get("read_p99_ms", 0.0) or 0.0),
        scan_thread=stats.get("thread") if isinstance(stats.get("thread"), dict) else None,
        bus_failures=int(stats.get("bus_failures", 0) or 0),
        sim_priority=sim_priority,
    )


def measure_period(
    scan_ms: int,
    seconds: float,
    workdir: Path,
    quiet_s: float = 2.5,
    load: Callable[[], Load] | None = None,
) -> HilRun:
    """Edge -> coil samples at one scan period; retries once with a longer quiet start.

    ``load`` makes a fresh :class:`Load` for each attempt."""
    for quiet in (quiet_s, quiet_s * 4):
        result = _attempt(scan_ms, seconds, quiet, workdir, load() if load is not None else None)
        if result is not None:
            return result
    raise HilError(
        f"{scan_ms} ms scan: the controller was not scanning {quiet_s * 4:.0f} s after the sim"
    )


def run(quick: bool = False, periods: Sequence[int] = PERIODS_MS) -> dict[str, Any]:
    """The ``hil`` suite: ``{"edge_to_coil_ms": {"2": {p50, p99, max, ...}, ...}, ...}``."""
    seconds = 4.0 if quick else 30.0
    latency: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    plot: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lanectl-bench-hil-") as tmp:
        for scan_ms in periods:
            result = measure_period(scan_ms, seconds, Path(tmp))
            key = str(scan_ms)
            latency[key] = summary(result.samples_ms)
            runs[key] = result.as_run()
            plot[key] = histogram(result.samples_ms, width=HIST_WIDTH_MS, limit=HIST_LIMIT_MS)
    return {"edge_to_coil_ms": latency, "runs": runs, "plot": {"histogram_ms": plot}}
