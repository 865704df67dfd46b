import numpy as np
import numpy.typing as npt

def shift_bilinear(
    src: npt.NDArray[np.uint8],
    out: npt.NDArray[np.uint8],
    ix: int,
    iy: int,
    fx: int,
    fy: int,
) -> None: ...
def simd_level() -> int: ...
def cpu_simd_level() -> int: ...
def set_simd_level(level: int) -> int: ...
