# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Undoing the camera's sway: the frame moved by a subpixel shift, bilinear, edges repeated.

out(y, x) = src(y + dy, x + dx), sampled bilinearly with the shift's fraction
in Q8 fixed point, the frame's edge pixels repeated beyond it. It is computed
down, then across: the two source rows blended into a row of 16-bit sums (each
fits: 255 * 256), then the two columns of that with 16 x 16 -> 32-bit products,
rounded once, so the result is the four-tap sum's to the bit. The row loops
are C (``warp_simd.h``), compiled for the baseline instruction set and for
AVX2 and picked from the CPU at import; ``set_simd_level`` caps the level so
the tests hold both to the reference. The Python
wrapper (controller.vision.warp) checks the arguments and splits the shift
into whole pixels and Q8 fractions; this pass trusts it and touches no Python
object. The numpy reference (controller.vision.warp_reference) is the
definition, to the bit.
"""

from libc.stdint cimport uint8_t, uint16_t
from libc.stdlib cimport free, malloc


cdef extern from "warp_simd.h":
    int WP_LEVEL_PORTABLE
    int wp_cpu_level() noexcept nogil
    void wp_shift(
        const uint8_t* src,
        uint8_t* out,
        uint16_t* t,
        Py_ssize_t h,
        Py_ssize_t w,
        Py_ssize_t ix,
        Py_ssize_t iy,
        unsigned int fx,
        unsigned int fy,
        int level,
    ) noexcept nogil


cdef int _cpu_level = wp_cpu_level()
cdef int _level = _cpu_level


def simd_level():
    """The row pass in use: 0 portable, 1 AVX2."""
    return _level


def cpu_simd_level():
    """The best row pass this CPU supports."""
    return _cpu_level


def set_simd_level(int level):
    """Use at most ``level`` (clamped to what the CPU supports); returns the level now in use."""
    global _level
    _level = max(WP_LEVEL_PORTABLE, min(level, _cpu_level))
    return _level


def shift_bilinear(
    const uint8_t[:, ::1] src,
    uint8_t[:, ::1] out,
    Py_ssize_t ix,
    Py_ssize_t iy,
    unsigned int fx,
    unsigned int fy,
):
    """Write src moved by (ix + fx / 256, iy + fy / 256) pixels into out (same shape)."""
    cdef Py_ssize_t h = src.shape[0], w = src.shape[1]
    cdef int level = _level
    cdef uint16_t* t = <uint16_t*>malloc((w + 1) * sizeof(uint16_t))
    if t == NULL:
        raise MemoryError("warp: no memory for one row")
    with nogil:
        wp_shift(&src[0, 0], &out[0, 0], t, h, w, ix, iy, fx, fy, level)
    free(t)
