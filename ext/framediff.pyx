# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One fused pass over a grey frame: per-cell presence, motion and grey-level statistics.

The Python wrapper (controller.vision.kernel) validates every argument; this
module trusts it and never touches a Python object inside the loop.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t


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
    cdef Py_ssize_t h = frame.shape[0]
    cdef Py_ssize_t w = frame.shape[1]
    cdef Py_ssize_t ncols = ref_count.shape[1]
    cdef Py_ssize_t y, x, cx, cy, x0, x1
    cdef int f, r, d, rc, mc
    cdef int64_t gs
    cdef int lut[256]
    cdef int i
    for i in range(256):
        lut[i] = ((i * gain_q8 + 128) >> 8) + offset
    with nogil:
        for y in range(h):
            cy = y // cell
            for cx in range(ncols):
                x0 = cx * cell
                x1 = x0 + cell
                if x1 > w:
                    x1 = w
                rc = 0
                mc = 0
                gs = 0
                for x in range(x0, x1):
                    f = frame[y, x]
                    r = lut[reference[y, x]]
                    d = f - r
                    rc += (d > ref_threshold) | (d < -ref_threshold)
                    d = f - previous[y, x]
                    mc += (d > motion_threshold) | (d < -motion_threshold)
                    gs += f
                    previous[y, x] = <uint8_t>f
                ref_count[cy, cx] += rc
                motion_count[cy, cx] += mc
                grey_sum[cy, cx] += gs
