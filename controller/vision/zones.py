"""Camera zones: named polygons in frame pixels, and their cells on the kernel's grid.

The detector works on cells, not pixels, so a zone is turned once into the set
of cells it covers. A pixel is inside a zone when its centre is inside the
polygon, so zones that share an edge share no pixel. A cell belongs to a zone
when at least half of its pixels are inside; zones may overlap. Where a zone's
edge cuts a cell, the detector also looks at the zone's own pixels of that
cell (``ZoneGrid.edges``): a bumper two pixels into a zone is in it. Zones come from a TOML file
(``[[zone]]`` tables with ``name`` and ``polygon = [[x, y], ...]``) or from the
lane config's ``[camera]`` section, and every error names the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from controller.vision import _cells, _zone_edges
from controller.vision.cells import CellGroups
from controller.vision.kernel import GAIN_Q8_MAX, OFFSET_MAX, grid_shape

__all__ = [
    "EdgeCells",
    "Zone",
    "ZoneBodies",
    "ZoneError",
    "ZoneGrid",
    "cell_box",
    "cell_masks",
    "dump_zones",
    "edge_bodies",
    "edge_counts",
    "largest_body",
    "load_zones",
    "outside_cells",
    "parse_zones",
    "pixel_mask",
    "zone_grid",
]

Point = tuple[float, float]


class ZoneError(ValueError):
    """A zone definition is malformed; the message names the source and the key."""


@dataclass(frozen=True, slots=True)
class Zone:
    """One named polygon in frame pixel coordinates (x to the right, y down)."""

    name: str
    polygon: tuple[Point, ...]


def _parse_point(where: str, raw: object) -> Point:
    if (
        not isinstance(raw, (list, tuple))
        or len(raw) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    ):
        raise ZoneError(f"{where}: expected [x, y] numbers, got {raw!r}")
    return (float(raw[0]), float(raw[1]))


def _parse_zone(where: str, raw: object) -> Zone:
    if not isinstance(raw, Mapping):
        raise ZoneError(f"{where}: expected a table with name and polygon, got {raw!r}")
    unknown = sorted(set(raw) - {"name", "polygon"})
    if unknown:
        raise ZoneError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ZoneError(f"{where}.name: expected a non-empty string, got {name!r}")
    polygon = raw.get("polygon")
    if not isinstance(polygon, (list, tuple)):
        raise ZoneError(f"{where}.polygon: expected a list of [x, y] points, got {polygon!r}")
    points = tuple(_parse_point(f"{where}.polygon[{i}]", p) for i, p in enumerate(polygon))
    if len(points) < 3:
        raise ZoneError(f"{where}.polygon: needs at least 3 points, got {len(points)}")
    return Zone(name=name, polygon=points)


def parse_zones(raw: object, source: str = "zones") -> tuple[Zone, ...]:
    """Zones from a parsed ``[[zone]]`` list (or a mapping holding key ``zone``).

    ``source`` prefixes every error message (a file name or ``config [camera]``).
    """
    if isinstance(raw, Mapping):
        if "zone" not in raw:
            raise ZoneError(f"{source}: missing key 'zone' (a [[zone]] table list)")
        raw = raw["zone"]
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ZoneError(f"{source}: zone: expected a non-empty list of zone tables")
    zones = tuple(_parse_zone(f"{source}: zone[{i}]", item) for i, item in enumerate(raw))
    seen: set[str] = set()
    for zone in zones:
        if zone.name in seen:
            raise ZoneError(f"{source}: zone name {zone.name!r} appears twice")
        seen.add(zone.name)
    return zones


def load_zones(path: str | Path) -> tuple[Zone, ...]:
    """Read a zones TOML file; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ZoneError(f"{path}: cannot read zones file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ZoneError(f"{path}: not valid TOML: {exc}") from exc
    return parse_zones(data, source=str(path))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def dump_zones(zones: Iterable[Zone]) -> str:
    """The TOML text that ``load_zones`` reads back to the same zones."""
    parts: list[str] = []
    for zone in zones:
        points = ", ".join(f"[{_fmt(x)}, {_fmt(y)}]" for x, y in zone.polygon)
        parts.append(f'[[zone]]\nname = "{zone.name}"\npolygon = [{points}]\n')
    return "\n".join(parts)


def pixel_mask(zone: Zone, height: int, width: int) -> npt.NDArray[np.bool_]:
    """The pixels whose centres lie inside the zone's polygon (even-odd rule).

    The crossing test is half-open, so a pixel centre on an edge that two
    zones share belongs to exactly one of them.
    """
    mask = np.zeros((height, width), dtype=bool)
    poly = np.asarray(zone.polygon, dtype=np.float64)
    x0 = max(0, math.floor(float(poly[:, 0].min())))
    x1 = min(width, math.ceil(float(poly[:, 0].max())))
    y0 = max(0, math.floor(float(poly[:, 1].min())))
    y1 = min(height, math.ceil(float(poly[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return mask
    mask[y0:y1, x0:x1] = _inside(poly, y0, y1, x0, x1)
    return mask


def _inside(
    poly: npt.NDArray[np.float64], y0: int, y1: int, x0: int, x1: int
) -> npt.NDArray[np.bool_]:
    """Pixels of the window [y0, y1) x [x0, x1) whose centres lie inside poly (even-odd)."""
    px = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    py = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for (ax, ay), (bx, by) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if ay == by:
            continue
        spans = (ay > py) != (by > py)
        cross_x = ax + (py - ay) * (bx - ax) / (by - ay)
        inside ^= spans & (px < cross_x)
    return inside


@dataclass(frozen=True, slots=True)
class EdgeCells:
    """The cells a zone covers only in part, and the zone's pixels in each."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    pixels: npt.NDArray[np.intp]
    """Flat frame indices of the zone's pixels in these cells."""
    owner: npt.NDArray[np.intp]
    """For each of ``pixels``, the index of its cell in ``rows``/``cols``."""
    inside: npt.NDArray[np.int64]
    """The zone's pixel count in each cell."""
    toward: npt.NDArray[np.intp]
    """Per cell, the (rows, cols) shift that lays a cell-sized window on the zone's side."""


@dataclass(frozen=True, slots=True)
class ZoneGrid:
    """A set of zones on the kernel's cell grid."""

    masks: dict[str, npt.NDArray[np.bool_]]
    """Per zone, the cells at least half inside it."""
    interior: dict[str, npt.NDArray[np.bool_]]
    """Per zone, the cells wholly inside it."""
    touched: dict[str, npt.NDArray[np.bool_]]
    """Per zone, the cells with any of its pixels."""
    edges: dict[str, EdgeCells]
    """Per zone, the cells it covers in part."""
    boxes: dict[str, tuple[int, int, int, int]]
    """Per zone, the rows and columns of cells it touches: (row0, row1, col0, col1)."""


def zone_grid(zones: Sequence[Zone], height: int, width: int, cell: int) -> ZoneGrid:
    """Zones turned into cells; a zone that covers no half-cell is an error.

    Such a zone could never be seen. Each zone's pixels are looked at only in
    the cells its bounding box covers (compiled: ``_zone_edges.rasterise``), and
    its cell maps are worked out in that window too, so moving the zones (a
    camera that settled elsewhere) costs a fraction of a millisecond per zone,
    not passes over the whole frame. The
    same maps as ``zones_reference.zone_grid_reference``, to the bit.
    """
    rows, cols = grid_shape(height, width, cell)
    row_px = np.minimum(cell, height - np.arange(rows) * cell).astype(np.float32)
    col_px = np.minimum(cell, width - np.arange(cols) * cell).astype(np.float32)
    area = row_px[:, None] * col_px[None, :]
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    interior: dict[str, npt.NDArray[np.bool_]] = {}
    touched: dict[str, npt.NDArray[np.bool_]] = {}
    edges: dict[str, EdgeCells] = {}
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for zone in zones:
        poly = np.asarray(zone.polygon, dtype=np.float64)
        x0 = max(0, math.floor(float(poly[:, 0].min())))
        x1 = min(width, math.ceil(float(poly[:, 0].max())))
        y0 = max(0, math.floor(float(poly[:, 1].min())))
        y1 = min(height, math.ceil(float(poly[:, 1].max())))
        if x1 <= x0 or y1 <= y0:
            raise ZoneError(
                f"zone {zone.name!r}: covers no cell of size {cell} in a {width}x{height} frame"
            )
        # The window of whole cells around the zone's bounding box: every cell of the
        # zone is in it, and every map is worked out there only.
        cr0, cr1, cc0, cc1 = y0 // cell, -(-y1 // cell), x0 // cell, -(-x1 // cell)
        wy0, wy1 = cr0 * cell, min(height, cr1 * cell)
        wx0, wx1 = cc0 * cell, min(width, cc1 * cell)
        # The window's pixels inside the zone, padded to whole cells, and their count
        # per cell: one compiled pass (``_inside`` and cell sums, to the pixel).
        raster = np.empty(((cr1 - cr0) * cell, (cc1 - cc0) * cell), dtype=np.uint8)
        sums = np.empty((cr1 - cr0, cc1 - cc0), dtype=np.int32)
        _zone_edges.rasterise(poly, wy0, wy1, wx0, wx1, cell, raster, sums)
        # Whole numbers, each exact in float32 (the reference sums them as float32).
        win = sums.astype(np.float32)
        win_area = area[cr0:cr1, cc0:cc1]
        half = win * 2 >= win_area
        if not half.any():
            raise ZoneError(
                f"zone {zone.name!r}: covers no cell of size {cell} in a {width}x{height} frame"
            )
        some = win > 0
        whole = win >= win_area
        masks[zone.name] = _placed(half, rows, cols, cr0, cc0)
        interior[zone.name] = _placed(whole, rows, cols, cr0, cc0)
        touched[zone.name] = _placed(some, rows, cols, cr0, cc0)
        tr, tc = np.nonzero(some)
        boxes[zone.name] = (
            int(tr.min()) + cr0,
            int(tr.max()) + 1 + cr0,
            int(tc.min()) + cc0,
            int(tc.max()) + 1 + cc0,
        )
        # Only the pixels of the cells the edge cuts are listed, in the frame's
        # row-major order, with the sums of their rows and columns per cell (one
        # compiled pass over those cells' pixels: ``_zone_edges.cut_pixels``).
        part_r, part_c = np.nonzero(some & ~whole)
        part_inside = win[part_r, part_c]
        count = int(sums[part_r, part_c].sum())
        pixels = np.empty(count, dtype=np.intp)
        owner = np.empty(count, dtype=np.intp)
        sum_r = np.zeros(part_r.size, dtype=np.float64)
        sum_c = np.zeros(part_r.size, dtype=np.float64)
        _zone_edges.cut_pixels(
            raster,
            np.ascontiguousarray(part_c),
            np.searchsorted(part_r, np.arange(cr1 - cr0 + 1)),
            cell,
            wy0,
            wx0,
            width,
            pixels,
            owner,
            sum_r,
            sum_c,
        )
        part_r, part_c = part_r + cr0, part_c + cc0
        # The centroid of the zone's pixels in a cell, against the cell's centre:
        # twice that moves a cell-sized window onto the zone's side.
        weight = np.maximum(part_inside, 1.0)
        mean_r = sum_r / weight
        mean_c = sum_c / weight
        centre = (cell - 1) / 2.0
        toward = np.stack(
            [
                np.rint(2.0 * (mean_r - (part_r * cell + centre))),
                np.rint(2.0 * (mean_c - (part_c * cell + centre))),
            ],
            axis=1,
        ).astype(np.intp)
        edges[zone.name] = EdgeCells(
            rows=part_r.astype(np.intp),
            cols=part_c.astype(np.intp),
            pixels=pixels,
            owner=owner,
            inside=part_inside.astype(np.int64),
            toward=toward,
        )
    return ZoneGrid(masks=masks, interior=interior, touched=touched, edges=edges, boxes=boxes)


def _placed(
    window: npt.NDArray[np.bool_], rows: int, cols: int, r0: int, c0: int
) -> npt.NDArray[np.bool_]:
    """A window's cell map laid into the whole grid (False elsewhere)."""
    out = np.zeros((rows, cols), dtype=bool)
    h, w = window.shape
    out[r0 : r0 + h, c0 : c0 + w] = window
    return out


def edge_counts(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    edge: EdgeCells,
    *,
    gain_q8: int,
    offset: int,
    threshold: int,
    out: npt.NDArray[np.int32] | None = None,
) -> npt.NDArray[np.int32]:
    """Per cell the zone's edge cuts, its pixels that differ from the corrected reference.

    The kernel's test (reference * gain_q8 / 256 + offset, more than threshold
    grey levels off) on the zone's own pixels of each cut cell, compiled
    (``_zone_edges``, defined by ``zones_reference.edge_counts_reference``).
    ``edge`` comes from ``zone_grid`` for this frame size.
    """
    for name, array in (("frame", frame), ("reference", reference)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D uint8 grey image")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous image")
    if reference.shape != frame.shape:
        raise ValueError(f"reference: shape {reference.shape} is not the frame's {frame.shape}")
    if not 0 <= gain_q8 <= GAIN_Q8_MAX:
        raise ValueError(f"gain_q8: {gain_q8} is outside 0..{GAIN_Q8_MAX}")
    if not -OFFSET_MAX <= offset <= OFFSET_MAX:
        raise ValueError(f"offset: {offset} is outside -{OFFSET_MAX}..{OFFSET_MAX}")
    n = edge.rows.size
    if edge.pixels.size and int(edge.pixels[-1]) >= frame.size:
        raise ValueError(f"edge: pixel {int(edge.pixels[-1])} lies outside a {frame.shape} frame")
    if out is None:
        out = np.zeros(n, dtype=np.int32)
    elif out.dtype != np.int32 or out.shape != (n,):
        raise ValueError(f"out: expected int32 of shape ({n},)")
    _zone_edges.edge_counts(
        frame, reference, edge.pixels, edge.owner, gain_q8, offset, threshold, out
    )
    return out


def cell_masks(
    zones: Sequence[Zone], height: int, width: int, cell: int
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per zone, a (rows, cols) boolean map of the cells at least half inside it."""
    return zone_grid(zones, height, width, cell).masks


def cell_box(cells: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """The smallest box (r0, r1, c0, c1) of the grid holding every cell set in cells."""
    rows = np.nonzero(cells.any(axis=1))[0]
    cols = np.nonzero(cells.any(axis=0))[0]
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def outside_cells(grid: ZoneGrid) -> npt.NDArray[np.bool_]:
    """The cells no zone holds."""
    any_zone = np.zeros_like(next(iter(grid.masks.values())))
    for mask in grid.masks.values():
        any_zone |= mask
    outside: npt.NDArray[np.bool_] = ~any_zone
    return outside


def largest_body(
    grid: ZoneGrid,
    name: str,
    groups: CellGroups,
    body: npt.NDArray[np.bool_],
    differs: npt.NDArray[np.bool_],
    edge_body: npt.NDArray[np.bool_],
) -> int:
    """The body cells of a zone's largest group of touching ones (its parts of edge cells too).

    A vehicle is one body; specks of misregistered texture scattered along
    a zone's edges are many small ones, however many they add up to. A cell
    that differs but passed for light, with body cells on both sides of it,
    joins them into one group without counting itself. ``edge_body``: per
    cell the zone's edge cuts, whether a body covers the zone's part of it.
    """
    r0, r1, c0, c1 = grid.boxes[name]
    cells = body[r0:r1, c0:c1] & grid.interior[name][r0:r1, c0:c1]
    edge = grid.edges[name]
    cells[edge.rows[edge_body] - r0, edge.cols[edge_body] - c0] = True
    if not cells.any():
        return 0
    may_bridge = differs[r0:r1, c0:c1] & grid.touched[name][r0:r1, c0:c1]
    return groups.largest(cells, may_bridge)


@dataclass(frozen=True, slots=True)
class _Stacked:
    """A grid's maps laid out for the compiled ``zone_bodies`` pass."""

    names: tuple[str, ...]
    shape: tuple[int, int]
    interior: npt.NDArray[np.uint8]
    """Each zone's interior cells over its box, row-major, one zone after the other."""
    touched: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.intp]
    box_start: npt.NDArray[np.intp]
    """Where each zone's box starts in interior and touched."""
    edge_rows: npt.NDArray[np.intp]
    edge_cols: npt.NDArray[np.intp]
    edge_start: npt.NDArray[np.intp]
    edge_sizes: tuple[int, ...]
    scratch: npt.NDArray[np.uint8]
    stack: npt.NDArray[np.int32]
    out: npt.NDArray[np.int64]
    hit: npt.NDArray[np.uint8]
    """Per zone, ``ZoneBodies.touched_any``'s answer."""
    edges_in_order: bool
    """The grid's edges are listed in its zones' order (``counts_flat`` needs it)."""


BODIES_KEPT = 16
"""Grids whose stacked maps ``ZoneBodies`` keeps (as many as placements are kept)."""


class ZoneBodies:
    """Every zone's ``largest_body`` in one compiled call (``_cells.zone_bodies``).

    Per zone, per frame, the plain way slices and combines its maps and calls the
    grouping: a few microseconds of numpy each. Here each grid's maps are stacked
    once (the last ``BODIES_KEPT`` grids kept: a settled mast swings between a few
    placements) and one pass answers for all zones, with no temporary.
    """

    def __init__(self) -> None:
        self._built: dict[int, tuple[ZoneGrid, _Stacked]] = {}

    def _stacked(self, grid: ZoneGrid) -> _Stacked:
        kept = self._built.get(id(grid))
        if kept is not None and kept[0] is grid:
            return kept[1]
        names = tuple(grid.masks)
        boxes = np.array([grid.boxes[n] for n in names], dtype=np.intp).reshape(-1, 4)
        areas = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
        largest = int(areas.max())
        sizes = tuple(grid.edges[n].rows.size for n in names)
        cut = [np.s_[r0:r1, c0:c1] for r0, r1, c0, c1 in boxes.tolist()]
        stacked = _Stacked(
            names=names,
            shape=grid.masks[names[0]].shape,
            interior=np.concatenate(
                [grid.interior[n][c].ravel() for n, c in zip(names, cut, strict=True)]
            ).view(np.uint8),
            touched=np.concatenate(
                [grid.touched[n][c].ravel() for n, c in zip(names, cut, strict=True)]
            ).view(np.uint8),
            boxes=boxes,
            box_start=np.concatenate([[0], np.cumsum(areas)]).astype(np.intp),
            edge_rows=np.concatenate([grid.edges[n].rows for n in names]).astype(np.intp),
            edge_cols=np.concatenate([grid.edges[n].cols for n in names]).astype(np.intp),
            edge_start=np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp),
            edge_sizes=sizes,
            scratch=np.zeros(3 * largest, dtype=np.uint8),
            stack=np.zeros(largest, dtype=np.int32),
            out=np.zeros(len(names), dtype=np.int64),
            hit=np.zeros(len(names), dtype=np.uint8),
            edges_in_order=tuple(grid.edges) == names,
        )
        if len(self._built) >= BODIES_KEPT:
            self._built.pop(next(iter(self._built)))
        self._built[id(grid)] = (grid, stacked)
        return stacked

    def counts(
        self,
        grid: ZoneGrid,
        body: npt.NDArray[np.bool_],
        differs: npt.NDArray[np.bool_],
        edge_body: Mapping[str, npt.NDArray[np.bool_]],
    ) -> dict[str, int]:
        """Per zone of grid, what ``largest_body`` gives for it (same arguments)."""
        st = self._stacked(grid)
        shape = st.shape
        for name, mask in (("body", body), ("differs", differs)):
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != shape:
                raise ValueError(f"{name}: expected a bool array of the grid's shape {shape}")
        hits = []
        for name, size in zip(st.names, st.edge_sizes, strict=True):
            hit = edge_body.get(name)
            if not isinstance(hit, np.ndarray) or hit.dtype != np.bool_ or hit.shape != (size,):
                raise ValueError(f"edge_body[{name!r}]: expected {size} bools (its edge cells)")
            hits.append(hit)
        _cells.zone_bodies(
            np.ascontiguousarray(body).view(np.uint8),
            np.ascontiguousarray(differs).view(np.uint8),
            st.interior,
            st.touched,
            st.boxes,
            st.box_start,
            st.edge_rows,
            st.edge_cols,
            st.edge_start,
            np.concatenate(hits).view(np.uint8) if hits else np.zeros(0, np.uint8),
            st.scratch,
            st.stack,
            st.out,
        )
        return dict(zip(st.names, st.out.tolist(), strict=True))

    def counts_flat(
        self,
        grid: ZoneGrid,
        body: npt.NDArray[np.bool_],
        differs: npt.NDArray[np.bool_],
        edge_hit: npt.NDArray[np.bool_],
    ) -> list[int]:
        """``counts`` in the grid's zone order, edge_body given end to end in that order
        (``edge_bodies.EdgeBodies.find_flat``), for a caller whose maps are C-contiguous
        bool arrays of the grid's shape (the detector's own): only edge_hit's size is
        checked, against the grid's edge cells."""
        st = self._stacked(grid)
        if edge_hit.shape != (int(st.edge_start[-1]),):
            raise ValueError(f"edge_hit: expected {int(st.edge_start[-1])} bools (the edge cells)")
        if not st.edges_in_order:
            raise ValueError("grid: its edges are not in its zones' order")
        _cells.zone_bodies(
            body.view(np.uint8),
            differs.view(np.uint8),
            st.interior,
            st.touched,
            st.boxes,
            st.box_start,
            st.edge_rows,
            st.edge_cols,
            st.edge_start,
            edge_hit.view(np.uint8),
            st.scratch,
            st.stack,
            st.out,
        )
        out: list[int] = st.out.tolist()
        return out

    def touched_any(self, grid: ZoneGrid, cells: npt.NDArray[np.bool_]) -> list[bool]:
        """Per zone of grid, in its order: is a cell set in cells one the zone touches?
        (``(cells & grid.touched[name]).any()``, every zone in one compiled pass over its
        box, ``_cells.zones_any``.)"""
        shape = self._stacked(grid).shape
        if not isinstance(cells, np.ndarray) or cells.dtype != np.bool_ or cells.shape != shape:
            raise ValueError(f"cells: expected a bool array of the grid's shape {shape}")
        return self.touched_any_trusted(grid, np.ascontiguousarray(cells))

    def touched_any_trusted(self, grid: ZoneGrid, cells: npt.NDArray[np.bool_]) -> list[bool]:
        """``touched_any`` for a caller whose cells are what it checks, C-contiguous (the
        detector's own map): nothing is checked here."""
        st = self._stacked(grid)
        _cells.zones_any(cells.view(np.uint8), st.touched, st.boxes, st.box_start, st.hit)
        hit: list[bool] = st.hit.view(np.bool_).tolist()
        return hit


def edge_bodies(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    grid: ZoneGrid,
    *,
    cell: int,
    gain_q8: int,
    offset: int,
    threshold: int,
    fraction: float,
    light: Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], npt.NDArray[np.bool_]],
    limit: tuple[int, int],
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per zone, its part-covered cells where a body covers the zone's own pixels.

    The kernel's test on the zone's pixels of the cell only (``edge_counts``;
    ``fraction`` of them, and at least two), so a vehicle is in a zone from its
    first two pixel columns there, and not while it only covers the part of a
    shared cell that belongs next door. The light-only test (``light``, on
    windows at (ys, xs), each at most ``limit``) then looks at a cell-sized
    window moved onto the zone's side of the edge: a headlight beam ahead of a
    vehicle is light there even while the vehicle fills the rest of the cell.
    """
    limit_y, limit_x = limit
    out: dict[str, npt.NDArray[np.bool_]] = {}
    for name, edge in grid.edges.items():
        counts = edge_counts(
            frame, reference, edge, gain_q8=gain_q8, offset=offset, threshold=threshold
        )
        hit = counts >= np.maximum(2.0, fraction * edge.inside)
        if hit.any():
            k = np.nonzero(hit)[0]
            ys = np.clip(edge.rows[k] * cell + edge.toward[k, 0], 0, limit_y)
            xs = np.clip(edge.cols[k] * cell + edge.toward[k, 1], 0, limit_x)
            hit[k[light(ys, xs)]] = False
        out[name] = hit
    return out
