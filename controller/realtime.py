"""What the scan thread asks of the OS so it wakes on its deadline, and what it got.

The scan shares the interpreter with the detector, the console and the MQTT
publisher. Three things decide how late it starts after its deadline: how
precisely the kernel wakes a sleeping thread (timer slack, 50 us by default,
set to 1 ns here with ``prctl(PR_SET_TIMERSLACK)``), how long another thread
keeps the GIL once the scan thread asks for it (``sys.setswitchinterval``,
5 ms by default, 0.5 ms while the scan thread runs), and whether the kernel
runs the scan thread at all when the CPUs are busy (``SCHED_FIFO`` with
``[io] scan_priority``, a CPU of its own with ``[io] scan_cpu``). The last
two need privileges (``CAP_SYS_NICE``, or ``LimitRTPRIO=`` in the systemd
unit); without them the scan runs at normal priority and :class:`Realtime`
says what was refused, for the log, ``/status`` and the benchmark's JSON.

:func:`sleep_until` sleeps to an absolute deadline on the monotonic clock:
``time.sleep`` is ``clock_nanosleep`` on Linux, precise to the timer slack.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["SWITCH_INTERVAL_S", "Realtime", "setup_scan_thread", "sleep_until"]

SWITCH_INTERVAL_S = 0.0005
"""How long a thread holding the GIL keeps it once the scan thread asks for it."""
_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


@dataclass(frozen=True, slots=True)
class Realtime:
    """The scan thread's scheduling as asked and as granted."""

    switch_interval_ms: float
    timer_slack_ns: int | None
    """None: prctl is not available here (not Linux)."""
    policy: str
    """"fifo" when SCHED_FIFO was granted, else "other" (the normal time-sharing policy)."""
    priority: int
    priority_asked: int
    priority_error: str | None
    cpus: tuple[int, ...]
    """The CPUs the scan thread may run on."""
    cpu_asked: int | None
    cpu_error: str | None

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["cpus"] = list(self.cpus)
        return values


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The interpreter's own symbols include libc's; no library search (a subprocess).
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, "prctl", None)


def _timer_slack(prctl: Any) -> int | None:
    if prctl is None:
        return None
    prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)
    slack = int(prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0))
    return slack if slack >= 0 else None


def setup_scan_thread(priority: int = 0, cpu: int | None = None) -> Realtime:
    """Call in the scan thread: timer slack, then ``SCHED_FIFO`` at ``priority`` (0: leave
    the policy alone) and the CPU ``cpu`` (None: any) when permitted. Never raises for a
    refusal; the result says what was granted."""
    if not 0 <= priority <= 99:
        raise ValueError(f"priority: {priority} is outside 0..99")
    slack = _timer_slack(_prctl())
    priority_error: str | None = None
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError) as exc:
            priority_error = f"SCHED_FIFO {priority}: {exc}"
    cpu_error: str | None = None
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, ValueError, AttributeError) as exc:
            cpu_error = f"CPU {cpu}: {exc}"
    try:
        fifo = os.sched_getscheduler(0) == os.SCHED_FIFO
        granted = os.sched_getparam(0).sched_priority if fifo else 0
        cpus = tuple(sorted(os.sched_getaffinity(0)))
    except (OSError, AttributeError):
        fifo, granted, cpus = False, 0, ()
    return Realtime(
        switch_interval_ms=round(sys.getswitchinterval() * 1000.0, 3),
        timer_slack_ns=slack,
        policy="fifo" if fifo else "other",
        priority=granted,
        priority_asked=priority,
        priority_error=priority_error,
        cpus=cpus,
        cpu_asked=cpu,
        cpu_error=cpu_error,
    )


def sleep_until(deadline_ns: int, clock_ns: Any = time.monotonic_ns) -> None:
    """Block the calling thread (GIL released) until ``clock_ns()`` reaches ``deadline_ns``."""
    remaining = deadline_ns - clock_ns()
    if remaining > 0:
        time.sleep(remaining / 1e9)
