/*
 * SIMD row pass of the frame kernel (ext/framediff.pyx), chosen at run time.
 *
 * Why C and not Cython: the fast paths need SSSE3, AVX2 or AVX-512 instructions, and a
 * wheel must still run on a baseline x86-64 (or aarch64) industrial PC, so each
 * path is compiled for its instruction set with a per-function target attribute
 * and picked once from the CPU's features; Cython cannot put attributes on a
 * function. Everything else (bands, folding into cells, the GIL) stays in the
 * Cython module, which also keeps a portable auto-vectorised pass for CPUs
 * without SSSE3 (or not x86) and for cell sizes that are not multiples of 4.
 *
 * Per row the pass adds, per pixel, "differs from the corrected reference" and
 * "did not move" (0/1) into byte accumulators, and the grey levels of each
 * group of 4 pixels into a uint32 accumulator; it copies the row into previous.
 * fd_fold adds them into a band of cells, at least every 255 rows (bytes overflow after).
 */
#ifndef LANECTL_FRAMEDIFF_SIMD_H
#define LANECTL_FRAMEDIFF_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* FD_NO_SIMD builds only the portable code, as on a CPU that is not x86 (for testing the build). */
#if !defined(FD_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FD_X86 1
#include <immintrin.h>
#else
#define FD_X86 0
#endif

/* Instruction-set levels of the row pass. */
#define FD_LEVEL_PORTABLE 0 /* no SIMD row pass: the caller uses its portable loop */
#define FD_LEVEL_SSSE3 1    /* x86-64-v2 class: Atom and older industrial PCs */
#define FD_LEVEL_AVX2 2
#define FD_LEVEL_AVX512 3 /* AVX-512 BW + VBMI (byte permutes for the lookup tables) */

typedef struct {
    /* 16-bit path: corrected = (((r << 7) * gain + 2^14) >> 15) + offset = ((r * gain + 128) >> 8) + offset;
       |f - corrected| > t  <=>  (int16)(f - base + bias) > limit, bias = t - offset - 32768, limit = 2t - 32768 */
    int16_t gain;
    int16_t bias;
    int16_t limit;
    uint8_t motion; /* a pixel moved when |f - p| > motion */
    /* table path: a pixel differs when f < low[r] or f > high[r] (an empty band is low 255, high 0) */
    uint8_t low[256];
    uint8_t high[256];
} fd_params;

static void fd_params_init(fd_params *prm, int gain_q8, int offset, int ref_threshold, int motion_threshold)
{
    prm->gain = (int16_t)gain_q8;
    prm->bias = (int16_t)(uint16_t)(ref_threshold - offset - 32768);
    prm->limit = (int16_t)(2 * ref_threshold - 32768);
    prm->motion = (uint8_t)motion_threshold;
    for (int r = 0; r < 256; r++) { /* branch-free, so it vectorises: it runs on every call */
        int corrected = ((r * gain_q8 + 128) >> 8) + offset;
        int lo = corrected - ref_threshold;
        int hi = corrected + ref_threshold;
        int empty = (hi < 0) | (lo > 255);
        lo = lo < 0 ? 0 : lo;
        hi = hi > 255 ? 255 : hi;
        prm->low[r] = (uint8_t)(empty ? 255 : lo);
        prm->high[r] = (uint8_t)(empty ? 0 : hi);
    }
}

static int fd_cpu_level(void)
{
#if FD_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi"))
        return FD_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return FD_LEVEL_AVX2;
    if (__builtin_cpu_supports("ssse3"))
        return FD_LEVEL_SSSE3;
#endif
    return FD_LEVEL_PORTABLE;
}

/* Pixels [x, w) one at a time: the row's tail, and the definition the vector paths follow. */
static inline void fd_row_tail(ptrdiff_t x, ptrdiff_t w, const uint8_t *frame, const uint8_t *reference,
                               uint8_t *previous, uint8_t *ref_hits, uint8_t *still, uint32_t *grey4,
                               const fd_params *prm)
{
    for (; x < w; x++) {
        uint8_t f = frame[x], r = reference[x], p = previous[x];
        uint8_t moved = (uint8_t)(f > p ? f - p : p - f);
        ref_hits[x] += (uint8_t)((f < prm->low[r]) | (f > prm->high[r]));
        still[x] += (uint8_t)(moved <= prm->motion);
        grey4[x >> 2] += f;
        previous[x] = f;
    }
}

#if FD_X86
/* The AVX2 pass below on 16-byte vectors (pmulhrsw and pmaddubsw need SSSE3). */
__attribute__((target("ssse3"))) static void fd_row_ssse3(const uint8_t *frame, const uint8_t *reference,
                                                          uint8_t *previous, uint8_t *ref_hits, uint8_t *still,
                                                          uint32_t *grey4, ptrdiff_t w, const fd_params *prm)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i ones8 = _mm_set1_epi8(1);
    const __m128i ones16 = _mm_set1_epi16(1);
    const __m128i gain = _mm_set1_epi16(prm->gain);
    const __m128i bias = _mm_set1_epi16(prm->bias);
    const __m128i limit = _mm_set1_epi16(prm->limit);
    const __m128i motion = _mm_set1_epi8((char)prm->motion);
    ptrdiff_t x = 0;
    for (; x + 16 <= w; x += 16) {
        __m128i f = _mm_loadu_si128((const __m128i *)(frame + x));
        __m128i r = _mm_loadu_si128((const __m128i *)(reference + x));
        __m128i p = _mm_loadu_si128((const __m128i *)(previous + x));
        _mm_storeu_si128((__m128i *)(previous + x), f);

        __m128i moved = _mm_or_si128(_mm_subs_epu8(f, p), _mm_subs_epu8(p, f));
        __m128i is_still = _mm_cmpeq_epi8(_mm_subs_epu8(moved, motion), zero);
        __m128i *still_acc = (__m128i *)(still + x);
        _mm_storeu_si128(still_acc, _mm_sub_epi8(_mm_loadu_si128(still_acc), is_still));

        __m128i f_lo = _mm_unpacklo_epi8(f, zero);
        __m128i f_hi = _mm_unpackhi_epi8(f, zero);
        __m128i base_lo = _mm_mulhrs_epi16(_mm_slli_epi16(_mm_unpacklo_epi8(r, zero), 7), gain);
        __m128i base_hi = _mm_mulhrs_epi16(_mm_slli_epi16(_mm_unpackhi_epi8(r, zero), 7), gain);
        __m128i hit_lo = _mm_cmpgt_epi16(_mm_add_epi16(_mm_sub_epi16(f_lo, base_lo), bias), limit);
        __m128i hit_hi = _mm_cmpgt_epi16(_mm_add_epi16(_mm_sub_epi16(f_hi, base_hi), bias), limit);
        __m128i hit = _mm_packs_epi16(hit_lo, hit_hi);
        __m128i *ref_acc = (__m128i *)(ref_hits + x);
        _mm_storeu_si128(ref_acc, _mm_sub_epi8(_mm_loadu_si128(ref_acc), hit));

        __m128i sums = _mm_madd_epi16(_mm_maddubs_epi16(f, ones8), ones16);
        __m128i *grey_acc = (__m128i *)(grey4 + (x >> 2));
        _mm_storeu_si128(grey_acc, _mm_add_epi32(_mm_loadu_si128(grey_acc), sums));
    }
    fd_row_tail(x, w, frame, reference, previous, ref_hits, still, grey4, prm);
}

__attribute__((target("avx2"))) static void fd_row_avx2(const uint8_t *frame, const uint8_t *reference,
                                                        uint8_t *previous, uint8_t *ref_hits, uint8_t *still,
                                                        uint32_t *grey4, ptrdiff_t w, const fd_params *prm)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i gain = _mm256_set1_epi16(prm->gain);
    const __m256i bias = _mm256_set1_epi16(prm->bias);
    const __m256i limit = _mm256_set1_epi16(prm->limit);
    const __m256i motion = _mm256_set1_epi8((char)prm->motion);
    ptrdiff_t x = 0;
    for (; x + 32 <= w; x += 32) {
        __m256i f = _mm256_loadu_si256((const __m256i *)(frame + x));
        __m256i r = _mm256_loadu_si256((const __m256i *)(reference + x));
        __m256i p = _mm256_loadu_si256((const __m256i *)(previous + x));
        _mm256_storeu_si256((__m256i *)(previous + x), f);

        /* |f - p| <= motion  <=>  saturating (|f - p| - motion) == 0 */
        __m256i moved = _mm256_or_si256(_mm256_subs_epu8(f, p), _mm256_subs_epu8(p, f));
        __m256i is_still = _mm256_cmpeq_epi8(_mm256_subs_epu8(moved, motion), zero);
        __m256i *still_acc = (__m256i *)(still + x);
        _mm256_storeu_si256(still_acc, _mm256_sub_epi8(_mm256_loadu_si256(still_acc), is_still));

        /* 16-bit lanes; unpack/pack stay within 128-bit lanes, so pixel order is kept */
        __m256i f_lo = _mm256_unpacklo_epi8(f, zero);
        __m256i f_hi = _mm256_unpackhi_epi8(f, zero);
        __m256i base_lo = _mm256_mulhrs_epi16(_mm256_slli_epi16(_mm256_unpacklo_epi8(r, zero), 7), gain);
        __m256i base_hi = _mm256_mulhrs_epi16(_mm256_slli_epi16(_mm256_unpackhi_epi8(r, zero), 7), gain);
        __m256i hit_lo = _mm256_cmpgt_epi16(_mm256_add_epi16(_mm256_sub_epi16(f_lo, base_lo), bias), limit);
        __m256i hit_hi = _mm256_cmpgt_epi16(_mm256_add_epi16(_mm256_sub_epi16(f_hi, base_hi), bias), limit);
        __m256i hit = _mm256_packs_epi16(hit_lo, hit_hi);
        __m256i *ref_acc = (__m256i *)(ref_hits + x);
        _mm256_storeu_si256(ref_acc, _mm256_sub_epi8(_mm256_loadu_si256(ref_acc), hit));

        __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(f, ones8), ones16);
        __m256i *grey_acc = (__m256i *)(grey4 + (x >> 2));
        _mm256_storeu_si256(grey_acc, _mm256_add_epi32(_mm256_loadu_si256(grey_acc), sums));
    }
    fd_row_tail(x, w, frame, reference, previous, ref_hits, still, grey4, prm);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void
fd_row_avx512(const uint8_t *frame, const uint8_t *reference, uint8_t *previous, uint8_t *ref_hits,
              uint8_t *still, uint32_t *grey4, ptrdiff_t w, const fd_params *prm)
{
    const __m512i ones8 = _mm512_set1_epi8(1);
    const __m512i ones16 = _mm512_set1_epi16(1);
    const __m512i motion = _mm512_set1_epi8((char)prm->motion);
    const __m512i low0 = _mm512_loadu_si512(prm->low), low1 = _mm512_loadu_si512(prm->low + 64);
    const __m512i low2 = _mm512_loadu_si512(prm->low + 128), low3 = _mm512_loadu_si512(prm->low + 192);
    const __m512i high0 = _mm512_loadu_si512(prm->high), high1 = _mm512_loadu_si512(prm->high + 64);
    const __m512i high2 = _mm512_loadu_si512(prm->high + 128), high3 = _mm512_loadu_si512(prm->high + 192);
    ptrdiff_t x = 0;
    for (; x + 64 <= w; x += 64) {
        __m512i f = _mm512_loadu_si512(frame + x);
        __m512i r = _mm512_loadu_si512(reference + x);
        __m512i p = _mm512_loadu_si512(previous + x);
        _mm512_storeu_si512(previous + x, f);

        __m512i moved = _mm512_or_si512(_mm512_subs_epu8(f, p), _mm512_subs_epu8(p, f));
        __mmask64 is_still = _mm512_cmple_epu8_mask(moved, motion);
        __m512i still_acc = _mm512_loadu_si512(still + x);
        _mm512_storeu_si512(still + x, _mm512_mask_add_epi8(still_acc, is_still, still_acc, ones8));

        /* 256-entry tables: two 128-byte permutes, picked by the index's top bit */
        __mmask64 top = _mm512_movepi8_mask(r);
        __m512i low = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(low0, r, low1),
                                             _mm512_permutex2var_epi8(low2, r, low3));
        __m512i high = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(high0, r, high1),
                                              _mm512_permutex2var_epi8(high2, r, high3));
        __mmask64 hit = _mm512_cmplt_epu8_mask(f, low) | _mm512_cmpgt_epu8_mask(f, high);
        __m512i ref_acc = _mm512_loadu_si512(ref_hits + x);
        _mm512_storeu_si512(ref_hits + x, _mm512_mask_add_epi8(ref_acc, hit, ref_acc, ones8));

        __m512i sums = _mm512_madd_epi16(_mm512_maddubs_epi16(f, ones8), ones16);
        __m512i grey_acc = _mm512_loadu_si512(grey4 + (x >> 2));
        _mm512_storeu_si512(grey4 + (x >> 2), _mm512_add_epi32(grey_acc, sums));
    }
    fd_row_tail(x, w, frame, reference, previous, ref_hits, still, grey4, prm);
}
#endif

/* One row at the given level (never above fd_cpu_level()). */
static void fd_row(int level, const uint8_t *frame, const uint8_t *reference, uint8_t *previous,
                   uint8_t *ref_hits, uint8_t *still, uint32_t *grey4, ptrdiff_t w, const fd_params *prm)
{
#if FD_X86
    if (level >= FD_LEVEL_AVX512) {
        fd_row_avx512(frame, reference, previous, ref_hits, still, grey4, w, prm);
        return;
    }
    if (level == FD_LEVEL_AVX2) {
        fd_row_avx2(frame, reference, previous, ref_hits, still, grey4, w, prm);
        return;
    }
    if (level == FD_LEVEL_SSSE3) {
        fd_row_ssse3(frame, reference, previous, ref_hits, still, grey4, w, prm);
        return;
    }
#endif
    (void)level;
    fd_row_tail(0, w, frame, reference, previous, ref_hits, still, grey4, prm);
}

static inline uint32_t fd_sum4(const uint8_t *bytes)
{
    uint32_t v;
    memcpy(&v, bytes, 4);
    v = (v & 0x00FF00FFu) + ((v >> 8) & 0x00FF00FFu);
    return (v & 0xFFFFu) + (v >> 16);
}

/* Whole cells [first, full) of `per_cell` groups; a constant per_cell lets the compiler vectorise. */
#define FD_FOLD_CELLS(per_cell)                                                                     \
    for (ptrdiff_t cx = first; cx < full; cx++) {                                                   \
        uint32_t ref = 0, kept = 0, grey = 0; /* grey <= 255 rows * 512 * 255 < 2^32 */           \
        for (ptrdiff_t k = 0; k < (per_cell); k++) {                                                \
            ref += fd_sum4(ref_hits + 4 * (cx * (per_cell) + k));                                  \
            kept += fd_sum4(still + 4 * (cx * (per_cell) + k));                                    \
            grey += grey4[cx * (per_cell) + k];                                                     \
        }                                                                                           \
        ref_out[cx] += (int32_t)ref;                                                                \
        motion_out[cx] += pixels - (int32_t)kept;                                                   \
        grey_out[cx] += grey;                                                                       \
    }

#if FD_X86
/* Sums of each 4 bytes of 32, as 8 int32 lanes in order. */
__attribute__((target("avx2"))) static inline __m256i fd_sum4x8(const uint8_t *bytes)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)bytes);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(v, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

/* 8 cells of `per_cell` (1, 2 or 4) consecutive int32 group sums at `at(k)`, k = 0..per_cell-1. */
#define FD_CELLS8(at)                                                                               \
    (per_cell == 1   ? (at(0))                                                                      \
     : per_cell == 2 ? _mm256_permute4x64_epi64(_mm256_hadd_epi32(at(0), at(1)), 0xD8)             \
                     : _mm256_permutevar8x32_epi32(                                                 \
                           _mm256_hadd_epi32(_mm256_hadd_epi32(at(0), at(1)),                       \
                                             _mm256_hadd_epi32(at(2), at(3))),                      \
                           _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)))

/* Folds cells 8 at a time while 8 whole cells remain (per_cell 1, 2 or 4); returns the cells done. */
__attribute__((target("avx2"))) static ptrdiff_t fd_fold_avx2(const uint8_t *ref_hits, const uint8_t *still,
                                                              const uint32_t *grey4, ptrdiff_t full,
                                                              ptrdiff_t per_cell, int32_t pixels,
                                                              int32_t *ref_out, int32_t *motion_out,
                                                              int64_t *grey_out)
{
    const __m256i all = _mm256_set1_epi32(pixels);
    ptrdiff_t cx = 0;
    for (; cx + 8 <= full; cx += 8) {
        const ptrdiff_t g = cx * per_cell; /* first group of the 8 cells */
#define FD_REF(k) fd_sum4x8(ref_hits + 4 * (g + 8 * (k)))
#define FD_STILL(k) fd_sum4x8(still + 4 * (g + 8 * (k)))
#define FD_GREY(k) _mm256_loadu_si256((const __m256i *)(grey4 + g + 8 * (k)))
        __m256i ref = FD_CELLS8(FD_REF);
        __m256i kept = FD_CELLS8(FD_STILL);
        __m256i grey = FD_CELLS8(FD_GREY);
#undef FD_REF
#undef FD_STILL
#undef FD_GREY
        __m256i *r = (__m256i *)(ref_out + cx), *m = (__m256i *)(motion_out + cx);
        __m256i *g0 = (__m256i *)(grey_out + cx), *g1 = (__m256i *)(grey_out + cx + 4);
        _mm256_storeu_si256(r, _mm256_add_epi32(_mm256_loadu_si256(r), ref));
        _mm256_storeu_si256(m, _mm256_add_epi32(_mm256_loadu_si256(m), _mm256_sub_epi32(all, kept)));
        _mm256_storeu_si256(g0, _mm256_add_epi64(_mm256_loadu_si256(g0),
                                                 _mm256_cvtepu32_epi64(_mm256_castsi256_si128(grey))));
        _mm256_storeu_si256(g1, _mm256_add_epi64(_mm256_loadu_si256(g1),
                                                 _mm256_cvtepu32_epi64(_mm256_extracti128_si256(grey, 1))));
    }
    return cx;
}
#endif

/*
 * Add the accumulators of `rows` rows into one band of cells and clear them.
 * Needs cell % 4 == 0 so that no group of 4 pixels straddles two cells.
 */
static void fd_fold(int level, uint8_t *ref_hits, uint8_t *still, uint32_t *grey4, ptrdiff_t w,
                    ptrdiff_t cell, int32_t rows, int32_t *ref_out, int32_t *motion_out, int64_t *grey_out)
{
    ptrdiff_t groups = (w + 3) / 4;
    ptrdiff_t per_cell = cell / 4;
    ptrdiff_t full = w / cell; /* cells lying wholly inside the row */
    int32_t pixels = rows * (int32_t)cell;
    ptrdiff_t first = 0;
#if FD_X86
    if (level >= FD_LEVEL_AVX2 && (per_cell == 1 || per_cell == 2 || per_cell == 4))
        first = fd_fold_avx2(ref_hits, still, grey4, full, per_cell, pixels, ref_out, motion_out, grey_out);
#endif
    (void)level;
    switch (per_cell) {
    case 1: FD_FOLD_CELLS(1) break;
    case 2: FD_FOLD_CELLS(2) break;
    case 4: FD_FOLD_CELLS(4) break;
    case 8: FD_FOLD_CELLS(8) break;
    default: FD_FOLD_CELLS(per_cell) break;
    }
    if (full * cell < w) { /* the partial cell at the right edge */
        uint32_t ref = 0, kept = 0;
        uint64_t grey = 0;
        for (ptrdiff_t x = full * cell; x < w; x++) {
            ref += ref_hits[x];
            kept += still[x];
        }
        for (ptrdiff_t g = full * per_cell; g < groups; g++)
            grey += grey4[g];
        ref_out[full] += (int32_t)ref;
        motion_out[full] += (int32_t)(rows * (int64_t)(w - full * cell) - (int64_t)kept);
        grey_out[full] += (int64_t)grey;
    }
    memset(ref_hits, 0, (size_t)w);
    memset(still, 0, (size_t)w);
    memset(grey4, 0, (size_t)groups * sizeof(uint32_t));
}

#endif
