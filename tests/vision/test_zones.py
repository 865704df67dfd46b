"""Zones TOML parsing, its named errors, and the zone -> cell maps the detector uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controller.vision import _zone_edges
from controller.vision.zones import (
    Zone,
    ZoneError,
    ZoneGrid,
    _inside,
    cell_masks,
    dump_zones,
    load_zones,
    parse_zones,
    pixel_mask,
    zone_grid,
)
from controller.vision.zones_reference import zone_grid_reference
from hw_sim.camera import CameraSpec, Condition, LaneCamera

GOOD = """
[[zone]]
name = "bay"
polygon = [[0, 0], [16, 0], [16, 8], [0, 8]]

[[zone]]
name = "exit"
polygon = [[16, 0], [32, 0], [32, 8], [16, 8]]
"""


def test_load_reads_names_and_points(tmp_path: Path) -> None:
    """A well-formed file gives the zones in order with float points."""
    path = tmp_path / "z.toml"
    path.write_text(GOOD)
    zones = load_zones(path)
    assert [z.name for z in zones] == ["bay", "exit"]
    assert zones[0].polygon == ((0.0, 0.0), (16.0, 0.0), (16.0, 8.0), (0.0, 8.0))


def test_dump_round_trips(tmp_path: Path) -> None:
    """dump_zones writes TOML that load_zones reads back to equal zones."""
    zones = (Zone("a", ((1.5, 2.0), (10.0, 2.0), (10.0, 9.25))),)
    path = tmp_path / "z.toml"
    path.write_text(dump_zones(zones))
    assert load_zones(path) == zones


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "missing key 'zone'"),
        ({"zone": []}, "non-empty list"),
        ({"zone": [{"polygon": [[0, 0], [1, 0], [1, 1]]}]}, "zone[0].name"),
        ({"zone": [{"name": "a", "polygon": [[0, 0], [1, 0]]}]}, "at least 3 points"),
        ({"zone": [{"name": "a", "polygon": [[0, 0], [1, "x"], [1, 1]]}]}, "polygon[1]"),
        ({"zone": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]], "colour": 1}]}, "colour"),
        (
            {"zone": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}] * 2},
            "appears twice",
        ),
    ],
)
def test_parse_errors_name_the_key(raw: object, message: str) -> None:
    """Each malformed definition raises ZoneError naming the source and the offending key."""
    with pytest.raises(ZoneError, match="src") as info:
        parse_zones(raw, source="src")
    assert message in str(info.value)


def test_missing_file_and_bad_toml_are_named(tmp_path: Path) -> None:
    """An unreadable or invalid file is a ZoneError naming the file."""
    with pytest.raises(ZoneError, match=r"nope\.toml"):
        load_zones(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[zone]\n")
    with pytest.raises(ZoneError, match=r"bad\.toml: not valid TOML"):
        load_zones(bad)


def test_cell_masks_take_cells_at_least_half_inside() -> None:
    """A cell belongs to a zone when half or more of its pixels are in the polygon."""
    zones = parse_zones({"zone": [{"name": "z", "polygon": [[0, 0], [6, 0], [6, 8], [0, 8]]}]})
    masks = cell_masks(zones, height=8, width=16, cell=4)
    # Columns 0-3 fully inside, 4-7 half inside (x < 6), 8-15 outside.
    assert masks["z"].tolist() == [[True, True, False, False], [True, True, False, False]]


def test_zone_covering_no_cell_is_an_error() -> None:
    """A zone too thin for any cell cannot be watched and is rejected."""
    zones = (Zone("thin", ((0.0, 0.0), (0.4, 0.0), (0.4, 8.0), (0.0, 8.0))),)
    with pytest.raises(ZoneError, match="thin"):
        cell_masks(zones, height=8, width=16, cell=4)


def test_overlapping_zones_share_cells() -> None:
    """Zones may overlap; each gets its own mask."""
    zones = (
        Zone("a", ((0.0, 0.0), (8.0, 0.0), (8.0, 4.0), (0.0, 4.0))),
        Zone("b", ((4.0, 0.0), (12.0, 0.0), (12.0, 4.0), (4.0, 4.0))),
    )
    masks = cell_masks(zones, 4, 12, 4)
    assert np.array_equal(masks["a"] & masks["b"], np.array([[False, True, False]]))


def test_pixels_are_inside_by_their_centres_and_shared_edges_split_cleanly() -> None:
    """A pixel is in a zone when its centre is; two zones meeting at x = 5.3 share none."""
    left = Zone("left", ((0.0, 0.0), (5.3, 0.0), (5.3, 4.0), (0.0, 4.0)))
    right = Zone("right", ((5.3, 0.0), (12.0, 0.0), (12.0, 4.0), (5.3, 4.0)))
    a, b = pixel_mask(left, 4, 12), pixel_mask(right, 4, 12)
    assert a[0].tolist() == [True] * 5 + [False] * 7
    assert b[0].tolist() == [False] * 5 + [True] * 7
    assert not (a & b).any() and (a | b).all()
    # On an integer edge, too: pixel 8 (centre 8.5) is right of x = 8.
    edge = Zone("e", ((0.0, 0.0), (8.0, 0.0), (8.0, 4.0), (0.0, 4.0)))
    assert pixel_mask(edge, 4, 12)[0].tolist() == [True] * 8 + [False] * 4


def test_zone_grid_edge_cells_hold_the_zone_pixels_they_cut() -> None:
    """Cells wholly inside are interior; a cell the edge cuts lists the zone's own pixels,
    and its window shift points into the zone."""
    zone = Zone("z", ((2.0, 0.0), (16.0, 0.0), (16.0, 4.0), (2.0, 4.0)))
    grid = zone_grid([zone], height=4, width=16, cell=4)
    assert grid.interior["z"].tolist() == [[False, True, True, True]]
    assert grid.masks["z"].tolist() == [[True, True, True, True]]
    edge = grid.edges["z"]
    assert (edge.rows.tolist(), edge.cols.tolist()) == ([0], [0])
    assert edge.inside.tolist() == [8]
    assert sorted((edge.pixels % 16).tolist()) == [2, 2, 2, 2, 3, 3, 3, 3]
    assert edge.toward.tolist() == [[0, 2]]
    assert grid.boxes["z"] == (0, 1, 0, 4)


def _full_frame_grid(zone: Zone, height: int, width: int, cell: int) -> dict[str, object]:
    """The zone's cell maps and edge pixels the plain way: a whole-frame pixel mask."""
    rows, cols = -(-height // cell), -(-width // cell)
    pixels = pixel_mask(zone, height, width)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int64)
    padded[:height, :width] = pixels
    inside = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    padded[:height, :width] = 1
    area = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    part = (inside > 0) & (inside < area)
    pr, pc = np.nonzero(pixels & np.kron(part, np.ones((cell, cell), bool))[:height, :width])
    return {
        "masks": inside * 2 >= area,
        "interior": inside >= area,
        "touched": inside > 0,
        "pixels": np.sort(pr * width + pc),
        "inside": inside[part],
    }


@pytest.mark.parametrize(("height", "width", "cell"), [(187, 333, 4), (90, 161, 5), (64, 64, 8)])
def test_zone_grid_looks_only_near_each_zone_and_matches_the_whole_frame(
    height: int, width: int, cell: int
) -> None:
    """Built from each zone's own window of cells, the grid equals the whole-frame answer:
    fractional corners, a zone cut by the frame's right and bottom edges, odd sizes."""
    rng = np.random.default_rng(height + cell)
    zones = [
        Zone(
            "edge",
            (
                (width - 17.3, height - 9.6),
                (width + 5.0, height - 20.2),
                (width + 3.0, height + 4.0),
                (width - 30.5, height + 1.0),
            ),
        )
    ]
    for k in range(6):
        x, y = rng.uniform(0, width - 20), rng.uniform(0, height - 20)
        w, h = rng.uniform(8, width / 2), rng.uniform(8, height / 2)
        zones.append(Zone(f"z{k}", ((x, y), (x + w, y + 0.37 * h), (x + 0.8 * w, y + h))))
    usable = []
    for zone in zones:
        try:
            zone_grid([zone], height, width, cell)
        except ZoneError:
            continue
        usable.append(zone)
    assert len(usable) >= 5
    grid = zone_grid(usable, height, width, cell)
    for zone in usable:
        want = _full_frame_grid(zone, height, width, cell)
        assert np.array_equal(grid.masks[zone.name], want["masks"])
        assert np.array_equal(grid.interior[zone.name], want["interior"])
        assert np.array_equal(grid.touched[zone.name], want["touched"])
        edge = grid.edges[zone.name]
        assert np.array_equal(np.sort(edge.pixels), want["pixels"])
        assert np.array_equal(edge.inside, want["inside"])


def _same_grid(got: ZoneGrid, want: ZoneGrid) -> None:
    """Every map and list of two grids equal, to the order and the dtype."""
    assert got.boxes == want.boxes
    for field in ("masks", "interior", "touched"):
        mine, theirs = getattr(got, field), getattr(want, field)
        assert mine.keys() == theirs.keys()
        for name, array in mine.items():
            assert array.dtype == theirs[name].dtype, (field, name)
            assert np.array_equal(array, theirs[name]), (field, name)
    assert got.edges.keys() == want.edges.keys()
    for name, edge in got.edges.items():
        for field in ("rows", "cols", "pixels", "owner", "inside", "toward"):
            mine, theirs = getattr(edge, field), getattr(want.edges[name], field)
            assert mine.dtype == theirs.dtype, (name, field)
            assert np.array_equal(mine, theirs), (name, field)


@pytest.mark.parametrize("cell", [1, 2, 3, 4, 5, 8, 16])
def test_zone_grid_is_its_reference_to_the_bit(cell: int) -> None:
    """Random polygons of 3 to 6 corners (concave and crossing ones too), partly or wholly
    off odd-sized frames: the same maps, edge pixels in the same order, the same windows
    and the same errors as the plain definition."""
    rng = np.random.default_rng(cell)
    built = 0
    for k in range(60):
        height, width = int(rng.integers(8, 160)), int(rng.integers(8, 260))
        corners = rng.uniform(-30.0, max(height, width) + 30.0, (int(rng.integers(3, 7)), 2))
        if k % 3 == 0:
            corners = np.round(corners * 2.0) / 2.0
        zones = [Zone("a", tuple((float(x), float(y)) for x, y in corners))]
        try:
            want = zone_grid_reference(zones, height, width, cell)
        except ZoneError as exc:
            with pytest.raises(ZoneError) as got:
                zone_grid(zones, height, width, cell)
            assert str(got.value) == str(exc)
            continue
        _same_grid(zone_grid(zones, height, width, cell), want)
        built += 1
    assert built >= 20


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 360)])
def test_zone_grid_of_the_rendered_lane_moved_is_its_reference(width: int, height: int) -> None:
    """The simulated camera's four zones, at rest and laid off by quarter pixels as a
    settled mast lays them."""
    zones = LaneCamera(CameraSpec(width=width, height=height), Condition.SHAKE).zones()
    for dx, dy in ((0.0, 0.0), (0.25, -0.5), (-1.75, 2.25)):
        moved = [Zone(z.name, tuple((x + dx, y + dy) for x, y in z.polygon)) for z in zones]
        _same_grid(zone_grid(moved, height, width, 4), zone_grid_reference(moved, height, width, 4))


def test_rasterise_is_the_pixel_test_to_the_pixel() -> None:
    """The compiled pass against ``_inside`` and whole-number cell sums: random and
    self-crossing polygons, corners on pixel centres and cell corners, edges nearly flat
    (crossings far off the window), windows of odd sizes."""
    rng = np.random.default_rng(11)
    cases = 0
    for k in range(200):
        cell = int(rng.choice([1, 3, 4, 8]))
        rows, cols = int(rng.integers(1, 30)), int(rng.integers(1, 40))
        y0, x0 = int(rng.integers(0, 5)) * cell, int(rng.integers(0, 5)) * cell
        y1, x1 = y0 + rows * cell - int(rng.integers(0, cell)), x0 + cols * cell
        corners = rng.uniform(-20.0, 20.0 + max(y1, x1), (int(rng.integers(3, 8)), 2))
        if k % 4 == 0:
            corners = np.round(corners) + 0.5
        if k % 4 == 1:
            corners[1, 1] = corners[0, 1] + 1e-9
        if k % 4 == 2:
            # Upright edges through pixel centres: a centre on the crossing is outside.
            a, b = sorted(np.round(rng.uniform(-3.0, x1 + 3.0, 2)) + 0.5)
            corners = np.array([[a, -1.0], [b + 1.0, -1.0], [b + 1.0, y1 + 1.0], [a, y1 + 1.0]])
        poly = np.ascontiguousarray(corners, dtype=np.float64)
        raster = np.full((rows * cell, cols * cell), 7, dtype=np.uint8)
        sums = np.full((rows, cols), -1, dtype=np.int32)
        _zone_edges.rasterise(poly, y0, y1, x0, x1, cell, raster, sums)
        want = np.zeros_like(raster, dtype=bool)
        want[: y1 - y0, : x1 - x0] = _inside(poly, y0, y1, x0, x1)
        assert np.array_equal(raster.view(bool), want), k
        assert np.array_equal(sums, want.reshape(rows, cell, cols, cell).sum(axis=(1, 3)))
        cases += int(want.any())
    assert cases > 50
