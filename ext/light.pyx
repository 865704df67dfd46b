# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The global light fit: the gain and offset that map the reference's cell means onto the frame's.

The Python wrapper (controller.vision.light) validates every argument and holds
the scratch buffer; this module trusts it and touches no Python object inside
the pass. The numpy reference (controller.vision.light_reference) is the
definition:

1. The start is a pure gain: the median of frame / reference over every k-th selected
   cell (in row order, k the smallest that leaves at most 4096: selecting is the costly
   part), the cells whose reference mean is under 1 left out. A median is not dragged by
   a shadow or bodies over a large part (under half) of the cells, where a least-squares
   start is, so far that the trimming that follows kept the wrong cells.
2. Twice: the cells whose residual is more than max(floor, factor * median residual)
   (the median over the same every k-th cell) are left out (a vehicle, its shadow, a
   cell missed by the selection), and least squares f = gain * r + offset is fitted on
   the rest between the reference's cell means r and the frame's f (the frame's cell
   grey sums over the cell areas), when at least ``min_cells`` remain; a pure gain when
   r spreads less than ``min_spread`` grey levels (a flat picture cannot tell gain from
   offset). When the first round keeps too few, least squares over every cell.

Only the cells of a fixed lattice take part: every ``step``-th row and column of
the grid, from the first (the picture's light is smooth; a whole 1280x720 grid
would cost four times as much for the same gain and offset).
"""

from libc.math cimport INFINITY, fabs, sqrt
from libc.stdint cimport int64_t, uint8_t


cdef enum:
    MEDIAN_CELLS = 4096  # the medians are taken over at most this many cells
    ROUNDS = 2  # rounds of trimming and fitting again

cdef double MIN_RATIO_REF = 1.0  # reference means under this take no part in the start


cdef enum:
    SAMPLE = 256  # values sampled to bracket the median (``_median``)
    SAMPLE_REACH = 16  # the bracket: this many sampled ranks on either side of the middle
    SMALL = 1024  # under this many values, quickselect on them all


cdef double _select(double* v, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """The k-th smallest of v[0:n] (0 <= k < n, no NaN), v reordered so that v[:k] are no
    larger and v[k + 1:] no smaller.

    Quickselect whose partitions take no branch on the data (a value's side only moves
    an index), so fresh data each frame costs no mispredicted branches: the values under
    the pivot (a median of three) are gathered at the front, then those equal to it, so
    runs of equal values (residuals often repeat) cannot make it quadratic. Short ranges
    are finished by insertion sort.
    """
    cdef Py_ssize_t lo = 0, hi = n, i, j, e
    cdef double a, b, c, pivot, t
    while hi - lo > 16:
        a = v[lo]
        b = v[lo + (hi - lo) // 2]
        c = v[hi - 1]
        # The median of a, b and c.
        pivot = max(min(a, b), min(max(a, b), c))
        i = lo
        for j in range(lo, hi):
            t = v[j]
            v[j] = v[i]
            v[i] = t
            i += t < pivot
        if k < i:
            hi = i
            continue
        e = i
        for j in range(i, hi):
            t = v[j]
            v[j] = v[e]
            v[e] = t
            e += t <= pivot
        if k < e:
            return pivot
        lo = e
    for i in range(lo + 1, hi):
        t = v[i]
        j = i
        while j > lo and v[j - 1] > t:
            v[j] = v[j - 1]
            j -= 1
        v[j] = t
    return v[k]


cdef double _median_all(double* v, Py_ssize_t n) noexcept nogil:
    """numpy's median by quickselect on all of v (reordered)."""
    cdef double upper = _select(v, n, n // 2)
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


cdef double _median(double* v, Py_ssize_t n, double* buf) noexcept nogil:
    """numpy's median of v[0:n] (n >= 1, no NaN): the middle value, or the mean of the two
    middle values. The same value ``_median_all`` gives, found faster on large n.

    A sample of SAMPLE values at even spacing brackets the middle between two of its
    values, lo and hi; one branch-free pass counts the values under lo and copies those
    in [lo, hi] into buf (n doubles); the middle ranks are then selected among the few in
    buf (the largest value under lo is looked for only when it is one of them). The k-th smallest value is one number however
    it is found, so the answer is exact; when the bracket missed the middle (a rare
    sample), quickselect on all of v (reordered only then) gives it.
    """
    cdef Py_ssize_t k = n // 2, i, m = 0, below = 0, j, lo_rank, hi_rank
    cdef double lo, hi, x, upper, lower, max_below = -INFINITY
    cdef double sample[SAMPLE]
    cdef int inside, under
    if n < SMALL:
        return _median_all(v, n)
    for i in range(SAMPLE):
        sample[i] = v[(i * n) // SAMPLE]
    j = (k * SAMPLE) // n
    lo_rank = j - SAMPLE_REACH if j >= SAMPLE_REACH else 0
    hi_rank = j + SAMPLE_REACH if j + SAMPLE_REACH < SAMPLE else SAMPLE - 1
    hi = _select(&sample[0], SAMPLE, hi_rank)
    # sample[:hi_rank] now holds the values no larger than hi.
    lo = _select(&sample[0], hi_rank, lo_rank) if lo_rank < hi_rank else hi
    for i in range(n):
        x = v[i]
        inside = (x >= lo) & (x <= hi)
        under = x < lo
        buf[m] = x
        m += inside
        below += under
    if not (below <= k < below + m):
        return _median_all(v, n)
    j = k - below
    upper = _select(buf, m, j)
    if n % 2:
        return upper
    # The value ranked just under the middle: the largest of buf[:j] (every value under
    # lo is smaller still), or the largest under lo when the middle is buf's smallest.
    if j == 0:
        for i in range(n):
            x = v[i]
            if x < lo and x > max_below:
                max_below = x
        lower = max_below
    else:
        lower = buf[0]
        for i in range(1, j):
            if buf[i] > lower:
                lower = buf[i]
    return 0.5 * (lower + upper)


def median(double[::1] values, double[::1] scratch):
    """``_median`` of values (not changed) for the tests: np.median to the bit.

    ``scratch`` holds at least 2 * len(values) doubles.
    """
    cdef Py_ssize_t n = values.shape[0], i
    cdef double* v = &scratch[0]
    cdef double answer
    if n < 1:
        raise ValueError("values: the median of nothing")
    if scratch.shape[0] < 2 * n:
        raise ValueError(f"scratch: {scratch.shape[0]} doubles, 2 * {n} needed")
    with nogil:
        for i in range(n):
            v[i] = values[i]
        answer = _median(v, n, v + n)
    return answer


cdef Py_ssize_t _fit(
    const double* r,
    const double* f,
    Py_ssize_t n,
    double min_spread,
    double start_gain,
    double start_offset,
    double limit,
    Py_ssize_t min_cells,
    double* gain,
    double* offset,
) noexcept nogil:
    """Least squares f = gain * r + offset over the cells within ``limit`` of the start
    (every cell for an infinite limit); the number of those cells. Under ``min_cells``
    of them, gain and offset are left as they are; gain 1, offset 0 when there are none."""
    cdef Py_ssize_t k, m = 0
    cdef double sr = 0.0, sf = 0.0, rm, fm, srr = 0.0, srf = 0.0
    for k in range(n):
        if fabs(f[k] - (start_gain * r[k] + start_offset)) <= limit:
            sr += r[k]
            sf += f[k]
            m += 1
    if m < min_cells:
        return m
    if m == 0:
        gain[0] = 1.0
        offset[0] = 0.0
        return 0
    rm = sr / m
    fm = sf / m
    for k in range(n):
        if fabs(f[k] - (start_gain * r[k] + start_offset)) <= limit:
            srr += (r[k] - rm) * (r[k] - rm)
            srf += (r[k] - rm) * (f[k] - fm)
    if sqrt(srr / m) < min_spread:
        srr = 0.0
        srf = 0.0
        for k in range(n):
            if fabs(f[k] - (start_gain * r[k] + start_offset)) <= limit:
                srr += r[k] * r[k]
                srf += r[k] * f[k]
        gain[0] = srf / srr if srr > 0.0 else 1.0
        offset[0] = 0.0
    else:
        gain[0] = srf / srr
        offset[0] = fm - gain[0] * rm
    return m


cdef void _fit_light(
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
) noexcept nogil:
    """``fit_light``'s pass (also ``LightPass.run``'s)."""
    cdef Py_ssize_t rows = grey_sum.shape[0], cols = grey_sum.shape[1], y, x, k, n = 0, kept, used, rnd
    cdef Py_ssize_t stride
    # Room for every lattice cell in each of the four runs of scratch: the selected
    # cells are gathered in one pass, without counting them first.
    cdef Py_ssize_t lattice = ((rows + step - 1) // step) * ((cols + step - 1) // step)
    cdef double gain, offset, limit
    cdef double* r = &scratch[0]
    cdef double* f = r + lattice
    cdef double* residual = f + lattice
    cdef double* buf = residual + lattice
    y = 0
    while y < rows:
        x = 0
        while x < cols:
            if cells[y, x]:
                r[n] = ref_means[y, x]
                f[n] = grey_sum[y, x] / area[y, x]
                n += 1
            x += step
        y += step
    gain = 1.0
    offset = 0.0
    used = 0
    if n > 0:
        stride = (n + MEDIAN_CELLS - 1) // MEDIAN_CELLS
        # The start: the median ratio over every stride-th cell.
        k = 0
        x = 0
        while x < n:
            if r[x] >= MIN_RATIO_REF:
                residual[k] = f[x] / r[x]
                k += 1
            x += stride
        if k > 0:
            gain = _median(residual, k, buf)
        for rnd in range(ROUNDS):
            # The median residual of every stride-th cell (it reorders its input).
            k = 0
            x = 0
            while x < n:
                residual[k] = fabs(f[x] - (gain * r[x] + offset))
                k += 1
                x += stride
            limit = factor * _median(residual, k, buf)
            if limit < floor:
                limit = floor
            kept = _fit(r, f, n, min_spread, gain, offset, limit, min_cells, &gain, &offset)
            if kept < min_cells:
                break
            used = kept
        if used == 0:
            used = _fit(r, f, n, min_spread, 1.0, 0.0, INFINITY, 0, &gain, &offset)
    out[0] = gain
    out[1] = offset
    out[2] = used


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

    ``scratch`` holds at least 4 * (cells of the lattice) doubles; ``step`` >= 1.
    """
    with nogil:
        _fit_light(
            grey_sum, area, ref_means, cells, min_spread, floor, factor, min_cells, step,
            scratch, out,
        )


cdef class LightPass:
    """``fit_light`` with the fit's settings, lattice step and buffers taken in once (the
    wrapper, ``light.LightFit``, checks them): per frame only the four grids are passed
    and (gain, offset) comes back as a tuple. The same pass as ``fit_light``."""

    cdef double min_spread, floor, factor
    cdef Py_ssize_t min_cells, step
    cdef double[::1] scratch
    cdef double[::1] out

    def __init__(
        self,
        double min_spread,
        double floor,
        double factor,
        Py_ssize_t min_cells,
        Py_ssize_t step,
        double[::1] scratch,
        double[::1] out,
    ):
        self.min_spread = min_spread
        self.floor = floor
        self.factor = factor
        self.min_cells = min_cells
        self.step = step
        self.scratch = scratch
        self.out = out

    def run(
        self,
        const int64_t[:, ::1] grey_sum,
        const double[:, ::1] area,
        const double[:, ::1] ref_means,
        const uint8_t[:, ::1] cells,
    ):
        """``fit_light`` on these grids: (gain, offset)."""
        with nogil:
            _fit_light(
                grey_sum, area, ref_means, cells, self.min_spread, self.floor, self.factor,
                self.min_cells, self.step, self.scratch, self.out,
            )
        return (self.out[0], self.out[1])
