/*
 * The shadow test on one window, in C (ext/shadow.pyx and ext/light_only.pyx include it).
 *
 * Why C: the test's cost is its sort of the log ratios and the selection of each
 * part's worst-fitting pixels, both branchy in Cython. Here the sort orders 16-bit
 * keys of the values' place in their range (two radix passes, then insertion for
 * values sharing a key), and the selection first bounds the cut from below in eight
 * lanes at once, then ranks only the few values above the bound. Every sum is numpy's
 * float32 pairwise sum (eight accumulators, one vector of eight floats), every
 * cumulative sum runs in order, every constant is a float32: the same float32 numbers
 * as the numpy definition (controller/vision/shadow_reference.py), so its verdicts.
 * Built with -ffp-contract=off: no fused multiply-add anywhere.
 */
#ifndef LANECTL_SHADOW_WINDOW_H
#define LANECTL_SHADOW_WINDOW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float factor_min, factor_max, texture2, keep_explained, residual2, spread2, keep_share;
    float split_gain;
    ptrdiff_t low;
    int trim;
} sw_limits;

/* Floats a window of npix pixels needs as scratch (sw_window's ``scratch``). */
#define SW_SCRATCH_FLOATS(npix) (9 * (npix) + 64)
/* 32-bit words it needs (sw_window's ``words``). */
#define SW_SCRATCH_WORDS(npix) (2 * (npix))

#if defined(__SSE2__)
#include <emmintrin.h>
#define SW_SSE 1
#else
#define SW_SSE 0
#endif

#if defined(__GNUC__) || defined(__clang__)
typedef float sw_v8 __attribute__((vector_size(32)));

/* An unaligned load of eight floats (a macro: a vector-returning function would
   change the ABI where AVX is off). */
#define SW_LOAD(v, p) memcpy(&(v), (p), sizeof(sw_v8))
#define SW_VECTOR 1
#else
#define SW_VECTOR 0
#endif

/* numpy's float32 pairwise sum of a[0:n] (blocks of at most 128, eight accumulators):
   the float32 result of ``a.sum()``, bit for bit. */
static float sw_pw_sum(const float *a, ptrdiff_t n)
{
    float res;
    ptrdiff_t i, n2;
    if (n < 8) {
        res = 0.0f;
        for (i = 0; i < n; i++)
            res = res + a[i];
        return res;
    }
    if (n <= 128) {
#if SW_VECTOR
        sw_v8 r, x;
        SW_LOAD(r, a);
        for (i = 8; i < n - (n % 8); i += 8) {
            SW_LOAD(x, a + i);
            r = r + x;
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
#else
        float r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
        for (i = 8; i < n - (n % 8); i += 8) {
            r0 = r0 + a[i];
            r1 = r1 + a[i + 1];
            r2 = r2 + a[i + 2];
            r3 = r3 + a[i + 3];
            r4 = r4 + a[i + 4];
            r5 = r5 + a[i + 5];
            r6 = r6 + a[i + 6];
            r7 = r7 + a[i + 7];
        }
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
#endif
        for (; i < n; i++)
            res = res + a[i];
        return res;
    }
    n2 = n / 2;
    n2 -= n2 % 8;
    return sw_pw_sum(a, n2) + sw_pw_sum(a + n2, n - n2);
}

/* sw_pw_sum of a, b and c (n values each) at once, into out[0..2]: the same blocks,
   so the same three sums, with three accumulators in flight. */
static void sw_pw_sum3(const float *a, const float *b, const float *c, ptrdiff_t n, float *out)
{
    ptrdiff_t i, n2;
    if (n < 8) {
        float sa = 0.0f, sb = 0.0f, sc = 0.0f;
        for (i = 0; i < n; i++) {
            sa = sa + a[i];
            sb = sb + b[i];
            sc = sc + c[i];
        }
        out[0] = sa;
        out[1] = sb;
        out[2] = sc;
        return;
    }
    if (n <= 128) {
#if SW_VECTOR
        sw_v8 ra, rb, rc, x;
        SW_LOAD(ra, a);
        SW_LOAD(rb, b);
        SW_LOAD(rc, c);
        for (i = 8; i < n - (n % 8); i += 8) {
            SW_LOAD(x, a + i);
            ra = ra + x;
            SW_LOAD(x, b + i);
            rb = rb + x;
            SW_LOAD(x, c + i);
            rc = rc + x;
        }
        out[0] = ((ra[0] + ra[1]) + (ra[2] + ra[3])) + ((ra[4] + ra[5]) + (ra[6] + ra[7]));
        out[1] = ((rb[0] + rb[1]) + (rb[2] + rb[3])) + ((rb[4] + rb[5]) + (rb[6] + rb[7]));
        out[2] = ((rc[0] + rc[1]) + (rc[2] + rc[3])) + ((rc[4] + rc[5]) + (rc[6] + rc[7]));
        for (; i < n; i++) {
            out[0] = out[0] + a[i];
            out[1] = out[1] + b[i];
            out[2] = out[2] + c[i];
        }
#else
        out[0] = sw_pw_sum(a, n);
        out[1] = sw_pw_sum(b, n);
        out[2] = sw_pw_sum(c, n);
#endif
        return;
    }
    {
        float lo[3], hi[3];
        n2 = n / 2;
        n2 -= n2 % 8;
        sw_pw_sum3(a, b, c, n2, lo);
        sw_pw_sum3(a + n2, b + n2, c + n2, n - n2, hi);
        out[0] = lo[0] + hi[0];
        out[1] = lo[1] + hi[1];
        out[2] = lo[2] + hi[2];
    }
}

static void sw_insertion(float *v, ptrdiff_t n)
{
    ptrdiff_t i, j;
    float x;
    for (i = 1; i < n; i++) {
        x = v[i];
        j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Ascending sort of v[0:n] (no NaN, the only zero +0) by LSD radix sort on the floats'
   bits made unsigned-ordered: four passes of a byte, those where every key has the
   same byte skipped. keys holds 2 n words. */
static void sw_radix_sort(float *v, uint32_t *keys, ptrdiff_t n)
{
    uint32_t counts[4][256];
    uint32_t bits, start, c;
    uint32_t *src = keys, *dst = keys + n, *t;
    ptrdiff_t i, b, shift;
    memset(counts, 0, sizeof counts);
    for (i = 0; i < n; i++) {
        memcpy(&bits, &v[i], 4);
        bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
        src[i] = bits;
        counts[0][bits & 0xFF] += 1;
        counts[1][(bits >> 8) & 0xFF] += 1;
        counts[2][(bits >> 16) & 0xFF] += 1;
        counts[3][bits >> 24] += 1;
    }
    for (b = 0; b < 4; b++) {
        shift = 8 * b;
        if (counts[b][(src[0] >> shift) & 0xFF] == (uint32_t)n)
            continue;
        start = 0;
        for (i = 0; i < 256; i++) {
            c = counts[b][i];
            counts[b][i] = start;
            start += c;
        }
        for (i = 0; i < n; i++) {
            bits = src[i];
            c = (bits >> shift) & 0xFF;
            dst[counts[b][c]] = bits;
            counts[b][c] += 1;
        }
        t = src;
        src = dst;
        dst = t;
    }
    for (i = 0; i < n; i++) {
        bits = src[i];
        bits = (bits & 0x80000000u) ? (bits & 0x7FFFFFFFu) : ~bits;
        memcpy(&v[i], &bits, 4);
    }
}

/* Ascending sort of v[0:n] (n <= 65536, no NaN): each value gets a 12-bit key that
   never decreases with it (its place between the smallest and the largest),
   two radix passes of 6 bits order the keys, and one insertion pass orders the values
   that share a key. Sums over the result are then numpy's, so this sort needs only
   give the same values in order. keys holds 2 n words, spare n floats. */
/* The smallest and the largest of v[0:n] (n >= 1, no NaN). */
static void sw_range(const float *v, ptrdiff_t n, float *lo_out, float *hi_out)
{
    ptrdiff_t i = 0;
    float lo = v[0], hi = v[0];
#if SW_SSE
    if (n >= 4) {
        __m128 a = _mm_loadu_ps(v), z = a;
        float lanes[8];
        for (i = 4; i + 4 <= n; i += 4) {
            a = _mm_min_ps(a, _mm_loadu_ps(v + i));
            z = _mm_max_ps(z, _mm_loadu_ps(v + i));
        }
        _mm_storeu_ps(lanes, a);
        _mm_storeu_ps(lanes + 4, z);
        lo = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
        lo = lanes[2] < lo ? lanes[2] : lo;
        lo = lanes[3] < lo ? lanes[3] : lo;
        hi = lanes[4] > lanes[5] ? lanes[4] : lanes[5];
        hi = lanes[6] > hi ? lanes[6] : hi;
        hi = lanes[7] > hi ? lanes[7] : hi;
    }
#endif
    for (; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
}

/* Buckets of one radix pass: two passes order 12-bit keys (measured on the detector's
   windows: cheaper than 8 or 16 bits, whose counts cost more than the insertion pass
   saves on values sharing a key). */
#define SW_DIGIT 64u
static void sw_sort(float *v, float *spare, uint32_t *keys, ptrdiff_t n)
{
    uint32_t counts[2][SW_DIGIT], again[2][SW_DIGIT];
    uint32_t *src = keys, *dst = keys + n, *t, k, c, start;
    int32_t key;
    float lo, hi, scale, top = (float)(SW_DIGIT * SW_DIGIT - 1);
    ptrdiff_t i, b;
    sw_range(v, n, &lo, &hi);
    if (!(lo < hi))
        return;
    scale = top / (hi - lo);
    if (!(hi - lo < INFINITY && scale < INFINITY) || n > 65536) {
        sw_radix_sort(v, keys, n);
        return;
    }
    /* The key: (v - lo) scale, both steps rounded up or down alike for every value, so
       it never decreases as v grows; in a flat loop. */
    for (i = 0; i < n; i++) {
        key = (int32_t)((v[i] - lo) * scale);
        key = key > (int32_t)(SW_DIGIT * SW_DIGIT - 1) ? (int32_t)(SW_DIGIT * SW_DIGIT - 1) : key;
        src[i] = ((uint32_t)key << 16) | (uint32_t)i;
    }
    /* Counted in two sets (even and odd places), two chains of increments, not one. */
    memset(counts, 0, sizeof counts);
    memset(again, 0, sizeof again);
    for (i = 0; i + 1 < n; i += 2) {
        counts[0][(src[i] >> 16) % SW_DIGIT] += 1;
        counts[1][(src[i] >> 16) / SW_DIGIT] += 1;
        again[0][(src[i + 1] >> 16) % SW_DIGIT] += 1;
        again[1][(src[i + 1] >> 16) / SW_DIGIT] += 1;
    }
    if (n % 2) {
        counts[0][(src[n - 1] >> 16) % SW_DIGIT] += 1;
        counts[1][(src[n - 1] >> 16) / SW_DIGIT] += 1;
    }
    for (b = 0; b < 2; b++)
        for (i = 0; i < (ptrdiff_t)SW_DIGIT; i++)
            counts[b][i] += again[b][i];
    for (b = 0; b < 2; b++) {
        k = src[0] >> 16;
        if (counts[b][b ? k / SW_DIGIT : k % SW_DIGIT] == (uint32_t)n)
            continue;
        start = 0;
        for (i = 0; i < (ptrdiff_t)SW_DIGIT; i++) {
            c = counts[b][i];
            counts[b][i] = start;
            start += c;
        }
        for (i = 0; i < n; i++) {
            k = src[i];
            c = b ? (k >> 16) / SW_DIGIT : (k >> 16) % SW_DIGIT;
            dst[counts[b][c]] = k;
            counts[b][c] += 1;
        }
        t = src;
        src = dst;
        dst = t;
    }
    for (i = 0; i < n; i++)
        spare[i] = v[src[i] & 0xFFFFu];
    memcpy(v, spare, (size_t)n * sizeof *v);
    sw_insertion(v, n);
}

/* The t-th largest of v[0:m] (1 <= t <= m <= 64, no NaN): each value's count of values
   above it and at or above it, in flat loops over all m (branch-free, vectorised); the
   t-th largest has fewer than t above it and at least t at or above it. */
static float sw_ranked(const float *v, ptrdiff_t m, ptrdiff_t t)
{
    int32_t above[64], at_least[64], t1 = (int32_t)t;
    float x, found = v[0];
    ptrdiff_t i, j;
    for (i = 0; i < m; i++)
        above[i] = at_least[i] = 0;
    for (j = 0; j < m; j++) {
        x = v[j];
        for (i = 0; i < m; i++) {
            above[i] += x > v[i];
            at_least[i] += x >= v[i];
        }
    }
    for (i = 0; i < m; i++)
        found = (above[i] < t1 && t1 <= at_least[i]) ? v[i] : found;
    return found;
}

/* The t-th largest of v[0:n] (1 <= t <= n, no NaN). Eight lanes keep their K largest
   (K = ceil(t / 8)); the t-th largest of those 8 K values of v bounds v's t-th largest
   from below, so that is the t-th largest of the values at or above the bound, which
   are few. top holds n + 64 floats. */
static float sw_kth_largest(const float *v, ptrdiff_t n, ptrdiff_t t, float *top)
{
    ptrdiff_t i, j, m;
    float bound = -INFINITY;
#if SW_SSE
    if (t <= 64 && n >= 64) {
        __m128 keep_a[8], keep_b[8], xa, xb, hi;
        ptrdiff_t kk = (t + 7) / 8;
        for (j = 0; j < kk; j++)
            keep_a[j] = keep_b[j] = _mm_set1_ps(-INFINITY);
        for (i = 0; i + 8 <= n; i += 8) {
            xa = _mm_loadu_ps(v + i);
            xb = _mm_loadu_ps(v + i + 4);
            /* Lane by lane: the larger stays, the smaller moves on. */
            for (j = 0; j < kk; j++) {
                hi = _mm_max_ps(xa, keep_a[j]);
                xa = _mm_min_ps(xa, keep_a[j]);
                keep_a[j] = hi;
                hi = _mm_max_ps(xb, keep_b[j]);
                xb = _mm_min_ps(xb, keep_b[j]);
                keep_b[j] = hi;
            }
        }
        for (j = 0; j < kk; j++) {
            _mm_storeu_ps(top + 8 * j, keep_a[j]);
            _mm_storeu_ps(top + 8 * j + 4, keep_b[j]);
        }
        /* The last few values, not in the lanes, are kept whatever the bound. */
        bound = sw_ranked(top, 8 * kk, t);
    }
#endif
    m = 0;
    for (i = 0; i < n; i++) {
        top[m] = v[i];
        m += v[i] >= bound;
    }
    if (m <= 64)
        return sw_ranked(top, m, t);
    sw_insertion(top, m);
    return top[m - t];
}

/* fr = wt f r and rr = wt r r, each as numpy multiplies them (left to right). */
static void sw_products(const float *__restrict wt, const float *__restrict f, const float *__restrict r,
                        float *__restrict fr, float *__restrict rr, ptrdiff_t npix)
{
    ptrdiff_t j;
    for (j = 0; j < npix; j++) {
        fr[j] = wt[j] * f[j] * r[j];
        rr[j] = wt[j] * r[j] * r[j];
    }
}

/* The weighted pixels' factor: sum(wt f r) / sum(wt r r) (at least 1e-6 below), and their
   weight sum(wt) (at least 1) into *n; t1, t2 take the products. */
static float sw_factor(const float *wt, const float *f, const float *r, float *t1, float *t2,
                       ptrdiff_t npix, float *n)
{
    float sums[3], den;
    sw_products(wt, f, r, t1, t2, npix);
    sw_pw_sum3(wt, t1, t2, npix, sums);
    *n = sums[0] < 1.0f ? 1.0f : sums[0];
    den = sums[2] < 1e-6f ? 1e-6f : sums[2];
    return sums[1] / den;
}

/* Do the member pixels follow the reference times one factor? (numpy's _part_passes) */
static int sw_part_passes(const float *f, const float *r, const float *q, const uint8_t *member,
                          ptrdiff_t npix, const sw_limits *s, float *scratch)
{
    float *wt = scratch, *t1 = wt + npix, *t2 = t1 + npix, *t3 = t2 + npix, *misfit = t3 + npix;
    float *top = misfit + npix;
    ptrdiff_t j, drop_n, idx;
    float n, factor, cut, mean_f, flat, fitted, mean_r, texture, mean_q, spread, d;
    for (j = 0; j < npix; j++)
        wt[j] = member[j] ? 1.0f : 0.0f;
    factor = sw_factor(wt, f, r, t1, t2, npix, &n);
    if (s->trim) {
        /* The worst-fitting share of the part is left out (ties may leave out a few more):
           the cut is numpy's sorted misfits (non-members as -1) at npix - drop_n. */
        for (j = 0; j < npix; j++) {
            d = f[j] - factor * r[j];
            misfit[j] = fabsf(d);
            t3[j] = member[j] ? misfit[j] : -1.0f;
        }
        drop_n = (ptrdiff_t)(n - floorf(n * s->keep_share));
        if (drop_n > 0) {
            idx = npix - drop_n;
            idx = idx < 0 ? 0 : (idx > npix - 1 ? npix - 1 : idx);
            cut = sw_kth_largest(t3, npix, npix - idx, top);
        } else {
            cut = INFINITY;
        }
        for (j = 0; j < npix; j++)
            wt[j] = ((member[j] != 0) & (misfit[j] < cut)) ? 1.0f : 0.0f;
        factor = sw_factor(wt, f, r, t1, t2, npix, &n);
    }
    /* The verdict is every check at once: a failed one ends the part's work early. */
    if (!(factor >= s->factor_min && factor <= s->factor_max))
        return 0;
    for (j = 0; j < npix; j++) {
        t1[j] = wt[j] * f[j];
        d = f[j] - factor * r[j];
        t2[j] = wt[j] * (d * d);
    }
    mean_f = sw_pw_sum(t1, npix) / n;
    fitted = sw_pw_sum(t2, npix) / n;
    if (!(fitted <= s->residual2))
        return 0;
    for (j = 0; j < npix; j++) {
        d = f[j] - mean_f;
        t1[j] = wt[j] * (d * d);
    }
    flat = sw_pw_sum(t1, npix) / n;
    if (!(fitted <= s->keep_explained * flat))
        return 0;
    for (j = 0; j < npix; j++) {
        t1[j] = wt[j] * r[j];
        t2[j] = wt[j] * q[j];
    }
    mean_r = sw_pw_sum(t1, npix) / n;
    mean_q = sw_pw_sum(t2, npix) / n;
    for (j = 0; j < npix; j++) {
        d = r[j] - mean_r;
        t1[j] = wt[j] * (d * d);
    }
    texture = factor * factor * sw_pw_sum(t1, npix) / n;
    if (!(texture >= s->texture2))
        return 0;
    for (j = 0; j < npix; j++) {
        d = q[j] - mean_q;
        t1[j] = wt[j] * (d * d);
    }
    spread = sw_pw_sum(t1, npix) / n;
    return spread <= s->spread2;
}

/* The smallest of v[0:n] (n >= 1, no NaN). */
static float sw_min(const float *v, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    float m = v[0];
#if SW_SSE
    if (n >= 4) {
        __m128 acc = _mm_loadu_ps(v);
        float lanes[4];
        for (i = 4; i + 4 <= n; i += 4)
            acc = _mm_min_ps(acc, _mm_loadu_ps(v + i));
        _mm_storeu_ps(lanes, acc);
        m = lanes[0];
        m = lanes[1] < m ? lanes[1] : m;
        m = lanes[2] < m ? lanes[2] : m;
        m = lanes[3] < m ? lanes[3] : m;
    }
#endif
    for (; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

/* One window (f, r and q = log ratio, npix pixels each): split its pixels in two by
   the log ratio where that lowers its spread most, keep one part when that gains
   little, and judge each part: 1 when every part passes. scratch holds
   SW_SCRATCH_FLOATS(npix) floats, words SW_SCRATCH_WORDS(npix), member npix bytes. */
static int sw_window(const float *f, const float *r, const float *q, ptrdiff_t npix,
                     const sw_limits *s, float *scratch, uint32_t *words, uint8_t *member)
{
    float *ordered = scratch, *sq = ordered + npix, *cum = sq + npix, *cum2 = cum + npix;
    float *parts = cum2 + npix;
    float total, total2, value, best_value, d, single, left_n, right_n, threshold;
    float npix_f = (float)npix;
    ptrdiff_t j, j0, j1, best;
    int32_t jj;
    int ok;
    memcpy(ordered, q, (size_t)npix * sizeof *q);
    sw_sort(ordered, parts, words, npix);
    for (j = 0; j < npix; j++)
        sq[j] = ordered[j] * ordered[j];
    total = sw_pw_sum(ordered, npix);
    total2 = sw_pw_sum(sq, npix);
    /* numpy's cumsum, in order. */
    {
        float c = ordered[0], c2 = sq[0];
        cum[0] = c;
        cum2[0] = c2;
        for (j = 1; j < npix - 1; j++) {
            c = c + ordered[j];
            c2 = c2 + sq[j];
            cum[j] = c;
            cum2[j] = c2;
        }
    }
    /* Within-part spread for every split of the sorted values (parts[j]) in the range
       a part may end (the rest are +inf, never the first smallest); the first smallest
       wins (numpy's argmin), a NaN first of all. */
    j0 = s->low - 1 > 0 ? s->low - 1 : 0;
    j1 = npix - s->low < npix - 1 ? npix - s->low : npix - 1;
    for (jj = (int32_t)j0; jj < (int32_t)j1; jj++) {
        left_n = (float)(jj + 1);
        right_n = npix_f - left_n;
        d = total - cum[jj];
        parts[jj] = cum2[jj] - cum[jj] * cum[jj] / left_n + (total2 - cum2[jj]) - d * d / right_n;
    }
    best = 0;
    best_value = INFINITY;
    if (j0 < j1) {
        int nan = 0;
        for (j = j0; j < j1; j++)
            nan |= parts[j] != parts[j];
        if (nan) {
            for (j = j0; !(parts[j] != parts[j]); j++)
                ;
            best = j;
            best_value = parts[j];
        } else {
            value = sw_min(parts + j0, j1 - j0);
            if (value < INFINITY) {
                for (j = j0; parts[j] != value; j++)
                    ;
                best = j;
                best_value = value;
            }
        }
    }
    single = total2 - total * total / npix_f;
    if (!(best_value <= s->split_gain * single)) {
        memset(member, 1, (size_t)npix);
        return sw_part_passes(f, r, q, member, npix, s, scratch);
    }
    threshold = ordered[best];
    for (j = 0; j < npix; j++)
        member[j] = q[j] <= threshold;
    ok = sw_part_passes(f, r, q, member, npix, s, scratch);
    if (ok) {
        for (j = 0; j < npix; j++)
            member[j] = !member[j];
        ok = sw_part_passes(f, r, q, member, npix, s, scratch);
    }
    return ok;
}

/* The window of win x win pixels whose top-left pixel is (y, x), the images' edge
   pixels repeated beyond them: f the frame, r the reference times gain plus offset (at
   least 1), ratio (f + 2) / (r + 2), all float32 as numpy computes them. */
static void sw_gather(const uint8_t *frame, const uint8_t *reference, ptrdiff_t h, ptrdiff_t w,
                      ptrdiff_t y, ptrdiff_t x, ptrdiff_t win, float gain, float offset, float *f,
                      float *r, float *ratio)
{
    ptrdiff_t a, b, row, col, p;
    float rv;
    for (a = 0; a < win; a++) {
        row = y + a;
        row = row < 0 ? 0 : (row > h - 1 ? h - 1 : row);
        if (x >= 0 && x + win <= w) {
            const uint8_t *fr = frame + row * w + x, *rr = reference + row * w + x;
            for (b = 0; b < win; b++) {
                f[a * win + b] = (float)fr[b];
                r[a * win + b] = (float)rr[b];
            }
        } else {
            for (b = 0; b < win; b++) {
                col = x + b;
                col = col < 0 ? 0 : (col > w - 1 ? w - 1 : col);
                f[a * win + b] = (float)frame[row * w + col];
                r[a * win + b] = (float)reference[row * w + col];
            }
        }
    }
    /* The reference times gain plus offset, at least 1, and the ratio: a flat loop. */
    for (p = 0; p < win * win; p++) {
        rv = r[p] * gain;
        rv = rv + offset;
        rv = rv < 1.0f ? 1.0f : rv;
        r[p] = rv;
        ratio[p] = (f[p] + 2.0f) / (rv + 2.0f);
    }
}

#endif
