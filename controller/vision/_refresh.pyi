import numpy as np
import numpy.typing as npt

def blend_cells(
    frame: npt.NDArray[np.uint8],
    ref_float: npt.NDArray[np.float32],
    reference: npt.NDArray[np.uint8],
    cells: npt.NDArray[np.uint8],
    drift_only: npt.NDArray[np.uint8],
    cell: int,
    offset: float,
    gain: float,
    alpha: float,
    drift_px: float,
) -> int: ...
def simd_level() -> int: ...
def cpu_simd_level() -> int: ...
def set_simd_level(level: int) -> int: ...
