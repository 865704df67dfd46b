"""Shadows under a low sun: swaying trees, a slatted fence and the vehicles' own.

A shadow takes away the direct sun and leaves the sky's light, so it multiplies
what it falls on by the same factor (the asphalt keeps its texture, darker),
its edge is soft (the penumbra grows with the distance to what casts it), and
it moves: the trees' crowns sway in the wind with gusts, the sun drifts
(compressed in time, so the fence's shadow sweeps over a lane within a minute)
and vehicles carry theirs. The sun stands on the far side of the through lane,
so the through lane's vehicles throw long shadows across the bay lane's zones.

Everything is drawn from a generator seeded by the camera's seed, and every
moving part is a closed form of time: a frame depends on (seed, t, scene) only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["ShadowScene", "Sun", "vehicle_height_m"]

Image = npt.NDArray[np.float32]

_SUN_DISC_RAD = math.radians(0.53)
"""The sun's apparent diameter: a penumbra is this angle times the distance to the caster."""

_HEIGHTS_M = {"car": 1.45, "van": 2.1, "truck": 3.4, "bus": 3.2, "lorry": 3.6}


def vehicle_height_m(kind: str) -> float:
    """How tall a vehicle of this kind stands, for the length of its shadow."""
    return _HEIGHTS_M.get(str(kind), 1.6)


class _Body(Protocol):
    """What a shadow caster reads of a vehicle (``VehicleLike`` provides it)."""

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


@dataclass(frozen=True, slots=True)
class Sun:
    """Where the sun stands: elevation above the ground, and azimuth 0 when it stands
    straight across the lane on the +y side (the through lane's side); a positive
    azimuth turns the shadows towards +x."""

    elevation_rad: float
    azimuth_rad: float

    @property
    def reach(self) -> tuple[float, float]:
        """Ground offset (x, y) in metres of the shadow of a point 1 m above the ground."""
        k = 1.0 / math.tan(self.elevation_rad)
        return (k * math.sin(self.azimuth_rad), -k * math.cos(self.azimuth_rad))

    @property
    def direction(self) -> tuple[float, float]:
        """Unit ground vector a shadow points along."""
        return (math.sin(self.azimuth_rad), -math.cos(self.azimuth_rad))


@dataclass(frozen=True, slots=True)
class _Sway:
    """A crown layer's motion in the wind: two tones under a slow gust envelope (metres)."""

    amp_m: float
    f1_hz: float
    f2_hz: float
    p1: float
    p2: float
    gust_s: float
    gust_phase: float
    wind: tuple[float, float]

    def offset(self, t: float) -> tuple[float, float]:
        gust = 0.55 + 0.45 * math.sin(2.0 * math.pi * t / self.gust_s + self.gust_phase)
        along = math.sin(2.0 * math.pi * self.f1_hz * t + self.p1)
        across = 0.35 * math.sin(2.0 * math.pi * self.f2_hz * t + self.p2)
        a = self.amp_m * gust
        wx, wy = self.wind
        return (a * (along * wx - across * wy), a * (along * wy + across * wx))


@dataclass(frozen=True, slots=True)
class _Layer:
    stamp: Image
    """Leaf clusters of the crown seen from the sun, 1 where they block it (isotropic, ppm)."""
    sway: _Sway


@dataclass(frozen=True, slots=True)
class _Tree:
    base: tuple[float, float]
    crown_m: float
    """Height of the crown's centre."""
    trunk_m: float
    layers: tuple[_Layer, ...]


@dataclass(frozen=True, slots=True)
class _Fence:
    x0: float
    x1: float
    y: float
    height_m: float
    period_m: float
    slat_m: float


class ShadowScene:
    """The shadow casters of one seed, and how much sun they take from each pixel."""

    def __init__(
        self,
        width: int,
        height: int,
        px_per_m: float,
        x_min_m: float,
        seed: int,
    ) -> None:
        self.width, self.height = width, height
        self.ppm = px_per_m
        self.x_min_m = x_min_m
        rng = np.random.default_rng([seed, 69_069])
        self.sky = float(rng.uniform(0.42, 0.52))
        """Share of the light left in full shadow (the sky's part)."""
        self._el0 = math.radians(float(rng.uniform(17.0, 21.0)))
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        self._az0 = side * math.radians(float(rng.uniform(12.0, 28.0)))
        self._drift_s = float(rng.uniform(45.0, 70.0))
        self._drift_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        sun0 = Sun(self._el0, self._az0)
        self.fence = self._make_fence(rng, sun0)
        self._fence_img = self._fence_stamp(self.fence)
        self.trees = tuple(self._make_tree(rng, sun0, x) for x in (-14.0, -1.0, 6.0))

    # -- the casters ----------------------------------------------------------

    def sun(self, t_ms: int) -> Sun:
        """The sun at t_ms: it drifts by +-2.5 degrees of elevation over about a minute."""
        phase = 2.0 * math.pi * t_ms / 1000.0 / self._drift_s + self._drift_phase
        el = self._el0 + math.radians(2.5) * math.sin(phase)
        az = self._az0 + math.radians(2.0) * math.cos(phase)
        return Sun(el, az)

    def _make_fence(self, rng: np.random.Generator, sun0: Sun) -> _Fence:
        height = float(rng.uniform(2.8, 3.4))
        # Its shadow's far edge lies across the bay lane when the sun is at its mean.
        tip_y = float(rng.uniform(-0.8, 0.6))
        fence_y = tip_y - height * sun0.reach[1]
        shift_x = height * sun0.reach[0]
        x0 = -37.0 + float(rng.uniform(-2.0, 2.0)) - shift_x
        x1 = -17.0 + float(rng.uniform(-2.0, 2.0)) - shift_x
        return _Fence(
            x0=x0,
            x1=x1,
            y=fence_y,
            height_m=height,
            period_m=float(rng.uniform(0.28, 0.4)),
            slat_m=float(rng.uniform(0.12, 0.18)),
        )

    def _make_tree(self, rng: np.random.Generator, sun0: Sun, target_x: float) -> _Tree:
        crown_r = float(rng.uniform(1.8, 2.6))
        crown_h = float(rng.uniform(5.0, 7.0))
        target = (target_x + float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-0.5, 1.2)))
        rx, ry = sun0.reach
        base = (target[0] - crown_h * rx, target[1] - crown_h * ry)
        wind_angle = float(rng.uniform(0.0, 2.0 * math.pi))
        wind = (math.cos(wind_angle), math.sin(wind_angle))
        amp = float(rng.uniform(0.2, 0.4))
        layers = []
        for k, (reach, clusters, size) in enumerate(((0.75, 14, 0.5), (1.0, 26, 0.32))):
            stamp = self._crown_stamp(rng, crown_r * reach, clusters, size * crown_r, crown_h)
            sway = _Sway(
                amp_m=amp * (1.0 + 0.6 * k),
                f1_hz=float(rng.uniform(0.35, 0.8)),
                f2_hz=float(rng.uniform(0.9, 1.6)),
                p1=float(rng.uniform(0.0, 2.0 * math.pi)),
                p2=float(rng.uniform(0.0, 2.0 * math.pi)),
                gust_s=float(rng.uniform(6.0, 14.0)),
                gust_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
                wind=wind,
            )
            layers.append(_Layer(stamp=stamp, sway=sway))
        return _Tree(
            base=base, crown_m=crown_h, trunk_m=crown_h - 0.6 * crown_r, layers=tuple(layers)
        )

    def _crown_stamp(
        self,
        rng: np.random.Generator,
        radius_m: float,
        clusters: int,
        size_m: float,
        height_m: float,
    ) -> Image:
        """Leaf clusters in a disc, with gaps where the sun comes through, soft-edged."""
        ppm = self.ppm
        half = math.ceil((radius_m + 0.6) * ppm) + 2
        side = 2 * half + 1
        sub = 4  # draw at 4x and shrink: anti-aliased clusters
        canvas = np.zeros((side * sub, side * sub), dtype=np.uint8)
        for _ in range(clusters):
            r = radius_m * math.sqrt(float(rng.uniform(0.0, 1.0)))
            a = float(rng.uniform(0.0, 2.0 * math.pi))
            cr = size_m * float(rng.uniform(0.6, 1.2))
            cx = (half + 0.5 + r * math.cos(a) * ppm) * sub
            cy = (half + 0.5 + r * math.sin(a) * ppm) * sub
            cv2.circle(canvas, (round(cx), round(cy)), max(1, round(cr * ppm * sub)), 255, -1)
        small = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)
        penumbra = height_m / math.sin(self._el0) * _SUN_DISC_RAD * ppm
        soft = cv2.GaussianBlur(small.astype(np.float32) / 255.0, (0, 0), max(0.6, penumbra / 2.0))
        return np.asarray(soft, dtype=np.float32)

    # -- pixels ---------------------------------------------------------------

    def _col(self, x_m: float) -> float:
        return (x_m - self.x_min_m) * self.ppm

    def _row(self, y_m: float) -> float:
        return self.height / 2.0 - y_m * self.ppm

    def _box(self, points: Iterable[tuple[float, float]], pad: float) -> tuple[int, int, int, int]:
        """Pixel box (c0, c1, r0, r1) around ground points, padded, clipped to the frame."""
        cols = [self._col(x) for x, _ in points]
        rows = [self._row(y) for _, y in points]
        c0 = max(0, math.floor(min(cols) - pad))
        c1 = min(self.width, math.ceil(max(cols) + pad))
        r0 = max(0, math.floor(min(rows) - pad))
        r1 = min(self.height, math.ceil(max(rows) + pad))
        return c0, c1, r0, r1

    def add_vehicles(self, occ: Image, vehicles: Iterable[_Body], t_ms: int) -> None:
        """Add what the vehicles take of the sun from each ground pixel to ``occ`` (0..1)."""
        rx, ry = self.sun(t_ms).reach
        sub = 8
        for v in vehicles:
            h = vehicle_height_m(v.kind)
            rear, front = v.front_x_m - v.length_m, v.front_x_m
            y0, y1 = v.lateral_y_m - v.width_m / 2.0, v.lateral_y_m + v.width_m / 2.0
            foot = [(rear, y0), (front, y0), (front, y1), (rear, y1)]
            tops = [(x + h * rx, y + h * ry) for x, y in foot]
            pad = 3.0
            c0, c1, r0, r1 = self._box(foot + tops, pad)
            if c1 <= c0 or r1 <= r0:
                continue
            pts = np.array(
                [[(self._col(x) - c0) * sub, (self._row(y) - r0) * sub] for x, y in foot + tops],
                dtype=np.float32,
            )
            hull = cv2.convexHull(np.round(pts).astype(np.int32))
            mask = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
            cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=3)
            penumbra = h / math.sin(self.sun(t_ms).elevation_rad) * _SUN_DISC_RAD * self.ppm
            soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(0.5, penumbra / 2))
            np.maximum(occ[r0:r1, c0:c1], soft, out=occ[r0:r1, c0:c1])

    def scenery_occlusion(self, t_ms: int) -> Image:
        """How much of the sun the trees and the fence take from each pixel (0..1)."""
        occ = np.zeros((self.height, self.width), dtype=np.float32)
        sun = self.sun(t_ms)
        self._fence_into(occ, sun)
        t = t_ms / 1000.0
        for tree in self.trees:
            self._trunk_into(occ, tree, sun)
            for layer in tree.layers:
                self._crown_into(occ, tree, layer, sun, layer.sway.offset(t))
        return occ

    def _fence_stamp(self, f: _Fence) -> Image:
        """The fence as the sun sees it: slats and two rails, in (along, up) pixels.

        Row k is the height (k + 0.5) / ppm above the ground. The penumbra grows
        with the height (the ray's length to the ground), so the top is softer.
        """
        ppm = self.ppm
        sub = 4
        cols = math.ceil((f.x1 - f.x0) * ppm)
        rows = math.ceil(f.height_m * ppm)
        u = (np.arange(cols * sub, dtype=np.float32) + 0.5) / (ppm * sub)
        z = (np.arange(rows * sub, dtype=np.float32) + 0.5) / (ppm * sub)
        phase = np.mod(u, f.period_m) - f.period_m / 2.0
        slats = np.abs(phase) <= f.slat_m / 2.0
        rails = (np.abs(z - (f.height_m - 0.12)) <= 0.12) | (np.abs(z - 0.3) <= 0.08)
        fine = (slats[None, :] | rails[:, None]).astype(np.float32)
        solid = np.asarray(cv2.resize(fine, (cols, rows), interpolation=cv2.INTER_AREA))
        spread = f.height_m / math.sin(self._el0) * _SUN_DISC_RAD * ppm
        soft = np.asarray(cv2.GaussianBlur(solid, (0, 0), max(0.5, spread / 2.0)))
        share = ((np.arange(rows, dtype=np.float32) + 0.5) / rows)[:, None]
        return np.asarray(solid * (1.0 - share) + soft * share, dtype=np.float32)

    def _fence_into(self, occ: Image, sun: Sun) -> None:
        f = self.fence
        rx, ry = sun.reach
        stamp = self._fence_img
        rows, cols = stamp.shape
        # Stamp pixel (s, k) is the point s/ppm along the fence, k/ppm up; its shadow
        # lies at ground (x0 + s/ppm + z*rx, y + z*ry): an affine map of the stamp.
        a, b = 1.0, rx
        c, d = 0.0, -ry
        tx, ty = self._col(f.x0), self._row(f.y)
        corners = [(0.0, 0.0), (cols, 0.0), (0.0, rows), (cols, rows)]
        xs = [a * sx + b * sy + tx for sx, sy in corners]
        ys = [c * sx + d * sy + ty for sx, sy in corners]
        c0 = max(0, math.floor(min(xs)))
        c1 = min(self.width, math.ceil(max(xs)))
        r0 = max(0, math.floor(min(ys)))
        r1 = min(self.height, math.ceil(max(ys)))
        if c1 <= c0 or r1 <= r0:
            return
        matrix = np.array([[a, b, tx - c0], [c, d, ty - r0]], dtype=np.float64)
        warped = cv2.warpAffine(
            stamp, matrix, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
        np.maximum(occ[r0:r1, c0:c1], np.asarray(warped, dtype=np.float32), out=occ[r0:r1, c0:c1])

    def _trunk_into(self, occ: Image, tree: _Tree, sun: Sun) -> None:
        rx, ry = sun.reach
        bx, by = tree.base
        tx, ty = bx + tree.trunk_m * rx, by + tree.trunk_m * ry
        c0, c1, r0, r1 = self._box([(bx, by), (tx, ty)], 4.0)
        if c1 <= c0 or r1 <= r0:
            return
        mask = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
        sub = 8
        p0 = (round((self._col(bx) - c0) * sub), round((self._row(by) - r0) * sub))
        p1 = (round((self._col(tx) - c0) * sub), round((self._row(ty) - r0) * sub))
        thick = max(1, round(0.35 * self.ppm))
        cv2.line(mask, p0, p1, 255, thick, lineType=cv2.LINE_AA, shift=3)
        soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)
        np.maximum(occ[r0:r1, c0:c1], soft, out=occ[r0:r1, c0:c1])

    def _crown_into(
        self, occ: Image, tree: _Tree, layer: _Layer, sun: Sun, sway: tuple[float, float]
    ) -> None:
        rx, ry = sun.reach
        cx = tree.base[0] + tree.crown_m * rx + sway[0]
        cy = tree.base[1] + tree.crown_m * ry + sway[1]
        dx, dy = sun.direction
        nx, ny = -dy, dx
        stretch = 1.0 / math.sin(sun.elevation_rad)
        side = layer.stamp.shape[0]
        cs = side / 2.0
        # Stamp pixel (sx, sy) -> image (col, row): the disc stretched along the shadow.
        a, b = stretch * dx, nx
        c, d = -stretch * dy, -ny
        tx = self._col(cx) - cs * (a + b)
        ty = self._row(cy) - cs * (c + d)
        corners = [(0.0, 0.0), (side, 0.0), (0.0, side), (side, side)]
        cols = [a * sx + b * sy + tx for sx, sy in corners]
        rows = [c * sx + d * sy + ty for sx, sy in corners]
        c0 = max(0, math.floor(min(cols)))
        c1 = min(self.width, math.ceil(max(cols)))
        r0 = max(0, math.floor(min(rows)))
        r1 = min(self.height, math.ceil(max(rows)))
        if c1 <= c0 or r1 <= r0:
            return
        matrix = np.array([[a, b, tx - c0], [c, d, ty - r0]], dtype=np.float64)
        warped = cv2.warpAffine(
            layer.stamp, matrix, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
        np.maximum(occ[r0:r1, c0:c1], np.asarray(warped, dtype=np.float32), out=occ[r0:r1, c0:c1])

    def factor(self, occlusion: Image, out: Image | None = None) -> Image:
        """The multiplier an occlusion map puts on the light: 1 in sun, ``sky`` in full shadow.

        With ``out`` (which may be ``occlusion`` itself) no new frame is allocated.
        """
        res = np.multiply(occlusion, np.float32(self.sky - 1.0), out=out)
        res += np.float32(1.0)
        return res
