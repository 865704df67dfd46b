"""Benchmark of one controller scan (``core.scan``): p50 / p99 per call, target p99 <= 20 us.

Two figures, side by side on the same recording (4000 scans of seeded traffic,
faults, commands and camera changes from tests/core/test_determinism.py):
``scan`` as the runtime calls it (a settled scan with unchanged inputs is
answered from the state's cache), and ``full`` with that cache disabled, so
every scan runs the whole lane step and the safety vet. Run with
``make bench``; never a timed assertion.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from controller.core import lane as lane_module
from controller.core.codec import decode_inputs
from controller.core.scan import initial_state, scan
from controller.core.types import Inputs
from tests.core.test_determinism import CFG, _record

_REPEATS = 5


def _timed(recording: list[tuple[Inputs, int]]) -> list[int]:
    clock = time.perf_counter_ns
    samples: list[int] = []
    span = recording[-1][1] + 10
    state = initial_state(CFG)
    for k in range(_REPEATS):
        base = k * span
        for inputs, now in recording:
            start = clock()
            result = scan(state, inputs, base + now)
            samples.append(clock() - start)
            state = result.state
    return samples


def _percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "p50_us": round(ordered[n // 2] / 1000, 2),
        "p99_us": round(ordered[min(n - 1, (n * 99) // 100)] / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 2),
        "scans": n,
    }


@pytest.fixture(scope="module")
def recording() -> list[tuple[Inputs, int]]:
    return [(decode_inputs(text), now) for text, now in _record(seed=7)]


@pytest.mark.parametrize("path", ["scan", "full"])
def test_bench_scan_percentiles(
    benchmark: Any,
    recording: list[tuple[Inputs, int]],
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per-scan p50/p99 over the recording (``full``: every scan evaluated, no cache)."""
    if path == "full":
        monkeypatch.setattr(lane_module, "quiet", lambda state, inputs, now: False)
    _timed(recording)  # warm-up
    samples: list[int] = []

    def run() -> None:
        samples.extend(_timed(recording))

    benchmark.pedantic(run, rounds=3, iterations=1)
    stats = _percentiles(samples)
    benchmark.extra_info.update(stats)
    print(f"\ncore.scan [{path}]: {stats}")
    assert stats["scans"] == 3 * _REPEATS * len(recording)
