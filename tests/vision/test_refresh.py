"""The compiled reference refresh against its numpy reference.

Both blend in float32; the compiled pass may round a product differently from
numpy's order of operations (a fused multiply-add on some CPUs), so the float
reference agrees to 1e-4 grey levels and the grey copy exactly except where the
float value lies within 1e-3 of a half.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from controller.vision import _refresh
from controller.vision.refresh import blend_cells
from controller.vision.refresh_reference import blend_cells_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle


def _grey(ref_float: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    return np.clip(np.rint(ref_float), 0, 255).astype(np.uint8)


def _compare(
    frame: npt.NDArray[np.uint8],
    ref_float: npt.NDArray[np.float32],
    cells: npt.NDArray[np.bool_],
    drift: npt.NDArray[np.bool_],
    **kw: float,
) -> int:
    a_float, b_float = ref_float.copy(), ref_float.copy()
    a_grey, b_grey = _grey(ref_float), _grey(ref_float)
    got = blend_cells(frame, a_float, a_grey, cells, drift, **kw)  # type: ignore[arg-type]
    want = blend_cells_reference(frame, b_float, b_grey, cells, drift, **kw)  # type: ignore[arg-type]
    assert got == want
    assert np.allclose(a_float, b_float, rtol=0, atol=1e-4)
    near_half = np.abs(b_float - np.floor(b_float) - 0.5) < 1e-3
    assert np.array_equal(a_grey[~near_half], b_grey[~near_half])
    assert (np.abs(a_grey.astype(int) - b_grey.astype(int)) <= 1).all()
    return got


LEVELS = list(range(_refresh.cpu_simd_level() + 1))
"""Every run loop this CPU can run (portable, then AVX2 where it has it)."""


@pytest.fixture(params=LEVELS, ids=lambda level: f"level{level}")
def level(request: pytest.FixtureRequest) -> object:
    """Each run loop in turn; the best one is restored after the test."""
    assert _refresh.set_simd_level(request.param) == request.param
    yield request.param
    _refresh.set_simd_level(_refresh.cpu_simd_level())


@pytest.mark.parametrize(("width", "height", "cell"), [(320, 180, 4), (333, 187, 5), (65, 37, 8)])
@pytest.mark.parametrize(
    ("gain", "offset", "alpha", "drift_px"),
    [(1.0, 0.0, 0.3, 6.0), (0.0, 12.0, 1.0, 0.0), (3.9, -40.0, 0.05, 255.0), (0.62, 7.5, 0.5, 2.5)],
)
def test_blend_is_the_reference(
    width: int,
    height: int,
    cell: int,
    gain: float,
    offset: float,
    alpha: float,
    drift_px: float,
    level: int,
) -> None:
    """Rendered frames, odd sizes, partial cells at the edges, a zero gain, any cell pattern."""
    cam = LaneCamera(CameraSpec(width=max(width, 64), height=max(height, 36)), Condition.RAIN)
    frame = cam.render([Vehicle(id=1, front_x_m=-5.0)], 0, 700)[:height, :width].copy()
    ref_float = cam.render([], 0, 0)[:height, :width].astype(np.float32) + np.float32(0.25)
    rows, cols = -(-height // cell), -(-width // cell)
    rng = np.random.default_rng(width + cell)
    cells = rng.random((rows, cols)) < 0.5
    drift = rng.random((rows, cols)) < 0.5
    written = _compare(
        frame,
        ref_float,
        cells,
        drift,
        cell=cell,
        gain=gain,
        offset=offset,
        alpha=alpha,
        drift_px=drift_px,
    )
    assert 0 < written <= int(cells.sum()) * cell * cell


@pytest.mark.parametrize(("gain", "offset", "alpha"), [(1.0, 0.0, 0.3), (0.37, -90.0, 0.05)])
def test_every_level_writes_the_same_bits(gain: float, offset: float, alpha: float) -> None:
    """The portable and the vector run loops are the same float operations: the float and
    the grey reference come out identical, over runs of every length, drift cells mixed
    in, values that clip at both ends."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (61, 203), dtype=np.uint8)
    ref_float = rng.uniform(-20.0, 280.0, (61, 203)).astype(np.float32)
    cells = rng.random((16, 51)) < 0.7
    drift = rng.random((16, 51)) < 0.4
    results = []
    try:
        for lv in LEVELS:
            _refresh.set_simd_level(lv)
            f, g = ref_float.copy(), _grey(ref_float)
            n = blend_cells(
                frame,
                f,
                g,
                cells,
                drift,
                cell=4,
                gain=gain,
                offset=offset,
                alpha=alpha,
                drift_px=9.0,
            )
            results.append((n, f, g))
    finally:
        _refresh.set_simd_level(_refresh.cpu_simd_level())
    n0, f0, g0 = results[0]
    assert n0 > 0
    for n, f, g in results[1:]:
        assert n == n0
        assert np.array_equal(f.view(np.uint32), f0.view(np.uint32))
        assert np.array_equal(g, g0)


def test_edge_values_clip_and_nothing_outside_the_cells_moves(level: int) -> None:
    """Black and white frames against a mid-grey reference clip to 0 and 255; other cells stay."""
    ref_float = np.full((12, 12), 128.0, np.float32)
    cells = np.zeros((3, 3), bool)
    cells[1, 1] = True
    drift = np.zeros((3, 3), bool)
    for value, gain, offset in ((0, 1.0, 200.0), (255, 0.1, -30.0)):
        frame = np.full((12, 12), value, np.uint8)
        f, g = ref_float.copy(), _grey(ref_float)
        assert (
            _compare(
                frame,
                ref_float,
                cells,
                drift,
                cell=4,
                gain=gain,
                offset=offset,
                alpha=1.0,
                drift_px=6.0,
            )
            == 16
        )
        blend_cells(
            frame, f, g, cells, drift, cell=4, gain=gain, offset=offset, alpha=1.0, drift_px=6.0
        )
        assert (g[4:8, 4:8] == (0 if value == 0 else 255)).all()
        g[4:8, 4:8] = 128
        assert (g == 128).all()


def test_drift_cells_take_in_small_differences_only(level: int) -> None:
    """In a drift-only cell a pixel 3 grey levels off is blended, one 30 off is left alone."""
    ref_float = np.full((4, 8), 100.0, np.float32)
    frame = np.full((4, 8), 103, np.uint8)
    frame[:, 4:] = 130
    cells = np.ones((1, 2), bool)
    drift = np.ones((1, 2), bool)
    f, g = ref_float.copy(), _grey(ref_float)
    n = blend_cells(
        frame, f, g, cells, drift, cell=4, gain=1.0, offset=0.0, alpha=0.5, drift_px=6.0
    )
    assert n == 16
    assert np.allclose(f[:, :4], 101.5) and (f[:, 4:] == 100.0).all()
    assert (g[:, :4] == 102).all() and (g[:, 4:] == 100).all()


def test_bad_arguments_are_named() -> None:
    """Wrong arrays, shapes and values are named errors."""
    frame = np.zeros((8, 8), np.uint8)
    f, g = np.zeros((8, 8), np.float32), np.zeros((8, 8), np.uint8)
    cells = np.ones((2, 2), bool)
    kw = {"cell": 4, "gain": 1.0, "offset": 0.0, "alpha": 0.3, "drift_px": 6.0}
    with pytest.raises(ValueError, match="ref_float: expected a 2-D float32"):
        blend_cells(frame, f.astype(np.float64), g, cells, cells, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference: expected a C-contiguous 8x8"):
        blend_cells(frame, f, np.zeros((8, 9), np.uint8), cells, cells, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cells: expected a bool array"):
        blend_cells(frame, f, g, np.ones((3, 2), bool), cells, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        blend_cells(frame, f, g, cells, cells, **{**kw, "alpha": 0.0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gain"):
        blend_cells(frame, f, g, cells, cells, **{**kw, "gain": float("inf")})  # type: ignore[arg-type]
