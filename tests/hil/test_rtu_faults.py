"""Modbus RTU line faults under a running lane, held to the TCP bus-loss test's figures.

    lanectl sim --rtu --- socat pty pair --- LineRelay --- socat pty pair --- lanectl run

The relay (``hw_sim.serial_faults``) goes silent, sends garbage, flips a bit in
every frame (a CRC error) or delays every frame, each for a bounded time,
while cars keep coming. The controller runs with the product's default bus
settings (10 ms scan, 50 ms timeout, one missed scan tolerated, reconnect
backoff capped at 500 ms, I/O watchdog 500 ms), as in ``test_bus_loss``. For
each fault: the bus fault is latched and journalled within 3 scans, the I/O
watchdog applies the fail state during the fault, and the bus is back within
1 s (+ the same scheduling tolerance) of the line returning. A delay under the
request timeout only slows the scans. Throughout, the controller never goes on
with a request sequence on a reply that was not an intact answer to its last
request (the relay checks every request), the boom never touches a car and
every car that crossed is counted once.

Fault times are the relay's own wall-clock stamps; the controller's events
carry the wall time they were journalled; the simulator's plant clock is put on
the wall clock from its log, as in ``test_bus_loss``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.io.modbus import BusError, ModbusIo, RtuEndpoint
from controller.journal import read_events, read_scans, verify
from hw_sim.serial_faults import (
    Direction,
    FaultWindow,
    LineFault,
    LineFaultKind,
    LineRelay,
    RelayProcess,
    Reply,
    RequestRecord,
    socat_pty_pair,
)
from tests.hil.harness import Proc, start_proc, stop_proc, wait_for
from tests.hil.reliability import api_post, api_status, log_records, truth, wall_ms

pytestmark = pytest.mark.hil

BAUD = 115200
FAULT_MS = 2_000
"""Four times the I/O watchdog: long enough for the fail state, short for CI."""
RUNS = int(os.environ.get("LANECTL_RTU_FAULT_RUNS", "2"))
"""How many times each lost-line fault is injected (the figures are over these runs)."""
RECOVERY_BOUND_MS = 1_000
SCHEDULING_TOLERANCE_MS = 500
"""As in test_bus_loss: reconnect_max_ms (500) + one request by design, 1 s required,
plus what two busy cores may add."""
HR_WATCHDOG = 1
RESTARTS = {(2, 0), (6, HR_WATCHDOG)}
"""(function, address) of the requests that start a sequence: the scan's first read
(FC2 of the discrete inputs) and a (re)connect's first write (FC6 of the watchdog)."""
CARS = 3
SCENARIO = f"""
[scenario]
name = "rtu-line-faults"
description = "Cars every 6 s while the serial line fails again and again."
[traffic]
schedule_s = [{", ".join(str(2 + 6 * i) for i in range(CARS))}]
kinds = {{ car = 1.0 }}
behaviours = {{ compliant = 1.0 }}
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

LOSSES = (
    LineFault(LineFaultKind.SILENCE, FAULT_MS),
    LineFault(LineFaultKind.GARBAGE, FAULT_MS, Direction.TO_CONTROLLER),
    LineFault(LineFaultKind.CRC, FAULT_MS, Direction.TO_CONTROLLER),
    LineFault(LineFaultKind.DELAY, FAULT_MS, delay_ms=200),
)
"""Faults that lose the line: every request fails while they last."""
SLOW = LineFault(LineFaultKind.DELAY, FAULT_MS, delay_ms=10)
"""10 ms each way: a 20 ms round trip under the 50 ms timeout, so no loss."""


@dataclass
class Lane:
    workdir: Path
    sim: Proc
    run: Proc
    url: str
    relay: RelayProcess
    journal: Path


@dataclass
class Measured:
    """One lost-line fault as measured (ms; scans)."""

    name: str
    detect_scans: int
    detect_ms: float
    trip_ms: float
    recover_ms: float
    rearm_ms: float


def _report(rows: list[Measured]) -> str:
    lines = []
    for name in dict.fromkeys(r.name for r in rows):
        mine = [r for r in rows if r.name == name]

        def span(values: list[float]) -> str:
            return f"{min(values):.0f}..{max(values):.0f}"

        lines.append(
            f"{name:>14} n={len(mine)}: detected after {span([r.detect_scans for r in mine])} "
            f"scans, {span([r.detect_ms for r in mine])} ms; watchdog tripped "
            f"{span([r.trip_ms for r in mine])} ms in; bus_restored "
            f"{span([r.recover_ms for r in mine])} ms, watchdog re-armed <= "
            f"{span([r.rearm_ms for r in mine])} ms after the line returned"
        )
    return "\n".join(lines)


def _config(workdir: Path, device: str) -> Path:
    config = workdir / "lane.toml"
    config.write_text(
        f"""[lane]
name = "rtu-faults"
[io]
transport = "rtu"
device = "{device}"
baudrate = {BAUD}
[journal]
path = "{workdir / "journal.sqlite"}"
[api]
host = "127.0.0.1"
port = 0
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[Lane]:
    """sim on one pty pair, the relay (its own process) between the pairs, the controller
    on the other pair; all stopped afterwards."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: no pty pairs (CI installs it)")
    with (
        socat_pty_pair(tmp_path / "sim_tty", tmp_path / "relay_dev") as (sim_end, relay_dev),
        socat_pty_pair(tmp_path / "relay_ctl", tmp_path / "ctl_tty") as (relay_ctl, ctl_end),
    ):
        scenario = tmp_path / "scenario.toml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        sim, _ = start_proc(
            "sim",
            [
                *("sim", "--scenario", str(scenario), "--rtu", sim_end, "--seed", "3"),
                *("--baudrate", str(BAUD), "--truth-out", str(tmp_path / "truth.json")),
            ],
            tmp_path,
            "listening on",
        )
        relay = RelayProcess(relay_dev, relay_ctl, tmp_path, seed=18)
        run: Proc | None = None
        try:
            relay.start()
            config = _config(tmp_path, ctl_end)
            run, url = start_proc(
                "run", ["run", "--config", str(config)], tmp_path, "api listening on"
            )
            yield Lane(tmp_path, sim, run, url, relay, tmp_path / "journal.sqlite")
        finally:
            if run is not None:
                stop_proc(run)
            stop_proc(sim)
            relay.close()


def _events_since(events: list[dict[str, Any]], wall_s: float) -> list[dict[str, Any]]:
    """Events journalled at or after ``wall_s`` (the relay stamps its faults itself)."""
    return [e for e in events if wall_ms(e["wall"]) >= wall_s * 1000.0]


class SimClock:
    """The sim's plant clock on the wall clock (it runs at speed 1), from its log."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        offsets = [
            wall_ms(r["timestamp"]) - float(r["sim_ms"])
            for r in records
            if "sim_ms" in r and "timestamp" in r
        ]
        assert offsets, "the sim logged no record with sim_ms to anchor its clock"
        # The monitor logs up to 100 ms after the fact: the earliest offset is the closest.
        self.offset = min(offsets)

    def first(self, event: str, after_wall_s: float, before_wall_s: float = 1e12) -> float | None:
        """Wall ms of the first ``event`` at a plant time in [after_wall_s, before_wall_s)."""
        for r in self.records:
            if r.get("event") == event:
                at = self.offset + float(r["sim_ms"])
                if after_wall_s * 1000.0 <= at < before_wall_s * 1000.0:
                    return at
        return None


def _measure(
    window: FaultWindow,
    events: list[dict[str, Any]],
    failures: list[float],
    scans: dict[int, list[tuple[int, int]]],
    ctl_offset: float,
    sim: SimClock,
    problems: list[str],
) -> Measured | None:
    """Detection, fail state and recovery of one lost-line fault, against the bounds."""
    f = window.fault
    name = f.kind.value + (f" {f.delay_ms} ms" if f.delay_ms else "")
    start, end = window.start_wall, window.end_wall
    mine = _events_since(events, start)
    lost = next((e for e in mine if e["kind"] == "bus_lost"), None)
    restored = next(
        (e for e in mine if e["kind"] == "bus_restored" and lost and e["seq"] > lost["seq"]),
        None,
    )
    if lost is None or restored is None:
        problems.append(f"{name}: bus_lost / bus_restored missing: {[e['kind'] for e in mine]}")
        return None
    if not any(e["kind"] == "fault_latched" and e["seq"] == lost["seq"] for e in mine):
        problems.append(f"{name}: no fault_latched with bus_lost: {[e['kind'] for e in mine]}")
    # The first failed request after the fault began marks the first failed scan.
    first_fail = min((t for t in failures if t >= start * 1000.0), default=None)
    if first_fail is None:
        problems.append(f"{name}: the controller logged no failed request")
        return None
    first_failed_seq = max(
        seq for seq, now_ms in scans[lost["run"]] if now_ms <= first_fail - ctl_offset
    )
    tripped = sim.first("sim_watchdog_tripped", start)
    rearmed = sim.first("sim_watchdog_rearmed", start)
    m = Measured(
        name,
        detect_scans=lost["seq"] - first_failed_seq + 1,
        detect_ms=wall_ms(lost["wall"]) - start * 1000.0,
        trip_ms=-1.0 if tripped is None else tripped - start * 1000.0,
        recover_ms=wall_ms(restored["wall"]) - end * 1000.0,
        rearm_ms=-1.0 if rearmed is None else rearmed - end * 1000.0,
    )
    if not 1 <= m.detect_scans <= 3:
        problems.append(f"{name}: detected after {m.detect_scans} scans (bound 3)")
    if not 0 <= m.detect_ms < FAULT_MS:
        problems.append(f"{name}: detected {m.detect_ms:.0f} ms after the fault began")
    if not 0 < m.trip_ms < FAULT_MS:
        problems.append(f"{name}: the I/O watchdog did not trip during the fault ({m.trip_ms})")
    bound = RECOVERY_BOUND_MS + SCHEDULING_TOLERANCE_MS
    if not 0 <= m.recover_ms <= bound:
        problems.append(f"{name}: bus_restored {m.recover_ms:.0f} ms after the line returned")
    if rearmed is None or m.rearm_ms > bound:
        problems.append(f"{name}: watchdog re-armed {m.rearm_ms:.0f} ms after the line returned")
    return m


def _when(wall: float, windows: list[FaultWindow]) -> str:
    """Where ``wall`` falls among the fault windows, for a failure message."""
    started = [w for w in windows if w.start_wall <= wall]
    if not started:
        return f"{wall:.3f}, before every fault"
    w = started[-1]
    return f"{wall - w.start_wall:+.3f} s from the start of {w.fault}"


def _believed(requests: list[RequestRecord], windows: list[FaultWindow]) -> list[str]:
    """What the controller believed that it should not have, from the relay's record.

    After a request met only broken replies (garbage or a corrupted frame), the
    controller's next request must start a sequence again. A scan's coil write (FC15
    right after its FC4) must follow reads whose replies were both current: RTU has no
    transaction id, so a late reply taken for a later request must not reach the core.
    """
    out: list[str] = []
    for i in range(1, len(requests)):
        prev, req = requests[i - 1], requests[i]
        only_broken = prev.replies and all(r is Reply.BROKEN for r in prev.replies)
        if only_broken and (req.function, req.address) not in RESTARTS:
            out.append(
                f"FC{req.function}@{req.address} went on after FC{prev.function}@"
                f"{prev.address} met only broken replies, {_when(req.wall, windows)}"
            )
        if req.function == 15 and prev.function == 4 and i >= 2:
            reads = (requests[i - 2], prev)
            if any(r.taken is not Reply.CURRENT for r in reads):
                out.append(
                    "a scan wrote its coils on reads answered "
                    f"{[r.taken.value if r.taken else None for r in reads]}, "
                    f"{_when(req.wall, windows)}"
                )
    return out[:5]


def _reopen(lane: Lane, what: str) -> None:
    """The operator's part after a latched bus fault: reset, then open; again if the
    bus was lost once more meanwhile: the API refuses a reset, 409, until the bus is back)."""

    def done() -> bool:
        core = api_status(lane.url)["core"]
        if core["fault_latched"]:
            assert api_post(lane.url, "reset") in (202, 409)
            return False
        if core["mode"] != "OPEN":
            assert api_post(lane.url, "open") in (202, 409)
            return False
        return True

    wait_for(done, 15.0, f"{what}: reset and reopen")


def _healthy(lane: Lane, what: str) -> int:
    """Bring the lane to OPEN with the bus up before a fault; returns 1 if the operator
    had to reset a bus fault latched with no line fault (a reply later than the
    timeout on a loaded machine: reported with the figures), else 0."""
    wait_for(lambda: api_status(lane.url)["bus"]["connected"], 10.0, f"{what}: the bus up")
    status = api_status(lane.url)
    if not status["core"]["fault_latched"]:
        return 0
    assert status["core"]["faults"] == ["bus"], status["core"]
    _reopen(lane, what)
    return 1


def test_rtu_line_faults_detected_and_recovered(lane: Lane) -> None:
    """Silence, garbage, CRC errors and long delays: latched within 3 scans, fail state,
    back within 1 s; a short delay is no fault; no broken reply is believed; cars counted."""
    url, relay = lane.url, lane.relay
    wait_for(lambda: api_status(url)["bus"]["connected"], 20.0, "the controller to connect")
    wait_for(lambda: api_status(url)["core"]["mode"] == "OPEN", 10.0, "the lane to open")
    # While faults run the test only polls the API: everything is measured afterwards.
    losses: list[FaultWindow] = []
    spurious = 0
    for run in range(RUNS):
        for fault in LOSSES:
            what = f"{fault.kind.value} run {run}"
            time.sleep(1.0)  # a second of normal scans between faults
            spurious += _healthy(lane, what)
            losses.append(relay.inject(fault))
            wait_for(lambda: not relay.active(), 10.0, f"{what}: the fault to end")

            def back() -> bool:
                s = api_status(url)
                return bool(s["bus"]["connected"]) and "bus" in s["core"]["faults"]

            wait_for(back, 10.0, f"{what}: the bus back, its fault latched")
            _reopen(lane, what)

    # A delay under the timeout: slower scans, no loss, the watchdog fed all along.
    time.sleep(1.0)
    spurious += _healthy(lane, "short delay")
    before = api_status(url)["scan"]
    slow = relay.inject(SLOW)
    wait_for(lambda: not relay.active(), 10.0, "the short delay to end")
    time.sleep(0.5)
    after = api_status(url)

    def all_out() -> bool:
        nonlocal spurious
        spurious += _healthy(lane, "cars")
        vehicles = truth(lane.workdir).get("vehicles", [])
        return len(vehicles) == CARS and all(v.get("cleared_ms") is not None for v in vehicles)

    wait_for(all_out, 90.0, "every car to leave the lane")
    wait_for(lambda: api_status(url)["core"]["count"] == CARS, 10.0, f"the count to reach {CARS}")
    assert lane.sim.popen.poll() is None, "the simulator exited"
    assert stop_proc(lane.run) == 0
    time.sleep(1.5)  # the sim writes its truth file every second
    record = relay.close()
    assert record is not None, f"the relay left no record; see {relay.log_path}"
    assert record.error is None, record.error

    journal = lane.journal
    events = read_events(journal)
    ctl_offset = min(wall_ms(e["wall"]) - e["at_ms"] for e in events)
    failures = [
        wall_ms(r["timestamp"])
        for r in log_records(lane.run)
        if r.get("event") in ("bus_timeout", "bus_lost") and "error" in r
    ]
    scans: dict[int, list[tuple[int, int]]] = {}
    for s in read_scans(journal):
        scans.setdefault(s.run, []).append((s.seq, s.now_ms))
    sim = SimClock(log_records(lane.sim))
    problems: list[str] = []
    rows = [
        m
        for w in losses
        if (m := _measure(w, events, failures, scans, ctl_offset, sim, problems)) is not None
    ]
    slow_events = [
        e["kind"]
        for e in _events_since(events, slow.start_wall)
        if wall_ms(e["wall"]) < (slow.end_wall + 1.0) * 1000.0
    ]
    if "bus_lost" in slow_events:
        problems.append("delay 10 ms: a delay under the timeout was taken for a bus loss")
    if after["scan"]["overruns"] <= before["overruns"]:
        problems.append("delay 10 ms: no scan overran although each request took 20 ms")
    if sim.first("sim_watchdog_tripped", slow.start_wall, slow.end_wall + 1.0) is not None:
        problems.append("delay 10 ms: the I/O watchdog tripped")
    problems.extend(_believed(record.requests, record.windows))
    counters = record.counters
    acted = {w.fault.kind: w.frames for w in record.windows}
    if not all(acted.get(f.kind) for f in (*LOSSES, SLOW)):
        problems.append(f"the relay did not act on frames in every fault: {acted}")

    facts = truth(lane.workdir)
    kinds = [e["kind"] for e in events]
    crossings = sum(kinds.count(k) for k in ("vehicle_passed", "tailgate", "run_through"))
    print(
        f"\nRTU line faults over {RUNS} runs (relay {counters}; bus faults latched with "
        f"no line fault, reset by the test: {spurious}):\n{_report(rows)}"
    )
    assert not problems, "\n".join(problems)
    assert facts["contacts"] == [], facts["contacts"]
    assert facts["summary"]["crossed"] == CARS
    assert crossings == CARS, kinds
    assert verify(journal).ok


def test_late_reply_is_not_taken_for_the_next_request(tmp_path: Path) -> None:
    """RTU has no transaction id: a reply 75 ms late (timeout 50 ms) must not be taken as
    the answer to the next, identical request; the adapter waits it out and asks afresh."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: no pty pairs (CI installs it)")
    with (
        socat_pty_pair(tmp_path / "sim_tty", tmp_path / "relay_dev") as (sim_end, relay_dev),
        socat_pty_pair(tmp_path / "relay_ctl", tmp_path / "ctl_tty") as (relay_ctl, ctl_end),
    ):
        scenario = tmp_path / "scenario.toml"
        scenario.write_text('[scenario]\nname = "empty"\n', encoding="utf-8")
        sim, _ = start_proc(
            "sim",
            [
                *("sim", "--scenario", str(scenario), "--rtu", sim_end),
                *("--baudrate", str(BAUD), "--watchdog-ms", "0"),
            ],
            tmp_path,
            "listening on",
        )
        try:
            with LineRelay(relay_dev, relay_ctl, seed=1) as relay:

                async def go() -> tuple[BusError, list[bool]]:
                    io = ModbusIo(RtuEndpoint(ctl_end, baudrate=BAUD), timeout_s=0.05)
                    await io.connect()
                    try:
                        await io.read_discrete_inputs(11)
                        # Only the next reply is held (75 ms: after the timeout, before
                        # a second timeout has passed); the line is clean again after.
                        relay.inject(
                            LineFault(LineFaultKind.DELAY, 40, Direction.TO_CONTROLLER, delay_ms=75)
                        )
                        with pytest.raises(BusError) as late:
                            await io.read_discrete_inputs(11)
                        return late.value, await io.read_discrete_inputs(11)
                    finally:
                        io.close()

                late, bits = asyncio.run(asyncio.wait_for(go(), 30.0))
                # The relay notes a reply just after writing it: let it catch up.
                wait_for(lambda: bool(relay.record().requests[-1].replies), 2.0, "the relay")
                record = relay.record()
        finally:
            stop_proc(sim)
    assert late.timeout
    assert len(bits) == 11
    delayed, again = record.requests[-2:]
    # The late reply reached the controller after it gave up and before it asked again
    # (so it was dropped); the next request met only its own reply.
    assert delayed.replies == [Reply.CURRENT], delayed.replies
    assert again.replies == [Reply.CURRENT], again.replies
