import numpy as np
import numpy.typing as npt

def light_windows(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    win: int,
    margin: int,
    lo: int,
    between: bool,
    steady: bool,
    across: int,
    texture_min: float,
    light_corr: float,
    light_contrast: float,
    light_residual: float,
    gain: float,
    offset: float,
    scratch: npt.NDArray[np.int64],
    light: npt.NDArray[np.uint8],
    stats: npt.NDArray[np.float64],
) -> None: ...
def select_cells(
    occupied: npt.NDArray[np.uint8],
    motion_count: npt.NDArray[np.int32],
    outside: npt.NDArray[np.uint8],
    valid: npt.NDArray[np.uint8],
    verdict: npt.NDArray[np.uint8],
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    cell: int,
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
) -> int: ...
