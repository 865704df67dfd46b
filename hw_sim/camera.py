"""The simulated lane camera: deterministic grey frames of the lane, with ground truth.

The camera hangs high over the lane and looks straight down, so lane metres map
linearly onto pixels: x (direction of travel) runs left to right, y (across
the lane) runs bottom to top. That keeps every zone a rectangle derived from
``hw_sim.geometry`` and keeps a vehicle's pixels inside the zones its body
overlaps, which is what makes the per-frame ground truth (computed from the
geometry, never from pixels) fair to hold a detector to.

The renderer knows nothing of the plant: it takes anything with the vehicle
attributes of ``VehicleLike`` and a boom position. Every random choice is drawn
from a generator seeded by (seed, time), so a frame depends only on its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from controller.vision.zones import Zone
from hw_sim.conditions import CONDITIONS, Condition
from hw_sim.geometry import LaneGeometry, Span
from hw_sim.neighbour import NeighbourLane
from hw_sim.shadows import ShadowScene

__all__ = [
    "CONDITIONS",
    "ZONE_NAMES",
    "CameraSpec",
    "Condition",
    "LaneCamera",
    "Vehicle",
    "VehicleLike",
    "truth_row",
    "zone_bodies",
    "zone_truth",
]

ZONE_NAMES: tuple[str, ...] = ("approach", "bay", "barrier", "exit")
"""Camera zone names, in lane order; they match the fields of ``CameraZones``."""

Image = npt.NDArray[np.float32]


class VehicleLike(Protocol):
    """What the renderer reads of a vehicle (the plant's vehicles provide it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def length_m(self) -> float: ...
    @property
    def width_m(self) -> float: ...
    @property
    def front_x_m(self) -> float: ...
    @property
    def lateral_y_m(self) -> float: ...
    @property
    def speed_mps(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A plain vehicle snapshot, for scripted scenes and tests."""

    id: int
    kind: str = "car"
    length_m: float = 4.5
    width_m: float = 1.8
    front_x_m: float = -60.0
    lateral_y_m: float = 0.0
    speed_mps: float = 0.0


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """Frame size, rate and the stretch of lane the camera sees."""

    width: int = 640
    height: int = 360
    fps: float = 15.0
    x_min_m: float = -36.0
    x_max_m: float = 12.0
    zone_margin_m: float = 0.5
    """Zones reach this far beyond the lane edge lines."""

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 36:
            raise ValueError(f"width/height: {self.width}x{self.height} is under 64x36")
        if not 1.0 <= self.fps <= 120.0:
            raise ValueError(f"fps: {self.fps} is outside 1..120")
        if self.x_max_m <= self.x_min_m:
            raise ValueError("x_max_m: must be greater than x_min_m")

    @property
    def px_per_m(self) -> float:
        return self.width / (self.x_max_m - self.x_min_m)

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.fps

    def col(self, x_m: float) -> float:
        """Pixel column of lane position x (metres)."""
        return (x_m - self.x_min_m) * self.px_per_m

    def row(self, y_m: float) -> float:
        """Pixel row of lateral position y (metres); y grows upwards in the picture."""
        return self.height / 2.0 - y_m * self.px_per_m


def _zone_spans(geometry: LaneGeometry) -> dict[str, Span]:
    return {
        "approach": geometry.zone_approach,
        "bay": geometry.zone_bay,
        "barrier": geometry.zone_barrier,
        "exit": geometry.zone_exit,
    }


def zone_truth(
    vehicles: Iterable[VehicleLike],
    geometry: LaneGeometry | None = None,
    margin_m: float = 0.5,
) -> dict[str, bool]:
    """Ground-truth occupancy per camera zone, from geometry alone.

    A vehicle is in a zone when its body overlaps the zone's span along the
    lane and its centre is within the lane (half width plus ``margin_m``).
    """
    geometry = geometry or LaneGeometry()
    half = geometry.lane_width_m / 2.0 + margin_m
    spans = _zone_spans(geometry)
    out = dict.fromkeys(ZONE_NAMES, False)
    for v in vehicles:
        if abs(v.lateral_y_m) >= half:
            continue
        rear = v.front_x_m - v.length_m
        for name, span in spans.items():
            if span.overlaps(rear, v.front_x_m):
                out[name] = True
    return out


def zone_bodies(
    vehicles: Iterable[VehicleLike],
    zone: str,
    geometry: LaneGeometry | None = None,
    margin_m: float = 0.5,
) -> dict[int, tuple[float, float]]:
    """Where each vehicle in ``zone`` (as ``zone_truth`` places it) stands, by id:
    (front x, lateral y). Two frames that differ here show a body that moved."""
    geometry = geometry or LaneGeometry()
    spans = _zone_spans(geometry)
    if zone not in spans:
        raise ValueError(f"zone: {zone!r} is not one of {', '.join(spans)}")
    span = spans[zone]
    half = geometry.lane_width_m / 2.0 + margin_m
    return {
        v.id: (v.front_x_m, v.lateral_y_m)
        for v in vehicles
        if abs(v.lateral_y_m) < half and span.overlaps(v.front_x_m - v.length_m, v.front_x_m)
    }


# Grey levels of vehicle paint (white, silver, red, blue, black, ...): a palette
# a few steps away from the asphalt so a body is visible as it would be in colour.
_PAINT = (232.0, 205.0, 178.0, 62.0, 44.0, 28.0, 160.0, 150.0)
_ASPHALT = 104.0


@dataclass(frozen=True, slots=True)
class _Light:
    gain: float
    offset: float
    shift: tuple[float, float]


def _f32(array: object) -> Image:
    """An OpenCV result as the float32 image type (OpenCV's stubs lose the dtype)."""
    return np.asarray(array, dtype=np.float32)


class LaneCamera:
    """Renders frames of the lane and labels them with zone truth."""

    def __init__(
        self,
        spec: CameraSpec = CameraSpec(),
        condition: Condition = Condition.DAY,
        seed: int = 0,
        geometry: LaneGeometry | None = None,
    ) -> None:
        self.spec = spec
        self.condition = condition
        self.seed = seed
        self.geometry = geometry or LaneGeometry()
        rng = np.random.default_rng([seed, 7919])
        self._albedo = self._background(rng)
        self._illum = self._illumination()
        self._noise = [
            rng.normal(0.0, 2.2, (spec.height, spec.width)).astype(np.float32) for _ in range(4)
        ]
        self._streak_len = max(4, round(0.9 * spec.px_per_m))
        self._shadows: ShadowScene | None = None
        self._through: NeighbourLane | None = None
        if condition is Condition.SHADOWS:
            self._shadows = ShadowScene(spec.width, spec.height, spec.px_per_m, spec.x_min_m, seed)
            self._through = NeighbourLane(
                seed, self.geometry.neighbour_lane_y_m, spec.x_min_m - 30.0, spec.x_max_m + 30.0
            )

    def through_traffic(self, t_ms: int) -> list[VehicleLike]:
        """The through lane's vehicles the camera shows at t_ms (only under ``shadows``).

        They are drawn with their shadows but are never in ``truth``: the zones
        cover the bay lane only.
        """
        return list(self._through.vehicles(t_ms)) if self._through is not None else []

    def shade(self, vehicles: Sequence[VehicleLike], t_ms: int) -> Image | None:
        """What the shadows multiply the ground's light by at t_ms (None without shadows).

        1.0 in full sun, the sky's share (about 0.4-0.5) in full shadow; the
        bay lane's ``vehicles`` and the through traffic cast theirs too.
        """
        if self._shadows is None:
            return None
        occ = self._shadows.scenery_occlusion(t_ms)
        self._shadows.add_vehicles(occ, [*self.through_traffic(t_ms), *vehicles], t_ms)
        return self._shadows.factor(occ, out=occ)

    # -- geometry -------------------------------------------------------------

    def zones(self) -> tuple[Zone, ...]:
        """Zone polygons in pixels, derived from the lane geometry."""
        s = self.spec
        half = self.geometry.lane_width_m / 2.0 + s.zone_margin_m
        top, bottom = s.row(half), s.row(-half)
        out: list[Zone] = []
        for name, span in _zone_spans(self.geometry).items():
            left = max(0.0, s.col(span.start))
            right = min(float(s.width), s.col(span.end))
            poly = ((left, top), (right, top), (right, bottom), (left, bottom))
            out.append(Zone(name=name, polygon=tuple((round(x, 1), round(y, 1)) for x, y in poly)))
        return tuple(out)

    def truth(self, vehicles: Iterable[VehicleLike]) -> dict[str, bool]:
        """Ground-truth zone occupancy for a scene: the geometry sampled at pixel centres.

        A vehicle is in a zone when its body covers the centre of at least one
        of the zone's pixel columns, and its centre is within the lane. A body
        that reaches a tenth of a pixel into a zone puts nothing of itself in
        the zone's part of the picture (the renderer, like a sensor, samples at
        pixel centres), so no camera could be held to it.
        """
        s = self.spec
        half = self.geometry.lane_width_m / 2.0 + s.zone_margin_m
        out = dict.fromkeys(ZONE_NAMES, False)
        for v in vehicles:
            if abs(v.lateral_y_m) >= half:
                continue
            body = (s.col(v.front_x_m - v.length_m), s.col(v.front_x_m))
            for name, span in _zone_spans(self.geometry).items():
                a = max(body[0], s.col(span.start), 0.0)
                b = min(body[1], s.col(span.end), float(s.width))
                # The first pixel centre at or after a must come before b.
                if math.ceil(a - 0.5) + 0.5 < b:
                    out[name] = True
        return out

    # -- static scene ---------------------------------------------------------

    def _rect(self, img: Image, x0: float, x1: float, y0: float, y1: float) -> Image:
        """A view of img covering lane rectangle [x0, x1] x [y0, y1] (clipped)."""
        s = self.spec
        c0 = max(0, round(s.col(x0)))
        c1 = min(s.width, round(s.col(x1)))
        r0 = max(0, round(s.row(y1)))
        r1 = min(s.height, round(s.row(y0)))
        return img[r0:r1, c0:c1] if c1 > c0 and r1 > r0 else img[0:0, 0:0]

    def _background(self, rng: np.random.Generator) -> Image:
        s, g = self.spec, self.geometry
        h, w = s.height, s.width
        fine = _f32(cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 0.8))
        coarse = _f32(cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 9))
        fine *= 9.0 / max(float(fine.std()), 1e-6)
        coarse *= 5.0 / max(float(coarse.std()), 1e-6)
        img = np.full((h, w), 70.0, dtype=np.float32)  # verge
        img += fine * 1.4
        half = g.lane_width_m / 2.0
        road = self._rect(img, s.x_min_m, s.x_max_m, -half - 1.2, g.aside_y_m + 2.0)
        road[...] = _ASPHALT
        img += fine + coarse
        line = 0.15
        for y in (-half, half):
            self._rect(img, s.x_min_m, s.x_max_m, y - line / 2, y + line / 2)[...] += 105.0
        # Aside lane dashes, stop line, bay entry line and hatched barrier box.
        for x in np.arange(s.x_min_m, s.x_max_m, 4.0):
            self._rect(img, x, x + 2.0, g.aside_y_m - 2.0, g.aside_y_m - 1.85)[...] += 90.0
        stop = g.stop_line_x_m
        self._rect(img, stop - 0.3, stop, -half, half)[...] += 100.0
        self._rect(img, g.bay_entry_x_m - 0.15, g.bay_entry_x_m, -half, half)[...] += 80.0
        # Kerb and the boom pedestal beside the lane.
        self._rect(img, s.x_min_m, s.x_max_m, -half - 1.4, -half - 1.2)[...] = 150.0
        self._rect(img, -0.4, 0.4, -half - 1.1, -half - 0.5)[...] = 190.0
        return _f32(cv2.GaussianBlur(img, (0, 0), 0.6))

    def _illumination(self) -> Image:
        s = self.spec
        if self.condition is not Condition.NIGHT:
            return np.ones((s.height, s.width), dtype=np.float32)
        cols = np.arange(s.width, dtype=np.float32)[None, :]
        rows = np.arange(s.height, dtype=np.float32)[:, None]
        illum = np.full((s.height, s.width), 0.18, dtype=np.float32)
        radius = 9.0 * s.px_per_m
        half = self.geometry.lane_width_m / 2.0
        for x in (-30.0, -18.0, -6.0, 4.0, 10.0):
            cx, cy = s.col(x), s.row(-half - 1.3)
            d2 = (cols - cx) ** 2 + (rows - cy) ** 2
            illum += 0.55 * np.exp(-d2 / (2.0 * radius * radius))
        return np.minimum(illum, 0.95)

    # -- dynamic scene --------------------------------------------------------

    def _light(self, t_ms: int, rng: np.random.Generator) -> _Light:
        t = t_ms / 1000.0
        gain, offset = 1.0, 0.0
        shift = (0.0, 0.0)
        if self.condition is Condition.LIGHT_STEPS:
            steps = ((0.0, 1.0, 0.0), (8.0, 0.62, -6.0), (17.0, 1.3, 8.0), (26.0, 0.8, 0.0))
            period = 34.0
            phase = t % period
            for start, g, o in steps:
                if phase >= start:
                    gain, offset = g, o
            gain *= 1.0 + 0.12 * math.sin(2.0 * math.pi * t / 23.0)
        elif self.condition is Condition.RAIN:
            gain, offset = 0.82, 10.0
        elif self.condition is Condition.SHAKE:
            amp = 2.5 * self.spec.px_per_m / 13.33
            shift = (
                float(rng.uniform(-amp, amp)),
                float(rng.uniform(-amp, amp)),
            )
        return _Light(gain=gain, offset=offset, shift=shift)

    def _paint(self, vehicle: VehicleLike) -> float:
        pick = np.random.default_rng([self.seed, 104729, vehicle.id]).integers(len(_PAINT))
        return _PAINT[int(pick)]

    def _draw_vehicle(self, img: Image, v: VehicleLike, night: bool, own_shadow: bool) -> None:
        front, rear = v.front_x_m, v.front_x_m - v.length_m
        y0, y1 = v.lateral_y_m - v.width_m / 2.0, v.lateral_y_m + v.width_m / 2.0
        paint = self._paint(v)
        if own_shadow:
            # Sun from the side: a soft shadow beside the body, inside its length.
            shadow = self._rect(img, rear + 0.1, front - 0.1, y0 - 0.7, y0)
            shadow *= 0.55
        body = self._rect(img, rear, front, y0, y1)
        if body.size == 0:
            return
        # Shading across the body: the sunlit side brighter, with a dark outline.
        ramp = np.linspace(1.08, 0.88, body.shape[0], dtype=np.float32)[:, None]
        body[...] = paint * ramp
        if body.shape[0] > 2 and body.shape[1] > 2:
            body[0, :] = body[-1, :] = paint * 0.55
            body[:, 0] = body[:, -1] = paint * 0.55
        glass = 30.0 if paint > 90.0 else 70.0
        boxy = v.kind in ("truck", "bus", "van", "lorry")
        length = v.length_m
        if boxy:
            cab = min(2.2, 0.3 * length)
            self._rect(img, front - 0.35 * cab, front - 0.05, y0 + 0.15, y1 - 0.15)[...] = glass
            self._rect(img, rear + 0.1, front - cab - 0.1, y0 + 0.1, y1 - 0.1)[...] = min(
                255.0, paint * 0.95
            )
            self._rect(img, front - cab - 0.1, front - cab, y0, y1)[...] = paint * 0.5
        else:
            self._rect(img, front - 0.42 * length, front - 0.28 * length, y0 + 0.12, y1 - 0.12)[
                ...
            ] = glass
            self._rect(img, rear + 0.08 * length, rear + 0.18 * length, y0 + 0.15, y1 - 0.15)[
                ...
            ] = glass + 12.0
            roof = self._rect(img, rear + 0.2 * length, front - 0.44 * length, y0 + 0.2, y1 - 0.2)
            roof *= 1.05
        if night:
            for y in (y0 + 0.2, y1 - 0.3):
                self._rect(img, rear, rear + 0.12, y, y + 0.1)[...] = 255.0

    def _draw_shadowed(self, img: Image, vehicles: Sequence[VehicleLike], t_ms: int) -> None:
        """Low sun: the ground takes every shadow, then the bodies the trees' and fence's."""
        shadows = self._shadows
        assert shadows is not None
        casters = [*self.through_traffic(t_ms), *vehicles]
        occ = shadows.scenery_occlusion(t_ms)
        # What the trees and fence leave on each body, before the vehicles' own are added.
        under = [
            self._rect(occ, v.front_x_m - v.length_m, v.front_x_m, *self._across(v)).copy()
            for v in casters
        ]
        shadows.add_vehicles(occ, casters, t_ms)
        img *= shadows.factor(occ, out=occ)
        for v, scenery in zip(casters, under, strict=True):
            self._draw_vehicle(img, v, night=False, own_shadow=False)
            if scenery.size:
                self._rect(img, v.front_x_m - v.length_m, v.front_x_m, *self._across(v))[...] *= (
                    shadows.factor(scenery)
                )

    @staticmethod
    def _across(v: VehicleLike) -> tuple[float, float]:
        return v.lateral_y_m - v.width_m / 2.0, v.lateral_y_m + v.width_m / 2.0

    def _draw_beams(self, img: Image, v: VehicleLike) -> None:
        """Headlight beams and their reflection on the road ahead (additive, smooth)."""
        s = self.spec
        reach = 7.0
        c0 = max(0, round(s.col(v.front_x_m)))
        c1 = min(s.width, round(s.col(v.front_x_m + reach)))
        if c1 <= c0:
            return
        cols = np.arange(c0, c1, dtype=np.float32)
        dist = (cols - s.col(v.front_x_m)) / s.px_per_m
        centre = s.row(v.lateral_y_m)
        spread = (v.width_m / 2.0 + 0.25 * dist) * s.px_per_m
        r0 = max(0, math.floor(centre - float(spread.max()) - 1))
        r1 = min(s.height, math.ceil(centre + float(spread.max()) + 1))
        if r1 <= r0:
            return
        rows = np.arange(r0, r1, dtype=np.float32)[:, None]
        across = np.abs(rows - centre) / spread[None, :]
        beam = 55.0 * np.exp(-dist / 3.5)[None, :] * np.clip(1.2 - across, 0.0, 1.0)
        img[r0:r1, c0:c1] += beam.astype(np.float32)

    def _draw_boom(self, img: Image, boom_position: int) -> None:
        s, g = self.spec, self.geometry
        half = g.lane_width_m / 2.0
        angle = max(0.0, min(1000.0, float(boom_position))) / 1000.0 * (math.pi / 2.0)
        length = (g.lane_width_m + 0.6) * math.cos(angle)
        col = round(s.col(g.boom_x_m))
        r_pivot = s.row(-half - 0.8)
        r_tip = s.row(-half - 0.8 + length)
        if not 0 <= col < s.width:
            return
        r0, r1 = max(0, round(r_tip)), min(s.height, round(r_pivot))
        for r in range(r0, r1):
            stripe = int((r_pivot - r) / (0.5 * s.px_per_m)) % 2
            img[r, col] = 225.0 if stripe == 0 else 95.0

    def _rain(self, img: Image, rng: np.random.Generator) -> None:
        s = self.spec
        count = int(s.width * s.height / 1500)
        xs = rng.integers(0, s.width, count)
        ys = rng.integers(0, s.height, count)
        n = self._streak_len
        for k in range(n):
            r = np.clip(ys + k, 0, s.height - 1)
            c = np.clip(xs - k // 3, 0, s.width - 1)
            img[r, c] += 38.0

    def render(
        self, vehicles: Sequence[VehicleLike], boom_position: int, t_ms: int
    ) -> npt.NDArray[np.uint8]:
        """The grey frame the camera sees at t_ms (deterministic for a seed)."""
        rng = np.random.default_rng([self.seed, int(t_ms)])
        night = self.condition is Condition.NIGHT
        img = self._albedo.copy()
        if self._shadows is None:
            for v in vehicles:
                self._draw_vehicle(img, v, night, own_shadow=not night)
        else:
            self._draw_shadowed(img, vehicles, t_ms)
        self._draw_boom(img, boom_position)
        img *= self._illum
        if night:
            for v in vehicles:
                self._draw_beams(img, v)
                for y in (v.lateral_y_m - v.width_m / 2 + 0.2, v.lateral_y_m + v.width_m / 2 - 0.3):
                    self._rect(img, v.front_x_m - 0.15, v.front_x_m, y, y + 0.1)[...] = 255.0
        if self.condition is Condition.RAIN:
            self._rain(img, rng)
        light = self._light(t_ms, rng)
        if light.gain != 1.0 or light.offset != 0.0:
            img = img * light.gain + light.offset
        if light.shift != (0.0, 0.0):
            matrix = np.array([[1.0, 0.0, light.shift[0]], [0.0, 1.0, light.shift[1]]])
            img = _f32(
                cv2.warpAffine(
                    img,
                    matrix,
                    (self.spec.width, self.spec.height),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT,
                )
            )
        noise = self._noise[int(rng.integers(len(self._noise)))]
        roll = int(rng.integers(self.spec.width))
        img += np.roll(noise, roll, axis=1)
        out: npt.NDArray[np.uint8] = np.clip(img, 0.0, 255.0).astype(np.uint8)
        return out


def truth_row(frame_index: int, truth: Mapping[str, bool]) -> str:
    """One truth CSV row (``frame,approach,bay,barrier,exit``)."""
    return ",".join([str(frame_index), *("1" if truth[z] else "0" for z in ZONE_NAMES)])
