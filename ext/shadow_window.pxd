# cython: language_level=3
"""The shadow test's C pass (shadow_window.h): one declaration, cimported by shadow.pyx and
light_only.pyx."""

from libc.stdint cimport uint8_t, uint32_t


cdef extern from "shadow_window.h":
    ctypedef struct sw_limits:
        float factor_min
        float factor_max
        float texture2
        float keep_explained
        float residual2
        float spread2
        float keep_share
        float split_gain
        Py_ssize_t low
        int trim
    Py_ssize_t SW_SCRATCH_FLOATS(Py_ssize_t npix) noexcept nogil
    Py_ssize_t SW_SCRATCH_WORDS(Py_ssize_t npix) noexcept nogil
    void sw_gather(const uint8_t* frame, const uint8_t* reference, Py_ssize_t h, Py_ssize_t w,
                   Py_ssize_t y, Py_ssize_t x, Py_ssize_t win, float gain, float offset,
                   float* f, float* r, float* ratio) noexcept nogil
    void sw_sort(float* v, float* spare, uint32_t* keys, Py_ssize_t n) noexcept nogil
    float sw_pw_sum(const float* a, Py_ssize_t n) noexcept nogil
    void sw_pw_sum3(const float* a, const float* b, const float* c, Py_ssize_t n,
                    float* out) noexcept nogil
    int sw_window(const float* f, const float* r, const float* q, Py_ssize_t npix,
                  const sw_limits* s, float* scratch, uint32_t* words,
                  uint8_t* member) noexcept nogil


cdef inline sw_limits sw_limits_of(
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
) noexcept nogil:
    """The shadow test's limits, as ``shadow_pass`` and ``cell_windows`` take them."""
    cdef sw_limits s
    s.factor_min = factor_min
    s.factor_max = factor_max
    s.texture2 = texture2
    s.keep_explained = keep_explained
    s.residual2 = residual2
    s.spread2 = spread2
    s.keep_share = keep_share
    s.split_gain = split_gain
    s.low = low
    s.trim = trim
    return s
