"""Tests of the fused Cython frame kernel, held exactly to its numpy reference."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controller.bench.kernel import KernelParams, OpenCvFrameStats
from controller.cli import main
from controller.vision import _framediff
from controller.vision.kernel import (
    GAIN_Q8_MAX,
    MAX_CELL,
    OFFSET_MAX,
    CellStats,
    frame_stats,
    grid_shape,
    new_cell_stats,
    simd_path,
)
from controller.vision.reference import frame_stats_reference

Frame = npt.NDArray[np.uint8]

GAINS = st.one_of(
    st.sampled_from([0, 1, 128, 255, 256, 257, 511, 512, 1023, 1024]), st.integers(0, 1024)
)
OFFSETS = st.one_of(st.sampled_from([-255, -1, 0, 1, 255]), st.integers(-255, 255))
THRESHOLDS = st.one_of(st.sampled_from([0, 1, 254, 255]), st.integers(0, 255))


def _frames(seed: int, height: int, width: int, style: str) -> tuple[Frame, Frame, Frame]:
    """Frame, reference and previous: uniform noise, near-equal images or saturated extremes."""
    rng = np.random.default_rng(seed)
    shape = (height, width)
    if style == "uniform":
        planes = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
    elif style == "near":
        base = rng.integers(0, 256, shape).astype(np.int64)
        planes = [
            np.clip(base + rng.integers(-3, 4, shape), 0, 255).astype(np.uint8) for _ in range(3)
        ]
    else:
        planes = [rng.choice(np.array([0, 255], dtype=np.uint8), size=shape) for _ in range(3)]
    return planes[0], planes[1], planes[2]


LEVELS = list(range(_framediff.cpu_simd_level() + 1))
"""Every row pass this CPU can run: 0 portable, 1 SSSE3, 2 AVX2, 3 AVX-512."""


def _assert_same(frame: Frame, reference: Frame, previous: Frame, **kwargs: Any) -> None:
    """Each row pass this CPU supports gives exactly the reference's numbers and previous."""
    expected_previous = previous.copy()
    expected = frame_stats_reference(frame, reference, expected_previous, **kwargs)
    try:
        for level in LEVELS:
            assert _framediff.set_simd_level(level) == level
            mine = previous.copy()
            got = frame_stats(frame, reference, mine, **kwargs)
            assert got.ref_count.dtype == np.int32
            assert got.motion_count.dtype == np.int32
            assert got.grey_sum.dtype == np.int64
            np.testing.assert_array_equal(
                got.ref_count, expected.ref_count, err_msg=f"level {level}"
            )
            np.testing.assert_array_equal(
                got.motion_count, expected.motion_count, err_msg=f"level {level}"
            )
            np.testing.assert_array_equal(got.grey_sum, expected.grey_sum, err_msg=f"level {level}")
            np.testing.assert_array_equal(mine, frame, err_msg=f"level {level}")
    finally:
        _framediff.set_simd_level(_framediff.cpu_simd_level())


def test_simd_level_is_capped_by_the_cpu() -> None:
    """The row pass in use starts at the CPU's best and cannot be raised above it."""
    best = _framediff.cpu_simd_level()
    assert _framediff.simd_level() == best
    try:
        assert _framediff.set_simd_level(99) == best
        assert _framediff.set_simd_level(-5) == 0
        assert _framediff.simd_level() == 0
        assert simd_path() == "portable"
    finally:
        _framediff.set_simd_level(best)
    assert simd_path() == ("portable", "ssse3", "avx2", "avx512")[best]


@settings(max_examples=250, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(1, 70),
    width=st.integers(1, 160),
    cell=st.one_of(st.sampled_from([1, 2, 3, 7, 8, 16, 17, 64]), st.integers(1, 80)),
    style=st.sampled_from(["uniform", "near", "extreme"]),
    gain_q8=GAINS,
    offset=OFFSETS,
    ref_threshold=THRESHOLDS,
    motion_threshold=THRESHOLDS,
)
@example(
    seed=0,
    height=1,
    width=1,
    cell=1,
    style="uniform",
    gain_q8=0,
    offset=-255,
    ref_threshold=0,
    motion_threshold=0,
)
@example(
    seed=1,
    height=1,
    width=1,
    cell=512,
    style="extreme",
    gain_q8=1024,
    offset=255,
    ref_threshold=255,
    motion_threshold=255,
)
def test_kernel_matches_reference_on_small_frames(
    seed: int,
    height: int,
    width: int,
    cell: int,
    style: str,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
) -> None:
    """On any small frame, cell size and parameter edge value the kernel equals the reference."""
    frame, reference, previous = _frames(seed, height, width, style)
    _assert_same(
        frame,
        reference,
        previous,
        cell=cell,
        gain_q8=gain_q8,
        offset=offset,
        ref_threshold=ref_threshold,
        motion_threshold=motion_threshold,
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([(1080, 1920), (720, 1280), (1079, 1917), (481, 641), (300, 1)]),
    cell=st.sampled_from([8, 16, 7, 30, 256, 300]),
    style=st.sampled_from(["uniform", "near", "extreme"]),
    gain_q8=GAINS,
    offset=OFFSETS,
    ref_threshold=THRESHOLDS,
    motion_threshold=THRESHOLDS,
)
@example(
    seed=2,
    size=(1080, 1920),
    cell=16,
    style="near",
    gain_q8=300,
    offset=-5,
    ref_threshold=20,
    motion_threshold=2,
)
@example(
    seed=3,
    size=(720, 1280),
    cell=300,
    style="extreme",
    gain_q8=0,
    offset=255,
    ref_threshold=0,
    motion_threshold=255,
)
def test_kernel_matches_reference_on_camera_sized_frames(
    seed: int,
    size: tuple[int, int],
    cell: int,
    style: str,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
) -> None:
    """On camera-sized frames, cells taller than the 255-row fold too, kernel equals reference."""
    frame, reference, previous = _frames(seed, size[0], size[1], style)
    _assert_same(
        frame,
        reference,
        previous,
        cell=cell,
        gain_q8=gain_q8,
        offset=offset,
        ref_threshold=ref_threshold,
        motion_threshold=motion_threshold,
    )


def test_tall_cell_counts_more_than_255_rows_exactly() -> None:
    """A 512-row cell whose every pixel differs counts all of them: no 8-bit or 16-bit wrap."""
    frame = np.full((512, 512), 255, dtype=np.uint8)
    reference = np.zeros_like(frame)
    previous = np.zeros_like(frame)
    stats = frame_stats(frame, reference, previous, cell=512, ref_threshold=0, motion_threshold=0)
    assert stats.ref_count.tolist() == [[512 * 512]]
    assert stats.motion_count.tolist() == [[512 * 512]]
    assert stats.grey_sum.tolist() == [[512 * 512 * 255]]


def test_partial_edge_cells_count_the_pixels_they_have() -> None:
    """A 3x5 frame in 2-pixel cells gives a 2x3 grid whose edge cells sum only their own pixels."""
    frame = np.arange(15, dtype=np.uint8).reshape(3, 5)
    reference = frame.copy()
    previous = np.zeros_like(frame)
    stats = frame_stats(frame, reference, previous, cell=2, ref_threshold=0, motion_threshold=0)
    assert stats.grey_sum.tolist() == [
        [0 + 1 + 5 + 6, 2 + 3 + 7 + 8, 4 + 9],
        [10 + 11, 12 + 13, 14],
    ]
    assert stats.ref_count.tolist() == [[0, 0, 0], [0, 0, 0]]
    # every pixel but the zero at (0, 0) differs from the all-zero previous frame
    assert stats.motion_count.tolist() == [[3, 4, 2], [2, 2, 1]]
    assert grid_shape(3, 5, 2) == (2, 3)


def test_threshold_is_strict() -> None:
    """A difference equal to the threshold does not count; one more does, in both directions."""
    reference = np.full((1, 4), 100, dtype=np.uint8)
    frame = np.array([[110, 111, 90, 89]], dtype=np.uint8)
    previous = np.array([[100, 100, 100, 100]], dtype=np.uint8)
    stats = frame_stats(frame, reference, previous, cell=1, ref_threshold=10, motion_threshold=10)
    assert stats.ref_count.tolist() == [[0, 1, 0, 1]]
    assert stats.motion_count.tolist() == [[0, 1, 0, 1]]


def test_gain_and_offset_correct_the_reference() -> None:
    """Gain 1.5 (384 in Q8) and offset -10 turn reference 100 into 140, rounding half up."""
    reference = np.array([[100, 100, 100, 1]], dtype=np.uint8)
    frame = np.array([[140, 146, 134, 0]], dtype=np.uint8)
    previous = frame.copy() + 1
    stats = frame_stats(
        frame,
        reference,
        previous,
        cell=1,
        gain_q8=384,
        offset=-10,
        ref_threshold=5,
        motion_threshold=0,
    )
    # reference 1 -> (384 + 128) >> 8 = 2, minus 10 = -8: frame 0 is 8 away
    assert stats.ref_count.tolist() == [[0, 1, 1, 1]]
    assert stats.motion_count.tolist() == [[1, 1, 1, 1]]


def test_corrected_reference_is_not_clamped() -> None:
    """With gain 4 reference 255 becomes 1020, so even threshold 255 counts; 63 becomes 252."""
    reference = np.array([[255, 63]], dtype=np.uint8)
    frame = np.zeros((1, 2), dtype=np.uint8)
    previous = frame.copy()
    stats = frame_stats(
        frame,
        reference,
        previous,
        cell=1,
        gain_q8=GAIN_Q8_MAX,
        offset=0,
        ref_threshold=255,
        motion_threshold=255,
    )
    assert stats.ref_count.tolist() == [[1, 0]]
    assert stats.motion_count.tolist() == [[0, 0]]


def test_previous_is_updated_and_inputs_left_alone() -> None:
    """After a call previous holds the frame, and frame and reference are unchanged."""
    frame, reference, previous = _frames(7, 37, 53, "uniform")
    frame_before, reference_before = frame.copy(), reference.copy()
    frame_stats(frame, reference, previous, cell=8, ref_threshold=3, motion_threshold=3)
    np.testing.assert_array_equal(previous, frame)
    np.testing.assert_array_equal(frame, frame_before)
    np.testing.assert_array_equal(reference, reference_before)
    second = frame_stats(frame, reference, previous, cell=8, ref_threshold=3, motion_threshold=0)
    assert int(second.motion_count.sum()) == 0


def test_out_arrays_are_overwritten_and_returned() -> None:
    """Passing out reuses its arrays, overwrites stale values and matches a fresh call."""
    frame, reference, previous = _frames(11, 45, 61, "near")
    out = new_cell_stats(45, 61, 8)
    out.ref_count.fill(-5)
    out.motion_count.fill(99)
    out.grey_sum.fill(-1)
    fresh = frame_stats(
        frame,
        reference,
        previous.copy(),
        cell=8,
        gain_q8=270,
        offset=3,
        ref_threshold=2,
        motion_threshold=1,
    )
    got = frame_stats(
        frame,
        reference,
        previous,
        cell=8,
        gain_q8=270,
        offset=3,
        ref_threshold=2,
        motion_threshold=1,
        out=out,
    )
    assert got is out
    np.testing.assert_array_equal(out.ref_count, fresh.ref_count)
    np.testing.assert_array_equal(out.motion_count, fresh.motion_count)
    np.testing.assert_array_equal(out.grey_sum, fresh.grey_sum)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0, 10, 4), "height"),
        ((10, -1, 4), "width"),
        ((10, 10, 0), "cell"),
        ((10, 10, 4.0), "cell"),
    ],
)
def test_new_cell_stats_rejects_bad_sizes(args: tuple[Any, Any, Any], name: str) -> None:
    """new_cell_stats names the size argument that is not a positive int in range."""
    with pytest.raises(ValueError, match=rf"^{name}:"):
        new_cell_stats(*args)


def _good() -> dict[str, Any]:
    frame, reference, previous = _frames(5, 16, 24, "uniform")
    return {
        "frame": frame,
        "reference": reference,
        "previous": previous,
        "cell": 8,
        "gain_q8": 256,
        "offset": 0,
        "ref_threshold": 10,
        "motion_threshold": 10,
    }


def _bad_out(field: str, array: npt.NDArray[Any]) -> Callable[[dict[str, Any]], None]:
    def change(args: dict[str, Any]) -> None:
        good = new_cell_stats(16, 24, 8)
        parts = {
            "ref_count": good.ref_count,
            "motion_count": good.motion_count,
            "grey_sum": good.grey_sum,
        }
        parts[field] = array
        args["out"] = CellStats(**parts)

    return change


BAD_INPUTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("frame float", lambda a: a.update(frame=a["frame"].astype(np.float32)), "frame"),
    ("frame list", lambda a: a.update(frame=a["frame"].tolist()), "frame"),
    ("frame 3-D", lambda a: a.update(frame=np.dstack([a["frame"]] * 3)), "frame"),
    ("frame empty", lambda a: a.update(frame=np.zeros((0, 24), np.uint8)), "frame"),
    ("frame strided", lambda a: a.update(frame=np.zeros((16, 48), np.uint8)[:, ::2]), "frame"),
    ("reference int16", lambda a: a.update(reference=a["reference"].astype(np.int16)), "reference"),
    ("reference 1-D", lambda a: a.update(reference=a["reference"].ravel()), "reference"),
    ("reference shape", lambda a: a.update(reference=np.zeros((16, 25), np.uint8)), "reference"),
    (
        "reference fortran",
        lambda a: a.update(reference=np.asfortranarray(a["reference"])),
        "reference",
    ),
    ("previous shape", lambda a: a.update(previous=np.zeros((17, 24), np.uint8)), "previous"),
    (
        "previous strided",
        lambda a: a.update(previous=np.zeros((32, 24), np.uint8)[::2]),
        "previous",
    ),
    ("previous read-only", lambda a: a["previous"].setflags(write=False), "previous"),
    ("previous is frame", lambda a: a.update(previous=a["frame"]), "previous"),
    ("previous is reference", lambda a: a.update(previous=a["reference"]), "previous"),
    ("cell 0", lambda a: a.update(cell=0), "cell"),
    ("cell negative", lambda a: a.update(cell=-8), "cell"),
    ("cell too big", lambda a: a.update(cell=MAX_CELL + 1), "cell"),
    ("cell float", lambda a: a.update(cell=8.0), "cell"),
    ("cell bool", lambda a: a.update(cell=True), "cell"),
    ("gain negative", lambda a: a.update(gain_q8=-1), "gain_q8"),
    ("gain too big", lambda a: a.update(gain_q8=GAIN_Q8_MAX + 1), "gain_q8"),
    ("offset too low", lambda a: a.update(offset=-OFFSET_MAX - 1), "offset"),
    ("offset too high", lambda a: a.update(offset=OFFSET_MAX + 1), "offset"),
    ("ref_threshold negative", lambda a: a.update(ref_threshold=-1), "ref_threshold"),
    ("ref_threshold 256", lambda a: a.update(ref_threshold=256), "ref_threshold"),
    ("ref_threshold None", lambda a: a.update(ref_threshold=None), "ref_threshold"),
    ("motion_threshold 256", lambda a: a.update(motion_threshold=256), "motion_threshold"),
    ("motion_threshold float", lambda a: a.update(motion_threshold=1.5), "motion_threshold"),
    ("out not CellStats", lambda a: a.update(out=(1, 2, 3)), "out"),
    ("out shape", _bad_out("ref_count", np.zeros((2, 4), np.int32)), "out.ref_count"),
    ("out dtype", _bad_out("motion_count", np.zeros((2, 3), np.int64)), "out.motion_count"),
    ("out read-only", _bad_out("grey_sum", np.broadcast_to(np.int64(0), (2, 3))), "out.grey_sum"),
]


@pytest.mark.parametrize(
    ("change", "name"), [(c, n) for _, c, n in BAD_INPUTS], ids=[i for i, _, _ in BAD_INPUTS]
)
def test_bad_input_raises_value_error_naming_the_argument(
    change: Callable[[dict[str, Any]], None], name: str
) -> None:
    """Each kind of bad argument raises ValueError whose message starts with the argument's name."""
    args = _good()
    change(args)
    previous_before = np.array(args["previous"], copy=True)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        frame_stats(**args)
    previous = args["previous"]
    if previous is not args["frame"] and previous is not args["reference"]:
        # nothing was written before the error was raised
        np.testing.assert_array_equal(previous, previous_before)


def test_kernel_releases_the_gil() -> None:
    """A Python thread keeps counting during a large frame's call, in both passes: GIL released."""
    frame, reference, previous = _frames(13, 3000, 4000, "uniform")
    counter = [0]
    started = threading.Event()
    stop = threading.Event()

    def count() -> None:
        started.set()
        while not stop.is_set():
            counter[0] += 1
            time.sleep(0.0001)  # mostly waits without the GIL, so the main thread never starves

    old_interval = sys.getswitchinterval()
    # No forced GIL hand-over (a held GIL is only given up voluntarily): the counter can only
    # move during a call if the kernel releases the GIL. A busy machine may not schedule the
    # counting thread within one call, so each pass gets many calls to show progress once.
    sys.setswitchinterval(10.0)
    worker = threading.Thread(target=count, daemon=True)
    progress: dict[int, int] = {}
    try:
        worker.start()
        assert started.wait(10.0)
        for cell in (15, 16):  # 15: the portable pass, 16: the SIMD pass where the CPU has one
            out = new_cell_stats(3000, 4000, cell)
            progress[cell] = 0
            for _ in range(100):
                before = counter[0]
                frame_stats(
                    frame,
                    reference,
                    previous,
                    cell=cell,
                    ref_threshold=5,
                    motion_threshold=5,
                    out=out,
                )
                progress[cell] = counter[0] - before
                if progress[cell] > 0:
                    break
    finally:
        stop.set()
        sys.setswitchinterval(old_interval)
        worker.join(10.0)
    assert not worker.is_alive()
    assert progress[15] > 0
    assert progress[16] > 0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([(64, 96), (48, 48), (16, 8), (240, 320), (50, 70), (33, 17)]),
    cell=st.sampled_from([1, 4, 8, 16]),
    style=st.sampled_from(["uniform", "near", "extreme"]),
    gain_q8=GAINS,
    offset=OFFSETS,
    ref_threshold=THRESHOLDS,
    motion_threshold=THRESHOLDS,
)
def test_opencv_comparison_gives_the_kernel_numbers(
    seed: int,
    size: tuple[int, int],
    cell: int,
    style: str,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
) -> None:
    """The OpenCV pipeline the benchmark times computes exactly the kernel's outputs."""
    height, width = size
    frame, reference, previous = _frames(seed, height, width, style)
    params = KernelParams(cell, gain_q8, offset, ref_threshold, motion_threshold)
    opencv_previous = previous.copy()
    got = OpenCvFrameStats(height, width, params)(frame, reference, opencv_previous)
    expected = frame_stats(
        frame,
        reference,
        previous,
        cell=cell,
        gain_q8=gain_q8,
        offset=offset,
        ref_threshold=ref_threshold,
        motion_threshold=motion_threshold,
    )
    np.testing.assert_array_equal(got.ref_count, expected.ref_count)
    np.testing.assert_array_equal(got.motion_count, expected.motion_count)
    np.testing.assert_array_equal(got.grey_sum, expected.grey_sum)
    np.testing.assert_array_equal(opencv_previous, frame)


def test_bench_kernel_json_prints_one_object_per_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`lanectl bench kernel --json --quick` prints the per-size list and writes it to --out."""
    assert main(["bench", "kernel", "--json", "--quick", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["frame"] for row in printed] == ["1280x720", "1920x1080"]
    for row in printed:
        assert set(row) == {
            "frame",
            "kernel_ms",
            "numpy_ms",
            "opencv_ms",
            "copy_ms",
            "vs_opencv",
            "vs_numpy",
            "vs_copy",
        }
        assert all(row[k] > 0 for k in ("kernel_ms", "numpy_ms", "opencv_ms", "copy_ms"))
        # ratios are rounded (4, 1 and 2 decimals) from unrounded times
        assert row["vs_opencv"] == pytest.approx(row["kernel_ms"] / row["opencv_ms"], rel=0.02)
        assert row["vs_numpy"] == pytest.approx(row["numpy_ms"] / row["kernel_ms"], rel=0.02)
        assert row["vs_copy"] == pytest.approx(row["kernel_ms"] / row["copy_ms"], rel=0.02)
    assert json.loads((tmp_path / "kernel.json").read_text()) == printed


def test_bench_rejects_an_unknown_suite(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown suite name exits 2 and names the suite and the known ones."""
    assert main(["bench", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "kernel" in err
