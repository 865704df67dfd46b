/*
 * The light-only test on one window, in C (ext/light_only.pyx includes it).
 *
 * Why C: the test's cost was the quickselect of the misfit quantile, branchy on
 * noisy misfits, and loops a pixel at a time with a branch a pixel. Here the
 * quantile is bounded from below in eight lanes at once and only the few misfits
 * above the bound are ranked; the integer work runs in flat loops GCC vectorises,
 * in 32-bit lanes where no figure can overflow them; every integer sum (the
 * plane's, the normal matrix's, the means') is exact, so its order is free; the
 * floating-point sums that are not exact (the covariance, the variances, the
 * residual) run pixel after pixel in the same order as before, so every figure is
 * the one the Cython pass computed, bit for bit.
 * The numpy reference (controller/vision/light_only_reference.py) is the definition.
 */
#ifndef LANECTL_LIGHT_WINDOW_H
#define LANECTL_LIGHT_WINDOW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    ptrdiff_t win, margin, lo, across;
    int between, steady;
    double texture_min, light_corr, light_contrast, light_residual, gain, offset;
} lw_params;

/* int64 values of scratch a window of npix pixels needs (lw_window's ``scratch``). */
#define LW_SCRATCH(npix) (16 * (npix) + 64)



/* x with a x = b for a symmetric 3x3 a (row-major), by Cramer's rule. */
static void lw_solve3(const double *a, const double *b, double *x)
{
    double det = (a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6])
                  + a[2] * (a[3] * a[7] - a[4] * a[6]));
    x[0] = (b[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (b[1] * a[8] - a[5] * b[2])
            + a[2] * (b[1] * a[7] - a[4] * b[2]))
           / det;
    x[1] = (a[0] * (b[1] * a[8] - a[5] * b[2]) - b[0] * (a[3] * a[8] - a[5] * a[6])
            + a[2] * (a[3] * b[2] - b[1] * a[6]))
           / det;
    x[2] = (a[0] * (a[4] * b[2] - b[1] * a[7]) - a[1] * (a[3] * b[2] - b[1] * a[6])
            + b[0] * (a[3] * a[7] - a[4] * a[6]))
           / det;
}

#define LW_INT int32_t
#define LW_MIN INT32_MIN
#define LW_NAME(x) lw_##x##_i32
#include "light_window_body.h"
#undef LW_INT
#undef LW_MIN
#undef LW_NAME

#define LW_INT int64_t
#define LW_MIN INT64_MIN
#define LW_NAME(x) lw_##x##_i64
#include "light_window_body.h"
#undef LW_INT
#undef LW_MIN
#undef LW_NAME

/* The light-only verdict of the window at (y, x) of the images padded by s->margin
   (edge pixels repeated), and, when stats is not NULL, its (kept, corr, slope,
   var_r, brighter, left); without stats a window already rejected skips its residual.
   In 32-bit integers when no figure can reach 2^31: every misfit is at most
   255 (2 d + 6 (win - 1)^2 npix), twice that compared. */
static int lw_window(const uint8_t *frame, const uint8_t *reference, ptrdiff_t h, ptrdiff_t wd,
                     ptrdiff_t y, ptrdiff_t x, const lw_params *s, int64_t *scratch, double *stats)
{
    int64_t npix = (int64_t)s->win * s->win;
    int64_t most = 2 * 255 * (2 * npix * (npix - 1) + 6 * (int64_t)(s->win - 1) * (s->win - 1) * npix);
    if (most < INT32_MAX / 2)
        return lw_window_i32(frame, reference, h, wd, y, x, s, scratch, stats);
    return lw_window_i64(frame, reference, h, wd, y, x, s, scratch, stats);
}

#endif
