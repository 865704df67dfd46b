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

from libc.math cimport sqrt
from libc.stdint cimport int32_t, int64_t, uint8_t

from kth cimport kth_smallest


cdef void _solve3(double* a, double* b, double* x) noexcept nogil:
    """x with a x = b for a symmetric 3x3 a (row-major), by Cramer's rule."""
    cdef double det = (
        a[0] * (a[4] * a[8] - a[5] * a[7])
        - a[1] * (a[3] * a[8] - a[5] * a[6])
        + a[2] * (a[3] * a[7] - a[4] * a[6])
    )
    x[0] = (
        b[0] * (a[4] * a[8] - a[5] * a[7])
        - a[1] * (b[1] * a[8] - a[5] * b[2])
        + a[2] * (b[1] * a[7] - a[4] * b[2])
    ) / det
    x[1] = (
        a[0] * (b[1] * a[8] - a[5] * b[2])
        - b[0] * (a[3] * a[8] - a[5] * a[6])
        + a[2] * (a[3] * b[2] - b[1] * a[6])
    ) / det
    x[2] = (
        a[0] * (a[4] * b[2] - b[1] * a[7])
        - a[1] * (a[3] * b[2] - b[1] * a[6])
        + b[0] * (a[3] * a[7] - a[4] * a[6])
    ) / det


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
    into stats; see the module docstring.

    ``scratch`` holds at least 7 * win * win values; ``lo`` and ``between`` give the
    quantile's place: sorted[lo], and whether it lies strictly before sorted[lo + 1].
    The windows lie on the images padded by ``margin`` pixels (edge pixels repeated,
    as far as a window reaches): pixel (y, x) of a window is the images' pixel
    (y - margin, x - margin) brought inside them. With no margin they lie inside.
    """
    cdef Py_ssize_t count = ys.shape[0], k, i, j, p, q, di, dj, m, npix = win * win
    cdef int64_t* fv = &scratch[0]
    cdef int64_t* rv = fv + npix
    cdef int64_t* mis = rv + npix
    cdef int64_t* tmp = mis + npix
    cdef int64_t* eroded = tmp + npix
    cdef int64_t* opened = eroded + npix
    cdef int64_t* keep = opened + npix
    cdef int64_t d = npix * (npix - 1), sf, sr, sxf, syf, sxr, syr, cx, cy, a, b, e, res_f, res_r
    cdef Py_ssize_t y0, x0
    cdef double nrm[9]
    cdef double rhs_f[3]
    cdef double rhs_r[3]
    cdef double bf[3]
    cdef double br[3]
    cdef double n, cov, var_r, var_f, mean_f, mean_r, fk, rk, corr, slope, brighter, left
    cdef double x, y, w
    cdef bint ok
    cdef Py_ssize_t h = frame.shape[0], wd = frame.shape[1], fy, fx
    with nogil:
        for k in range(count):
            y0 = ys[k] - margin
            x0 = xs[k] - margin
            if y0 >= 0 and x0 >= 0 and y0 + win <= h and x0 + win <= wd:
                for i in range(win):
                    for j in range(win):
                        fv[i * win + j] = frame[y0 + i, x0 + j]
                        rv[i * win + j] = reference[y0 + i, x0 + j]
            else:
                for i in range(win):
                    fy = y0 + i
                    fy = 0 if fy < 0 else (h - 1 if fy >= h else fy)
                    for j in range(win):
                        fx = x0 + j
                        fx = 0 if fx < 0 else (wd - 1 if fx >= wd else fx)
                        fv[i * win + j] = frame[fy, fx]
                        rv[i * win + j] = reference[fy, fx]
            sf = sr = sxf = syf = sxr = syr = 0
            for i in range(win):
                cy = 2 * i - (win - 1)
                for j in range(win):
                    cx = 2 * j - (win - 1)
                    p = i * win + j
                    sf += fv[p]
                    sr += rv[p]
                    sxf += cx * fv[p]
                    syf += cy * fv[p]
                    sxr += cx * rv[p]
                    syr += cy * rv[p]
            for i in range(win):
                cy = 2 * i - (win - 1)
                for j in range(win):
                    cx = 2 * j - (win - 1)
                    p = i * win + j
                    res_f = d * fv[p] - (npix - 1) * sf - 3 * cx * sxf - 3 * cy * syf
                    res_r = d * rv[p] - (npix - 1) * sr - 3 * cx * sxr - 3 * cy * syr
                    mis[p] = res_f - res_r if res_f >= res_r else res_r - res_f
                    tmp[p] = mis[p]
            a = kth_smallest(tmp, npix, lo)
            b = a
            if between:
                b = tmp[lo + 1]
                for p in range(lo + 2, npix):
                    if tmp[p] < b:
                        b = tmp[p]
            for p in range(npix):
                if between:
                    keep[p] = not (mis[p] > a and mis[p] >= b)
                else:
                    keep[p] = not (mis[p] > a)
            if steady:
                # Grey opening with an across x across square: what survives at half
                # its misfit or more is part of a structure that wide, and is kept
                # (only thinner lines, a boom or a cable, are left out).
                # Both steps one axis at a time (a square's min or max is the min or max
                # of its rows'), in ``tmp``, free once the quantile is known.
                m = win - across + 1
                for p in range(npix):
                    opened[p] = 0
                if m > 0:
                    # Erosion: eroded[i, j] = min of mis over the square at (i, j).
                    for i in range(win):
                        for j in range(m):
                            e = mis[i * win + j]
                            for dj in range(1, across):
                                if mis[i * win + j + dj] < e:
                                    e = mis[i * win + j + dj]
                            tmp[i * m + j] = e
                    for i in range(m):
                        for j in range(m):
                            e = tmp[i * m + j]
                            for di in range(1, across):
                                if tmp[(i + di) * m + j] < e:
                                    e = tmp[(i + di) * m + j]
                            eroded[i * m + j] = e
                    # Dilation: opened[y, x] = max of eroded over the squares holding
                    # (y, x) (misfits are not negative: 0 where none does).
                    for i in range(m):
                        for q in range(win):
                            e = 0
                            for j in range(q - across + 1 if q >= across - 1 else 0,
                                           q + 1 if q < m else m):
                                if eroded[i * m + j] > e:
                                    e = eroded[i * m + j]
                            tmp[i * win + q] = e
                    for p in range(win):
                        for q in range(win):
                            e = 0
                            for i in range(p - across + 1 if p >= across - 1 else 0,
                                           p + 1 if p < m else m):
                                if tmp[i * win + q] > e:
                                    e = tmp[i * win + q]
                            opened[p * win + q] = e
                for p in range(npix):
                    if not keep[p] and 2 * opened[p] >= mis[p]:
                        keep[p] = 1
            for p in range(9):
                nrm[p] = 0.0
            for p in range(3):
                rhs_f[p] = 0.0
                rhs_r[p] = 0.0
            n = 0.0
            for i in range(win):
                y = i
                for j in range(win):
                    p = i * win + j
                    if not keep[p]:
                        continue
                    x = j
                    n += 1.0
                    nrm[1] += x
                    nrm[2] += y
                    nrm[4] += x * x
                    nrm[5] += x * y
                    nrm[8] += y * y
                    rhs_f[0] += fv[p]
                    rhs_f[1] += x * fv[p]
                    rhs_f[2] += y * fv[p]
                    rhs_r[0] += rv[p]
                    rhs_r[1] += x * rv[p]
                    rhs_r[2] += y * rv[p]
            nrm[0] = n + 1e-3
            nrm[4] += 1e-3
            nrm[8] += 1e-3
            nrm[3] = nrm[1]
            nrm[6] = nrm[2]
            nrm[7] = nrm[5]
            _solve3(nrm, rhs_f, bf)
            _solve3(nrm, rhs_r, br)
            cov = var_r = var_f = mean_f = mean_r = 0.0
            for i in range(win):
                y = i
                for j in range(win):
                    p = i * win + j
                    if not keep[p]:
                        continue
                    x = j
                    fk = fv[p] - (bf[0] + bf[1] * x + bf[2] * y)
                    rk = rv[p] - (br[0] + br[1] * x + br[2] * y)
                    cov += fk * rk
                    var_r += rk * rk
                    var_f += fk * fk
                    mean_f += fv[p]
                    mean_r += rv[p]
            w = n if n > 1.0 else 1.0
            cov /= w
            var_r /= w
            var_f /= w
            mean_f /= w
            mean_r = mean_r / w * gain + offset
            corr = cov / sqrt(var_r * var_f if var_r * var_f > 1e-6 else 1e-6)
            slope = cov / (var_r if var_r > 1e-6 else 1e-6)
            brighter = mean_f / (mean_r if mean_r > 1.0 else 1.0)
            ok = (
                var_r >= texture_min * texture_min
                and corr >= light_corr
                and slope >= 0.2
                and slope <= 5.0
                and slope / gain <= light_contrast * (brighter if brighter > 1e-3 else 1e-3)
            )
            left = 0.0
            if steady:
                for i in range(win):
                    y = i
                    for j in range(win):
                        p = i * win + j
                        if not keep[p]:
                            continue
                        x = j
                        fk = fv[p] - (bf[0] + bf[1] * x + bf[2] * y)
                        rk = rv[p] - (br[0] + br[1] * x + br[2] * y)
                        left += (fk - slope * rk) * (fk - slope * rk)
                left = sqrt(left / w)
                ok = ok and left <= light_residual
            light[k] = ok
            stats[k, 0] = n
            stats[k, 1] = corr
            stats[k, 2] = slope
            stats[k, 3] = var_r
            stats[k, 4] = brighter
            stats[k, 5] = left


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
