# cython: language_level=3
"""The k-th smallest of an array, by quickselect: one definition for every compiled pass."""

from libc.stdint cimport int64_t

ctypedef fused kth_t:
    double
    int64_t


cdef inline kth_t kth_smallest(kth_t* v, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """The k-th smallest of v[0:n]; v is reordered so that v[k + 1:] are no smaller."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j
    cdef kth_t pivot, t
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                t = v[i]
                v[i] = v[j]
                v[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return v[k]
    return v[k]
