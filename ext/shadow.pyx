# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The shadow test, compiled: one or two shades over the reference's texture?

The numpy reference (controller.vision.shadow_reference) is the definition; the
wrapper (controller.vision.shadow) checks the arguments, holds the buffers and
takes the log of the ratios with numpy's own float32 log between the two
passes here, so both compute the same float32 numbers: every sum below is
numpy's pairwise sum (``_pw_sum``) over the whole window with zeros for the
pixels a part leaves out, every cumulative sum runs in order, and every
constant is a float32, as numpy casts a Python float next to a float32 array.
No Python object is touched inside the loops.
"""

from libc.math cimport INFINITY, fabsf, floorf, isnan
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy, memset


cdef float _pw_sum(const float* a, Py_ssize_t n) noexcept nogil:
    """numpy's float32 pairwise sum (8 accumulators, blocks of at most 128): the
    same float32 result as ``a.sum()`` in numpy, bit for bit."""
    cdef float res, r0, r1, r2, r3, r4, r5, r6, r7
    cdef Py_ssize_t i, n2
    if n < 8:
        res = 0
        for i in range(n):
            res = res + a[i]
        return res
    if n <= 128:
        r0 = a[0]
        r1 = a[1]
        r2 = a[2]
        r3 = a[3]
        r4 = a[4]
        r5 = a[5]
        r6 = a[6]
        r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 = r0 + a[i]
            r1 = r1 + a[i + 1]
            r2 = r2 + a[i + 2]
            r3 = r3 + a[i + 3]
            r4 = r4 + a[i + 4]
            r5 = r5 + a[i + 5]
            r6 = r6 + a[i + 6]
            r7 = r7 + a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res = res + a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pw_sum(a, n2) + _pw_sum(a + n2, n - n2)


cdef void _sort(float* v, uint32_t* keys, uint32_t* spare, Py_ssize_t n) noexcept nogil:
    """Ascending sort of v[0:n] in place, by LSD radix sort on the floats' bits made
    unsigned-ordered (no NaN comes here; the only zero is +0): four passes of a byte,
    those where every key has the same byte skipped. No comparison branches, which on
    a window's few hundred noisy values cost a quicksort most of its time."""
    cdef uint32_t counts[4][256]
    cdef uint32_t bits, start, c
    cdef uint32_t* src = keys
    cdef uint32_t* dst = spare
    cdef uint32_t* t
    cdef Py_ssize_t i, b, shift
    memset(&counts[0][0], 0, sizeof(counts))
    for i in range(n):
        memcpy(&bits, &v[i], 4)
        if bits & 0x80000000u:
            bits = ~bits
        else:
            bits = bits | 0x80000000u
        src[i] = bits
        counts[0][bits & 0xFF] += 1
        counts[1][(bits >> 8) & 0xFF] += 1
        counts[2][(bits >> 16) & 0xFF] += 1
        counts[3][bits >> 24] += 1
    for b in range(4):
        shift = 8 * b
        if counts[b][(src[0] >> shift) & 0xFF] == <uint32_t>n:
            continue
        start = 0
        for i in range(256):
            c = counts[b][i]
            counts[b][i] = start
            start += c
        for i in range(n):
            bits = src[i]
            c = (bits >> shift) & 0xFF
            dst[counts[b][c]] = bits
            counts[b][c] += 1
        t = src
        src = dst
        dst = t
    for i in range(n):
        bits = src[i]
        if bits & 0x80000000u:
            bits = bits & 0x7FFFFFFFu
        else:
            bits = ~bits
        memcpy(&v[i], &bits, 4)


cdef float _kth_largest(const float* v, const uint8_t* member, Py_ssize_t n, Py_ssize_t t, float* top) noexcept nogil:
    """The t-th largest of the member values of v[0:n] (1 <= t <= their count): the t
    largest kept ascending in top[0:t]; after the first few, most values fall below
    top[0] at one compare (a part leaves out a tenth: t is small)."""
    cdef Py_ssize_t i, j, filled = 0
    cdef float x
    for i in range(n):
        if not member[i]:
            continue
        x = v[i]
        if filled < t:
            j = filled
            while j > 0 and top[j - 1] > x:
                top[j] = top[j - 1]
                j -= 1
            top[j] = x
            filled += 1
        elif x > top[0]:
            j = 1
            while j < t and top[j] < x:
                top[j - 1] = top[j]
                j += 1
            top[j - 1] = x
    return top[0]


def shadow_ratios(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] ys,
    const Py_ssize_t[::1] xs,
    Py_ssize_t win,
    Py_ssize_t margin,
    float gain,
    float offset,
    float[:, ::1] f,
    float[:, ::1] r,
    float[:, ::1] ratio,
) -> None:
    """Gather each window (the images' edge pixels repeated beyond them) into f and
    the reference times gain plus offset (at least 1) into r; ratio = (f + 2) / (r + 2)."""
    cdef Py_ssize_t k = ys.shape[0], h = frame.shape[0], w = frame.shape[1]
    cdef Py_ssize_t i, a, b, row, col, p
    cdef float fv, rv
    cdef float two = 2.0, one = 1.0
    with nogil:
        for i in range(k):
            p = 0
            for a in range(win):
                row = ys[i] + a - margin
                if row < 0:
                    row = 0
                elif row > h - 1:
                    row = h - 1
                for b in range(win):
                    col = xs[i] + b - margin
                    if col < 0:
                        col = 0
                    elif col > w - 1:
                        col = w - 1
                    fv = <float>frame[row, col]
                    rv = <float>reference[row, col] * gain
                    rv = rv + offset
                    if rv < one:
                        rv = one
                    f[i, p] = fv
                    r[i, p] = rv
                    ratio[i, p] = (fv + two) / (rv + two)
                    p += 1


cdef struct Limits:
    float factor_min
    float factor_max
    float texture2
    float keep_explained
    float residual2
    float spread2
    float keep_share
    bint trim


cdef float _weighted_sum(const float* x, const float* wt, float* tmp, Py_ssize_t npix) noexcept nogil:
    """Sum of wt * x (numpy's ``(weight * x).sum(axis=1)`` for one window)."""
    cdef Py_ssize_t j
    for j in range(npix):
        tmp[j] = wt[j] * x[j]
    return _pw_sum(tmp, npix)


cdef float _weighted_sq_dev(
    const float* x, float centre, const float* wt, float* tmp, Py_ssize_t npix
) noexcept nogil:
    """Sum of wt * (x - centre) ** 2, not yet divided (the caller divides where numpy does)."""
    cdef Py_ssize_t j
    cdef float d
    for j in range(npix):
        d = x[j] - centre
        tmp[j] = wt[j] * (d * d)
    return _pw_sum(tmp, npix)


cdef float _fit_factor(
    const float* f, const float* r, const float* wt, float* tmp, Py_ssize_t npix, float* n_out
) noexcept nogil:
    """The part's pixel count (at least 1) into n_out, and its factor: sum(wt f r) / sum(wt r r)."""
    cdef Py_ssize_t j
    cdef float n, num, d
    cdef float one = 1.0, tiny = 1e-6
    n = _pw_sum(wt, npix)
    if n < one:
        n = one
    n_out[0] = n
    for j in range(npix):
        tmp[j] = wt[j] * f[j] * r[j]
    num = _pw_sum(tmp, npix)
    for j in range(npix):
        tmp[j] = wt[j] * r[j] * r[j]
    d = _pw_sum(tmp, npix)
    if d < tiny:
        d = tiny
    return num / d


cdef bint _part_passes(
    const float* f,
    const float* r,
    const float* q,
    const uint8_t* member,
    Py_ssize_t npix,
    Limits* s,
    float* wt,
    float* tmp,
    float* misfit,
) noexcept nogil:
    """Do the member pixels follow the reference times one factor? (``_part_passes``)"""
    cdef Py_ssize_t j, count = 0, drop_n, idx, outside
    cdef float n, factor, cut, mean_f, flat, fitted, mean_r, texture, mean_q, spread, d
    cdef float one = 1.0, zero = 0.0
    for j in range(npix):
        wt[j] = one if member[j] else zero
    factor = _fit_factor(f, r, wt, tmp, npix, &n)
    if s.trim:
        # The worst-fitting share of the part is left out (ties may leave out a few more):
        # the cut is numpy's sorted misfits (non-members as -1) at npix - drop_n.
        for j in range(npix):
            misfit[j] = fabsf(f[j] - factor * r[j])
        drop_n = <Py_ssize_t>(n - floorf(n * s.keep_share))
        if drop_n > 0:
            idx = npix - drop_n
            if idx < 0:
                idx = 0
            elif idx > npix - 1:
                idx = npix - 1
            for j in range(npix):
                count += member[j]
            outside = npix - count
            if idx < outside:
                cut = -1.0
            else:
                # Sorted ascending, idx - outside is the (npix - idx)-th largest member.
                cut = _kth_largest(misfit, member, npix, npix - idx, tmp)
        else:
            cut = INFINITY
        for j in range(npix):
            wt[j] = one if (member[j] and misfit[j] < cut) else zero
        factor = _fit_factor(f, r, wt, tmp, npix, &n)
    # The verdict is every check at once: a failed one ends the part's work early.
    if not (factor >= s.factor_min and factor <= s.factor_max):
        return False
    mean_f = _weighted_sum(f, wt, tmp, npix) / n
    flat = _weighted_sq_dev(f, mean_f, wt, tmp, npix) / n
    for j in range(npix):
        d = f[j] - factor * r[j]
        tmp[j] = wt[j] * (d * d)
    fitted = _pw_sum(tmp, npix) / n
    if not (fitted <= s.keep_explained * flat and fitted <= s.residual2):
        return False
    mean_r = _weighted_sum(r, wt, tmp, npix) / n
    texture = factor * factor * _weighted_sq_dev(r, mean_r, wt, tmp, npix) / n
    if not texture >= s.texture2:
        return False
    mean_q = _weighted_sum(q, wt, tmp, npix) / n
    spread = _weighted_sq_dev(q, mean_q, wt, tmp, npix) / n
    return spread <= s.spread2


def shadow_verdicts(
    const float[:, ::1] f,
    const float[:, ::1] r,
    const float[:, ::1] q,
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
    float[::1] scratch,
    uint32_t[::1] keys,
    uint8_t[::1] member,
    uint8_t[::1] light,
) -> None:
    """Per window (rows of f, r and q = log ratio): split its pixels in two by the log
    ratio where that lowers its spread most, keep one part when that gains little,
    and judge each part (``light[i]`` 1 when every part passes). scratch holds
    5 * npix floats, keys 2 * npix, member npix bytes."""
    cdef Py_ssize_t k = f.shape[0], npix = f.shape[1]
    cdef Py_ssize_t i, j, best
    cdef float* ordered = &scratch[0]
    cdef float* wt = &scratch[npix]
    cdef float* tmp = &scratch[2 * npix]
    cdef float* misfit = &scratch[3 * npix]
    cdef float* sq = &scratch[4 * npix]
    cdef uint8_t* mem = &member[0]
    cdef float total, total2, cum, cum2, left_n, right_n, value, best_value, d, single
    cdef float npix_f = <float>npix, threshold
    cdef bint split, ok
    cdef Limits s
    s.factor_min = factor_min
    s.factor_max = factor_max
    s.texture2 = texture2
    s.keep_explained = keep_explained
    s.residual2 = residual2
    s.spread2 = spread2
    s.keep_share = keep_share
    s.trim = trim
    with nogil:
        for i in range(k):
            for j in range(npix):
                ordered[j] = q[i, j]
            _sort(ordered, &keys[0], &keys[npix], npix)
            for j in range(npix):
                sq[j] = ordered[j] * ordered[j]
            total = _pw_sum(ordered, npix)
            total2 = _pw_sum(sq, npix)
            # Within-part spread for every split of the sorted values; the first
            # smallest wins (numpy's argmin), a NaN first of all.
            cum = 0
            cum2 = 0
            best = 0
            best_value = INFINITY
            for j in range(npix - 1):
                if j == 0:
                    cum = ordered[0]
                    cum2 = sq[0]
                else:
                    cum = cum + ordered[j]
                    cum2 = cum2 + sq[j]
                if j < low - 1 or j >= npix - low:
                    value = INFINITY
                else:
                    left_n = <float>(j + 1)
                    right_n = npix_f - left_n
                    d = total - cum
                    value = cum2 - cum * cum / left_n + (total2 - cum2) - d * d / right_n
                if isnan(value):
                    best = j
                    best_value = value
                    break
                if j == 0 or value < best_value:
                    best = j
                    best_value = value
            single = total2 - total * total / npix_f
            split = best_value <= split_gain * single
            if not split:
                for j in range(npix):
                    mem[j] = 1
                ok = _part_passes(&f[i, 0], &r[i, 0], &q[i, 0], mem, npix, &s, wt, tmp, misfit)
            else:
                threshold = ordered[best]
                for j in range(npix):
                    mem[j] = q[i, j] <= threshold
                ok = _part_passes(&f[i, 0], &r[i, 0], &q[i, 0], mem, npix, &s, wt, tmp, misfit)
                if ok:
                    for j in range(npix):
                        mem[j] = not mem[j]
                    ok = _part_passes(
                        &f[i, 0], &r[i, 0], &q[i, 0], mem, npix, &s, wt, tmp, misfit
                    )
            light[i] = ok
