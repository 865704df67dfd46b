"""The imperative shell: the scan loop wiring Modbus I/O, core, camera and journal.

The scan runs in a thread of its own with its own asyncio loop, which holds
nothing but the Modbus client and the reconnect: the process's event loop
(control API, console, MQTT, metrics) can be busy for milliseconds without
delaying a scan. Between scans the thread sleeps to the absolute deadline
(``controller.realtime.sleep_until``, GIL released) rather than in its event
loop, whose timers wake up to a millisecond late; while it runs, the GIL
switch interval is 0.5 ms, so another thread holding the GIL hands it over
quickly. Commands come in through a deque (atomic appends), and what
subscribers see goes out through the event hub, which hands it to the event
loop's thread in journal order.

Scans run on fixed deadlines (``start + k * period``), so a late scan does not
push every later one back; a scan that runs past the next deadline counts as an
overrun and the deadlines it missed are skipped (counted), never bunched up.
Each scan: FC2 all discrete inputs, FC4 the input registers, ``core.scan``
(with API commands and camera zones), one FC15 of all coils, FC6 heartbeat,
FC16 of mode/phase and count when they change. A failed bus becomes
``bus_ok=False`` for the core (which latches the bus fault) and a background
reconnect with exponential backoff; every (re)connect writes watchdog_ms first
and then lets the core reconcile from the inputs it reads -- the boom's
position is never assumed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from controller.config import Config, IoConfig
from controller.core import codec
from controller.core import scan as core
from controller.core.types import (
    CameraZones,
    Command,
    CommandKind,
    Inputs,
    LaneConfig,
    Outputs,
)
from controller.events import Hub
from controller.io.modbus import (
    BusError,
    Endpoint,
    ModbusIo,
    RtuEndpoint,
    TcpEndpoint,
    TlsEndpoint,
)
from controller.iomap import (
    DISCRETE_INPUTS,
    INPUT_REGISTERS,
    coils_from_outputs,
    inputs_from_bits,
    split_u32,
)
from controller.journal import Journal, read_last_persisted
from controller.logs import get_logger
from controller.realtime import SWITCH_INTERVAL_S, Realtime, setup_scan_thread, sleep_until
from controller.recovery import recover_persisted
from controller.stats import ShiftStats, todays_shift, utc_day_start
from controller.vision.known_empty import known_empty_zones

__all__ = [
    "CameraProvider",
    "Runtime",
    "ScanTimes",
    "endpoint_from_config",
    "lane_config_json",
    "make_camera",
]

HR_HEARTBEAT = 0
HR_WATCHDOG = 1
HR_MODE_PHASE = 2
_YIELD_BEFORE_NS = 1_500_000
"""A wait longer than this first sleeps in the scan thread's event loop (reconnects, late
replies), up to 1 ms before the deadline; the rest is slept precisely."""
_HALT_POLL_S = 0.05
MAX_COMMANDS_PER_SCAN = 4
STATE_EVERY_MS = 100
"""Inputs, boom position and lights reach the hub at most once in this time of the scan
clock (a new mode, phase, count, bus state or fault goes out at once). A change after a
quiet spell goes out at once; changes that come sooner are held and the newest goes out
once the time is up, so every listener ends on the newest state, at most this late. A
person follows ten changes a second at most, while a lane under test changed state thirty
times a second, and every page and the MQTT publisher relayed each one, holding the
interpreter against the scan thread. Journal events are never held."""
MAX_QUEUED_COMMANDS = 64


class CameraProvider(Protocol):
    """What the scan loop needs from the presence detector (controller.vision)."""

    def zones(self, now_ms: int) -> CameraZones: ...

    def note_empty(self, bay: bool, barrier: bool, approach: bool, exit: bool) -> None: ...

    def coils_written(self) -> None:
        """The coils of the scan that last read ``zones`` are on the wire (for latency)."""

    def close(self) -> None: ...


def lane_config_json(config: LaneConfig) -> str:
    """LaneConfig as JSON (stored with each run so a replay rebuilds the same core)."""
    values = asdict(config)
    values["fail_mode"] = config.fail_mode.value
    return json.dumps(values, sort_keys=True)


class ScanTimes:
    """Scan durations in a 10 us histogram: exact enough percentiles for any run length."""

    BUCKET_US = 10
    BUCKETS = 20_000  # up to 200 ms; longer scans land in the last bucket

    def __init__(self) -> None:
        self.counts = [0] * (self.BUCKETS + 1)
        self.n = 0
        self.total_us = 0
        self.max_us = 0
        self.recent: collections.deque[int] = collections.deque(maxlen=1000)

    def add(self, us: int) -> None:
        self.counts[min(us // self.BUCKET_US, self.BUCKETS)] += 1
        self.n += 1
        self.total_us += us
        self.max_us = max(self.max_us, us)
        self.recent.append(us)

    def percentile_ms(self, q: float) -> float:
        if self.n == 0:
            return 0.0
        rank = max(1, int(q * self.n + 0.999999))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return round((i + 1) * self.BUCKET_US / 1000.0, 3)
        return round(self.max_us / 1000.0, 3)


class Runtime:
    """One lane's controller process, minus the HTTP API (``controller.api`` serves it)."""

    def __init__(
        self,
        config: Config,
        *,
        io: ModbusIo | None = None,
        camera: CameraProvider | None = None,
        journal: Journal | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.config = config
        c = config.io
        self.io = io or ModbusIo(
            endpoint_from_config(c),
            unit=c.unit,
            timeout_s=c.timeout_ms / 1000.0,
            connect_timeout_s=c.connect_timeout_ms / 1000.0,
            di_base=c.offsets.discrete_input_base,
            ir_base=c.offsets.input_register_base,
            coil_base=c.offsets.coil_base,
            hr_base=c.offsets.holding_register_base,
        )
        self.camera = camera
        self.journal = journal or Journal(
            config.journal.path,
            lane=config.lane.name,
            config_json=lane_config_json(config.core),
            replay_hours=config.journal.replay_hours,
        )
        self.log = get_logger(lane=config.lane.name)
        self._clock = clock_ns
        persisted_json = _last_persisted(self.journal)
        # The last persisted record may lag the last events (a kill -9 between the two):
        # the count and the latched faults are brought up to date from the events.
        persisted = recover_persisted(self.journal.path)
        self.state = core.initial_state(config.core, persisted)
        self._persisted_json = persisted_json
        self.shift = ShiftStats.from_journal(self.journal.path, utc_day_start())
        """The shift's statistics (this UTC day), rebuilt from the journal, then kept live."""
        self._commands: collections.deque[Command] = collections.deque()
        self._bits = [False] * len(DISCRETE_INPUTS)
        self._regs = [0] * len(INPUT_REGISTERS)
        self._have_inputs = False
        self._io_ready = False
        self._missed = 0
        self._heartbeat = 0
        self._hr_written: tuple[int, int] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._last_inputs: Inputs | None = None
        self.seq = self.journal.first_seq
        self.times = ScanTimes()
        self.late_times = ScanTimes()
        """How late each scan started after its deadline: the loop or the GIL was busy."""
        self.edge_times = ScanTimes()
        """Scans whose read saw a discrete input change: that read's start -> coils written."""
        self.read_times = ScanTimes()
        """The Modbus round trip of each scan's reads (FC2 + FC4)."""
        self.realtime: Realtime | None = None
        """What the scan thread got from the OS (priority, CPUs, timer slack)."""
        self.scans = 0
        self.overruns = 0
        self.skipped = 0
        self.bus_failures = 0
        self.reconnects = 0
        self.started_ns = 0
        self.now_ms = 0
        self.last_bus_error: str | None = None
        self.stopping = False
        self._snapshot_written = False
        self.hub = Hub()
        self._published_key: tuple[int, ...] = ()
        self._published_ms = -STATE_EVERY_MS
        if config.lane.open_on_start:
            self._commands.append(Command(CommandKind.OPEN_LANE, "config"))

    # ---- control API side ----

    def submit(self, command: Command) -> None:
        """Queue an operator command for the next scan (raises OverflowError when flooded)."""
        if len(self._commands) >= MAX_QUEUED_COMMANDS:
            raise OverflowError("command queue is full")
        self._commands.append(command)

    def status(self) -> dict[str, Any]:
        journal_error = self.journal.error
        return {
            "lane": self.config.lane.name,
            "core": core.status(self.state),
            "bus": {
                "connected": self._io_ready,
                "endpoint": self.io.endpoint.describe(),
                "failures": self.bus_failures,
                "reconnects": self.reconnects,
                "last_error": self.last_bus_error,
            },
            "scan": self.stats(),
            "journal": {
                "path": str(self.journal.path),
                "error": None if journal_error is None else str(journal_error),
            },
            "camera": self.camera is not None,
            "uptime_ms": self.now_ms,
            "shift": self._shift().as_dict(),
        }

    def _shift(self) -> ShiftStats:
        """The shift's statistics, a fresh shift once the UTC day has turned."""
        self.shift = todays_shift(self.shift)
        return self.shift

    def stats(self) -> dict[str, Any]:
        return {
            "period_ms": self.config.io.scan_ms,
            "scans": self.scans,
            "overruns": self.overruns,
            "skipped": self.skipped,
            "scan_p50_ms": self.times.percentile_ms(0.50),
            "scan_p99_ms": self.times.percentile_ms(0.99),
            "scan_max_ms": round(self.times.max_us / 1000.0, 3),
            "late_p50_ms": self.late_times.percentile_ms(0.50),
            "late_p99_ms": self.late_times.percentile_ms(0.99),
            "late_max_ms": round(self.late_times.max_us / 1000.0, 3),
            "read_p50_ms": self.read_times.percentile_ms(0.50),
            "read_p99_ms": self.read_times.percentile_ms(0.99),
            "thread": None if self.realtime is None else self.realtime.as_dict(),
            "bus_failures": self.bus_failures,
            "reconnects": self.reconnects,
        }

    # ---- the loop ----

    async def run(self, stop: asyncio.Event) -> None:
        """Scan in the scan thread until ``stop`` is set; always closes I/O, camera and journal.

        The hub hands what the scan publishes to this (the caller's) event loop."""
        loop = asyncio.get_running_loop()
        self.hub.bind(loop)
        halt = threading.Event()
        ended = loop.create_future()
        failed: list[BaseException] = []

        def thread_ended() -> None:
            if not ended.done():
                ended.set_result(None)

        def main() -> None:
            try:
                self._scan_thread(halt)
            except BaseException as exc:  # raised again by run(), in the caller's task
                failed.append(exc)
            finally:
                with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                    loop.call_soon_threadsafe(thread_ended)

        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_S))
        thread = threading.Thread(target=main, name="scan", daemon=True)
        thread.start()
        waiter = loop.create_task(stop.wait())
        try:
            await asyncio.wait((waiter, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            halt.set()
            await asyncio.to_thread(thread.join)
            sys.setswitchinterval(switch_interval)
            self.hub.unbind()
            if self.camera is not None:
                self.camera.close()
            self._write_persisted()
            self.journal.record_stats(self.stats())
            self.journal.close()
            self.log.info("runtime_stopped", **self.stats())
        if failed:
            raise failed[0]

    def _scan_thread(self, halt: threading.Event) -> None:
        """The scan thread: its OS scheduling, then its own event loop for the Modbus client."""
        io = self.config.io
        self.realtime = setup_scan_thread(io.scan_priority, io.scan_cpu)
        self.log.info("scan_thread_started", **self.realtime.as_dict())
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._scan_main(halt))
        finally:
            loop.close()

    async def _scan_main(self, halt: threading.Event) -> None:
        try:
            await self._connect_first(halt)
            if not halt.is_set():
                await self._loop(halt)
        finally:
            self.stopping = True
            if self._reconnect_task is not None:
                self._reconnect_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reconnect_task
            self.io.close()

    async def _connect_first(self, halt: threading.Event) -> None:
        # Until the I/O answers once, the I/O side's own watchdog holds the fail state (S9);
        # scanning with nothing read would only latch a bus fault an operator must clear.
        delay = self.config.io.reconnect_min_ms / 1000.0
        while not halt.is_set():
            if await self._try_connect():
                return
            await _pause(halt, delay)
            delay = min(delay * 2, self.config.io.reconnect_max_ms / 1000.0)

    async def _try_connect(self) -> bool:
        try:
            await self.io.connect()
            await self.io.write_register(HR_WATCHDOG, self.config.io.watchdog_ms)
            # Quiet outputs (motors off, entry and exit red, lane closed) before the first
            # heartbeat re-arms a tripped I/O watchdog, so leaving the fail state never
            # replays a stale coil image; the next scan writes the core's outputs.
            await self.io.write_coils(coils_from_outputs(Outputs()))
            self._heartbeat = (self._heartbeat + 1) & 0xFFFF
            await self.io.write_register(HR_HEARTBEAT, self._heartbeat)
            self._hr_written = None
        except BusError as exc:
            self.io.close()
            self.last_bus_error = str(exc)
            self.log.warning("bus_connect_failed", error=str(exc))
            return False
        self._io_ready = True
        self._missed = 0
        self.log.info(
            "bus_connected",
            endpoint=self.io.endpoint.describe(),
            watchdog_ms=self.config.io.watchdog_ms,
        )
        return True

    async def _reconnect(self) -> None:
        delay = self.config.io.reconnect_min_ms / 1000.0
        while not self.stopping:
            await asyncio.sleep(delay)
            if await self._try_connect():
                self.reconnects += 1
                return
            delay = min(delay * 2, self.config.io.reconnect_max_ms / 1000.0)

    async def _loop(self, halt: threading.Event) -> None:
        period = self.config.io.scan_ms * 1_000_000
        t0 = self._clock()
        self.started_ns = t0
        snapshot_every = self.config.journal.snapshot_s * 1000
        next_snapshot = snapshot_every
        self.log.info("runtime_started", scan_ms=self.config.io.scan_ms, first_seq=self.seq)
        # Everything allocated at start-up lives as long as the process: keep the cyclic
        # collector from walking it again and again in the middle of scans.
        gc.collect()
        gc.freeze()
        k = 0
        while not halt.is_set():
            await self._wait_until(t0 + k * period)
            if halt.is_set():
                break
            start = self._clock()
            self.late_times.add(max(0, start - t0 - k * period) // 1000)
            now_ms = (start - t0) // 1_000_000
            self.now_ms = now_ms
            if now_ms >= next_snapshot:
                self.journal.record_snapshot(
                    self.seq, now_ms, "periodic", codec.encode_state(self.state)
                )
                next_snapshot += snapshot_every
            await self.scan_once(now_ms)
            end = self._clock()
            self.times.add((end - start) // 1000)
            k += 1
            if end > t0 + k * period:
                self.overruns += 1
                behind = (end - t0) // period + 1
                self.skipped += behind - k
                k = behind

    async def _wait_until(self, deadline_ns: int) -> None:
        """Let the thread's event loop run once (a reconnect, a late reply), then sleep to
        the deadline with the GIL released, not on the event loop's millisecond timer."""
        delay = deadline_ns - self._clock()
        if delay > _YIELD_BEFORE_NS:
            await asyncio.sleep((delay - 1_000_000) / 1e9)
        else:
            await asyncio.sleep(0)
        sleep_until(deadline_ns, self._clock)

    async def scan_once(self, now_ms: int) -> None:
        """One scan at ``now_ms``: read, decide, write, journal."""
        if not self._snapshot_written:
            # Replay of this run starts from the state the core had before its first scan.
            self.journal.record_snapshot(self.seq, now_ms, "start", codec.encode_state(self.state))
            self._snapshot_written = True
        edge = False
        read_ns = self._clock()
        if self._io_ready:
            try:
                bits = await self.io.read_discrete_inputs(len(DISCRETE_INPUTS))
                regs = await self.io.read_input_registers(len(INPUT_REGISTERS))
            except BusError as exc:
                self._bus_failed(exc)
            else:
                self.read_times.add((self._clock() - read_ns) // 1000)
                edge = bits != self._bits
                self._bits, self._regs = bits, regs
                self._have_inputs = True
                self._missed = 0
        else:
            self._missed += 1
        if not self._have_inputs and 0 < self._missed <= self.config.io.missed_scans:
            # Nothing read since start: a late first reply is tolerated like any later one
            # (missed_scans), without stepping the core on inputs it never had; the I/O
            # side holds its quiet outputs meanwhile.
            return
        bus_ok = self._have_inputs and self._missed <= self.config.io.missed_scans
        commands: list[Command] = []
        while self._commands and len(commands) < MAX_COMMANDS_PER_SCAN:
            commands.append(self._commands.popleft())
        camera = self.camera.zones(now_ms) if self.camera is not None else CameraZones()
        inputs = inputs_from_bits(
            self._bits,
            io_status=self._regs[0],
            bus_ok=bus_ok,
            camera=camera,
            commands=tuple(commands),
        )
        result = core.scan(self.state, inputs, now_ms)
        self.state = result.state
        if self._io_ready and self._missed == 0:
            await self._write(result.outputs)
            if edge and self._missed == 0:
                self.edge_times.add((self._clock() - read_ns) // 1000)
        self._journal_scan(inputs, now_ms, result)
        self._publish_state(now_ms, bus_ok)
        if self.camera is not None and bus_ok:
            self.camera.note_empty(**known_empty_zones(inputs))
        self.scans += 1
        self.seq += 1

    async def _write(self, outputs: Outputs) -> None:
        try:
            await self.io.write_coils(coils_from_outputs(outputs))
            if self.camera is not None:
                self.camera.coils_written()
            self._heartbeat = (self._heartbeat + 1) & 0xFFFF
            await self.io.write_register(HR_HEARTBEAT, self._heartbeat)
            regs = (core.mode_phase_code(self.state), core.vehicle_count(self.state))
            if regs != self._hr_written:
                high, low = split_u32(regs[1] & 0xFFFF_FFFF)
                await self.io.write_registers(HR_MODE_PHASE, [regs[0] & 0xFFFF, high, low])
                self._hr_written = regs
        except BusError as exc:
            self._bus_failed(exc)

    def _bus_failed(self, exc: BusError) -> None:
        self.bus_failures += 1
        self._missed += 1
        self.last_bus_error = str(exc)
        # A timeout may be one slow reply; a broken connection, or timeouts three scans
        # running, means reconnecting (the core has latched the bus fault by then).
        if not exc.timeout or self._missed >= 3:
            self.log.warning("bus_lost", error=str(exc), missed=self._missed)
            self._io_ready = False
            self.io.close()
            if self._reconnect_task is None or self._reconnect_task.done():
                self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())
        else:
            self.log.info("bus_timeout", error=str(exc), missed=self._missed)

    def _journal_scan(self, inputs: Inputs, now_ms: int, result: core.ScanResult) -> None:
        # Equal inputs encode equally: the JSON is built only for a scan whose inputs
        # changed (encoding every scan cost about 80 us of a 2 ms scan).
        encoded = None if inputs == self._last_inputs else codec.encode_inputs(inputs)
        self._last_inputs = inputs
        coils = 0
        for i, bit in enumerate(coils_from_outputs(result.outputs)):
            coils |= int(bit) << i
        self.journal.record_scan(self.seq, now_ms, encoded, coils)
        if result.events:
            shift = self._shift()
            for event in result.events:
                body = codec.encode_event(event)
                shift.apply(event.kind, body)
                # One lock across the id and the publish: the console's audit events, taken
                # on the event loop, cannot get a later id yet reach the hub first.
                with self.journal.lock:
                    eid = self.journal.record_event(self.seq, event.at_ms, event.kind, body)
                    self.hub.publish_event(
                        eid,
                        {"kind": event.kind, "seq": self.seq, "at_ms": event.at_ms, "body": body},
                    )
                self.log.info(event.kind, at_ms=event.at_ms, **dict(event.data))
            self._write_persisted()

    def _publish_state(self, now_ms: int, bus_ok: bool) -> None:
        """Hand the lane's view to the hub when something an operator sees has changed: a new
        mode, phase, count, bus state or fault at once, inputs, the boom's position and the
        lights at most once per ``STATE_EVERY_MS`` (a held change is checked every scan).

        The key is a handful of ints, so an unchanged scan costs one tuple compare; the
        boom's position counts in 5 % steps so a moving boom is not 200 messages a second.
        """
        bits = 0
        for i, bit in enumerate(self._bits):
            bits |= int(bit) << i
        urgent = (
            core.mode_phase_code(self.state),
            core.vehicle_count(self.state),
            int(bus_ok),
            len(self.state.lane.faults),
        )
        key = (*urgent, bits, self._regs[1] // 50, hash(self.state.safety.prev))
        if key == self._published_key:
            return
        if urgent == self._published_key[:4] and now_ms - self._published_ms < STATE_EVERY_MS:
            return
        self._published_key = key
        self._published_ms = now_ms
        self.hub.publish_state(
            {
                "lane": self.config.lane.name,
                "now_ms": now_ms,
                "seq": self.seq,
                "core": core.status(self.state),
                "inputs": dict(zip((d.name for d in DISCRETE_INPUTS), self._bits, strict=True)),
                "barrier_position": self._regs[1],
                "io_status": self._regs[0],
                "bus_ok": bus_ok,
            }
        )

    def _write_persisted(self) -> None:
        text = core.persisted(self.state).to_json()
        if text != self._persisted_json:
            self.journal.record_persisted(self.seq, text)
            self._persisted_json = text


def endpoint_from_config(c: IoConfig) -> Endpoint:
    """The Modbus endpoint ``[io]`` describes: TCP, RTU on a serial line, or TLS."""
    if c.transport == "rtu":
        return RtuEndpoint(
            c.device,
            baudrate=c.baudrate,
            parity=c.parity,
            stopbits=c.stopbits,
            bytesize=c.bytesize,
        )
    if c.transport == "tls":
        if c.cafile is None or c.certfile is None or c.keyfile is None:
            raise ValueError("io: transport 'tls' needs cafile, certfile and keyfile")
        return TlsEndpoint(c.host, c.port, str(c.cafile), str(c.certfile), str(c.keyfile))
    return TcpEndpoint(c.host, c.port)


def make_camera(config: Config) -> CameraProvider | None:
    """The presence detector from ``[camera]``, imported only when a camera is configured:
    in this process, or in a child process with ``[camera] process = true``."""
    if config.camera is None:
        return None
    name = "process" if config.camera.process else "presence"
    module = importlib.import_module(f"controller.vision.{name}")
    provider: CameraProvider = module.from_config(config.camera)
    return provider


async def _pause(halt: threading.Event, seconds: float) -> None:
    """Sleep ``seconds`` in the scan thread's event loop, ending early once ``halt`` is set."""
    end = time.monotonic() + seconds
    while not halt.is_set() and (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _HALT_POLL_S))


def _last_persisted(journal: Journal) -> str | None:
    return read_last_persisted(journal.path)
