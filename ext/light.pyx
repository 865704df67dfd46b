# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The global light fit: the gain and offset that map the reference's cell means onto the frame's.

The Python wrapper (controller.vision.light) validates every argument and holds
the scratch buffer; this module trusts it and touches no Python object inside
the pass. The numpy reference (controller.vision.light_reference) is the
definition:

1. Over the cells selected (believed empty), least squares f = gain * r + offset
   between the reference's cell means r and the frame's f (the frame's cell
   grey sums over the cell areas); a pure gain when r spreads less than
   ``min_spread`` grey levels (a flat picture cannot tell gain from offset).
2. The cells whose residual is more than max(floor, factor * median residual)
   are left out (the median over every k-th selected cell, in row order, k the
   smallest that leaves at most 4096: selecting is the costly part) (a vehicle's shadow, a cell missed by the selection), and the
   fit is made again on the rest when at least ``min_cells`` remain.

Only the cells of a fixed lattice take part: every ``step``-th row and column of
the grid, from the first (the picture's light is smooth; a whole 1280x720 grid
would cost four times as much for the same gain and offset).
"""

from libc.math cimport fabs, sqrt
from libc.stdint cimport int64_t, uint8_t

from kth cimport kth_smallest

cdef enum:
    MEDIAN_CELLS = 4096  # the median residual is taken over at most this many cells


cdef double _median(double* v, Py_ssize_t n) noexcept nogil:
    """numpy's median: the middle value, or the mean of the two middle values."""
    cdef double upper = kth_smallest(v, n, n // 2)
    cdef double lower
    cdef Py_ssize_t i
    if n % 2:
        return upper
    # After selecting n // 2, everything before it is no larger: the largest of those.
    lower = v[0]
    for i in range(1, n // 2):
        if v[i] > lower:
            lower = v[i]
    return 0.5 * (lower + upper)


cdef void _fit(
    const double* r, const double* f, Py_ssize_t n, double min_spread, double* gain, double* offset
) noexcept nogil:
    """Least squares f = gain * r + offset over n cells; gain 1, offset 0 when there are none."""
    cdef Py_ssize_t k
    cdef double sr = 0.0, sf = 0.0, rm, fm, srr = 0.0, srf = 0.0
    if n == 0:
        gain[0] = 1.0
        offset[0] = 0.0
        return
    for k in range(n):
        sr += r[k]
        sf += f[k]
    rm = sr / n
    fm = sf / n
    for k in range(n):
        srr += (r[k] - rm) * (r[k] - rm)
        srf += (r[k] - rm) * (f[k] - fm)
    if sqrt(srr / n) < min_spread:
        srr = 0.0
        srf = 0.0
        for k in range(n):
            srr += r[k] * r[k]
            srf += r[k] * f[k]
        gain[0] = srf / srr if srr > 0.0 else 1.0
        offset[0] = 0.0
    else:
        gain[0] = srf / srr
        offset[0] = fm - gain[0] * rm


def fit_light(
    const int64_t[:, ::1] grey_sum,
    const double[:, ::1] area,
    const double[:, ::1] ref_means,
    const uint8_t[:, ::1] cells,
    double min_spread,
    double floor,
    double factor,
    Py_ssize_t min_cells,
    Py_ssize_t step,
    double[::1] scratch,
    double[::1] out,
):
    """Write (gain, offset, cells used) into out; see the module docstring.

    ``scratch`` holds at least 3 * (number of selected cells) doubles; ``step`` >= 1.
    """
    cdef Py_ssize_t rows = grey_sum.shape[0], cols = grey_sum.shape[1], y, x, k, n = 0, kept
    cdef Py_ssize_t stride
    cdef double gain, offset, limit
    cdef double* r = &scratch[0]
    cdef double* f
    cdef double* residual
    with nogil:
        y = 0
        while y < rows:
            x = 0
            while x < cols:
                if cells[y, x]:
                    n += 1
                x += step
            y += step
        f = r + n
        residual = f + n
        k = 0
        y = 0
        while y < rows:
            x = 0
            while x < cols:
                if cells[y, x]:
                    r[k] = ref_means[y, x]
                    f[k] = grey_sum[y, x] / area[y, x]
                    k += 1
                x += step
            y += step
        _fit(r, f, n, min_spread, &gain, &offset)
        if n > 0:
            for k in range(n):
                residual[k] = fabs(f[k] - (gain * r[k] + offset))
            # The median of at most MEDIAN_CELLS of them, evenly spaced (it reorders its
            # input: the residuals are computed again below).
            stride = (n + MEDIAN_CELLS - 1) // MEDIAN_CELLS
            k = 0
            x = 0
            while x < n:
                residual[k] = residual[x]
                k += 1
                x += stride
            limit = factor * _median(residual, k)
            if limit < floor:
                limit = floor
            kept = 0
            for k in range(n):
                if fabs(f[k] - (gain * r[k] + offset)) <= limit:
                    r[kept] = r[k]
                    f[kept] = f[k]
                    kept += 1
            if kept >= min_cells:
                _fit(r, f, kept, min_spread, &gain, &offset)
                n = kept
    out[0] = gain
    out[1] = offset
    out[2] = n
