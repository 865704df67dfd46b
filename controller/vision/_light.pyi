import numpy as np
import numpy.typing as npt

def fit_light(
    grey_sum: npt.NDArray[np.int64],
    area: npt.NDArray[np.float64],
    ref_means: npt.NDArray[np.float64],
    cells: npt.NDArray[np.uint8],
    min_spread: float,
    floor: float,
    factor: float,
    min_cells: int,
    step: int,
    scratch: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
def median(values: npt.NDArray[np.float64], scratch: npt.NDArray[np.float64]) -> float: ...
