# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Undoing the camera's sway: the frame moved by a subpixel shift, bilinear, edges repeated.

out(y, x) = src(y + dy, x + dx), sampled bilinearly with the shift's fraction
in Q8 fixed point, the frame's edge pixels repeated beyond it. It is computed
down, then across: the two source rows blended into a row of 16-bit sums (each
fits: 255 * 256), then the two columns of that with 16 x 16 -> 32-bit products,
rounded once, so the result is the four-tap sum's to the bit and both loops
vectorise with the baseline instruction set. The Python
wrapper (controller.vision.warp) checks the arguments and splits the shift
into whole pixels and Q8 fractions; this pass trusts it and touches no Python
object. The numpy reference (controller.vision.warp_reference) is the
definition, to the bit.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.stdlib cimport free, malloc


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
    cdef uint16_t gy = fy, hy = 256 - fy, gx = fx, hx = 256 - fx
    cdef const uint8_t* a
    cdef const uint8_t* b
    cdef uint8_t* o
    cdef uint16_t* t = <uint16_t*>malloc((w + 1) * sizeof(uint16_t))
    if t == NULL:
        raise MemoryError("warp: no memory for one row")
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
            # Down, then across; the same sum as the four taps, rounded once.
            for x in range(w):
                t[x] = <uint16_t>(<uint16_t>a[x] * hy + <uint16_t>b[x] * gy)
            for x in range(xa):
                x0 = _clamp(x + ix, w - 1)
                x1 = _clamp(x + ix + 1, w - 1)
                o[x] = <uint8_t>((<uint32_t>t[x0] * hx + <uint32_t>t[x1] * gx + 32768) >> 16)
            for x in range(xa, xb):
                o[x] = <uint8_t>(
                    (<uint32_t>t[x + ix] * hx + <uint32_t>t[x + ix + 1] * gx + 32768) >> 16
                )
            for x in range(xb, w):
                x0 = _clamp(x + ix, w - 1)
                x1 = _clamp(x + ix + 1, w - 1)
                o[x] = <uint8_t>((<uint32_t>t[x0] * hx + <uint32_t>t[x1] * gx + 32768) >> 16)
    free(t)
