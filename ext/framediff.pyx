# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One fused pass over a grey frame: per-cell presence, motion and grey-level statistics.

The Python wrapper (controller.vision.kernel) validates every argument; this
module trusts it and never touches a Python object inside the loop.

Why the loops look the way they do: per-cell horizontal sums do not
vectorise, vertical adds do. So the rows of one band of cells are accumulated
column-wise into small row buffers, which are folded into the cell grid once
per band (every ``cell`` rows, at most every 255 so no buffer overflows).

Two row passes give the same numbers:
- the SIMD pass (framediff_simd.h), for cells that are multiples of 4 on a CPU
  with SSSE3, AVX2 or AVX-512 BW+VBMI, chosen at import from the CPU's
  features so a wheel built without -march still runs on any x86-64 or
  aarch64 PC;
- the portable pass below, for every other case: branch-free 16-bit lanes with
  no table lookup, which the compiler vectorises with the baseline instruction
  set.
``set_simd_level`` caps the level, so the tests can hold every pass to the
numpy reference on one machine.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

cdef extern from "framediff_simd.h":
    ctypedef struct fd_params:
        pass
    int FD_LEVEL_PORTABLE
    void fd_params_init(
        fd_params* prm, int gain_q8, int offset, int ref_threshold, int motion_threshold
    ) noexcept nogil
    int fd_cpu_level() noexcept nogil
    void fd_row(
        int level,
        const uint8_t* frame,
        const uint8_t* reference,
        uint8_t* previous,
        uint8_t* ref_hits,
        uint8_t* still,
        uint32_t* grey4,
        Py_ssize_t w,
        const fd_params* prm,
    ) noexcept nogil
    void fd_fold(
        int level,
        uint8_t* ref_hits,
        uint8_t* still,
        uint32_t* grey4,
        Py_ssize_t w,
        Py_ssize_t cell,
        int32_t rows,
        int32_t* ref_out,
        int32_t* motion_out,
        int64_t* grey_out,
    ) noexcept nogil

cdef int _cpu_level = fd_cpu_level()
cdef int _level = _cpu_level

# Portable pass: the hit accumulator packs the reference count in its low byte
# and the motion count in its high byte, and the grey accumulator holds at most
# FLUSH_ROWS * 255. SIMD pass: byte accumulators. All stay exact if the buffers
# are folded at least every 255 rows.
cdef enum:
    FLUSH_ROWS = 255


cdef inline void _accumulate_row(
    const uint8_t* frame,
    const uint8_t* reference,
    uint8_t* previous,
    uint16_t* hits,
    uint16_t* grey,
    Py_ssize_t width,
    uint16_t gain_hi,
    uint16_t gain_lo,
    uint16_t ref_bias,
    uint16_t ref_limit,
    uint16_t motion_bias,
    uint16_t motion_limit,
) noexcept nogil:
    # corrected = ((r * gain + 128) >> 8) + offset, with gain = 256 * gain_hi + gain_lo:
    # r * gain_hi + ((r * gain_lo + 128) >> 8) never leaves 16 bits (gain_lo < 256).
    # |d| > t  <=>  (uint16)(d + t) > 2t for -1275 <= d <= 510: one add, one compare.
    cdef Py_ssize_t x
    cdef uint16_t f, r, p, base, ref_hit, motion_hit
    for x in range(width):
        f = frame[x]
        r = reference[x]
        p = previous[x]
        base = <uint16_t>(r * gain_hi) + <uint16_t>(<uint16_t>(r * gain_lo + 128) >> 8)
        ref_hit = <uint16_t>(f + ref_bias - base) > ref_limit
        motion_hit = <uint16_t>(f + motion_bias - p) > motion_limit
        hits[x] += ref_hit | (motion_hit << 8)
        grey[x] += f
        previous[x] = frame[x]


cdef inline void _fold(
    const uint16_t* hits,
    const uint16_t* grey,
    Py_ssize_t width,
    Py_ssize_t cell,
    int32_t* ref_row,
    int32_t* motion_row,
    int64_t* grey_row,
) noexcept nogil:
    cdef Py_ssize_t cx = 0
    cdef Py_ssize_t x0, x1, x
    cdef int32_t rc, mc
    cdef int64_t gs
    cdef uint16_t a
    x0 = 0
    while x0 < width:
        x1 = x0 + cell
        if x1 > width:
            x1 = width
        rc = 0
        mc = 0
        gs = 0
        for x in range(x0, x1):
            a = hits[x]
            rc += a & 0xFF
            mc += a >> 8
            gs += grey[x]
        ref_row[cx] += rc
        motion_row[cx] += mc
        grey_row[cx] += gs
        cx += 1
        x0 = x1


cdef int _portable_pass(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    uint8_t[:, ::1] previous,
    Py_ssize_t cell,
    int gain_q8,
    int offset,
    int ref_threshold,
    int motion_threshold,
    int32_t[:, ::1] ref_count,
    int32_t[:, ::1] motion_count,
    int64_t[:, ::1] grey_sum,
) noexcept nogil:
    """Any cell size, any CPU: auto-vectorised 16-bit lanes. Returns -1 when out of memory."""
    cdef Py_ssize_t height = frame.shape[0]
    cdef Py_ssize_t width = frame.shape[1]
    cdef Py_ssize_t rows = ref_count.shape[0]
    cdef Py_ssize_t cy, y, y_end, chunk_end
    cdef uint16_t gain_hi = <uint16_t>(gain_q8 >> 8)
    cdef uint16_t gain_lo = <uint16_t>(gain_q8 & 0xFF)
    cdef uint16_t ref_bias = <uint16_t>(ref_threshold - offset)
    cdef uint16_t ref_limit = <uint16_t>(2 * ref_threshold)
    cdef uint16_t motion_bias = <uint16_t>motion_threshold
    cdef uint16_t motion_limit = <uint16_t>(2 * motion_threshold)
    cdef uint16_t* hits = <uint16_t*>malloc(2 * width * sizeof(uint16_t))
    cdef uint16_t* grey = hits + width
    if hits == NULL:
        return -1
    for cy in range(rows):
        y = cy * cell
        y_end = min(y + cell, height)
        while y < y_end:
            chunk_end = min(y + FLUSH_ROWS, y_end)
            memset(hits, 0, 2 * width * sizeof(uint16_t))
            while y < chunk_end:
                _accumulate_row(
                    &frame[y, 0],
                    &reference[y, 0],
                    &previous[y, 0],
                    hits,
                    grey,
                    width,
                    gain_hi,
                    gain_lo,
                    ref_bias,
                    ref_limit,
                    motion_bias,
                    motion_limit,
                )
                y += 1
            _fold(hits, grey, width, cell, &ref_count[cy, 0], &motion_count[cy, 0], &grey_sum[cy, 0])
    free(hits)
    return 0


cdef int _simd_pass(
    int level,
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    uint8_t[:, ::1] previous,
    Py_ssize_t cell,
    int gain_q8,
    int offset,
    int ref_threshold,
    int motion_threshold,
    int32_t[:, ::1] ref_count,
    int32_t[:, ::1] motion_count,
    int64_t[:, ::1] grey_sum,
) noexcept nogil:
    """Cells that are multiples of 4 on an SSSE3, AVX2 or AVX-512 CPU. -1 when out of memory."""
    cdef Py_ssize_t height = frame.shape[0]
    cdef Py_ssize_t width = frame.shape[1]
    cdef Py_ssize_t rows = ref_count.shape[0]
    cdef Py_ssize_t groups = (width + 3) // 4
    cdef Py_ssize_t cy, y, y_end, chunk_end, fold_rows
    cdef fd_params prm
    # ref_hits and still (bytes, padded to whole groups), then grey4
    cdef uint8_t* buffer = <uint8_t*>calloc(groups, 8 + sizeof(uint32_t))
    cdef uint8_t* ref_hits = buffer
    cdef uint8_t* still = buffer + 4 * groups
    cdef uint32_t* grey4 = <uint32_t*>(buffer + 8 * groups)
    if buffer == NULL:
        return -1
    fd_params_init(&prm, gain_q8, offset, ref_threshold, motion_threshold)
    for cy in range(rows):
        y = cy * cell
        y_end = min(y + cell, height)
        while y < y_end:
            chunk_end = min(y + FLUSH_ROWS, y_end)
            fold_rows = chunk_end - y
            while y < chunk_end:
                fd_row(
                    level,
                    &frame[y, 0],
                    &reference[y, 0],
                    &previous[y, 0],
                    ref_hits,
                    still,
                    grey4,
                    width,
                    &prm,
                )
                y += 1
            fd_fold(
                level,
                ref_hits,
                still,
                grey4,
                width,
                cell,
                <int32_t>fold_rows,
                &ref_count[cy, 0],
                &motion_count[cy, 0],
                &grey_sum[cy, 0],
            )
    free(buffer)
    return 0


def simd_level():
    """The row pass in use: 0 portable, 1 SSSE3, 2 AVX2, 3 AVX-512 (BW + VBMI)."""
    return _level


def cpu_simd_level():
    """The best row pass this CPU supports."""
    return _cpu_level


def set_simd_level(int level):
    """Use at most ``level`` (clamped to what the CPU supports); returns the level now in use."""
    global _level
    _level = max(FD_LEVEL_PORTABLE, min(level, _cpu_level))
    return _level


def frame_stats(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    uint8_t[:, ::1] previous,
    int cell,
    int gain_q8,
    int offset,
    int ref_threshold,
    int motion_threshold,
    int32_t[:, ::1] ref_count,
    int32_t[:, ::1] motion_count,
    int64_t[:, ::1] grey_sum,
):
    """Fill the three (rows, cols) outputs (overwritten) and copy frame into previous."""
    cdef Py_ssize_t rows = ref_count.shape[0]
    cdef Py_ssize_t cols = ref_count.shape[1]
    cdef int level = _level
    cdef int status
    with nogil:
        memset(&ref_count[0, 0], 0, rows * cols * sizeof(int32_t))
        memset(&motion_count[0, 0], 0, rows * cols * sizeof(int32_t))
        memset(&grey_sum[0, 0], 0, rows * cols * sizeof(int64_t))
        if level > FD_LEVEL_PORTABLE and cell % 4 == 0:
            status = _simd_pass(
                level, frame, reference, previous, cell, gain_q8, offset,
                ref_threshold, motion_threshold, ref_count, motion_count, grey_sum,
            )
        else:
            status = _portable_pass(
                frame, reference, previous, cell, gain_q8, offset,
                ref_threshold, motion_threshold, ref_count, motion_count, grey_sum,
            )
    if status != 0:
        raise MemoryError(f"frame_stats: cannot allocate row buffers for width {frame.shape[1]}")
