import numpy as np
import numpy.typing as npt

def shadow_ratios(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    win: int,
    margin: int,
    gain: float,
    offset: float,
    f: npt.NDArray[np.float32],
    r: npt.NDArray[np.float32],
    ratio: npt.NDArray[np.float32],
) -> None: ...
def scratch_sizes(npix: int) -> tuple[int, int]: ...
def pairwise_sums(
    rows: npt.NDArray[np.float32], one: npt.NDArray[np.float32], three: npt.NDArray[np.float32]
) -> None: ...
def sort_f32(v: npt.NDArray[np.float32]) -> None: ...
def log_f32(x: npt.NDArray[np.float32], out: npt.NDArray[np.float32]) -> None: ...
def shadow_pass(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    win: int,
    margin: int,
    gain: float,
    offset: float,
    low: int,
    split_gain: float,
    factor_min: float,
    factor_max: float,
    texture2: float,
    keep_explained: float,
    residual2: float,
    spread2: float,
    trim: bool,
    keep_share: float,
    scratch: npt.NDArray[np.float32],
    words: npt.NDArray[np.uint32],
    member: npt.NDArray[np.uint8],
    light: npt.NDArray[np.uint8],
) -> None: ...
