"""``lanectl`` sub-commands run as child processes, for the demo and the benchmarks.

The demo and the HIL/camera benchmarks all run ``lanectl sim`` and ``lanectl
run`` as real processes on loopback, as on site, and must never leave one
behind: every wait is bounded, a child is stopped with SIGTERM and then
SIGKILL, and a child that exits while the others still need it ends the run
with an error naming its log. :class:`Children` owns a set of them for one
``with`` block; the error class is the caller's, so ``lanectl demo`` and the
benchmarks keep reporting their own named errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Child",
    "ChildError",
    "Children",
    "start_child",
    "stop_child",
    "tail",
]

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

ErrorFactory = Callable[[str], Exception]


class ChildError(RuntimeError):
    """A child process did not start, or exited early or with an error (its log is named)."""


@dataclass(slots=True)
class Child:
    """A ``lanectl`` child process with its stderr log and the stdout lines read so far."""

    name: str
    proc: subprocess.Popen[str]
    log_path: Path
    log: IO[str]
    lines: list[str] = field(default_factory=list)


def tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a log, joined on one line ("" when unreadable)."""
    try:
        return " | ".join(path.read_text(encoding="utf-8").strip().splitlines()[-lines:])
    except OSError:
        return ""


def start_child(
    name: str,
    args: Sequence[str],
    workdir: Path,
    prefix: str,
    *,
    timeout_s: float = START_TIMEOUT_S,
    error: ErrorFactory = ChildError,
) -> tuple[Child, str]:
    """Start ``python -m controller.cli ARGS``; wait (bounded) for its stdout line ``prefix``.

    Returns the child and the rest of that line. stderr goes to ``workdir/NAME.log``;
    stdout is read to its end by a daemon thread so the child never blocks on it.
    """
    log_path = workdir / f"{name}.log"
    log = log_path.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    child = Child(name, proc, log_path, log)
    found = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in proc.stdout:
                child.lines.append(line.strip())
                if line.startswith(prefix):
                    found.set()

    threading.Thread(target=reader, name=f"child-{name}-stdout", daemon=True).start()
    if not found.wait(timeout_s):
        stop_child(child)
        raise error(
            f"{name} did not print {prefix!r} within {timeout_s:.0f} s "
            f"(exit {proc.returncode}); see {log_path}: {tail(log_path)}"
        )
    line = next(ln for ln in child.lines if ln.startswith(prefix))
    return child, line[len(prefix) :].strip()


def stop_child(child: Child, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, bounded wait, SIGKILL on timeout; returns the exit code."""
    proc = child.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout_s)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
    child.log.close()
    return int(proc.returncode)


class Children:
    """The children of one run: all still running are stopped when the block ends."""

    def __init__(
        self,
        workdir: Path,
        *,
        error: ErrorFactory = ChildError,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.workdir = workdir
        self.error = error
        self.start_timeout_s = start_timeout_s
        self.running: list[Child] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        running, self.running = self.running, []
        for child in running:
            stop_child(child)

    def start(self, name: str, args: Sequence[str], prefix: str) -> tuple[Child, str]:
        """:func:`start_child` in this run's work directory; the child is stopped at the end."""
        child, rest = start_child(
            name, args, self.workdir, prefix, timeout_s=self.start_timeout_s, error=self.error
        )
        self.running.append(child)
        return child, rest

    def check(self) -> None:
        """Raise the run's error if any child has exited."""
        for child in self.running:
            if child.proc.poll() is not None:
                raise self.error(
                    f"{child.name} exited early with {child.proc.returncode}; "
                    f"see {child.log_path}: {tail(child.log_path)}"
                )

    def watch(
        self, until: float, *, poll_s: float = 0.5, tick: Callable[[], None] | None = None
    ) -> None:
        """Until ``until`` (monotonic s): check the children, call ``tick``, sleep ``poll_s``."""
        while (left := until - time.monotonic()) > 0:
            self.check()
            if tick is not None:
                tick()
            time.sleep(min(poll_s, max(0.0, left)))

    def stop(self, child: Child, *, what: str | None = None) -> int:
        """Stop ``child``; with ``what``, a non-zero exit raises the run's error naming it."""
        self.running.remove(child)
        code = stop_child(child)
        if what is not None and code != 0:
            raise self.error(
                f"{what} exited with {code}; see {child.log_path}: {tail(child.log_path)}"
            )
        return code
