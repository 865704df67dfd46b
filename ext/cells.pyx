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

from libc.stdint cimport int32_t, uint8_t


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
