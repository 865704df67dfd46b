"""Camera zones: named polygons in frame pixels, and their cells on the kernel's grid.

The detector works on cells, not pixels, so a zone is turned once into the set
of cells it covers. A cell belongs to a zone when at least half of its pixels
lie inside the polygon; zones may overlap. Zones come from a TOML file
(``[[zone]]`` tables with ``name`` and ``polygon = [[x, y], ...]``) or from the
lane config's ``[camera]`` section, and every error names the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from controller.vision.kernel import grid_shape

__all__ = [
    "Zone",
    "ZoneError",
    "cell_masks",
    "dump_zones",
    "load_zones",
    "parse_zones",
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


def cell_masks(
    zones: Sequence[Zone], height: int, width: int, cell: int
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per zone, a (rows, cols) boolean map of the grid cells it covers.

    A cell is in the zone when at least half of its in-frame pixels are inside
    the polygon. A zone that covers no whole half-cell is an error: the
    detector could never see anything in it.
    """
    rows, cols = grid_shape(height, width, cell)
    ones = np.ones((height, width), dtype=np.float32)
    area = _cell_sums(ones, rows, cols, cell)
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for zone in zones:
        pixels = np.zeros((height, width), dtype=np.uint8)
        pts = np.round(np.asarray(zone.polygon, dtype=np.float64)).astype(np.int32)
        cv2.fillPoly(pixels, [pts], 1)
        inside = _cell_sums(pixels.astype(np.float32), rows, cols, cell)
        mask = inside * 2 >= area
        if not mask.any():
            raise ZoneError(
                f"zone {zone.name!r}: covers no cell of size {cell} in a {width}x{height} frame"
            )
        masks[zone.name] = mask
    return masks


def _cell_sums(
    values: npt.NDArray[np.float32], rows: int, cols: int, cell: int
) -> npt.NDArray[np.float32]:
    height, width = values.shape
    padded = np.zeros((rows * cell, cols * cell), dtype=np.float32)
    padded[:height, :width] = values
    summed: npt.NDArray[np.float32] = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return summed
