# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per cell a zone's edge cuts, how many of the zone's own pixels there differ from the reference.

The same test as the fused kernel (the reference corrected by the Q8 gain and
the offset, a pixel counts when it differs by more than the threshold), on a
list of flat pixel indices and the cell each belongs to. The Python wrapper
(controller.vision.zones.EdgeCounter) checks the arguments; the numpy
reference (controller.vision.zones_reference.edge_counts_reference) is the
definition, to the count.
"""

from libc.stdint cimport int32_t, uint8_t


def edge_counts(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const Py_ssize_t[::1] pixels,
    const Py_ssize_t[::1] owner,
    int gain_q8,
    int offset,
    int threshold,
    int32_t[::1] counts,
):
    """counts[k] = differing pixels among those whose owner is k (counts is zeroed first)."""
    cdef Py_ssize_t n = pixels.shape[0], k, p
    cdef const uint8_t* f = &frame[0, 0]
    cdef const uint8_t* r = &reference[0, 0]
    cdef int d
    with nogil:
        for k in range(counts.shape[0]):
            counts[k] = 0
        for k in range(n):
            p = pixels[k]
            d = <int>f[p] - ((((<int>r[p]) * gain_q8 + 128) >> 8) + offset)
            if d > threshold or -d > threshold:
                counts[owner[k]] += 1
