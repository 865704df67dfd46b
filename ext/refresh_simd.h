/*
 * Run loops of the reference refresh (ext/refresh.pyx), compiled twice and chosen at
 * run time, as ext/warp_simd.h: the same C body for the baseline instruction set and
 * with an AVX2 target attribute (its gathers read the 256-entry tables eight pixels at
 * a time), so both levels are the same float operations, pixel for pixel.
 */
#ifndef LANECTL_REFRESH_SIMD_H
#define LANECTL_REFRESH_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(RF_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define RF_X86 1
#else
#define RF_X86 0
#endif

#define RF_LEVEL_PORTABLE 0
#define RF_LEVEL_AVX2 1

/* 1.5 * 2^23: adding and taking it away rounds a float in [0, 255] half to even. */
#define RF_ROUND 12582912.0f

/* Pixels that all refresh: value = old * keep + weighted[f]; the grey copy rounded, clipped. */
#define RF_BLEND_BODY                                                                                  \
    {                                                                                                  \
        ptrdiff_t x;                                                                                   \
        for (x = 0; x < n; x++) {                                                                      \
            float value = rf[x] * keep + weighted[f[x]];                                               \
            rf[x] = value;                                                                             \
            value = value > 0.0f ? value : 0.0f;                                                       \
            value = value < 255.0f ? value : 255.0f;                                                   \
            rg[x] = (uint8_t)(int)((value + RF_ROUND) - RF_ROUND);                                     \
        }                                                                                              \
        return n;                                                                                      \
    }

/* Drift-only pixels: one whose corrected value is more than drift_px off keeps both values. */
#define RF_DRIFT_BODY                                                                                  \
    {                                                                                                  \
        ptrdiff_t x, count = 0;                                                                        \
        for (x = 0; x < n; x++) {                                                                      \
            float old = rf[x];                                                                         \
            int ok = fabsf(corrected[f[x]] - old) <= drift_px;                                         \
            float value = old * keep + weighted[f[x]];                                                 \
            float rounded = value > 0.0f ? value : 0.0f;                                               \
            rounded = rounded < 255.0f ? rounded : 255.0f;                                             \
            rf[x] = ok ? value : old;                                                                  \
            rg[x] = ok ? (uint8_t)(int)((rounded + RF_ROUND) - RF_ROUND) : rg[x];                      \
            count += ok;                                                                               \
        }                                                                                              \
        return count;                                                                                  \
    }

#define RF_BLEND_ARGS                                                                                  \
    const uint8_t *__restrict f, float *__restrict rf, uint8_t *__restrict rg, ptrdiff_t n,                  \
        const float *__restrict weighted, float keep
#define RF_DRIFT_ARGS                                                                                  \
    const uint8_t *__restrict f, float *__restrict rf, uint8_t *__restrict rg, ptrdiff_t n,                  \
        const float *__restrict corrected, const float *__restrict weighted, float keep, float drift_px

static ptrdiff_t rf_blend_portable(RF_BLEND_ARGS) RF_BLEND_BODY
static ptrdiff_t rf_drift_portable(RF_DRIFT_ARGS) RF_DRIFT_BODY
#if RF_X86
__attribute__((target("avx2"))) static ptrdiff_t rf_blend_avx2(RF_BLEND_ARGS) RF_BLEND_BODY
__attribute__((target("avx2"))) static ptrdiff_t rf_drift_avx2(RF_DRIFT_ARGS) RF_DRIFT_BODY
#endif

static int rf_cpu_level(void)
{
#if RF_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return RF_LEVEL_AVX2;
#endif
    return RF_LEVEL_PORTABLE;
}

static ptrdiff_t rf_blend(RF_BLEND_ARGS, int level)
{
#if RF_X86
    if (level >= RF_LEVEL_AVX2)
        return rf_blend_avx2(f, rf, rg, n, weighted, keep);
#endif
    (void)level;
    return rf_blend_portable(f, rf, rg, n, weighted, keep);
}

static ptrdiff_t rf_drift(RF_DRIFT_ARGS, int level)
{
#if RF_X86
    if (level >= RF_LEVEL_AVX2)
        return rf_drift_avx2(f, rf, rg, n, corrected, weighted, keep, drift_px);
#endif
    (void)level;
    return rf_drift_portable(f, rf, rg, n, corrected, weighted, keep, drift_px);
}

#endif
