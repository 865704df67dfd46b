/*
 * The light-only test on one window, for one integer width: included twice by
 * light_window.h, with LW_INT int32_t (windows small enough that no integer figure
 * can overflow it: four values a vector lane on any x86-64) and int64_t (any window).
 * Integer figures are exact in either; the floating-point ones are computed alike.
 */

/* The k-th smallest of v[0:n] (Hoare's quickselect); v is reordered so that v[k + 1:]
   are no smaller. */
static LW_INT LW_NAME(select)(LW_INT *v, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t lo = 0, hi = n - 1, i, j;
    LW_INT pivot, t;
    while (lo < hi) {
        pivot = v[(lo + hi) / 2];
        i = lo;
        j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* The t-th largest of v[0:m] into *at and the (t - 1)-th into *next when t > 1
   (1 <= t <= m <= 64): each value's count of values above it and at or above it, in
   flat loops over all m (branch-free, vectorised); the t-th largest has fewer than t
   above it and at least t at or above it. */
static void LW_NAME(ranked)(const LW_INT *v, ptrdiff_t m, ptrdiff_t t, LW_INT *at, LW_INT *next)
{
    LW_INT above[64], at_least[64], x, a = v[0], b = v[0], t1 = (LW_INT)t;
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
    for (i = 0; i < m; i++) {
        a = (above[i] < t1 && t1 <= at_least[i]) ? v[i] : a;
        b = (above[i] < t1 - 1 && t1 - 1 <= at_least[i]) ? v[i] : b;
    }
    *at = a;
    if (t > 1)
        *next = b;
}

/* The t-th largest of v[0:n] into *at and, when t > 1, the (t - 1)-th into *next
   (1 <= t <= n). Eight lanes keep their K largest (K = ceil(t / 8)); the t-th largest
   of those 8 K values bounds v's t-th largest from below, so both are the same among
   the values at or above the bound, which are few and ranked. top holds n + 64. */
static void LW_NAME(kth_largest)(const LW_INT *v, ptrdiff_t n, ptrdiff_t t, LW_INT *top,
                                 LW_INT *at, LW_INT *next)
{
    ptrdiff_t i, j, l, m, kk, c;
    LW_INT bound = LW_MIN, x[8], hi;
    if (t <= 64 && n >= 64) {
        LW_INT keep[8][8];
        kk = (t + 7) / 8;
        for (j = 0; j < kk; j++)
            for (l = 0; l < 8; l++)
                keep[j][l] = LW_MIN;
        for (i = 0; i + 8 <= n; i += 8) {
            for (l = 0; l < 8; l++)
                x[l] = v[i + l];
            /* Lane by lane: the larger stays, the smaller moves on. */
            for (j = 0; j < kk; j++)
                for (l = 0; l < 8; l++) {
                    hi = x[l] > keep[j][l] ? x[l] : keep[j][l];
                    x[l] = x[l] > keep[j][l] ? keep[j][l] : x[l];
                    keep[j][l] = hi;
                }
        }
        for (j = 0; j < kk; j++)
            for (l = 0; l < 8; l++)
                top[8 * j + l] = keep[j][l];
        /* The last few values, not in the lanes, are kept whatever the bound. */
        LW_NAME(ranked)(top, 8 * kk, t, &bound, &hi);
    }
    m = 0;
    for (i = 0; i < n; i++) {
        top[m] = v[i];
        c = v[i] >= bound;
        m += c;
    }
    if (m > 64) {
        /* Many values left (a window too large for the lanes): quickselect. */
        *at = LW_NAME(select)(top, m, m - t);
        if (t > 1) {
            *next = top[m - t + 1];
            for (i = m - t + 2; i < m; i++)
                *next = top[i] < *next ? top[i] : *next;
        }
        return;
    }
    LW_NAME(ranked)(top, m, t, at, next);
}

static int LW_NAME(window)(const uint8_t *frame, const uint8_t *reference, ptrdiff_t h,
                           ptrdiff_t wd, ptrdiff_t y, ptrdiff_t x, const lw_params *s,
                           int64_t *scratch, double *stats)
{
    ptrdiff_t win = s->win, npix = win * win, across = s->across;
    /* Every array below fits in its npix-long slots of int64 (a double or an LW_INT):
       d1_z and eroded_z take two (npix after (across - 1) rows or values of zeros),
       top the rest (npix + 64). */
    LW_INT *fv = (LW_INT *)scratch, *rv = (LW_INT *)(scratch + npix);
    LW_INT *mis = (LW_INT *)(scratch + 2 * npix), *tmp = (LW_INT *)(scratch + 3 * npix);
    LW_INT *kp = (LW_INT *)(scratch + 4 * npix), *cxs = (LW_INT *)(scratch + 5 * npix);
    LW_INT *cys = (LW_INT *)(scratch + 6 * npix), *d1_z = (LW_INT *)(scratch + 7 * npix);
    double *fk = (double *)(scratch + 9 * npix), *rk = (double *)(scratch + 10 * npix);
    LW_INT *eroded_z = (LW_INT *)(scratch + 11 * npix), *col = (LW_INT *)(scratch + 13 * npix);
    LW_INT *row = (LW_INT *)(scratch + 14 * npix), *top = (LW_INT *)(scratch + 15 * npix);
    LW_INT d = (LW_INT)(npix * (npix - 1)), sf = 0, sr = 0, sxf = 0, syf = 0, sxr = 0, syr = 0;
    LW_INT a, b = 0, e, kc, kx, ky, ni = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
    LW_INT f0 = 0, f1 = 0, f2 = 0, r0 = 0, r1 = 0, r2 = 0;
    ptrdiff_t y0 = y - s->margin, x0 = x - s->margin, i, j, p, q, m, fy, fx;
    double nrm[9], rhs_f[3], rhs_r[3], bf[3], br[3];
    double n, cov, var_r, var_f, mean_f, mean_r, corr, slope, brighter, left, w;
    int ok;
    for (i = 0; i < win; i++) {
        fy = y0 + i;
        fy = fy < 0 ? 0 : (fy >= h ? h - 1 : fy);
        if (x0 >= 0 && x0 + win <= wd) {
            const uint8_t *fr = frame + fy * wd + x0, *rr = reference + fy * wd + x0;
            for (j = 0; j < win; j++) {
                fv[i * win + j] = fr[j];
                rv[i * win + j] = rr[j];
            }
        } else {
            for (j = 0; j < win; j++) {
                fx = x0 + j;
                fx = fx < 0 ? 0 : (fx >= wd ? wd - 1 : fx);
                fv[i * win + j] = frame[fy * wd + fx];
                rv[i * win + j] = reference[fy * wd + fx];
            }
        }
        for (j = 0; j < win; j++) {
            cxs[i * win + j] = (LW_INT)(2 * j - (win - 1));
            cys[i * win + j] = (LW_INT)(2 * i - (win - 1));
            col[i * win + j] = (LW_INT)j;
            row[i * win + j] = (LW_INT)i;
        }
    }
    for (p = 0; p < npix; p++) {
        sf += fv[p];
        sr += rv[p];
        sxf += cxs[p] * fv[p];
        syf += cys[p] * fv[p];
        sxr += cxs[p] * rv[p];
        syr += cys[p] * rv[p];
    }
    /* |residual_f - residual_r|, both d v - (npix - 1) s - 3 cx sx - 3 cy sy: exact. */
    kc = (LW_INT)(npix - 1) * (sf - sr);
    kx = 3 * (sxf - sxr);
    ky = 3 * (syf - syr);
    for (p = 0; p < npix; p++) {
        e = d * (fv[p] - rv[p]) - kc - cxs[p] * kx - cys[p] * ky;
        mis[p] = e >= 0 ? e : -e;
    }
    /* The quantile: sorted[lo] (the (npix - lo)-th largest) and sorted[lo + 1]. */
    LW_NAME(kth_largest)(mis, npix, npix - s->lo, top, &a, &b);
    if (!s->between)
        b = a;
    for (p = 0; p < npix; p++)
        kp[p] = !((mis[p] > a) & (mis[p] >= b));
    if (s->steady) {
        /* Grey opening with an across x across square: what survives at half its
           misfit or more is part of a structure that wide, and is kept (only thinner
           lines, a boom or a cable, are left out). One axis at a time; the dilation
           reads the erosion padded with zeros (misfits are not negative). */
        m = win - across + 1;
        if (m > 0) {
            /* Flat loops over the window, each step a shift of the whole: a square's min
               or max is that of its rows'. Positions whose square would leave the window
               (row or column past m - 1) are computed from neighbouring rows, then set
               to 0 before the dilation, which reads 0 beyond the window too (misfits
               are not negative, so a 0 adds nothing to a max). */
            ptrdiff_t rows_lo = npix - (across - 1), cols_lo = npix - (across - 1) * win;
            LW_INT *ez = eroded_z + (across - 1), *d1 = d1_z + (across - 1) * win;
            for (p = 0; p < rows_lo; p++)
                tmp[p] = mis[p];
            for (q = 1; q < across; q++)
                for (p = 0; p < rows_lo; p++)
                    tmp[p] = mis[p + q] < tmp[p] ? mis[p + q] : tmp[p];
            for (p = 0; p < cols_lo; p++)
                ez[p] = tmp[p];
            for (q = 1; q < across; q++)
                for (p = 0; p < cols_lo; p++)
                    ez[p] = tmp[p + q * win] < ez[p] ? tmp[p + q * win] : ez[p];
            for (p = 0; p < across - 1; p++)
                eroded_z[p] = 0;
            for (p = cols_lo; p < npix; p++)
                ez[p] = 0;
            for (p = 0; p < cols_lo; p++)
                ez[p] = col[p] < m ? ez[p] : 0;
            /* Dilation along rows (a column before the first reads a 0: the previous
               row's last columns, or the padding), then along columns. */
            for (p = 0; p < (across - 1) * win; p++)
                d1_z[p] = 0;
            for (p = 0; p < npix; p++)
                d1[p] = ez[p];
            for (q = 1; q < across; q++)
                for (p = 0; p < npix; p++)
                    d1[p] = ez[p - q] > d1[p] ? ez[p - q] : d1[p];
            for (p = 0; p < npix; p++)
                tmp[p] = d1[p];
            for (q = 1; q < across; q++)
                for (p = 0; p < npix; p++)
                    tmp[p] = d1[p - q * win] > tmp[p] ? d1[p - q * win] : tmp[p];
            for (p = 0; p < npix; p++)
                kp[p] |= 2 * tmp[p] >= mis[p];
        } else {
            for (p = 0; p < npix; p++)
                kp[p] |= 0 >= mis[p];
        }
    }
    /* The normal matrix and right-hand sides over the kept pixels: integer sums, exact
       in any order (as doubles they are the numbers a double sum gives). */
    for (p = 0; p < npix; p++) {
        LW_INT k = kp[p], cx = col[p], cy = row[p];
        ni += k;
        sx += k * cx;
        sy += k * cy;
        sxx += k * cx * cx;
        sxy += k * cx * cy;
        syy += k * cy * cy;
        f0 += k * fv[p];
        f1 += k * cx * fv[p];
        f2 += k * cy * fv[p];
        r0 += k * rv[p];
        r1 += k * cx * rv[p];
        r2 += k * cy * rv[p];
    }
    n = (double)ni;
    nrm[0] = n + 1e-3;
    nrm[1] = (double)sx;
    nrm[2] = (double)sy;
    nrm[4] = (double)sxx + 1e-3;
    nrm[5] = (double)sxy;
    nrm[8] = (double)syy + 1e-3;
    nrm[3] = nrm[1];
    nrm[6] = nrm[2];
    nrm[7] = nrm[5];
    rhs_f[0] = (double)f0;
    rhs_f[1] = (double)f1;
    rhs_f[2] = (double)f2;
    rhs_r[0] = (double)r0;
    rhs_r[1] = (double)r1;
    rhs_r[2] = (double)r2;
    lw_solve3(nrm, rhs_f, bf);
    lw_solve3(nrm, rhs_r, br);
    /* The plane-free values of every pixel at once, then the sums pixel after pixel in
       the order they always ran; a pixel left out adds +0 (the sums start at +0, so
       never become -0): the same numbers, without a branch a pixel. */
    for (p = 0; p < npix; p++) {
        double xd = (double)col[p];
        double yd = (double)row[p];
        fk[p] = (double)fv[p] - ((bf[0] + bf[1] * xd) + bf[2] * yd);
        rk[p] = (double)rv[p] - ((br[0] + br[1] * xd) + br[2] * yd);
    }
    cov = var_r = var_f = 0.0;
    for (p = 0; p < npix; p++) {
        cov = cov + (kp[p] ? fk[p] * rk[p] : 0.0);
        var_r = var_r + (kp[p] ? rk[p] * rk[p] : 0.0);
        var_f = var_f + (kp[p] ? fk[p] * fk[p] : 0.0);
    }
    w = n > 1.0 ? n : 1.0;
    cov /= w;
    var_r /= w;
    var_f /= w;
    mean_f = (double)f0 / w;
    mean_r = (double)r0 / w * s->gain + s->offset;
    corr = cov / sqrt(var_r * var_f > 1e-6 ? var_r * var_f : 1e-6);
    slope = cov / (var_r > 1e-6 ? var_r : 1e-6);
    brighter = mean_f / (mean_r > 1.0 ? mean_r : 1.0);
    ok = (var_r >= s->texture_min * s->texture_min && corr >= s->light_corr && slope >= 0.2
          && slope <= 5.0
          && slope / s->gain <= s->light_contrast * (brighter > 1e-3 ? brighter : 1e-3));
    left = 0.0;
    if (s->steady && (ok || stats)) {
        for (p = 0; p < npix; p++)
            left = left + (kp[p] ? (fk[p] - slope * rk[p]) * (fk[p] - slope * rk[p]) : 0.0);
        left = sqrt(left / w);
        ok = ok && left <= s->light_residual;
    }
    if (stats) {
        stats[0] = n;
        stats[1] = corr;
        stats[2] = slope;
        stats[3] = var_r;
        stats[4] = brighter;
        stats[5] = left;
    }
    return ok;
}
