/*
 * The per-chunk loops of a Lucas-Kanade step (ext/registration.pyx), compiled twice and
 * chosen at run time, as ext/warp_simd.h: the same C body for the baseline instruction
 * set and with an AVX2 target attribute, whose 32-bit multiplies (vpmulld) the baseline
 * lacks. Every sum is an integer sum, so both levels give the same sums to the bit.
 *
 * A chunk holds at most 128 pixels: each 32-bit partial sum fits (128 * 65280 * 255).
 */
#ifndef LANECTL_LK_SIMD_H
#define LANECTL_LK_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if !defined(LK_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LK_X86 1
#else
#define LK_X86 0
#endif

#define LK_LEVEL_PORTABLE 0
#define LK_LEVEL_AVX2 1

/* f[x] = rows a, b sampled at x + wx / 256 and wy / 256 between them (1/256 grey levels):
   down, then across, rounded once; then the sums over x < n. out (int32):
   frame_only: f, f r, gx f, gy f; else f, r, f r, r r, gx, gy, gx f, gx r, gy f, gy r,
   gx gx, gx gy, gy gy. rm, ru, rd: the reference's row and those above and below. */
#define LK_CHUNK_BODY(FULL)                                                                            \
    {                                                                                                  \
        uint16_t t[129];                                                                               \
        int32_t fb[128];                                                                               \
        uint16_t hy = (uint16_t)(256 - wy), gy16 = (uint16_t)wy;                                       \
        int32_t hx = 256 - wx;                                                                         \
        ptrdiff_t x;                                                                                   \
        for (x = 0; x < n + 1; x++)                                                                    \
            t[x] = (uint16_t)((uint16_t)a[x] * hy + (uint16_t)b[x] * gy16);                           \
        for (x = 0; x < n; x++)                                                                        \
            fb[x] = (hx * (int32_t)t[x] + wx * (int32_t)t[x + 1] + 128) >> 8;                         \
        if (!(FULL)) {                                                                                 \
            int32_t s_f = 0, s_fr = 0, s_gxf = 0, s_gyf = 0;                                           \
            for (x = 0; x < n; x++) {                                                                  \
                int32_t f = fb[x];                                                                     \
                int32_t gx = (int32_t)rm[x + 1] - (int32_t)rm[x - 1];                                  \
                int32_t gy = (int32_t)rd[x] - (int32_t)ru[x];                                          \
                s_f += f;                                                                              \
                s_fr += f * (int32_t)rm[x];                                                            \
                s_gxf += gx * f;                                                                       \
                s_gyf += gy * f;                                                                       \
            }                                                                                          \
            out[0] = s_f;                                                                              \
            out[1] = s_fr;                                                                             \
            out[2] = s_gxf;                                                                            \
            out[3] = s_gyf;                                                                            \
            return;                                                                                    \
        }                                                                                              \
        {                                                                                              \
            int32_t s_f = 0, s_r = 0, s_fr = 0, s_rr = 0, s_gx = 0, s_gy = 0, s_gxf = 0;               \
            int32_t s_gxr = 0, s_gyf = 0, s_gyr = 0, s_xx = 0, s_xy = 0, s_yy = 0;                     \
            for (x = 0; x < n; x++) {                                                                  \
                int32_t f = fb[x];                                                                     \
                int32_t r = (int32_t)rm[x];                                                            \
                int32_t gx = (int32_t)rm[x + 1] - (int32_t)rm[x - 1];                                  \
                int32_t gy = (int32_t)rd[x] - (int32_t)ru[x];                                          \
                s_f += f;                                                                              \
                s_r += r;                                                                              \
                s_fr += f * r;                                                                         \
                s_rr += r * r;                                                                         \
                s_gx += gx;                                                                            \
                s_gy += gy;                                                                            \
                s_gxf += gx * f;                                                                       \
                s_gxr += gx * r;                                                                       \
                s_gyf += gy * f;                                                                       \
                s_gyr += gy * r;                                                                       \
                s_xx += gx * gx;                                                                       \
                s_xy += gx * gy;                                                                       \
                s_yy += gy * gy;                                                                       \
            }                                                                                          \
            out[0] = s_f;                                                                              \
            out[1] = s_r;                                                                              \
            out[2] = s_fr;                                                                             \
            out[3] = s_rr;                                                                             \
            out[4] = s_gx;                                                                             \
            out[5] = s_gy;                                                                             \
            out[6] = s_gxf;                                                                            \
            out[7] = s_gxr;                                                                            \
            out[8] = s_gyf;                                                                            \
            out[9] = s_gyr;                                                                            \
            out[10] = s_xx;                                                                            \
            out[11] = s_xy;                                                                            \
            out[12] = s_yy;                                                                            \
        }                                                                                              \
    }

#define LK_CHUNK_ARGS                                                                                  \
    const uint8_t *a, const uint8_t *b, const uint8_t *rm, const uint8_t *ru, const uint8_t *rd,       \
        ptrdiff_t n, int32_t wx, int32_t wy, int32_t *out

static void lk_frame_portable(LK_CHUNK_ARGS) LK_CHUNK_BODY(0)
static void lk_full_portable(LK_CHUNK_ARGS) LK_CHUNK_BODY(1)
#if LK_X86
__attribute__((target("avx2"))) static void lk_frame_avx2(LK_CHUNK_ARGS) LK_CHUNK_BODY(0)
__attribute__((target("avx2"))) static void lk_full_avx2(LK_CHUNK_ARGS) LK_CHUNK_BODY(1)
#endif

static int lk_cpu_level(void)
{
#if LK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return LK_LEVEL_AVX2;
#endif
    return LK_LEVEL_PORTABLE;
}

/* One chunk's sums at the level given (frame_only: the four that involve the frame). */
static void lk_chunk(LK_CHUNK_ARGS, int frame_only, int level)
{
#if LK_X86
    if (level >= LK_LEVEL_AVX2) {
        if (frame_only)
            lk_frame_avx2(a, b, rm, ru, rd, n, wx, wy, out);
        else
            lk_full_avx2(a, b, rm, ru, rd, n, wx, wy, out);
        return;
    }
#endif
    (void)level;
    if (frame_only)
        lk_frame_portable(a, b, rm, ru, rd, n, wx, wy, out);
    else
        lk_full_portable(a, b, rm, ru, rd, n, wx, wy, out);
}

#endif
