"""The scan in a thread of its own: it keeps its deadlines while the event loop is busy,
hands what subscribers see to the loop in journal order, and says what the OS granted."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from controller.core.types import Command, CommandKind
from controller.events import Hub
from controller.realtime import SWITCH_INTERVAL_S, setup_scan_thread, sleep_until
from controller.runtime import Runtime
from tests.runtime.test_runtime import FakeIo, _config


class ThreadedIo(FakeIo):
    """FakeIo that notes which thread made each request."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    async def _io(self, name: str, arg: Any) -> None:
        self.threads.add(threading.get_ident())
        await super()._io(name, arg)


def test_hub_delivers_other_threads_publishes_on_the_loop_in_order() -> None:
    """A publish from another thread reaches subscribers on the bound loop's thread, and one
    made on the loop afterwards is delivered after it."""

    async def go() -> None:
        hub = Hub(queue_size=16)
        hub.bind(asyncio.get_running_loop())
        with hub.subscribe("a") as sub:
            worker = threading.Thread(
                target=lambda: [hub.publish_event(i, {"n": i}) for i in (1, 2, 3)]
            )
            worker.start()
            worker.join()
            # Nothing was put in the queue from the worker's thread (asyncio queues are not
            # thread-safe): it waits for the loop.
            assert sub.queue.qsize() == 0
            hub.publish_event(4, {"n": 4})
            got = [(await sub.get()).id for _ in range(4)]
            assert got == [1, 2, 3, 4]
            threading.Thread(target=lambda: hub.publish_state({"phase": "READY"})).start()
            msg = await asyncio.wait_for(sub.get(), 2.0)
            assert msg.kind == "state" and hub.last_state == {"phase": "READY"}
        hub.unbind()
        assert hub.last_event_id == 4

    asyncio.run(go())


def _run_for(rt: Runtime, body: Any) -> None:
    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        try:
            await body()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(go())


def test_scans_go_on_while_the_event_loop_is_blocked(tmp_path: Path) -> None:
    """The event loop stuck for 300 ms (a slow handler) does not stop the scans: they run in
    their own thread, and Modbus requests never come from the loop's thread."""
    fake = ThreadedIo()
    rt = Runtime(_config(tmp_path), io=fake)  # type: ignore[arg-type]
    during: list[int] = []
    interval: list[float] = []
    old_interval = sys.getswitchinterval()

    async def body() -> None:
        await asyncio.sleep(0.2)
        before = rt.scans
        time.sleep(0.3)  # blocks the event loop, not the scan thread
        during.append(rt.scans - before)
        interval.append(sys.getswitchinterval())

    _run_for(rt, body)
    # 10 ms scans: about 30 in 300 ms; the old in-loop scan managed none.
    assert during[0] >= 10
    assert interval[0] == pytest.approx(min(old_interval, SWITCH_INTERVAL_S))
    assert fake.threads and threading.get_ident() not in fake.threads
    assert sys.getswitchinterval() == old_interval
    thread = rt.stats()["thread"]
    assert thread is not None and thread["switch_interval_ms"] == SWITCH_INTERVAL_S * 1000
    assert thread["policy"] in ("fifo", "other")


def test_scan_and_loop_events_reach_subscribers_in_journal_id_order(tmp_path: Path) -> None:
    """Events journaled by the scan thread and by the loop (as the console's audit does)
    reach a hub subscriber with contiguous, increasing ids."""
    fake = ThreadedIo()
    rt = Runtime(_config(tmp_path), io=fake)  # type: ignore[arg-type]
    ids: list[int] = []

    async def body() -> None:
        with rt.hub.subscribe("test") as sub:
            for i in range(40):
                kind = CommandKind.CLOSE_LANE if i % 2 == 0 else CommandKind.OPEN_LANE
                rt.submit(Command(kind, "test"))
                with rt.journal.lock:
                    eid = rt.journal.record_event(rt.seq, rt.now_ms, "login", "{}")
                rt.hub.publish_event(eid, {"kind": "login"})
                await asyncio.sleep(0.012)
            await asyncio.sleep(0.1)
            while (msg := sub.get_nowait()) is not None:
                if msg.kind == "event" and msg.id is not None:
                    ids.append(msg.id)

    _run_for(rt, body)
    assert len(ids) > 60  # 40 from the loop, the lane's mode changes from the scan thread
    assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_setup_scan_thread_reports_what_it_got() -> None:
    """An unavailable CPU is reported, not raised; the thread keeps its CPUs; the timer slack
    is read back; a priority outside 0..99 is a named error."""
    got: list[Any] = []
    worker = threading.Thread(target=lambda: got.append(setup_scan_thread(0, 4095)))
    worker.start()
    worker.join()
    rt = got[0]
    assert rt.cpu_asked == 4095 and rt.cpu_error is not None and "CPU 4095" in rt.cpu_error
    assert rt.cpus and 4095 not in rt.cpus
    assert rt.policy == "other" and rt.priority == 0 and rt.priority_error is None
    if sys.platform.startswith("linux"):
        assert rt.timer_slack_ns == 1
    with pytest.raises(ValueError, match="priority"):
        setup_scan_thread(100)


def test_sleep_until_never_wakes_before_the_deadline() -> None:
    """The deadline is absolute: the clock has reached it when the sleep returns."""
    for step_us in (50, 300, 1500):
        deadline = time.monotonic_ns() + step_us * 1000
        sleep_until(deadline)
        assert time.monotonic_ns() >= deadline
    sleep_until(time.monotonic_ns() - 1_000_000)  # a deadline already past returns at once


def test_a_failure_in_the_scan_thread_is_raised_by_run(tmp_path: Path) -> None:
    """A bug that ends the scan thread ends ``run`` with that error (the process exits and
    is restarted), after the journal is closed; it is not swallowed by the thread."""

    class BrokenIo(FakeIo):
        async def read_discrete_inputs(self, count: int) -> list[bool]:
            raise RuntimeError("adapter bug")

    fake = BrokenIo()
    rt = Runtime(_config(tmp_path), io=fake)  # type: ignore[arg-type]

    async def go() -> None:
        await asyncio.wait_for(rt.run(asyncio.Event()), 10)

    with pytest.raises(RuntimeError, match="adapter bug"):
        asyncio.run(go())
    assert rt.journal.error is None
    assert not fake.connected
