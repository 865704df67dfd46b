"""pytest-benchmark timings of the vision kernel and what it is compared with (``make bench``).

Each group times the four ways of getting the same per-cell numbers on one
frame size; the ratios DESIGN.md targets are printed by ``lanectl bench kernel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from controller.bench.kernel import DEFAULT_SIZES, KernelParams, OpenCvFrameStats, make_frames
from controller.vision.kernel import frame_stats, new_cell_stats
from controller.vision.reference import frame_stats_reference

PARAMS = KernelParams()
SIZES = [pytest.param(size, id=f"{size[0]}x{size[1]}") for size in DEFAULT_SIZES]


@pytest.fixture(autouse=True)
def _one_opencv_thread() -> Iterator[None]:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _implementations(width: int, height: int) -> dict[str, Callable[[], Any]]:
    frame, reference, previous = make_frames(width, height)
    out = new_cell_stats(height, width, PARAMS.cell)
    opencv = OpenCvFrameStats(height, width, PARAMS)
    target = np.empty_like(frame)
    args = {
        "cell": PARAMS.cell,
        "gain_q8": PARAMS.gain_q8,
        "offset": PARAMS.offset,
        "ref_threshold": PARAMS.ref_threshold,
        "motion_threshold": PARAMS.motion_threshold,
    }
    return {
        "kernel": lambda: frame_stats(frame, reference, previous, out=out, **args),
        "numpy": lambda: frame_stats_reference(frame, reference, previous, **args),
        "opencv": lambda: opencv(frame, reference, previous),
        "copy": lambda: np.copyto(target, frame),
    }


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["kernel", "opencv", "copy", "numpy"])
def test_bench_frame_stats(benchmark: Any, size: tuple[int, int], name: str) -> None:
    """Times one implementation on one frame size; the kernel's result is checked non-empty."""
    width, height = size
    benchmark.group = f"frame_stats {width}x{height}"
    call = _implementations(width, height)[name]
    result = benchmark(call)
    if name == "kernel":
        assert int(result.grey_sum.sum()) > 0
