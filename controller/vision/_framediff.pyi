import numpy as np
import numpy.typing as npt

def frame_stats(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    previous: npt.NDArray[np.uint8],
    cell: int,
    gain_q8: int,
    offset: int,
    ref_threshold: int,
    motion_threshold: int,
    ref_count: npt.NDArray[np.int32],
    motion_count: npt.NDArray[np.int32],
    grey_sum: npt.NDArray[np.int64],
) -> None: ...
def simd_level() -> int: ...
def cpu_simd_level() -> int: ...
def set_simd_level(level: int) -> int: ...
