"""Scan loop: one read per table, one FC15, heartbeat; bus loss reaches the core; replay agrees."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.config import Config, parse_config
from controller.core.types import CameraHealth, CameraZones, Command, CommandKind
from controller.io.modbus import BusError, TcpEndpoint
from controller.journal import read_events, read_scans, read_snapshots, replay, verify
from controller.runtime import Runtime


class FakeIo:
    """Stands in for ModbusIo: scripted inputs, recorded writes, injectable failures."""

    def __init__(self) -> None:
        self.endpoint = TcpEndpoint("127.0.0.1", 1)
        self.bits = [False] * 11
        self.bits[5] = True  # barrier down
        self.calls: list[tuple[str, Any]] = []
        self.fail: BusError | None = None
        self.delay_s = 0.0
        self.connected = False
        self.connects = 0

    async def connect(self) -> None:
        self.connects += 1
        if self.fail is not None and not self.fail.timeout:
            raise self.fail
        self.connected = True

    def close(self) -> None:
        self.connected = False

    async def _io(self, name: str, arg: Any) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        self.calls.append((name, arg))

    async def read_discrete_inputs(self, count: int) -> list[bool]:
        await self._io("fc2", count)
        return list(self.bits[:count])

    async def read_input_registers(self, count: int) -> list[int]:
        await self._io("fc4", count)
        return [0, 0, 1][:count]

    async def write_coils(self, bits: list[bool]) -> None:
        await self._io("fc15", list(bits))

    async def write_register(self, offset: int, value: int) -> None:
        await self._io("fc6", (offset, value))

    async def write_registers(self, offset: int, values: list[int]) -> None:
        await self._io("fc16", (offset, list(values)))


def _config(tmp_path: Path, snapshot_s: int = 600, **io: int) -> Config:
    data: dict[str, Any] = {
        "lane": {"name": "t", "open_on_start": True},
        "io": {"scan_ms": 10, **io},
        "journal": {"path": str(tmp_path / "j.sqlite"), "snapshot_s": snapshot_s},
    }
    return parse_config(data, tmp_path / "lane.toml")


def _runtime(tmp_path: Path, snapshot_s: int = 600, **io: int) -> tuple[Runtime, FakeIo]:
    fake = FakeIo()
    rt = Runtime(_config(tmp_path, snapshot_s, **io), io=fake)  # type: ignore[arg-type]
    return rt, fake


def test_scan_requests_in_order(tmp_path: Path) -> None:
    """Connect writes watchdog, quiet coils, heartbeat; each scan is FC2, FC4, one FC15, FC6."""
    rt, fake = _runtime(tmp_path, watchdog_ms=700)

    async def go() -> None:
        assert await rt._try_connect()
        for k in range(3):
            await rt.scan_once(k * 10)

    asyncio.run(go())
    rt.journal.close()
    names = [c[0] for c in fake.calls]
    assert names[:3] == ["fc6", "fc15", "fc6"]
    assert fake.calls[0] == ("fc6", (1, 700))
    scans = names[3:]
    assert scans[:4] == ["fc2", "fc4", "fc15", "fc6"]
    # Mode/phase and count go out once, then only on change.
    assert scans.count("fc16") == len({c[1][1][0] for c in fake.calls if c[0] == "fc16"})
    beats = [c[1][1] for c in fake.calls if c[0] == "fc6" and c[1][0] == 0]
    assert beats == [1, 2, 3, 4]
    assert rt.status()["core"]["mode"] == "OPEN"


def test_commands_reach_core(tmp_path: Path) -> None:
    """A submitted command is delivered in the next scan's inputs (the core acts on it)."""
    rt, _ = _runtime(tmp_path)

    async def go() -> None:
        assert await rt._try_connect()
        await rt.scan_once(0)
        rt.submit(Command(CommandKind.CLOSE_LANE, "api"))
        await rt.scan_once(10)

    asyncio.run(go())
    rt.journal.close()
    assert rt.status()["core"]["mode"] == "CLOSED"
    modes = [e["body"] for e in read_events(rt.journal.path, kinds=["mode_changed"])]
    assert len(modes) == 2


def test_command_queue_bounded(tmp_path: Path) -> None:
    """Flooding the command queue raises OverflowError instead of growing without bound."""
    rt, _ = _runtime(tmp_path)
    with pytest.raises(OverflowError):
        for _ in range(1000):
            rt.submit(Command(CommandKind.RELEASE, "api"))
    rt.journal.close()


def test_timeouts_reach_core_as_bus_loss(tmp_path: Path) -> None:
    """Timeouts: the first is tolerated, the next makes bus_ok False and the core faults."""
    rt, fake = _runtime(tmp_path, missed_scans=1)

    async def go() -> None:
        assert await rt._try_connect()
        await rt.scan_once(0)
        fake.fail = BusError("FC2", "no reply", timeout=True)
        await rt.scan_once(10)
        assert rt.status()["core"]["mode"] == "OPEN"
        await rt.scan_once(20)
        await rt.scan_once(30)
        rt.stopping = True
        if rt._reconnect_task is not None:
            rt._reconnect_task.cancel()

    asyncio.run(go())
    rt.journal.close()
    assert rt.status()["core"]["mode"] == "FAULT"
    assert rt.status()["bus"]["connected"] is False
    kinds = [e["kind"] for e in read_events(rt.journal.path)]
    assert "bus_lost" in kinds and "fault_latched" in kinds


def test_loop_reconnects_and_counts_overruns(tmp_path: Path) -> None:
    """Run the real loop: a broken connection reconnects; slow scans count as overruns."""
    rt, fake = _runtime(tmp_path, snapshot_s=1, reconnect_min_ms=20)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        await asyncio.sleep(0.2)
        fake.fail = BusError("FC2", "connection lost")
        await asyncio.sleep(0.1)
        fake.fail = None
        await asyncio.sleep(0.3)
        fake.delay_s = 0.006  # four requests per scan: well over the 10 ms period
        await asyncio.sleep(0.3)
        fake.delay_s = 0.0
        await asyncio.sleep(0.4)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(go())
    assert fake.connects >= 2
    assert rt.reconnects >= 1
    stats = rt.stats()
    assert stats["overruns"] > 0
    assert stats["skipped"] >= stats["overruns"]
    assert stats["scans"] > 10
    assert verify(rt.journal.path).ok
    result = replay(rt.journal.path)
    assert result.identical, result.divergence
    assert result.scans == stats["scans"]
    snaps = read_snapshots(rt.journal.path)
    assert snaps[0]["kind"] == "start" and snaps[-1]["kind"] == "periodic"
    # A window after the periodic snapshot replays from it.
    start = snaps[-1]["at_ms"] + 20
    part = replay(rt.journal.path, from_ms=start, to_ms=start + 50)
    assert part.identical and 0 < part.scans < result.scans


def test_replay_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lanectl replay` prints identical and exits 0; a missing file exits 1."""
    rt, _ = _runtime(tmp_path)

    async def go() -> None:
        assert await rt._try_connect()
        for k in range(30):
            await rt.scan_once(k * 10)

    asyncio.run(go())
    rt.journal.close()
    assert main(["replay", str(rt.journal.path), "--from", "100", "--to", "200"]) == 0
    assert "identical: 11 scans" in capsys.readouterr().out.splitlines()[-1]
    assert main(["replay", str(tmp_path / "missing.sqlite")]) == 1


def test_restart_keeps_latched_fault(tmp_path: Path) -> None:
    """A fault latched before a restart is still latched after it (persisted state, S8)."""
    rt, fake = _runtime(tmp_path)

    async def go(r: Runtime, f: FakeIo, fail: bool) -> None:
        assert await r._try_connect()
        await r.scan_once(0)
        if fail:
            f.bits[4] = True  # both limits on at once
            for k in range(1, 5):
                await r.scan_once(k * 10)
        r._write_persisted()

    asyncio.run(go(rt, fake, True))
    rt.journal.close()
    assert rt.status()["core"]["fault_latched"]
    rt2, fake2 = _runtime(tmp_path)
    asyncio.run(go(rt2, fake2, False))
    rt2.journal.close()
    assert rt2.status()["core"]["mode"] == "FAULT"
    assert replay(rt2.journal.path).identical


def test_replay_names_divergence(tmp_path: Path) -> None:
    """A recording edited after the fact replays with the first divergent scan and coil named."""
    rt, _ = _runtime(tmp_path)

    async def go() -> None:
        assert await rt._try_connect()
        for k in range(20):
            await rt.scan_once(k * 10)

    asyncio.run(go())
    rt.journal.close()
    assert replay(rt.journal.path).identical
    conn = sqlite3.connect(rt.journal.path)
    conn.execute("DROP TRIGGER recording_no_update")
    row_id, body = conn.execute(
        "SELECT id, body FROM recording WHERE first_seq <= 5 AND last_seq >= 5"
    ).fetchone()
    rows = json.loads(zlib.decompress(body).decode())
    for row in rows:
        if row[0] == 5:
            row[3] ^= 1 << 10  # flip the recorded alarm coil of scan 5
    conn.execute(
        "UPDATE recording SET body = ? WHERE id = ?",
        (zlib.compress(json.dumps(rows).encode()), row_id),
    )
    conn.commit()
    conn.close()
    result = replay(rt.journal.path)
    assert not result.identical
    assert result.divergence is not None
    assert "scan 5" in result.divergence and "alarm" in result.divergence


class FakeCamera:
    def __init__(self) -> None:
        self.empty: list[tuple[bool, bool, bool, bool]] = []
        self.closed = False
        self.writes = 0

    def zones(self, now_ms: int) -> CameraZones:
        return CameraZones(health=CameraHealth.OK, bay=False, barrier=False)

    def note_empty(self, bay: bool, barrier: bool, approach: bool, exit: bool) -> None:
        self.empty.append((bay, barrier, approach, exit))

    def coils_written(self) -> None:
        self.writes += 1

    def close(self) -> None:
        self.closed = True


def test_camera_hook(tmp_path: Path) -> None:
    """The camera's zones go into the recorded inputs; known-empty zones are fed back; close()."""
    fake = FakeIo()
    fake.bits[1] = True  # a vehicle on the bay loop
    camera = FakeCamera()
    rt = Runtime(_config(tmp_path), io=fake, camera=camera)  # type: ignore[arg-type]

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(go())
    assert camera.closed
    # (bay, barrier, approach, exit): a vehicle on the bay loop may have its bumper in the
    # barrier zone, so only the approach and exit zones are proved empty.
    assert camera.empty and camera.empty[-1] == (False, False, True, True)
    # Every scan that wrote its coils told the camera (frame -> coil latency ends there);
    # the quiet outputs written on connecting are no scan's.
    coil_writes = sum(1 for name, _ in fake.calls if name == "fc15")
    assert camera.writes == coil_writes - fake.connects > 0
    scans = list(read_scans(rt.journal.path))
    assert '"ok"' in scans[0].inputs_json


def test_late_first_reply_is_tolerated_like_any_other(tmp_path: Path) -> None:
    """A timeout on the very first read after start is no bus fault: the core is not stepped
    on inputs it never had, and the next read starts the lane; timeouts that go on past
    missed_scans still reach the core as bus loss."""
    rt, fake = _runtime(tmp_path, missed_scans=1)

    async def go() -> None:
        assert await rt._try_connect()
        fake.fail = BusError("FC2", "no reply", timeout=True)
        await rt.scan_once(0)
        fake.fail = None
        await rt.scan_once(10)
        await rt.scan_once(20)

    asyncio.run(go())
    rt.journal.close()
    assert rt.status()["core"]["mode"] == "OPEN"
    kinds = [e["kind"] for e in read_events(rt.journal.path)]
    assert "fault_latched" not in kinds and "bus_lost" not in kinds

    (tmp_path / "b").mkdir()
    rt2, fake2 = _runtime(tmp_path / "b", missed_scans=1)

    async def go2() -> None:
        assert await rt2._try_connect()
        fake2.fail = BusError("FC2", "no reply", timeout=True)
        for k in range(3):
            await rt2.scan_once(k * 10)
        rt2.stopping = True
        if rt2._reconnect_task is not None:
            rt2._reconnect_task.cancel()

    asyncio.run(go2())
    rt2.journal.close()
    assert rt2.status()["core"]["mode"] == "FAULT"


def test_inputs_reach_the_hub_at_most_every_100_ms_and_a_new_mode_at_once(
    tmp_path: Path,
) -> None:
    """Input changes within STATE_EVERY_MS of the last state are held and the newest goes
    out when the time is up; a new mode goes out at once; events are never held."""
    from controller.runtime import STATE_EVERY_MS

    rt, fake = _runtime(tmp_path)
    published: list[tuple[int, str, bool]] = []
    events: list[str] = []

    async def scan(
        now_ms: int, approach: bool | None = None, command: CommandKind | None = None
    ) -> None:
        if approach is not None:
            fake.bits[0] = approach
        if command is not None:
            rt.submit(Command(command, "api"))
        await rt.scan_once(now_ms)

    async def go() -> None:
        assert await rt._try_connect()
        with rt.hub.subscribe("test") as sub:
            await scan(0)  # opens on start: at once
            await scan(200, approach=True)  # quiet since 0: at once
            await scan(210, approach=False)  # held
            await scan(220, approach=True)  # held, newer
            await scan(230, approach=False)  # held, newest
            await scan(240, command=CommandKind.CLOSE_LANE)  # a new mode: at once
            await scan(250, approach=True)  # held
            await scan(330)  # 90 ms after the mode: still held
            await scan(340)  # the newest goes out
            await scan(450)  # nothing changed since: nothing
            while (msg := sub.get_nowait()) is not None:
                if msg.kind == "state":
                    d = msg.data
                    published.append((d["now_ms"], d["core"]["mode"], d["inputs"]["loop_approach"]))
                else:
                    events.append(msg.data["kind"])

    asyncio.run(go())
    rt.journal.close()
    assert STATE_EVERY_MS == 100
    assert published[1:] == [
        (200, "OPEN", True),
        (240, "CLOSED", False),
        (340, "CLOSED", True),
    ]
    assert events.count("mode_changed") == 2
