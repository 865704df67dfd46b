# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The reference refresh: the frame blended into the empty-lane reference, cell by cell.

In the cells allowed to refresh, each pixel's light-corrected value
(frame - offset) / gain is blended into the float reference with weight alpha,
and its grey copy is rounded (half to even) and clipped; in the cells that
only track drift, a pixel whose corrected value is more than drift_px off is
left alone. Only the touched pixels are written: the grey copy of every other
pixel is already the rounded float one. The run loops are C
(``refresh_simd.h``), baseline and AVX2, picked from the CPU at import
(``set_simd_level`` caps it for the tests). The Python wrapper
(controller.vision.refresh) checks the arguments; the numpy reference
(controller.vision.refresh_reference) is the definition (float32 sums: the
same to 1e-4 grey levels).
"""

from libc.stdint cimport uint8_t


cdef extern from "refresh_simd.h":
    int RF_LEVEL_PORTABLE
    int rf_cpu_level() noexcept nogil
    Py_ssize_t rf_blend(
        const uint8_t* f, float* rf, uint8_t* rg, Py_ssize_t n,
        const float* weighted, float keep, int level,
    ) noexcept nogil
    Py_ssize_t rf_drift(
        const uint8_t* f, float* rf, uint8_t* rg, Py_ssize_t n,
        const float* corrected, const float* weighted, float keep, float drift_px, int level,
    ) noexcept nogil


cdef int _cpu_level = rf_cpu_level()
cdef int _level = _cpu_level


def simd_level():
    """The run loops in use: 0 portable, 1 AVX2."""
    return _level


def cpu_simd_level():
    """The best run loops this CPU supports."""
    return _cpu_level


def set_simd_level(int level):
    """Use at most ``level`` (clamped to what the CPU supports); returns the level now in use."""
    global _level
    _level = max(RF_LEVEL_PORTABLE, min(level, _cpu_level))
    return _level


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
    loop, and so is a run of touching drift-only cells.
    """
    cdef Py_ssize_t h = frame.shape[0], w = frame.shape[1]
    cdef Py_ssize_t rows = cells.shape[0], cols = cells.shape[1]
    cdef Py_ssize_t r, c, e, y, x, y1, x0, x1, written = 0
    cdef float keep = <float>(1.0 - <double>alpha)
    # A grey level's corrected value, and that times alpha: 256 of each, computed
    # once with the same float operations a pixel would take, not once per pixel.
    cdef float corrected[256]
    cdef float weighted[256]
    cdef int g, level = _level
    for g in range(256):
        corrected[g] = (<float>g - offset) / gain
        weighted[g] = corrected[g] * alpha
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
                        written += rf_blend(
                            f + x0, rf + x0, rg + x0, x1 - x0, weighted, keep, level
                        )
                        c = e
                        continue
                    e = c + 1
                    while e < cols and cells[r, e] and drift_only[r, e]:
                        e += 1
                    x0 = c * cell
                    x1 = e * cell
                    if x1 > w:
                        x1 = w
                    written += rf_drift(
                        f + x0, rf + x0, rg + x0, x1 - x0, corrected, weighted, keep, drift_px,
                        level,
                    )
                    c = e
    return written
