/*
 * Row pass of the sway undo (ext/warp.pyx), compiled twice and chosen at run time.
 *
 * Why C: the same plain loops, compiled once for the baseline instruction set and
 * once with a per-function AVX2 target attribute, let GCC vectorise the 16 x 16 ->
 * 32-bit products eight (or sixteen) at a time where the CPU has them, while a
 * wheel still runs on a baseline x86-64 or aarch64 PC (as framediff_simd.h does).
 * Both bodies are one macro, so the two levels are the same arithmetic to the bit.
 */
#ifndef LANECTL_WARP_SIMD_H
#define LANECTL_WARP_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if !defined(WP_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define WP_X86 1
#else
#define WP_X86 0
#endif

#define WP_LEVEL_PORTABLE 0
#define WP_LEVEL_AVX2 1

static inline ptrdiff_t wp_clamp(ptrdiff_t v, ptrdiff_t hi)
{
    return v < 0 ? 0 : (v > hi ? hi : v);
}

/* The across step in 16-bit lanes, exactly (t0 * hx + t1 * gx + 32768) >> 16: with
   t = 256 th + tl (th, tl <= 255), H = th0 hx + th1 gx and L = tl0 hx + tl1 gx are at
   most 255 * 256 each, and the result is floor((H + 128 + floor(L / 256)) / 256), whose
   numerator is at most 255 * 256 + 255 as the result is at most 255. No 32-bit
   product, so it vectorises on any x86-64 (and on aarch64). */
static inline uint8_t wp_across(uint16_t t0, uint16_t t1, uint16_t hx, uint16_t gx)
{
    uint16_t high = (uint16_t)((uint16_t)(t0 >> 8) * hx + (uint16_t)(t1 >> 8) * gx);
    uint16_t low = (uint16_t)((uint16_t)(t0 & 255) * hx + (uint16_t)(t1 & 255) * gx);
    return (uint8_t)((uint16_t)(high + 128 + (low >> 8)) >> 8);
}

/* One output row: rows a and b blended down into t (16-bit), then across into o,
   columns [xa, xb) without clamping, the rest with the edge repeated. */
#define WP_ROW_BODY                                                                                    \
    {                                                                                                  \
        ptrdiff_t x;                                                                                   \
        for (x = 0; x < w; x++)                                                                        \
            t[x] = (uint16_t)((uint16_t)a[x] * hy + (uint16_t)b[x] * gy);                             \
        for (x = 0; x < xa; x++)                                                                       \
            o[x] = wp_across(t[wp_clamp(x + ix, w - 1)], t[wp_clamp(x + ix + 1, w - 1)], hx, gx);     \
        for (x = xa; x < xb; x++)                                                                      \
            o[x] = wp_across(t[x + ix], t[x + ix + 1], hx, gx);                                        \
        for (x = xb; x < w; x++)                                                                       \
            o[x] = wp_across(t[wp_clamp(x + ix, w - 1)], t[wp_clamp(x + ix + 1, w - 1)], hx, gx);     \
    }

#define WP_ROW_ARGS                                                                                    \
    const uint8_t *__restrict a, const uint8_t *__restrict b, uint8_t *__restrict o, uint16_t *__restrict t,  \
        ptrdiff_t w, ptrdiff_t ix, ptrdiff_t xa, ptrdiff_t xb, uint16_t hx, uint16_t gx, uint16_t hy, \
        uint16_t gy

static void wp_row_portable(WP_ROW_ARGS) WP_ROW_BODY

#if WP_X86
__attribute__((target("avx2"))) static void wp_row_avx2(WP_ROW_ARGS) WP_ROW_BODY
#endif

static int wp_cpu_level(void)
{
#if WP_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return WP_LEVEL_AVX2;
#endif
    return WP_LEVEL_PORTABLE;
}

/* The whole frame at the level given (capped by the caller to what the CPU has). */
static void wp_shift(const uint8_t *src, uint8_t *out, uint16_t *t, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ix,
                     ptrdiff_t iy, unsigned fx, unsigned fy, int level)
{
    uint16_t gy = (uint16_t)fy, hy = (uint16_t)(256 - fy);
    uint16_t gx = (uint16_t)fx, hx = (uint16_t)(256 - fx);
    /* Columns whose two source columns both lie inside the frame. */
    ptrdiff_t xa = wp_clamp(-ix, w), xb = wp_clamp(w - 1 - ix, w), y;
    if (xb < xa)
        xb = xa;
    for (y = 0; y < h; y++) {
        const uint8_t *a = src + wp_clamp(y + iy, h - 1) * w;
        const uint8_t *b = src + wp_clamp(y + iy + 1, h - 1) * w;
#if WP_X86
        if (level >= WP_LEVEL_AVX2) {
            wp_row_avx2(a, b, out + y * w, t, w, ix, xa, xb, hx, gx, hy, gy);
            continue;
        }
#endif
        (void)level;
        wp_row_portable(a, b, out + y * w, t, w, ix, xa, xb, hx, gx, hy, gy);
    }
}

#endif
