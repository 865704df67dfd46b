# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Undoing the camera's sway: the frame moved by a subpixel shift, bilinear, edges repeated.

out(y, x) = src(y + dy, x + dx), sampled bilinearly with the shift's fraction
in Q8 fixed point, the frame's edge pixels repeated beyond it. The Python
wrapper (controller.vision.warp) checks the arguments and splits the shift
into whole pixels and Q8 fractions; this pass trusts it and touches no Python
object. The numpy reference (controller.vision.warp_reference) is the
definition, to the bit.
"""

from libc.stdint cimport uint8_t, uint32_t


cdef inline Py_ssize_t _clamp(Py_ssize_t v, Py_ssize_t hi) noexcept nogil:
    if v < 0:
        return 0
    if v > hi:
        return hi
    return v


def shift_bilinear(
    const uint8_t[:, ::1] src,
    uint8_t[:, ::1] out,
    Py_ssize_t ix,
    Py_ssize_t iy,
    unsigned int fx,
    unsigned int fy,
):
    """Write src moved by (ix + fx / 256, iy + fy / 256) pixels into out (same shape)."""
    cdef Py_ssize_t h = src.shape[0], w = src.shape[1], y, x, x0, x1, xa, xb
    cdef uint32_t w00 = (256 - fx) * (256 - fy), w01 = fx * (256 - fy)
    cdef uint32_t w10 = (256 - fx) * fy, w11 = fx * fy
    cdef const uint8_t* a
    cdef const uint8_t* b
    cdef uint8_t* o
    # Columns whose two source columns both lie inside the frame.
    xa = _clamp(-ix, w)
    xb = _clamp(w - 1 - ix, w)
    if xb < xa:
        xb = xa
    with nogil:
        for y in range(h):
            a = &src[_clamp(y + iy, h - 1), 0]
            b = &src[_clamp(y + iy + 1, h - 1), 0]
            o = &out[y, 0]
            for x in range(xa):
                x0 = _clamp(x + ix, w - 1)
                x1 = _clamp(x + ix + 1, w - 1)
                o[x] = <uint8_t>(
                    (w00 * a[x0] + w01 * a[x1] + w10 * b[x0] + w11 * b[x1] + 32768) >> 16
                )
            for x in range(xa, xb):
                o[x] = <uint8_t>(
                    (w00 * a[x + ix] + w01 * a[x + ix + 1]
                     + w10 * b[x + ix] + w11 * b[x + ix + 1] + 32768) >> 16
                )
            for x in range(xb, w):
                x0 = _clamp(x + ix, w - 1)
                x1 = _clamp(x + ix + 1, w - 1)
                o[x] = <uint8_t>(
                    (w00 * a[x0] + w01 * a[x1] + w10 * b[x0] + w11 * b[x1] + 32768) >> 16
                )
