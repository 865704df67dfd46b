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
from libc.stdlib cimport free, malloc


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


def rasterise(
    const double[:, ::1] poly,
    Py_ssize_t y0,
    Py_ssize_t y1,
    Py_ssize_t x0,
    Py_ssize_t x1,
    Py_ssize_t cell,
    uint8_t[:, ::1] pixels,
    int32_t[:, ::1] sums,
):
    """A zone's pixels in the window [y0, y1) x [x0, x1) and their count per cell.

    pixels[y - y0, x - x0] = 1 when the centre (x + 0.5, y + 0.5) lies inside the
    polygon (even-odd rule, each edge's crossing computed with the float64
    operations of ``zones._inside``, in its order, and compared with each pixel
    centre as it does, so the answer is the same to the pixel); pixels holds at
    least the window and is zeroed beyond it. sums[cy, cx] = the pixels set in
    cell (cy, cx) of the window (y0 and x0 on the cell grid). Per row, each edge
    crossing it toggles the pixels left of its crossing; the toggles are marked,
    then read once from the right. The Python wrapper (zones.zone_grid) checks
    the arguments.
    """
    cdef Py_ssize_t n = poly.shape[0], e, y, x, k, c, c1
    cdef Py_ssize_t rows = pixels.shape[0], cols = pixels.shape[1], w = x1 - x0
    cdef double ax, ay, bx, by, py, cross
    cdef uint8_t parity
    cdef uint8_t* out
    cdef int32_t* srow
    cdef int32_t total
    cdef uint8_t* toggles = <uint8_t*>malloc(w + 1)
    if toggles == NULL:
        raise MemoryError("rasterise: no memory for one row")
    with nogil:
        for y in range(sums.shape[0]):
            for x in range(sums.shape[1]):
                sums[y, x] = 0
        for y in range(rows):
            out = &pixels[y, 0]
            for x in range(cols):
                out[x] = 0
        for y in range(y0, y1):
            py = <double>y + 0.5
            out = &pixels[y - y0, 0]
            for x in range(w + 1):
                toggles[x] = 0
            for e in range(n):
                k = e + 1 if e + 1 < n else 0
                ax = poly[e, 0]
                ay = poly[e, 1]
                bx = poly[k, 0]
                by = poly[k, 1]
                if ay == by or (ay > py) == (by > py):
                    continue
                cross = ax + (py - ay) * (bx - ax) / (by - ay)
                # k: how many pixel centres of the row lie left of the crossing (a
                # guess from the crossing, then settled by the exact comparisons).
                if cross - x0 > <double>w + 1.0:
                    k = w
                elif cross - x0 < -1.0:
                    k = 0
                else:
                    k = <Py_ssize_t>(cross - x0)
                    if k < 0:
                        k = 0
                    if k > w:
                        k = w
                while k < w and <double>(x0 + k) + 0.5 < cross:
                    k += 1
                while k > 0 and not (<double>(x0 + k - 1) + 0.5 < cross):
                    k -= 1
                toggles[k] ^= 1
            parity = 0
            x = w - 1
            while x >= 0:
                parity ^= toggles[x + 1]
                out[x] = parity
                x -= 1
            srow = &sums[(y - y0) // cell, 0]
            c = 0
            x = 0
            while x < w:
                c1 = x + cell
                if c1 > w:
                    c1 = w
                total = 0
                while x < c1:
                    total += out[x]
                    x += 1
                srow[c] += total
                c += 1
    free(toggles)


def cut_pixels(
    const uint8_t[:, ::1] raster,
    const Py_ssize_t[::1] part_c,
    const Py_ssize_t[::1] row_start,
    Py_ssize_t cell,
    Py_ssize_t wy0,
    Py_ssize_t wx0,
    Py_ssize_t width,
    Py_ssize_t[::1] pixels,
    Py_ssize_t[::1] owner,
    double[::1] sum_r,
    double[::1] sum_c,
):
    """The zone's pixels in the cells its edge cuts, in the frame's row-major order.

    raster: the window's pixels inside the zone (``rasterise``); the cut cells are
    given row by row: those of window cell row cy are k in row_start[cy] ..
    row_start[cy + 1], in column order, at window cell column part_c[k]. Writes each
    pixel's flat frame index (frame ``width`` wide, the window at (wy0, wx0)) and
    its cell k, and adds its frame row and column to sum_r[k] and sum_c[k] (zeroed
    by the caller); returns how many pixels were written (pixels and owner hold at
    least that many: the cut cells' pixel counts).
    """
    cdef Py_ssize_t rows = raster.shape[0], y, x, k, x0, x1, n = 0
    cdef const uint8_t* line
    with nogil:
        for y in range(rows):
            line = &raster[y, 0]
            for k in range(row_start[y // cell], row_start[y // cell + 1]):
                x0 = part_c[k] * cell
                x1 = x0 + cell
                for x in range(x0, x1):
                    if line[x]:
                        pixels[n] = (y + wy0) * width + x + wx0
                        owner[n] = k
                        sum_r[k] += <double>(y + wy0)
                        sum_c[k] += <double>(x + wx0)
                        n += 1
    return n
