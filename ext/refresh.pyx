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
    """Blend in place; returns the number of pixels written."""
    cdef Py_ssize_t h = frame.shape[0], w = frame.shape[1]
    cdef Py_ssize_t rows = cells.shape[0], cols = cells.shape[1]
    cdef Py_ssize_t r, c, y, x, y1, x1, written = 0
    cdef float keep = <float>(1.0 - <double>alpha), observed, old, value
    cdef bint drift
    with nogil:
        for r in range(rows):
            y1 = (r + 1) * cell
            if y1 > h:
                y1 = h
            for c in range(cols):
                if not cells[r, c]:
                    continue
                drift = drift_only[r, c] != 0
                x1 = (c + 1) * cell
                if x1 > w:
                    x1 = w
                for y in range(r * cell, y1):
                    for x in range(c * cell, x1):
                        observed = (<float>frame[y, x] - offset) / gain
                        old = ref_float[y, x]
                        if drift and fabsf(observed - old) > drift_px:
                            continue
                        value = old * keep + observed * alpha
                        ref_float[y, x] = value
                        value = rintf(value)
                        if value < 0.0:
                            value = 0.0
                        elif value > 255.0:
                            value = 255.0
                        reference[y, x] = <uint8_t>value
                        written += 1
    return written
