"""Benchmark suites behind ``lanectl bench``: a registry of name -> runner.

Each runner takes ``quick`` (fewer repetitions, for smoke tests) and returns a
JSON-able result. Runners import their subjects lazily, so listing the suites
(which the CLI does on every start) loads neither OpenCV nor the simulator.
To add a suite, write ``controller/bench/<name>.py`` with a ``run(quick)`` and
add one entry to ``SUITES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SUITES", "Suite"]

Suite = Callable[[bool], Any]
"""A benchmark runner: ``runner(quick)`` -> JSON-able result (lists, dicts, str, numbers)."""


def _kernel(quick: bool) -> Any:
    from controller.bench import kernel

    return kernel.run(quick)


def _step(quick: bool) -> Any:
    from controller.bench import step

    return step.run(quick)


def _journal(quick: bool) -> Any:
    from controller.bench import journal

    return journal.run(quick)


def _hil(quick: bool) -> Any:
    from controller.bench import hil

    return hil.run(quick)


def _frame(quick: bool) -> Any:
    from controller.bench import frame

    return frame.run(quick)


def _detector(quick: bool) -> Any:
    from controller.bench import detector

    return detector.run(quick)


def _gil(quick: bool) -> Any:
    from controller.bench import gil

    return gil.run(quick)


def _throughput(quick: bool) -> Any:
    from controller.bench import throughput

    return throughput.run(quick)


SUITES: dict[str, Suite] = {
    "kernel": _kernel,
    "step": _step,
    "journal": _journal,
    "hil": _hil,
    "frame": _frame,
    "detector": _detector,
    "throughput": _throughput,
    "gil": _gil,
}
"""Suites in the order ``lanectl bench`` runs them when none is named."""
