import numpy as np
import numpy.typing as npt

def largest_group(
    cells: npt.NDArray[np.uint8],
    may_bridge: npt.NDArray[np.uint8],
    stack: npt.NDArray[np.int32],
    seen: npt.NDArray[np.uint8],
) -> int: ...
