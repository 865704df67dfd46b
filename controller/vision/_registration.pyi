import numpy as np
import numpy.typing as npt

def register(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.uint8],
    cell: int,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    fine: int,
    reach: int,
    iterations: int,
    sums: npt.NDArray[np.int64],
    scratch: npt.NDArray[np.float64],
    runs: npt.NDArray[np.intp],
    out: npt.NDArray[np.float64],
    kept: npt.NDArray[np.int64],
    same: bool,
) -> None: ...
def lk_sums(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.uint8],
    cell: int,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    dx: float,
    dy: float,
    row_step: int,
    sums: npt.NDArray[np.int64],
    runs: npt.NDArray[np.intp],
) -> None: ...
def simd_level() -> int: ...
def cpu_simd_level() -> int: ...
def set_simd_level(level: int) -> int: ...

class RegisterPass:
    def __init__(
        self,
        cell: int,
        r0: int,
        r1: int,
        c0: int,
        c1: int,
        fine: int,
        reach: int,
        iterations: int,
        sums: npt.NDArray[np.int64],
        scratch: npt.NDArray[np.float64],
        runs: npt.NDArray[np.intp],
        out: npt.NDArray[np.float64],
        kept: npt.NDArray[np.int64],
    ) -> None: ...
    def run(
        self,
        frame: npt.NDArray[np.uint8],
        reference: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        same: bool,
    ) -> tuple[float, float, float, float, float, float, float, float]: ...
