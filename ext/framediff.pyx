# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One fused pass over a grey frame: per-cell presence, motion and grey-level statistics.

The Python wrapper (controller.vision.kernel) validates every argument; this
module trusts it and never touches a Python object inside the loop.

Why the loop looks the way it does: the pass is memory-bound only if the
per-pixel work vectorises, so the row loop is branch-free, works on 16-bit
lanes and keeps no per-pixel division or table lookup. Rows of one band of
cells are accumulated column-wise into small uint16 buffers (vertical adds
vectorise; per-cell horizontal sums do not), and the buffers are folded into
the cell grid once per band, i.e. once per ``cell`` rows.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

# The hit accumulator packs the reference count in its low byte and the motion
# count in its high byte, and the grey accumulator holds at most
# FLUSH_ROWS * 255: both stay exact if the buffers are folded every 255 rows.
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
    cdef Py_ssize_t height = frame.shape[0]
    cdef Py_ssize_t width = frame.shape[1]
    cdef Py_ssize_t rows = ref_count.shape[0]
    cdef Py_ssize_t cols = ref_count.shape[1]
    cdef Py_ssize_t cy, y, y_end, chunk_end
    cdef uint16_t gain_hi = <uint16_t>(gain_q8 >> 8)
    cdef uint16_t gain_lo = <uint16_t>(gain_q8 & 0xFF)
    cdef uint16_t ref_bias = <uint16_t>(ref_threshold - offset)
    cdef uint16_t ref_limit = <uint16_t>(2 * ref_threshold)
    cdef uint16_t motion_bias = <uint16_t>motion_threshold
    cdef uint16_t motion_limit = <uint16_t>(2 * motion_threshold)
    cdef uint16_t* hits
    cdef uint16_t* grey
    with nogil:
        hits = <uint16_t*>malloc(2 * width * sizeof(uint16_t))
        if hits != NULL:
            grey = hits + width
            memset(&ref_count[0, 0], 0, rows * cols * sizeof(int32_t))
            memset(&motion_count[0, 0], 0, rows * cols * sizeof(int32_t))
            memset(&grey_sum[0, 0], 0, rows * cols * sizeof(int64_t))
            for cy in range(rows):
                y = cy * cell
                y_end = y + cell
                if y_end > height:
                    y_end = height
                while y < y_end:
                    chunk_end = y + FLUSH_ROWS
                    if chunk_end > y_end:
                        chunk_end = y_end
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
                    _fold(
                        hits,
                        grey,
                        width,
                        cell,
                        &ref_count[cy, 0],
                        &motion_count[cy, 0],
                        &grey_sum[cy, 0],
                    )
    if hits == NULL:
        raise MemoryError(f"frame_stats: cannot allocate row buffers for width {width}")
    free(hits)
