# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The cell grouping: the body cells of a zone's largest group of touching ones.

The Python wrapper (controller.vision.cells) validates every argument and holds
the scratch buffers; this module trusts it and touches no Python object inside
the pass. The numpy reference (controller.vision.cells_reference) is the
definition: a cell that may bridge (it differs from the reference and belongs
to the zone), is no body cell itself and has body cells on both sides of it
(above and below, or left and right) joins them; groups touch side by side
(4-connectivity); a group's size counts its body cells only.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp


def largest_group(
    const uint8_t[:, ::1] cells,
    const uint8_t[:, ::1] may_bridge,
    int32_t[::1] stack,
    uint8_t[:, ::1] seen,
):
    """The body cells in the largest group (0 when there are none); see the module docstring.

    ``stack`` holds at least rows * cols entries; ``seen`` is the grid's shape.
    """
    cdef Py_ssize_t rows = cells.shape[0], cols = cells.shape[1], y, x, ny, nx, top, d, p
    cdef Py_ssize_t best = 0, size
    cdef int dy[4]
    cdef int dx[4]
    dy[:] = [-1, 1, 0, 0]
    dx[:] = [0, 0, -1, 1]
    with nogil:
        # seen: 0 not in any group, 1 body, 2 bridge, 3 visited.
        for y in range(rows):
            for x in range(cols):
                if cells[y, x]:
                    seen[y, x] = 1
                elif (
                    may_bridge[y, x]
                    and (
                        (0 < y < rows - 1 and cells[y - 1, x] and cells[y + 1, x])
                        or (0 < x < cols - 1 and cells[y, x - 1] and cells[y, x + 1])
                    )
                ):
                    seen[y, x] = 2
                else:
                    seen[y, x] = 0
        for y in range(rows):
            for x in range(cols):
                if seen[y, x] != 1:
                    continue
                size = 1
                seen[y, x] = 3
                stack[0] = <int32_t>(y * cols + x)
                top = 1
                while top > 0:
                    top -= 1
                    p = stack[top]
                    for d in range(4):
                        ny = p // cols + dy[d]
                        nx = p % cols + dx[d]
                        if ny < 0 or ny >= rows or nx < 0 or nx >= cols:
                            continue
                        if seen[ny, nx] == 1 or seen[ny, nx] == 2:
                            if seen[ny, nx] == 1:
                                size += 1
                            seen[ny, nx] = 3
                            stack[top] = <int32_t>(ny * cols + nx)
                            top += 1
                if size > best:
                    best = size
    return best


cdef Py_ssize_t _largest_flat(
    const uint8_t* cells,
    const uint8_t* may_bridge,
    Py_ssize_t rows,
    Py_ssize_t cols,
    int32_t* stack,
    uint8_t* seen,
) noexcept nogil:
    """``largest_group`` on flat row-major maps of rows x cols (the same rules)."""
    cdef Py_ssize_t y, x, ny, nx, top, d, p, q, best = 0, size
    cdef int dy[4]
    cdef int dx[4]
    dy[0] = -1
    dy[1] = 1
    dy[2] = 0
    dy[3] = 0
    dx[0] = 0
    dx[1] = 0
    dx[2] = -1
    dx[3] = 1
    for y in range(rows):
        for x in range(cols):
            p = y * cols + x
            if cells[p]:
                seen[p] = 1
            elif (
                may_bridge[p]
                and (
                    (0 < y < rows - 1 and cells[p - cols] and cells[p + cols])
                    or (0 < x < cols - 1 and cells[p - 1] and cells[p + 1])
                )
            ):
                seen[p] = 2
            else:
                seen[p] = 0
    for y in range(rows):
        for x in range(cols):
            p = y * cols + x
            if seen[p] != 1:
                continue
            size = 1
            seen[p] = 3
            stack[0] = <int32_t>p
            top = 1
            while top > 0:
                top -= 1
                p = stack[top]
                for d in range(4):
                    ny = p // cols + dy[d]
                    nx = p % cols + dx[d]
                    if ny < 0 or ny >= rows or nx < 0 or nx >= cols:
                        continue
                    q = ny * cols + nx
                    if seen[q] == 1 or seen[q] == 2:
                        if seen[q] == 1:
                            size += 1
                        seen[q] = 3
                        stack[top] = <int32_t>q
                        top += 1
            if size > best:
                best = size
    return best


def zone_bodies(
    const uint8_t[:, ::1] body,
    const uint8_t[:, ::1] differs,
    const uint8_t[::1] interior,
    const uint8_t[::1] touched,
    const Py_ssize_t[:, ::1] boxes,
    const Py_ssize_t[::1] box_start,
    const Py_ssize_t[::1] edge_rows,
    const Py_ssize_t[::1] edge_cols,
    const Py_ssize_t[::1] edge_start,
    const uint8_t[::1] edge_hit,
    uint8_t[::1] scratch,
    int32_t[::1] stack,
    int64_t[::1] out,
):
    """Every zone's largest body at once: out[z] = ``largest_group`` of zone z's box of
    (body & its interior cells, its edge cells edge_hit marks set), may_bridge =
    differs & its touched cells there.

    Zone z's box is boxes[z] = (r0, r1, c0, c1); its interior and touched maps over
    that box are interior/touched[box_start[z]:box_start[z + 1]], row-major; its edge
    cells are
    edge_rows/edge_cols[edge_start[z]:edge_start[z + 1]], each inside the box.
    ``scratch`` holds at least 3 * (the largest box's cells) bytes, ``stack`` that
    many cells. The Python wrapper (zones.ZoneBodies) builds and checks all of it.
    """
    cdef Py_ssize_t zones = boxes.shape[0], z, r0, r1, c0, c1, bh, bw, y, x, e, n, b
    cdef uint8_t* cells
    cdef uint8_t* bridge
    cdef uint8_t* seen
    cdef uint8_t* crow
    cdef uint8_t* brow
    cdef const uint8_t* src
    cdef const uint8_t* dif
    cdef const uint8_t* inn
    cdef const uint8_t* tch
    with nogil:
        for z in range(zones):
            r0 = boxes[z, 0]
            r1 = boxes[z, 1]
            c0 = boxes[z, 2]
            c1 = boxes[z, 3]
            bh = r1 - r0
            bw = c1 - c0
            n = bh * bw
            cells = &scratch[0]
            bridge = cells + n
            seen = bridge + n
            b = box_start[z]
            # Row by row through pointers: the loops vectorise.
            for y in range(bh):
                src = &body[r0 + y, c0]
                dif = &differs[r0 + y, c0]
                inn = &interior[b + y * bw]
                tch = &touched[b + y * bw]
                crow = cells + y * bw
                brow = bridge + y * bw
                for x in range(bw):
                    crow[x] = src[x] & inn[x]
                    brow[x] = dif[x] & tch[x]
            for e in range(edge_start[z], edge_start[z + 1]):
                if edge_hit[e]:
                    cells[(edge_rows[e] - r0) * bw + edge_cols[e] - c0] = 1
            out[z] = _largest_flat(cells, bridge, bh, bw, &stack[0], seen)


def has_neighbour(const uint8_t[:, ::1] cells, uint8_t[:, ::1] out):
    """out[y, x] = 1 where one of the four side neighbours of (y, x) is set, else 0.

    cells holds 0 or 1 only (a bool map's bytes): the ORs need no compare, and the
    columns between the first and the last take no branch, so that loop vectorises.
    """
    cdef Py_ssize_t rows = cells.shape[0], cols = cells.shape[1], y, x
    cdef const uint8_t* up
    cdef const uint8_t* row
    cdef const uint8_t* down
    cdef uint8_t* o
    cdef uint8_t* zero = <uint8_t*>calloc(cols, 1)
    if zero == NULL:
        raise MemoryError("has_neighbour: no memory for one row")
    with nogil:
        for y in range(rows):
            row = &cells[y, 0]
            up = &cells[y - 1, 0] if y > 0 else zero
            down = &cells[y + 1, 0] if y + 1 < rows else zero
            o = &out[y, 0]
            if cols == 1:
                o[0] = up[0] | down[0]
                continue
            o[0] = up[0] | down[0] | row[1]
            for x in range(1, cols - 1):
                o[x] = up[x] | down[x] | row[x - 1] | row[x + 1]
            o[cols - 1] = up[cols - 1] | down[cols - 1] | row[cols - 2]
    free(zero)


def verdicts(
    const int32_t[:, ::1] ref_count,
    const int32_t[:, ::1] motion_count,
    const int32_t[:, ::1] occupied_min,
    const int32_t[:, ::1] moving_min,
    const uint8_t[:, ::1] outside,
    uint8_t[:, ::1] occupied,
    uint8_t[:, ::1] moving,
    int64_t[::1] out,
):
    """Per cell, occupied = ref_count >= occupied_min and moving = motion_count >=
    moving_min; out[0] = the sum of motion_count, out[1] = 1 when a cell outside
    every zone moved. All arrays are the grid's shape (the wrapper checks); the
    counts are pixel counts of a cell (0..MAX_CELL ** 2). Flat, branch-free loops,
    so they vectorise."""
    cdef Py_ssize_t n = ref_count.shape[0] * ref_count.shape[1], i, j, end
    cdef int64_t total = 0
    cdef int32_t part
    cdef uint8_t outside_moved = 0
    cdef const int32_t* rc = &ref_count[0, 0]
    cdef const int32_t* mc = &motion_count[0, 0]
    cdef const int32_t* om = &occupied_min[0, 0]
    cdef const int32_t* mm = &moving_min[0, 0]
    cdef const uint8_t* outs = &outside[0, 0]
    cdef uint8_t* occ = &occupied[0, 0]
    cdef uint8_t* mov = &moving[0, 0]
    with nogil:
        for i in range(n):
            occ[i] = rc[i] >= om[i]
            mov[i] = mc[i] >= mm[i]
        for i in range(n):
            outside_moved |= mov[i] & outs[i]
        # Summed in int32 over blocks (a cell counts at most MAX_CELL ** 2 = 2 ** 18
        # pixels, a block 2 ** 12 cells), so the loop vectorises without 64-bit lanes.
        i = 0
        while i < n:
            end = i + 4096 if i + 4096 < n else n
            part = 0
            for j in range(i, end):
                part += mc[j]
            total += part
            i = end
    out[0] = total
    out[1] = outside_moved


def still_cells(
    const int32_t[:, ::1] changed,
    const int32_t[:, ::1] min_count,
    const uint8_t[:, ::1] touched,
    const uint8_t[:, ::1] before,
    bint has_before,
    uint8_t[:, ::1] own,
    uint8_t[:, ::1] differs,
):
    """A zone's cells that moved since its kept picture; see ``stillness``.

    ``changed``: per cell, the pixels that changed (the kernel's reference count of
    the zone's box against its kept picture). A cell differs when that reaches
    min_count, and counts when one of its four neighbours differs too and it is
    touched. Writes those cells into differs (own is scratch, the grid's shape) and
    returns how many of them differed in ``before`` too (0 without one).
    """
    cdef Py_ssize_t rows = changed.shape[0], cols = changed.shape[1], cy, cx
    cdef uint8_t nb
    cdef int64_t both = 0
    with nogil:
        for cy in range(rows):
            for cx in range(cols):
                own[cy, cx] = changed[cy, cx] >= min_count[cy, cx]
        for cy in range(rows):
            for cx in range(cols):
                nb = 0
                if cy > 0:
                    nb = nb | own[cy - 1, cx]
                if cy + 1 < rows:
                    nb = nb | own[cy + 1, cx]
                if cx > 0:
                    nb = nb | own[cy, cx - 1]
                if cx + 1 < cols:
                    nb = nb | own[cy, cx + 1]
                differs[cy, cx] = own[cy, cx] & nb & touched[cy, cx]
                if has_before:
                    both += differs[cy, cx] & before[cy, cx]
    return both


def zones_any(
    const uint8_t[:, ::1] cells,
    const uint8_t[::1] touched,
    const Py_ssize_t[:, ::1] boxes,
    const Py_ssize_t[::1] box_start,
    uint8_t[::1] out,
):
    """Per zone z, out[z] = 1 when a cell set in cells is one zone z touches, else 0.

    Zone z's touched map over its box boxes[z] = (r0, r1, c0, c1) is
    touched[box_start[z]:box_start[z + 1]], row-major, as ``zone_bodies`` takes it (it
    touches no cell outside its box); the wrapper (zones.ZoneBodies) builds and checks
    them. Defined by ``cells_reference.zones_any_reference``.
    """
    cdef Py_ssize_t zones = boxes.shape[0], z, r0, r1, c0, c1, bw, y, x, b
    cdef uint8_t hit
    cdef const uint8_t* src
    cdef const uint8_t* tch
    with nogil:
        for z in range(zones):
            r0 = boxes[z, 0]
            r1 = boxes[z, 1]
            c0 = boxes[z, 2]
            c1 = boxes[z, 3]
            bw = c1 - c0
            b = box_start[z]
            hit = 0
            for y in range(r1 - r0):
                src = &cells[r0 + y, c0]
                tch = &touched[b + y * bw]
                # Branch-free over the row (it vectorises); rows stop once one hit.
                for x in range(bw):
                    hit |= src[x] & tch[x]
                if hit:
                    break
            out[z] = hit


def bodies(
    const uint8_t[:, ::1] differs,
    const uint8_t[:, ::1] light,
    const uint8_t[:, ::1] believed,
    uint8_t[:, ::1] body,
    uint8_t[:, ::1] occupied,
):
    """After the light-only test, in one pass: body = differs & ~light; occupied = body
    cells with a body cell among their four side neighbours (lone cells are rain); returns
    how many occupied cells are believed empty (the shake check's count).

    Every map holds 0 or 1 only (a bool map's bytes) and has the grid's shape; body and
    occupied are apart from the inputs (the wrapper, ``cells.bodies``, checks). Defined
    by ``cells_reference.bodies_reference``. Row by row: a row's body is made one row
    ahead of its occupied cells, which need the row below.
    """
    cdef Py_ssize_t rows = differs.shape[0], cols = differs.shape[1], y, x
    cdef int64_t both = 0
    cdef const uint8_t* up
    cdef const uint8_t* row
    cdef const uint8_t* down
    cdef const uint8_t* bel
    cdef uint8_t* o
    cdef uint8_t* zero = <uint8_t*>calloc(cols, 1)
    if zero == NULL:
        raise MemoryError("bodies: no memory for one row")
    with nogil:
        for y in range(rows + 1):
            if y < rows:
                for x in range(cols):
                    body[y, x] = differs[y, x] & (light[y, x] ^ 1)
            if y == 0:
                continue
            # Row y - 1's occupied cells, now that rows y - 2 .. y of body are made.
            row = &body[y - 1, 0]
            up = &body[y - 2, 0] if y > 1 else zero
            down = &body[y, 0] if y < rows else zero
            o = &occupied[y - 1, 0]
            bel = &believed[y - 1, 0]
            if cols == 1:
                o[0] = row[0] & (up[0] | down[0])
            else:
                o[0] = row[0] & (up[0] | down[0] | row[1])
                for x in range(1, cols - 1):
                    o[x] = row[x] & (up[x] | down[x] | row[x - 1] | row[x + 1])
                o[cols - 1] = row[cols - 1] & (up[cols - 1] | down[cols - 1] | row[cols - 2])
            for x in range(cols):
                both += o[x] & bel[x]
    free(zero)
    return both


def same_int64(const int64_t[::1] a, const int64_t[::1] b):
    """Whether a and b hold the same values (np.array_equal for two int64 arrays of one
    size, which the caller checks): the freeze check's comparison of grey sums."""
    cdef Py_ssize_t n = a.shape[0]
    cdef int same = 1
    if n:
        with nogil:
            same = memcmp(&a[0], &b[0], n * sizeof(int64_t)) == 0
    return bool(same)


cdef double _pairwise_sum(const double* a, Py_ssize_t n) noexcept nogil:
    """numpy's pairwise sum of a[0:n] (its DOUBLE_pairwise_sum): under 8 values one by one
    from -0.0; up to 128 in eight running sums added as a tree, the rest one by one;
    more split in two at a multiple of 8 below the half. The same float as numpy's."""
    cdef Py_ssize_t i, n2
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    if n < 8:
        res = -0.0
        for i in range(n):
            res = res + a[i]
        return res
    if n <= 128:
        r0 = a[0]
        r1 = a[1]
        r2 = a[2]
        r3 = a[3]
        r4 = a[4]
        r5 = a[5]
        r6 = a[6]
        r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 = r0 + a[i]
            r1 = r1 + a[i + 1]
            r2 = r2 + a[i + 2]
            r3 = r3 + a[i + 3]
            r4 = r4 + a[i + 4]
            r5 = r5 + a[i + 5]
            r6 = r6 + a[i + 6]
            r7 = r7 + a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res = res + a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, n2) + _pairwise_sum(a + n2, n - n2)


def lattice_moments(
    const int64_t[:, ::1] grey_sum,
    Py_ssize_t step,
    const double[:, ::1] inv_area,
    double[:, ::1] means,
    double[:, ::1] squares,
    double[::1] out,
):
    """The picture's brightness and spread, read on the lattice of every step-th cell:
    means = grey_sum[::step, ::step] * inv_area, squares = means * means (each written),
    out[0] = the sum of means and out[1] that of squares, as numpy's ``add.reduce`` sums
    them (0.0 plus its pairwise sum): the same floats as the numpy way
    (``cells_reference.lattice_moments_reference``). The lattice arrays share one shape
    and grey_sum covers it (the wrapper, ``cells.lattice_moments``, checks).
    """
    cdef Py_ssize_t rows = inv_area.shape[0], cols = inv_area.shape[1], y, x
    cdef double m
    with nogil:
        for y in range(rows):
            for x in range(cols):
                m = <double>grey_sum[y * step, x * step] * inv_area[y, x]
                means[y, x] = m
                squares[y, x] = m * m
        if rows * cols:
            out[0] = 0.0 + _pairwise_sum(&means[0, 0], rows * cols)
            out[1] = 0.0 + _pairwise_sum(&squares[0, 0], rows * cols)
        else:
            out[0] = 0.0
            out[1] = 0.0
