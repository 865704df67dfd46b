import numpy as np
import numpy.typing as npt

def edge_counts(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    pixels: npt.NDArray[np.intp],
    owner: npt.NDArray[np.intp],
    gain_q8: int,
    offset: int,
    threshold: int,
    counts: npt.NDArray[np.int32],
) -> None: ...
def rasterise(
    poly: npt.NDArray[np.float64],
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    cell: int,
    pixels: npt.NDArray[np.uint8],
    sums: npt.NDArray[np.int32],
) -> None: ...
def cut_pixels(
    raster: npt.NDArray[np.uint8],
    part_c: npt.NDArray[np.intp],
    row_start: npt.NDArray[np.intp],
    cell: int,
    wy0: int,
    wx0: int,
    width: int,
    pixels: npt.NDArray[np.intp],
    owner: npt.NDArray[np.intp],
    sum_r: npt.NDArray[np.float64],
    sum_c: npt.NDArray[np.float64],
) -> int: ...
