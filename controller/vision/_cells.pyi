import numpy as np
import numpy.typing as npt

def largest_group(
    cells: npt.NDArray[np.uint8],
    may_bridge: npt.NDArray[np.uint8],
    stack: npt.NDArray[np.int32],
    seen: npt.NDArray[np.uint8],
) -> int: ...
def zone_bodies(
    body: npt.NDArray[np.uint8],
    differs: npt.NDArray[np.uint8],
    interior: npt.NDArray[np.uint8],
    touched: npt.NDArray[np.uint8],
    boxes: npt.NDArray[np.intp],
    box_start: npt.NDArray[np.intp],
    edge_rows: npt.NDArray[np.intp],
    edge_cols: npt.NDArray[np.intp],
    edge_start: npt.NDArray[np.intp],
    edge_hit: npt.NDArray[np.uint8],
    scratch: npt.NDArray[np.uint8],
    stack: npt.NDArray[np.int32],
    out: npt.NDArray[np.int64],
) -> None: ...
def has_neighbour(cells: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8]) -> None: ...
def verdicts(
    ref_count: npt.NDArray[np.int32],
    motion_count: npt.NDArray[np.int32],
    occupied_min: npt.NDArray[np.int32],
    moving_min: npt.NDArray[np.int32],
    outside: npt.NDArray[np.uint8],
    occupied: npt.NDArray[np.uint8],
    moving: npt.NDArray[np.uint8],
    out: npt.NDArray[np.int64],
) -> None: ...
def still_cells(
    changed: npt.NDArray[np.int32],
    min_count: npt.NDArray[np.int32],
    touched: npt.NDArray[np.uint8],
    before: npt.NDArray[np.uint8],
    has_before: bool,
    own: npt.NDArray[np.uint8],
    differs: npt.NDArray[np.uint8],
) -> int: ...
def zones_any(
    cells: npt.NDArray[np.uint8],
    touched: npt.NDArray[np.uint8],
    boxes: npt.NDArray[np.intp],
    box_start: npt.NDArray[np.intp],
    out: npt.NDArray[np.uint8],
) -> None: ...
def bodies(
    differs: npt.NDArray[np.uint8],
    light: npt.NDArray[np.uint8],
    believed: npt.NDArray[np.uint8],
    body: npt.NDArray[np.uint8],
    occupied: npt.NDArray[np.uint8],
) -> int: ...
def same_int64(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> bool: ...
def lattice_moments(
    grey_sum: npt.NDArray[np.int64],
    step: int,
    inv_area: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    squares: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
