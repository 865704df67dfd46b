# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The light-only window test: did only the light change in these cell-sized windows?

The Python wrapper (controller.vision.light_only) validates every argument and
holds the scratch buffer; this module trusts it and touches no Python object
inside the pass. The numpy reference (controller.vision.light_only_reference)
is the definition. Per window of ``win`` x ``win`` pixels at (ys[k], xs[k]) of
the padded frame and the padded reference:

1. The least-squares plane is removed from both (in exact integers, scaled by
   D = win^2 (win^2 - 1)); the misfit is |frame residual - reference residual|.
2. The pixels whose misfit is above the (1 - trim) quantile (numpy's linear
   rule: above sorted[lo], and at least sorted[lo + 1] when the quantile lies
   between them) are left out; on a steady camera only those that are not part
   of a structure ``across`` pixels wide (a grey opening) are.
3. On the pixels kept, a weighted plane (normal matrix + 1e-3 I, design
   [1, x, y]) is removed from each again; covariance, variances, means and
   the residual left after the slope give the verdict (see ``light_windows``).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from shadow_window cimport (
    SW_SCRATCH_FLOATS,
    SW_SCRATCH_WORDS,
    sw_gather,
    sw_limits,
    sw_limits_of,
    sw_window,
)

include "numpy_log.pxi"


cdef extern from "light_window.h":
    ctypedef struct lw_params:
        Py_ssize_t win
        Py_ssize_t margin
        Py_ssize_t lo
        Py_ssize_t across
        int between
        int steady
        double texture_min
        double light_corr
        double light_contrast
        double light_residual
        double gain
        double offset
    Py_ssize_t LW_SCRATCH(Py_ssize_t npix) noexcept nogil
    int lw_window(const uint8_t* frame, const uint8_t* reference, Py_ssize_t h, Py_ssize_t wd,
                  Py_ssize_t y, Py_ssize_t x, const lw_params* s, int64_t* scratch,
                  double* stats) noexcept nogil


def scratch_size(Py_ssize_t win):
    """int64 values of scratch ``light_windows`` and ``cell_windows`` need for win x win windows."""
    return LW_SCRATCH(win * win)


def shadow_scratch_sizes(Py_ssize_t win):
    """(floats, 32-bit words) of scratch ``cell_windows`` needs for win x win shadow windows."""
    return 4 * win * win + SW_SCRATCH_FLOATS(win * win), SW_SCRATCH_WORDS(win * win)


cdef inline lw_params _lw_params(
    Py_ssize_t win,
    Py_ssize_t margin,
    Py_ssize_t lo,
    bint between,
    bint steady,
    Py_ssize_t across,
    double texture_min,
    double light_corr,
    double light_contrast,
    double light_residual,
    double gain,
    double offset,
) noexcept nogil:
    """The light-only test's settings, as ``light_windows`` and ``cell_windows`` take them."""
    cdef lw_params s
    s.win = win
    s.margin = margin
    s.lo = lo
    s.across = across
    s.between = between
    s.steady = steady
    s.texture_min = texture_min
    s.light_corr = light_corr
    s.light_contrast = light_contrast
    s.light_residual = light_residual
    s.gain = gain
    s.offset = offset
    return s


cdef _check_corners(const Py_ssize_t[::1] ys, const Py_ssize_t[::1] xs, Py_ssize_t last_y,
                    Py_ssize_t last_x, Py_ssize_t win, Py_ssize_t pad_w, Py_ssize_t pad_h):
    cdef Py_ssize_t k
    cdef bint bad = False
    if ys.shape[0] != xs.shape[0]:
        raise ValueError(f"ys, xs: shapes ({ys.shape[0]},) and ({xs.shape[0]},) are not one and the same")
    with nogil:
        for k in range(ys.shape[0]):
            if ys[k] < 0 or xs[k] < 0 or ys[k] > last_y or xs[k] > last_x:
                bad = True
                break
    if bad:
        raise ValueError(f"ys, xs: a {win}x{win} window leaves the padded {pad_w}x{pad_h} image")


def light_windows(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] ys,
    const Py_ssize_t[::1] xs,
    Py_ssize_t win,
    Py_ssize_t margin,
    Py_ssize_t lo,
    bint between,
    bint steady,
    Py_ssize_t across,
    double texture_min,
    double light_corr,
    double light_contrast,
    double light_residual,
    double gain,
    double offset,
    int64_t[::1] scratch,
    uint8_t[::1] light,
    double[:, ::1] stats,
):
    """Write per window its verdict into light and (kept, corr, slope, var_r, brighter, left)
    into stats; see the module docstring and ``light_window.h``.

    ``scratch`` holds at least ``scratch_size(win)`` values; ``lo`` and ``between`` give
    the quantile's place: sorted[lo], and whether it lies strictly before sorted[lo + 1].
    The windows lie on the images padded by ``margin`` pixels (edge pixels repeated,
    as far as a window reaches): pixel (y, x) of a window is the images' pixel
    (y - margin, x - margin) brought inside them. With no margin they lie inside.
    """
    cdef Py_ssize_t count = ys.shape[0], k
    cdef Py_ssize_t h = frame.shape[0], wd = frame.shape[1]
    cdef lw_params s = _lw_params(win, margin, lo, between, steady, across, texture_min,
                                   light_corr, light_contrast, light_residual, gain, offset)
    with nogil:
        for k in range(count):
            light[k] = lw_window(&frame[0, 0], &reference[0, 0], h, wd, ys[k], xs[k], &s,
                                 &scratch[0], &stats[k, 0])


def cell_windows(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] ys,
    const Py_ssize_t[::1] xs,
    Py_ssize_t last_y,
    Py_ssize_t last_x,
    Py_ssize_t win,
    Py_ssize_t margin,
    Py_ssize_t lo,
    bint between,
    bint steady,
    Py_ssize_t across,
    double texture_min,
    double light_corr,
    double light_contrast,
    double light_residual,
    double gain,
    double offset,
    Py_ssize_t shadow_win,
    Py_ssize_t shadow_margin,
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
    int64_t[::1] scratch,
    float[::1] shadow_scratch,
    uint32_t[::1] words,
    uint8_t[::1] member,
    uint8_t[::1] light,
):
    """The detector's look at windows (``LightCells.windows``), in one call: per window at
    (ys, xs) of the padded images (corners at most last_y, last_x, else a named error),
    the light-only test; a window it rejects gets the shadow test (``shadow_window.h``)
    on the shadow_win x shadow_win window centred on the window's cell: starting
    shadow_margin pixels above and left of the cell's corner, which is (ys, xs) in the
    images' own coordinates (the window's corner in the padded images is a margin above
    and left of its cell); numpy's own float32 log taken of its ratios.
    light[k] is 1 when either passes. Scratch sizes: ``scratch_size(win)``,
    ``shadow_scratch_sizes(shadow_win)``, member shadow_win^2 bytes."""
    cdef Py_ssize_t count = ys.shape[0], k
    cdef Py_ssize_t h = frame.shape[0], wd = frame.shape[1], npix = shadow_win * shadow_win
    cdef float* f = &shadow_scratch[0]
    cdef float* r = f + npix
    cdef float* ratio = r + npix
    cdef float* q = ratio + npix
    cdef float fgain = <float>gain, foffset = <float>offset
    cdef lw_params s = _lw_params(win, margin, lo, between, steady, across, texture_min,
                                   light_corr, light_contrast, light_residual, gain, offset)
    cdef sw_limits t = sw_limits_of(low, split_gain, factor_min, factor_max, texture2,
                                    keep_explained, residual2, spread2, trim, keep_share)
    cdef int ok
    _check_corners(ys, xs, last_y, last_x, win, last_x + win, last_y + win)
    with nogil:
        for k in range(count):
            ok = lw_window(&frame[0, 0], &reference[0, 0], h, wd, ys[k], xs[k], &s,
                           &scratch[0], NULL)
            if not ok:
                sw_gather(&frame[0, 0], &reference[0, 0], h, wd,
                          ys[k] - shadow_margin, xs[k] - shadow_margin,
                          shadow_win, fgain, foffset, f, r, ratio)
                _log_f32(ratio, q, npix)
                ok = sw_window(f, r, q, npix, &t, q + npix, &words[0], &member[0])
            light[k] = ok


def select_cells(
    const uint8_t[:, ::1] occupied,
    const int32_t[:, ::1] motion_count,
    const uint8_t[:, ::1] outside,
    uint8_t[:, ::1] valid,
    uint8_t[:, ::1] verdict,
    Py_ssize_t r0,
    Py_ssize_t r1,
    Py_ssize_t c0,
    Py_ssize_t c1,
    Py_ssize_t cell,
    Py_ssize_t[::1] ys,
    Py_ssize_t[::1] xs,
):
    """Which cells of the box (r0:r1, c0:c1) need a light-only look this frame; their count.

    An occupied cell none of whose pixels moved, with a verdict kept since the
    reference last changed (``valid``), keeps it; every other cell's verdict is
    dropped. An occupied zone cell (not ``outside``) without a kept verdict is to
    be looked at: its window's corner (row * cell, column * cell) goes into ys, xs
    (room for every cell of the box), row by row. ``valid`` then holds the cells
    kept or looked at. The numpy reference
    (controller.vision.light_only_reference.select_cells_reference) is the definition.
    """
    cdef Py_ssize_t r, c, count = 0
    cdef bint occ, reuse, test
    with nogil:
        for r in range(r0, r1):
            for c in range(c0, c1):
                occ = occupied[r, c] != 0
                reuse = occ and motion_count[r, c] == 0 and valid[r, c] != 0
                if not reuse:
                    verdict[r, c] = 0
                test = occ and outside[r, c] == 0 and not reuse
                valid[r, c] = reuse or test
                if test:
                    ys[count] = r * cell
                    xs[count] = c * cell
                    count += 1
    return count
