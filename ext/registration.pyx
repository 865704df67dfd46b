# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Camera sway against the reference: a block search for the shift, Lucas-Kanade to refine it.

The Python wrapper (controller.vision.registration) validates every argument
and holds the scratch buffers; this module trusts it and touches no Python
object inside the pass. The numpy reference
(controller.vision.registration_reference) is the definition, step by step:

1. Over a box of the frame where no zone lies, the sum and count of the
   pixels the mask keeps (a vehicle crossing the box is left out) in each
   ``fine`` x ``fine`` block (4 at 640x360; larger pictures take larger blocks,
   the same stretch of road), for the frame and the reference; and the same
   for blocks twice that size (2 x 2 of those).
2. Coarse: the larger blocks' means of the frame correlated with the
   reference's at every shift of whole blocks up to ``reach`` (exposure
   changes do not matter), the best refined by a parabola per axis. Fine:
   the same with the fine blocks, two blocks either side of the coarse result.
   The block means are in 1/16 grey level and every sum is an exact integer.
3. From there, Gauss-Newton steps (Lucas-Kanade for a translation, with the
   frame's gain and offset against the reference fitted in each step) on
   every ``fine``-th row of the box's interior. The shift is the same for every
   pixel, so the frame is sampled bilinearly with weights in 1/256 of a pixel
   and every per-pixel sum is an exact integer; only the 2x2 solve is in
   floating point. A result more than one fine block (``fine`` pixels) from
   the block search's is a wrong turn: the block search's is kept. (The block
   search is only good to about half a block on each axis, so a tighter bound
   threw away right answers and kept a block search off by 1-2 px.)
"""

from libc.math cimport fabs, floor, sqrt
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t


cdef extern from "lk_simd.h":
    int LK_LEVEL_PORTABLE
    int lk_cpu_level() noexcept nogil
    void lk_chunk(
        const uint8_t* a,
        const uint8_t* b,
        const uint8_t* rm,
        const uint8_t* ru,
        const uint8_t* rd,
        Py_ssize_t n,
        int32_t wx,
        int32_t wy,
        int32_t* out,
        int frame_only,
        int level,
    ) noexcept nogil


cdef int _cpu_level = lk_cpu_level()
cdef int _level = _cpu_level


def simd_level():
    """The Lucas-Kanade chunk loops in use: 0 portable, 1 AVX2 (``lk_simd.h``)."""
    return _level


def cpu_simd_level():
    """The best chunk loops this CPU supports."""
    return _cpu_level


def set_simd_level(int level):
    """Use at most ``level`` (clamped to what the CPU supports); returns the level now in use."""
    global _level
    _level = max(LK_LEVEL_PORTABLE, min(level, _cpu_level))
    return _level

cdef double _EPS = 1e-9
# Lucas-Kanade stops once a step moves under two 1/256-pixel quanta of the bilinear
# weights (|dx| + |dy|): finer steps only go back and forth between quanta.
cdef double _LK_DONE = 2.0 / 256.0

cdef enum:
    FINE_REACH = 2  # the fine search covers this many blocks around the coarse result


cdef Py_ssize_t _runs(
    const uint8_t* mline, Py_ssize_t cell, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t* runs
) noexcept nogil:
    """The runs [start, end) of columns in lo..hi whose cell the mask keeps; returns their count."""
    cdef Py_ssize_t count = 0, c, x0, x1
    cdef bint open_run = False
    if hi <= lo:
        return 0
    for c in range(lo // cell, (hi - 1) // cell + 1):
        if mline[c]:
            x0 = c * cell
            x1 = x0 + cell
            if x0 < lo:
                x0 = lo
            if x1 > hi:
                x1 = hi
            if open_run:
                runs[2 * count - 1] = x1
            else:
                runs[2 * count] = x0
                runs[2 * count + 1] = x1
                count += 1
                open_run = True
        else:
            open_run = False
    return count


cdef void _blocks_aligned(
    const uint8_t[:, ::1] image,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0, Py_ssize_t c0, Py_ssize_t bh, Py_ssize_t bw, Py_ssize_t fine,
    int64_t* bsum, int64_t* bcnt,
    Py_ssize_t* cols,
) noexcept nogil:
    """``_blocks`` when no block straddles two cells (cell and box corner multiples of fine).

    Each block is kept or left out whole: the block sums are taken densely, with no
    runs, and the mask is applied per block. ``cols`` is scratch for bw * fine 16-bit
    column sums (fine <= 64).
    """
    cdef Py_ssize_t by, bx, y, x, width = bw * fine
    cdef int64_t acc
    cdef const uint8_t* line
    cdef const uint8_t* mline
    # Column sums of at most 64 rows fit 16 bits (64 * 255).
    cdef uint16_t* col16 = <uint16_t*>cols
    for by in range(bh):
        # The block row's column sums first (one pass per row, no per-block loop),
        # then each block's from its columns.
        for x in range(width):
            col16[x] = 0
        for y in range(r0 + by * fine, r0 + by * fine + fine):
            line = &image[y, c0]
            for x in range(width):
                col16[x] += line[x]
        mline = &mask[(r0 + by * fine) // cell, 0]
        for bx in range(bw):
            if mline[(c0 + bx * fine) // cell]:
                acc = 0
                for x in range(bx * fine, bx * fine + fine):
                    acc += col16[x]
                bsum[by * bw + bx] = acc
                bcnt[by * bw + bx] = fine * fine
            else:
                bsum[by * bw + bx] = 0
                bcnt[by * bw + bx] = 0


cdef void _blocks_cells(
    const uint8_t[:, ::1] image,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0, Py_ssize_t c0, Py_ssize_t bh, Py_ssize_t bw, Py_ssize_t fine,
    int64_t* bsum, int64_t* bcnt,
    Py_ssize_t* cols,
) noexcept nogil:
    """``_blocks`` when each block is whole cells (fine a multiple of cell, the box corner
    on the cell grid): the blocks of 8 pixels over 4-pixel cells at 1280x720.

    Each cell is kept or left out whole, so a block's sum is that of its kept cells and
    its count their pixels: per row of cells, the column sums of its ``cell`` rows are
    taken densely (no runs), then each kept cell's from its columns. The same integers
    as ``_blocks``. ``cols`` is scratch for bw * fine 16-bit column sums (cell <= 64).
    """
    cdef Py_ssize_t by, bx, sub, cx, y, y0, x, width = bw * fine, per = fine // cell, i
    cdef int64_t acc, whole = cell * cell
    cdef const uint8_t* line
    cdef const uint8_t* mline
    # Column sums of at most 64 rows fit 16 bits (64 * 255).
    cdef uint16_t* col16 = <uint16_t*>cols
    for i in range(bh * bw):
        bsum[i] = 0
        bcnt[i] = 0
    for by in range(bh):
        for sub in range(per):
            y0 = r0 + by * fine + sub * cell
            for x in range(width):
                col16[x] = 0
            for y in range(y0, y0 + cell):
                line = &image[y, c0]
                for x in range(width):
                    col16[x] += line[x]
            mline = &mask[y0 // cell, c0 // cell]
            for bx in range(bw):
                i = by * bw + bx
                for cx in range(per):
                    if mline[bx * per + cx]:
                        acc = 0
                        for x in range(bx * fine + cx * cell, bx * fine + cx * cell + cell):
                            acc += col16[x]
                        bsum[i] += acc
                        bcnt[i] += whole


cdef void _blocks(
    const uint8_t[:, ::1] image,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0, Py_ssize_t c0, Py_ssize_t bh, Py_ssize_t bw, Py_ssize_t fine,
    int64_t* bsum, int64_t* bcnt,
    Py_ssize_t* runs,
) noexcept nogil:
    """Sum and count of the kept pixels of each fine x fine block of the box (bh x bw blocks)."""
    cdef Py_ssize_t y, x, k, count, a, b, lo, hi, j
    cdef int64_t acc
    cdef const uint8_t* line
    cdef int64_t* brow
    cdef int64_t* crow
    for x in range(bh * bw):
        bsum[x] = 0
        bcnt[x] = 0
    cdef Py_ssize_t cell_row = -1
    for y in range(r0, r0 + bh * fine):
        line = &image[y, 0]
        if y // cell != cell_row:
            cell_row = y // cell
            count = _runs(&mask[cell_row, 0], cell, c0, c0 + bw * fine, runs)
        brow = bsum + ((y - r0) // fine) * bw
        crow = bcnt + ((y - r0) // fine) * bw
        for k in range(count):
            a = runs[2 * k]
            b = runs[2 * k + 1]
            # Block by block: the block's pixels of the run summed in a register.
            j = (a - c0) // fine
            lo = a
            while lo < b:
                hi = c0 + (j + 1) * fine
                if hi > b:
                    hi = b
                acc = 0
                for x in range(lo, hi):
                    acc += line[x]
                brow[j] += acc
                crow[j] += hi - lo
                lo = hi
                j += 1


cdef void _pool(
    const int64_t* s, const int64_t* c, Py_ssize_t bh, Py_ssize_t bw, int64_t* ps, int64_t* pc
) noexcept nogil:
    """2 x 2 blocks into one: sums and counts of the (bh // 2) x (bw // 2) coarser blocks."""
    cdef Py_ssize_t y, x, i, j, ph = bh // 2, pw = bw // 2
    for y in range(ph):
        for x in range(pw):
            i = (2 * y) * bw + 2 * x
            j = y * pw + x
            ps[j] = s[i] + s[i + 1] + s[i + bw] + s[i + bw + 1]
            pc[j] = c[i] + c[i + 1] + c[i + bw] + c[i + bw + 1]


cdef Py_ssize_t _means(
    const int64_t* s, const int64_t* c, int16_t* out, Py_ssize_t n
) noexcept nogil:
    """Block means in 1/16 grey level, rounded half up; -1 for a block with no kept pixel.

    Returns how many blocks have no kept pixel. A whole block's count is a power of
    two (fine x fine pixels, fine 4 or 8; four of them pooled): that division is a
    shift (the sums are not negative), which costs a cycle where a 64-bit division
    costs dozens; other counts (blocks the mask cuts) are divided.
    """
    cdef Py_ssize_t i, empty = 0
    cdef int64_t ci, known = 0, v
    cdef int shift = 0
    for i in range(n):
        ci = c[i]
        if ci <= 0:
            out[i] = -1
            empty += 1
            continue
        if ci != known and (ci & (ci - 1)) == 0:
            known = ci
            shift = 0
            v = ci
            while v > 1:
                v >>= 1
                shift += 1
        if ci == known:
            out[i] = <int16_t>((16 * s[i] + ci // 2) >> shift)
        else:
            out[i] = <int16_t>((16 * s[i] + ci // 2) // ci)
    return empty


cdef void _prefix(
    const int16_t* m, Py_ssize_t bh, Py_ssize_t bw, int64_t* ps, int64_t* pss
) noexcept nogil:
    """2-D prefix sums of the means and of their squares, (bh + 1) x (bw + 1) each."""
    cdef Py_ssize_t y, x, w1 = bw + 1
    cdef int64_t row, row2, v
    for x in range(w1):
        ps[x] = 0
        pss[x] = 0
    for y in range(bh):
        row = 0
        row2 = 0
        ps[(y + 1) * w1] = 0
        pss[(y + 1) * w1] = 0
        for x in range(bw):
            v = m[y * bw + x]
            row += v
            row2 += v * v
            ps[(y + 1) * w1 + x + 1] = ps[y * w1 + x + 1] + row
            pss[(y + 1) * w1 + x + 1] = pss[y * w1 + x + 1] + row2


cdef inline int64_t _rect(
    const int64_t* p, Py_ssize_t w1, Py_ssize_t y0, Py_ssize_t y1, Py_ssize_t x0, Py_ssize_t x1
) noexcept nogil:
    """Sum over rows y0..y1-1, columns x0..x1-1 from a prefix table of row length w1."""
    return p[y1 * w1 + x1] - p[y0 * w1 + x1] - p[y1 * w1 + x0] + p[y0 * w1 + x0]


cdef enum:
    PIECE = 256  # blocks per 32-bit partial sum of the search: 256 * 4080 * 4080 < 2**32
    # (and 128 * 4080 * 4080 < 2**31 for the signed sums)


cdef void _search(
    const int16_t* fm, const int16_t* rm,
    Py_ssize_t bh, Py_ssize_t bw, Py_ssize_t size,
    Py_ssize_t cy, Py_ssize_t cx, Py_ssize_t S, double* costs, double* result,
    bint full, int64_t* prefix,
) noexcept nogil:
    """Block search: the shift of the frame's block means against the reference's.

    For each shift (sy, sx) of whole blocks within S of (cy, cx), the correlation of
    the frame's blocks (by, bx), M <= by < bh - M, M <= bx < bw - M with M the
    largest shift searched, with the reference's (by - sy, bx - sx), over the pairs
    where both have kept pixels (means >= 0); cost 1 - correlation (2 with fewer
    than 8 pairs or no spread). The sums are exact integers. The best, refined per
    axis by a parabola through its neighbours, in pixels (blocks of ``size``):
    result = (x, y, cost, spread), the spread being the frame blocks' standard
    deviation (grey levels) at the best shift.

    When every block of both has kept pixels (``full``), every pair is kept: the
    count and the frame's sums are the same at every shift, the reference's come
    from its prefix sums (``prefix``, from ``_prefix``), and only the cross sum is
    taken per shift -- the same integers, fewer passes.
    """
    cdef Py_ssize_t sy, sx, by, bx, k, best = -1, side = 2 * S + 1
    cdef Py_ssize_t my = (cy if cy > 0 else -cy) + S, mx = (cx if cx > 0 else -cx) + S
    cdef const int16_t* frow
    cdef const int16_t* rrow
    cdef int32_t f, r, keep
    cdef int64_t n, sf, sr, sff, srr, sfr
    cdef double vf, vr, dn, den, subx = 0.0, suby = 0.0
    cdef double cm, c0, cp, spread = 0.0
    cdef Py_ssize_t w1 = bw + 1
    cdef int64_t* rps = prefix
    cdef int64_t* rpss = prefix + (bh + 1) * w1
    cdef int64_t full_n = 0, full_sf = 0, full_sff = 0
    cdef Py_ssize_t x0, x1
    cdef uint32_t uf, ur, u_n, u_f, u_r, u_ff, u_rr, u_fr
    cdef int32_t a_fr
    if full:
        for by in range(my, bh - my):
            frow = fm + by * bw
            for bx in range(mx, bw - mx):
                full_n += 1
                full_sf += frow[bx]
                full_sff += frow[bx] * frow[bx]
    for sy in range(cy - S, cy + S + 1):
        for sx in range(cx - S, cx + S + 1):
            n = 0
            sf = 0
            sr = 0
            sff = 0
            srr = 0
            sfr = 0
            # Means are under 4096 (1/16 of 255, rounded): a piece of at most PIECE blocks
            # sums its products in 32 unsigned bits, and the pieces add up in 64.
            if full:
                n = full_n
                sf = full_sf
                sff = full_sff
                sr = _rect(rps, w1, my - sy, bh - my - sy, mx - sx, bw - mx - sx)
                srr = _rect(rpss, w1, my - sy, bh - my - sy, mx - sx, bw - mx - sx)
                for by in range(my, bh - my):
                    frow = fm + by * bw
                    rrow = rm + (by - sy) * bw - sx
                    x0 = mx
                    while x0 < bw - mx:
                        # 16-bit products summed in 32 signed bits: half a piece.
                        x1 = x0 + PIECE // 2 if x0 + PIECE // 2 < bw - mx else bw - mx
                        a_fr = 0
                        for bx in range(x0, x1):
                            a_fr += <int32_t>frow[bx] * <int32_t>rrow[bx]
                        sfr += a_fr
                        x0 = x1
            else:
                for by in range(my, bh - my):
                    frow = fm + by * bw
                    rrow = rm + (by - sy) * bw - sx
                    x0 = mx
                    while x0 < bw - mx:
                        x1 = x0 + PIECE if x0 + PIECE < bw - mx else bw - mx
                        u_n = u_f = u_r = u_ff = u_rr = u_fr = 0
                        for bx in range(x0, x1):
                            # All ones when both blocks have kept pixels (means >= 0), else
                            # 0: no branch in the innermost loop.
                            keep = ~((frow[bx] | rrow[bx]) >> 31)
                            uf = <uint32_t>(frow[bx] & keep)
                            ur = <uint32_t>(rrow[bx] & keep)
                            u_n += <uint32_t>(keep & 1)
                            u_f += uf
                            u_r += ur
                            u_ff += uf * uf
                            u_rr += ur * ur
                            u_fr += uf * ur
                        n += u_n
                        sf += u_f
                        sr += u_r
                        sff += u_ff
                        srr += u_rr
                        sfr += u_fr
                        x0 = x1
            k = (sy - cy + S) * side + (sx - cx + S)
            costs[k] = 2.0
            vf = 0.0
            if n >= 8:
                dn = <double>n
                vf = <double>(n * sff - sf * sf)
                vr = <double>(n * srr - sr * sr)
                if vf > 0.0 and vr > 0.0:
                    costs[k] = 1.0 - <double>(n * sfr - sf * sr) / sqrt(vf * vr)
            if best < 0 or costs[k] < costs[best]:
                best = k
                spread = sqrt(vf) / (16.0 * <double>n) if costs[k] < 2.0 else 0.0
    sy = best // side
    sx = best % side
    if 0 < sx < 2 * S:
        cm = costs[best - 1]
        c0 = costs[best]
        cp = costs[best + 1]
        den = cm - 2.0 * c0 + cp
        if den > 0.0:
            subx = 0.5 * (cm - cp) / den
    if 0 < sy < 2 * S:
        cm = costs[best - side]
        c0 = costs[best]
        cp = costs[best + side]
        den = cm - 2.0 * c0 + cp
        if den > 0.0:
            suby = 0.5 * (cm - cp) / den
    result[0] = (<double>(sx - S + cx) + subx) * size
    result[1] = (<double>(sy - S + cy) + suby) * size
    result[2] = costs[best]
    result[3] = spread


cdef inline Py_ssize_t _nearest(double v) noexcept nogil:
    return <Py_ssize_t>floor(v + 0.5)


cdef enum:
    N_SUMS = 14  # n, f, r, fr, rr, gx, gy, gxf, gxr, gyf, gyr, hxx, hxy, hyy


cdef enum:
    CHUNK = 128  # pixels per 32-bit partial sum of a Lucas-Kanade step: 128 * 65280 * 255 < 2**31


cdef Py_ssize_t _chunks(const Py_ssize_t* runs, Py_ssize_t count, Py_ssize_t* chunks) noexcept nogil:
    """The runs cut into pieces of at most CHUNK columns, as [start, end) pairs; their count."""
    cdef Py_ssize_t k, a, b, n = 0
    for k in range(count):
        a = runs[2 * k]
        b = runs[2 * k + 1]
        while a < b:
            chunks[2 * n] = a
            chunks[2 * n + 1] = a + CHUNK if a + CHUNK < b else b
            a = chunks[2 * n + 1]
            n += 1
    return n


cdef void _lk_sums(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
    double dx, double dy,
    Py_ssize_t row_step,
    int64_t* sums,
    Py_ssize_t* runs,
    bint frame_only,
) noexcept nogil:
    """The integer sums of one Lucas-Kanade step at shift (dx, dy), in N_SUMS order.

    With ``frame_only`` only the sums that involve the frame (f, fr, gxf, gyf) are
    taken and written; the others are left as they are. They depend on the reference
    and on which pixels are summed only, so they are the same at any shift with the
    same whole-pixel part (the caller keeps them from the step before).

    F is the frame sampled at (y + dy, x + dx) in 1/256 grey levels, with
    bilinear weights in 1/256 pixel; R the reference; GX, GY its central
    differences (twice the gradient). Pixels of the box's interior whose four
    samples fall outside the frame are left out.
    """
    cdef Py_ssize_t h = frame.shape[0], w = frame.shape[1]
    cdef Py_ssize_t y, x, k, count, lo_x, hi_x, fy
    cdef double fdy = floor(dy), fdx = floor(dx)
    cdef Py_ssize_t iy = <Py_ssize_t>fdy, ix = <Py_ssize_t>fdx
    cdef int32_t wy = <int32_t>floor((dy - fdy) * 256.0 + 0.5)
    cdef int32_t wx = <int32_t>floor((dx - fdx) * 256.0 + 0.5)
    cdef int64_t n = 0, sf = 0, sr = 0, sfr = 0, srr = 0
    cdef int64_t sgx = 0, sgy = 0, sgxf = 0, sgxr = 0, sgyf = 0, sgyr = 0
    cdef int64_t hxx = 0, hxy = 0, hyy = 0
    cdef const uint8_t* f0
    cdef const uint8_t* f1
    cdef const uint8_t* rm
    cdef const uint8_t* ru
    cdef const uint8_t* rd
    cdef Py_ssize_t* chunks = runs + (c1 - c0) + 2
    cdef int32_t part[13]
    lo_x = c0 + 1
    if lo_x < -ix:
        lo_x = -ix
    hi_x = c1 - 1
    if hi_x > w - 1 - ix:
        hi_x = w - 1 - ix
    y = r0 + 1 - row_step
    while True:
        y += row_step
        if y >= r1 - 1:
            break
        fy = y + iy
        if fy < 0 or fy + 1 >= h:
            continue
        f0 = &frame[fy, 0]
        f1 = &frame[fy + 1, 0]
        rm = &reference[y, 0]
        ru = &reference[y - 1, 0]
        rd = &reference[y + 1, 0]
        count = _chunks(runs, _runs(&mask[y // cell, 0], cell, lo_x, hi_x, runs), chunks)
        # A chunk's sums fit in 32 bits (at most CHUNK pixels, each product under
        # 65280 * 255): taken so per chunk (``lk_simd.h``, baseline or AVX2, where
        # the frame is sampled too), added up in 64.
        if frame_only:
            for k in range(2 * count):
                if k % 2:
                    continue
                x = chunks[k]
                lk_chunk(f0 + x + ix, f1 + x + ix, rm + x, ru + x, rd + x,
                         chunks[k + 1] - x, wx, wy, part, 1, _level)
                sf += part[0]
                sfr += part[1]
                sgxf += part[2]
                sgyf += part[3]
            continue
        for k in range(2 * count):
            if k % 2:
                continue
            x = chunks[k]
            lk_chunk(f0 + x + ix, f1 + x + ix, rm + x, ru + x, rd + x,
                     chunks[k + 1] - x, wx, wy, part, 0, _level)
            sf += part[0]
            sr += part[1]
            sfr += part[2]
            srr += part[3]
            sgx += part[4]
            sgy += part[5]
            sgxf += part[6]
            sgxr += part[7]
            sgyf += part[8]
            sgyr += part[9]
            hxx += part[10]
            hxy += part[11]
            hyy += part[12]
            n += chunks[k + 1] - chunks[k]
    sums[1] = sf
    sums[3] = sfr
    sums[7] = sgxf
    sums[9] = sgyf
    if frame_only:
        return
    sums[0] = n
    sums[2] = sr
    sums[4] = srr
    sums[5] = sgx
    sums[6] = sgy
    sums[8] = sgxr
    sums[10] = sgyr
    sums[11] = hxx
    sums[12] = hxy
    sums[13] = hyy


cdef void _lk_span(
    Py_ssize_t h, Py_ssize_t w,
    Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
    double dx, double dy, Py_ssize_t* span,
) noexcept nogil:
    """The rows [span[0], span[1]) and columns [span[2], span[3]) ``_lk_sums`` samples at
    (dx, dy) (its rows are r0 + 1 + k * row_step among them): one span, the same pixels."""
    cdef Py_ssize_t iy = <Py_ssize_t>floor(dy), ix = <Py_ssize_t>floor(dx)
    span[0] = r0 + 1 if r0 + 1 > -iy else -iy
    span[1] = r1 - 1 if r1 - 1 < h - 1 - iy else h - 1 - iy
    span[2] = c0 + 1 if c0 + 1 > -ix else -ix
    span[3] = c1 - 1 if c1 - 1 < w - 1 - ix else w - 1 - ix


cdef int _lk_solve(const int64_t* s, double* step) noexcept nogil:
    """The Gauss-Newton step from the sums; 0 when the normal equations are singular."""
    cdef double dn, mf, mr, cov, var, gain, bx, by, det
    cdef double hxx = <double>s[11], hxy = <double>s[12], hyy = <double>s[13]
    if s[0] < 16:
        return 0
    dn = <double>s[0]
    mf = <double>s[1] / dn
    mr = <double>s[2] / dn
    cov = <double>s[3] - dn * mf * mr
    var = <double>s[4] - dn * mr * mr
    if var < _EPS or fabs(cov) < _EPS:
        return 0
    gain = cov / var
    # With e = (F - mf) / gain - (R - mr) and G twice the gradient: sum(G G^T) d = 2 sum(G e).
    bx = ((<double>s[7] - mf * <double>s[5]) / gain - (<double>s[8] - mr * <double>s[5])) * 2.0
    by = ((<double>s[9] - mf * <double>s[6]) / gain - (<double>s[10] - mr * <double>s[6])) * 2.0
    det = hxx * hyy - hxy * hxy
    if det < _EPS:
        return 0
    step[0] = (hyy * bx - hxy * by) / det
    step[1] = (hxx * by - hxy * bx) / det
    return 1


def lk_sums(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0,
    Py_ssize_t r1,
    Py_ssize_t c0,
    Py_ssize_t c1,
    double dx,
    double dy,
    Py_ssize_t row_step,
    int64_t[::1] sums,
    Py_ssize_t[::1] runs,
):
    """The integer sums of one Lucas-Kanade step (for the tests: held exactly to numpy).

    ``runs`` holds at least 3 * (c1 - c0) + 10 values (as ``register``'s).
    """
    with nogil:
        _lk_sums(
            frame, reference, mask, cell, r0, r1, c0, c1, dx, dy, row_step, &sums[0], &runs[0],
            False,
        )


def register(
    const uint8_t[:, ::1] frame,
    const uint8_t[:, ::1] reference,
    const uint8_t[:, ::1] mask,
    Py_ssize_t cell,
    Py_ssize_t r0,
    Py_ssize_t r1,
    Py_ssize_t c0,
    Py_ssize_t c1,
    Py_ssize_t fine,
    Py_ssize_t reach,
    int iterations,
    int64_t[::1] sums,
    double[::1] scratch,
    Py_ssize_t[::1] runs,
    double[::1] out,
    int64_t[::1] kept,
    bint same,
):
    """Write (dx, dy, block dx, block dy, texture, cost, coarse dx, coarse dy) into out.

    See the module docstring. The coarse search covers +-reach blocks of 2 * fine
    pixels; the fine one FINE_REACH blocks of ``fine`` pixels around its result.
    ``cost`` is the fine search's (1 - correlation), ``texture`` the spread of the
    frame's fine block means (grey levels).

    What comes of the reference alone (its block sums, means and prefix sums in
    ``sums``; its Lucas-Kanade sums and the pixels they cover in ``kept``, 5 + N_SUMS
    int64) is kept from call to call: with ``same`` the caller says the reference and
    the mask are those of the last call with these buffers, and it is used again.

    For a box of h rows and w columns, with bh = h // fine and bw = w // fine,
    ``sums`` holds at least 5 * (bh * bw + (bh // 2) * (bw // 2)) + 2 * (bh + 1) * (bw + 1)
    + 2 * (bh // 2 + 1) * (bw // 2 + 1) int64 (a fifth holds the 16-bit block means, the
    rest for the searches' prefix sums),
    ``scratch`` at least (2 * reach + 1) ** 2 + (2 * FINE_REACH + 1) ** 2 doubles,
    ``runs`` at least 3 * w + 10 (the runs, then their chunks).
    """
    cdef Py_ssize_t h = r1 - r0, w = c1 - c0, k
    cdef Py_ssize_t bh = h // fine, bw = w // fine, n = bh * bw, pn = (bh // 2) * (bw // 2)
    cdef int64_t* fs = &sums[0]
    cdef int64_t* fc = fs + n
    cdef int64_t* rs = fc + n
    cdef int64_t* rc = rs + n
    cdef int64_t* pfs = rc + n
    cdef int64_t* pfc = pfs + pn
    cdef int64_t* prs = pfc + pn
    cdef int64_t* prc = prs + pn
    # The block means (at most 4080, or -1) in 16 bits, in the room of n + pn int64.
    cdef int16_t* fm = <int16_t*>(prc + pn)
    cdef int16_t* rm = fm + n
    cdef int16_t* pfm = rm + n
    cdef int16_t* prm = pfm + pn
    cdef double* costs = &scratch[0]
    cdef double coarse[4]
    cdef double found[4]
    cdef double step[2]
    cdef double dx, dy
    cdef int64_t lk[N_SUMS]
    cdef int64_t* prefix = prc + pn + n + pn
    cdef int64_t* pprefix = prefix + 2 * (bh + 1) * (bw + 1)
    cdef bint aligned = cell % fine == 0 and r0 % fine == 0 and c0 % fine == 0
    cdef bint in_cells = (
        not aligned and cell <= 64 and fine % cell == 0 and r0 % cell == 0 and c0 % cell == 0
    )
    cdef bint full, pfull, frame_only
    cdef Py_ssize_t span[4]
    cdef Py_ssize_t j
    cdef int64_t* last = &kept[0]
    with nogil:
        if not same:
            # A new reference or mask: what came of the old one is dropped.
            last[0] = 0
            if aligned:
                _blocks_aligned(reference, mask, cell, r0, c0, bh, bw, fine, rs, rc, &runs[0])
            elif in_cells:
                _blocks_cells(reference, mask, cell, r0, c0, bh, bw, fine, rs, rc, &runs[0])
            else:
                _blocks(reference, mask, cell, r0, c0, bh, bw, fine, rs, rc, &runs[0])
            _pool(rs, rc, bh, bw, prs, prc)
            _means(rs, rc, rm, n)
            _means(prs, prc, prm, pn)
            _prefix(rm, bh, bw, prefix, prefix + (bh + 1) * (bw + 1))
            _prefix(prm, bh // 2, bw // 2, pprefix, pprefix + (bh // 2 + 1) * (bw // 2 + 1))
        if aligned:
            _blocks_aligned(frame, mask, cell, r0, c0, bh, bw, fine, fs, fc, &runs[0])
        elif in_cells:
            _blocks_cells(frame, mask, cell, r0, c0, bh, bw, fine, fs, fc, &runs[0])
        else:
            _blocks(frame, mask, cell, r0, c0, bh, bw, fine, fs, fc, &runs[0])
        _pool(fs, fc, bh, bw, pfs, pfc)
        # One mask for both: a block has no kept pixel in the frame where it has none
        # in the reference.
        full = _means(fs, fc, fm, n) == 0
        pfull = _means(pfs, pfc, pfm, pn) == 0
        _search(
            pfm, prm, bh // 2, bw // 2, 2 * fine, 0, 0, reach, costs, coarse, pfull, pprefix
        )
        _search(
            fm, rm, bh, bw, fine,
            _nearest(coarse[1] / fine), _nearest(coarse[0] / fine), FINE_REACH,
            costs + (2 * reach + 1) * (2 * reach + 1), found, full, prefix,
        )
        dx = found[0]
        dy = found[1]
        for k in range(iterations):
            # The reference's sums stand while the same pixels are summed (``last``:
            # valid, then the span they cover, then the sums).
            _lk_span(frame.shape[0], frame.shape[1], r0, r1, c0, c1, dx, dy, span)
            frame_only = last[0] != 0 and (
                span[0] == last[1] and span[1] == last[2]
                and span[2] == last[3] and span[3] == last[4]
            )
            if frame_only:
                for j in range(N_SUMS):
                    lk[j] = last[5 + j]
            _lk_sums(
                frame, reference, mask, cell, r0, r1, c0, c1, dx, dy, fine, lk, &runs[0],
                frame_only,
            )
            if not frame_only:
                last[0] = 1
                for j in range(4):
                    last[1 + j] = span[j]
                for j in range(N_SUMS):
                    last[5 + j] = lk[j]
            if not _lk_solve(lk, step):
                break
            dx -= step[0]
            dy -= step[1]
            if fabs(step[0]) + fabs(step[1]) < _LK_DONE:
                break
        if (dx - found[0]) * (dx - found[0]) + (dy - found[1]) * (dy - found[1]) > <double>(
            fine * fine
        ):
            dx = found[0]
            dy = found[1]
    out[0] = dx
    out[1] = dy
    out[2] = found[0]
    out[3] = found[1]
    out[4] = found[3]
    out[5] = found[2]
    out[6] = coarse[0]
    out[7] = coarse[1]
