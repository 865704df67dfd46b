# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The reference refresh: the frame blended into the empty-lane reference, cell by cell.

In the cells allowed to refresh, each pixel's light-corrected value
(frame - offset) / gain is blended into the float reference with weight alpha,
and its grey copy is rounded (half to even) and clipped; in the cells that
only track drift, a pixel whose corrected value is more than drift_px off is
left alone. Only the touched pixels are written: the grey copy of every other
pixel is already the rounded float one. The Python wrapper
(controller.vision.refresh) checks the arguments; the numpy reference
(controller.vision.refresh_reference) is the definition (float32 sums: the
same to 1e-4 grey levels).
"""

from libc.math cimport fabsf, rintf
from libc.stdint cimport uint8_t


cdef float _ROUND = 12582912.0  # 1.5 * 2^23: adding and taking it away rounds half to even


cdef inline Py_ssize_t _blend_run(
    const uint8_t* f, float* rf, uint8_t* rg, Py_ssize_t n,
    float offset, float gain, float keep, float alpha,
) noexcept nogil:
    """A run of pixels that all refresh: no branch, so the loop vectorises."""
    cdef Py_ssize_t x
    cdef float value
    cdef float m = _ROUND
    for x in range(n):
        value = rf[x] * keep + ((<float>f[x] - offset) / gain) * alpha
        rf[x] = value
        value = value if value > 0.0 else 0.0
        value = value if value < 255.0 else 255.0
        rg[x] = <uint8_t>((value + m) - m)
    return n


def blend_cells(
    const uint8_t[:, ::1] frame,
    float[:, ::1] ref_float,
    uint8_t[:, ::1] reference,
    const uint8_t[:, ::1] cells,
    const uint8_t[:, ::1] drift_only,
    Py_ssize_t cell,
    float offset,
    float gain,
    float alpha,
    float drift_px,
):
    """Blend in place; returns the number of pixels written.

    Row by row: a run of touching cells that all refresh fully is one branch-free
    loop; drift-only cells are taken pixel by pixel.
    """
    cdef Py_ssize_t h = frame.shape[0], w = frame.shape[1]
    cdef Py_ssize_t rows = cells.shape[0], cols = cells.shape[1]
    cdef Py_ssize_t r, c, e, y, x, y1, x0, x1, written = 0
    cdef float keep = <float>(1.0 - <double>alpha), observed, old, value
    cdef const uint8_t* f
    cdef float* rf
    cdef uint8_t* rg
    with nogil:
        for r in range(rows):
            y1 = (r + 1) * cell
            if y1 > h:
                y1 = h
            for y in range(r * cell, y1):
                f = &frame[y, 0]
                rf = &ref_float[y, 0]
                rg = &reference[y, 0]
                c = 0
                while c < cols:
                    if not cells[r, c]:
                        c += 1
                        continue
                    if not drift_only[r, c]:
                        e = c + 1
                        while e < cols and cells[r, e] and not drift_only[r, e]:
                            e += 1
                        x0 = c * cell
                        x1 = e * cell
                        if x1 > w:
                            x1 = w
                        written += _blend_run(
                            f + x0, rf + x0, rg + x0, x1 - x0, offset, gain, keep, alpha
                        )
                        c = e
                        continue
                    x1 = (c + 1) * cell
                    if x1 > w:
                        x1 = w
                    for x in range(c * cell, x1):
                        observed = (<float>f[x] - offset) / gain
                        old = rf[x]
                        if fabsf(observed - old) > drift_px:
                            continue
                        value = old * keep + observed * alpha
                        rf[x] = value
                        value = rintf(value)
                        if value < 0.0:
                            value = 0.0
                        elif value > 255.0:
                            value = 255.0
                        rg[x] = <uint8_t>value
                        written += 1
                    c += 1
    return written
