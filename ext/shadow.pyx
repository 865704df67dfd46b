# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The shadow test, compiled: one or two shades over the reference's texture?

The numpy reference (controller.vision.shadow_reference) is the definition; the
wrapper (controller.vision.shadow) checks the arguments and holds the buffers. The
pass per window is C (``shadow_window.h``): gather, numpy's own float32 log of the
ratios (``numpy_log.pxi``), the split and each part's verdict, all the float32
numbers the definition computes, in its order. No Python object is touched inside
the loops.
"""

from libc.stdint cimport uint8_t, uint32_t
from shadow_window cimport (
    SW_SCRATCH_FLOATS,
    SW_SCRATCH_WORDS,
    sw_gather,
    sw_limits,
    sw_limits_of,
    sw_pw_sum,
    sw_pw_sum3,
    sw_sort,
    sw_window,
)

include "numpy_log.pxi"


def scratch_sizes(Py_ssize_t npix):
    """(floats, 32-bit words) of scratch ``shadow_pass`` needs for windows of npix pixels."""
    return 4 * npix + SW_SCRATCH_FLOATS(npix), SW_SCRATCH_WORDS(npix)


def log_f32(const float[::1] x, float[::1] out) -> None:
    """out = numpy's float32 log of x, by the loop the pass calls (held to np.log by the tests)."""
    with nogil:
        _log_f32(&x[0], &out[0], x.shape[0])


def pairwise_sums(const float[:, ::1] rows, float[::1] one, float[::1] three) -> None:
    """Sum each of the three rows by the pass's pairwise sums: one at a time into
    ``one``, all three at once into ``three`` (held to numpy's sums by the tests)."""
    cdef Py_ssize_t n = rows.shape[1], i
    if rows.shape[0] != 3 or one.shape[0] != 3 or three.shape[0] != 3:
        raise ValueError("rows, one, three: expected 3 rows and room for 3 sums")
    with nogil:
        for i in range(3):
            one[i] = sw_pw_sum(&rows[i, 0], n)
        sw_pw_sum3(&rows[0, 0], &rows[1, 0], &rows[2, 0], n, &three[0])


def sort_f32(float[::1] v) -> None:
    """Sort v (no NaN, at most 65536 values) ascending in place by the pass's sort
    (held to np.sort by the tests)."""
    cdef Py_ssize_t n = v.shape[0]
    if n == 0:
        return
    cdef float[::1] spare = np.empty(n, dtype=np.float32)
    cdef uint32_t[::1] keys = np.empty(2 * n, dtype=np.uint32)
    with nogil:
        sw_sort(&v[0], &spare[0], &keys[0], n)


def shadow_ratios(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] ys,
    const Py_ssize_t[::1] xs,
    Py_ssize_t win,
    Py_ssize_t margin,
    float gain,
    float offset,
    float[:, ::1] f,
    float[:, ::1] r,
    float[:, ::1] ratio,
) -> None:
    """Gather each window (the images' edge pixels repeated beyond them) into f and
    the reference times gain plus offset (at least 1) into r; ratio = (f + 2) / (r + 2):
    the pass's first step, as ``shadow_pass`` does it."""
    cdef Py_ssize_t k = ys.shape[0], h = frame.shape[0], w = frame.shape[1], i
    with nogil:
        for i in range(k):
            sw_gather(&frame[0, 0], &reference[0, 0], h, w, ys[i] - margin, xs[i] - margin,
                      win, gain, offset, &f[i, 0], &r[i, 0], &ratio[i, 0])


def shadow_pass(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] ys,
    const Py_ssize_t[::1] xs,
    Py_ssize_t win,
    Py_ssize_t margin,
    float gain,
    float offset,
    Py_ssize_t low,
    float split_gain,
    float factor_min,
    float factor_max,
    float texture2,
    float keep_explained,
    float residual2,
    float spread2,
    bint trim,
    float keep_share,
    float[::1] scratch,
    uint32_t[::1] words,
    uint8_t[::1] member,
    uint8_t[::1] light,
) -> None:
    """Per window at (ys[i] - margin, xs[i] - margin), win x win pixels: split its pixels
    in two by the log ratio where that lowers its spread most, keep one part when that
    gains little, and judge each part (``light[i]`` 1 when every part passes). scratch
    and words hold ``scratch_sizes(win * win)``, member win * win bytes."""
    cdef Py_ssize_t k = ys.shape[0], h = frame.shape[0], w = frame.shape[1], i
    cdef Py_ssize_t npix = win * win
    cdef float* f = &scratch[0]
    cdef float* r = f + npix
    cdef float* ratio = r + npix
    cdef float* q = ratio + npix
    cdef sw_limits s = sw_limits_of(low, split_gain, factor_min, factor_max, texture2,
                                    keep_explained, residual2, spread2, trim, keep_share)
    with nogil:
        for i in range(k):
            sw_gather(&frame[0, 0], &reference[0, 0], h, w, ys[i] - margin, xs[i] - margin,
                      win, gain, offset, f, r, ratio)
            _log_f32(ratio, q, npix)
            light[i] = sw_window(f, r, q, npix, &s, q + npix, &words[0], &member[0])
