"""Plain-numpy reference of the registration pass: the definition ``_registration`` is held to.

Written for clarity, not speed; the steps are those of ``ext/registration.pyx``'s
docstring. The profiles and every Lucas-Kanade sum are exact integers on both
sides; the float steps (profile statistics, the costs, the 2x2 solve) agree
to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "FINE",
    "FINE_REACH",
    "LK_DONE",
    "ROW_STEP",
    "blocks",
    "fit_roll_reference",
    "keep_pixels",
    "lk_sums",
    "means",
    "register_reference",
    "search",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Box = tuple[int, int, int, int]

ROW_STEP = 4
"""Lucas-Kanade uses every fourth row of the box with 4-pixel blocks (every fine-th row)."""
FINE = 4
"""Block size of the fine block search at 640x360 (the default); the coarse one pools 2 x 2."""
FINE_REACH = 2
"""The fine search covers this many blocks either side of the coarse result."""
LK_DONE = 2.0 / 256.0
"""Lucas-Kanade stops once a step moves under two 1/256-pixel quanta of the bilinear
weights (|dx| + |dy|, pixels): finer steps only go back and forth between quanta."""


def keep_pixels(mask: npt.NDArray[np.uint8], cell: int, box: Box) -> npt.NDArray[np.bool_]:
    r0, r1, c0, c1 = box
    ys = np.arange(r0, r1) // cell
    xs = np.arange(c0, c1) // cell
    keep: npt.NDArray[np.bool_] = mask[ys[:, None], xs[None, :]] != 0
    return keep


def blocks(
    image: npt.NDArray[np.uint8],
    keep: npt.NDArray[np.bool_],
    box: Box,
    size: int,
    fine: int = FINE,
) -> tuple[I64, I64]:
    """Sum and count of the kept pixels per size x size block (the box's whole fine blocks)."""
    r0, r1, c0, c1 = box
    bh, bw = (r1 - r0) // fine, (c1 - c0) // fine
    kept = np.where(keep, image[r0:r1, c0:c1].astype(np.int64), 0)[: bh * fine, : bw * fine]
    count = keep[: bh * fine, : bw * fine].astype(np.int64)
    if size != fine:
        ph, pw = bh // 2, bw // 2
        kept, count = kept[: ph * size, : pw * size], count[: ph * size, : pw * size]
        bh, bw = ph, pw
    sums: I64 = kept.reshape(bh, size, bw, size).sum(axis=(1, 3))
    counts: I64 = count.reshape(bh, size, bw, size).sum(axis=(1, 3))
    return sums, counts


def _parabola(cm: float, c0: float, cp: float) -> float:
    den = cm - 2.0 * c0 + cp
    return 0.5 * (cm - cp) / den if den > 0.0 else 0.0


def means(sums: I64, counts: I64) -> I64:
    """Block means in 1/16 grey level, rounded half up; -1 where no pixel was kept."""
    safe = np.maximum(counts, 1)
    out: I64 = np.where(counts > 0, (16 * sums + counts // 2) // safe, -1)
    return out


def search(
    frame: I64, reference: I64, size: int, centre: tuple[int, int], reach: int
) -> tuple[float, float, float, float]:
    """The block search on block means around centre (cy, cx) in blocks:
    (x, y) in pixels, cost (1 - correlation), spread of the frame's means (grey levels)."""
    bh, bw = frame.shape
    cy, cx = centre
    my, mx = abs(cy) + reach, abs(cx) + reach
    side = 2 * reach + 1
    costs = np.full((side, side), 2.0)
    spreads = np.zeros((side, side))
    f_all = frame[my : bh - my, mx : bw - mx]
    for sy in range(cy - reach, cy + reach + 1):
        for sx in range(cx - reach, cx + reach + 1):
            r_all = reference[my - sy : bh - my - sy, mx - sx : bw - mx - sx]
            both = (f_all >= 0) & (r_all >= 0)
            n = int(both.sum())
            if n < 8:
                continue
            f, r = f_all[both], r_all[both]
            sf, sr = int(f.sum()), int(r.sum())
            vf = float(n * int((f * f).sum()) - sf * sf)
            vr = float(n * int((r * r).sum()) - sr * sr)
            if vf > 0.0 and vr > 0.0:
                k = (sy - cy + reach, sx - cx + reach)
                costs[k] = 1.0 - float(n * int((f * r).sum()) - sf * sr) / math.sqrt(vf * vr)
                spreads[k] = math.sqrt(vf) / (16.0 * n)
    by, bx = divmod(int(np.argmin(costs)), side)
    subx = _parabola(*costs[by, bx - 1 : bx + 2]) if 0 < bx < 2 * reach else 0.0
    suby = _parabola(*costs[by - 1 : by + 2, bx]) if 0 < by < 2 * reach else 0.0
    return (
        (bx - reach + cx + subx) * size,
        (by - reach + cy + suby) * size,
        float(costs[by, bx]),
        float(spreads[by, bx]),
    )


def lk_sums(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    keep: npt.NDArray[np.bool_],
    box: Box,
    dx: float,
    dy: float,
    row_step: int = ROW_STEP,
) -> dict[str, int]:
    """The integer sums of one Lucas-Kanade step at shift (dx, dy).

    F: the frame sampled at (y + dy, x + dx) in 1/256 grey levels, with
    bilinear weights in 1/256 pixel; R: the reference; GX, GY: its central
    differences (twice the gradient). Over every ``row_step``-th row of the box's
    interior, the kept pixels whose samples lie inside the frame.
    """
    r0, r1, c0, c1 = box
    h, w = frame.shape
    iy, ix = math.floor(dy), math.floor(dx)
    wy = math.floor((dy - iy) * 256.0 + 0.5)
    wx = math.floor((dx - ix) * 256.0 + 0.5)
    ys = np.arange(r0 + 1, r1 - 1, row_step)
    ys = ys[(ys + iy >= 0) & (ys + iy + 1 < h)]
    xs = np.arange(max(c0 + 1, -ix), min(c1 - 1, w - 1 - ix))
    sel = keep[ys - r0][:, xs - c0]
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    yy, xx = yy[sel], xx[sel]
    fr = frame.astype(np.int64)
    ref = reference.astype(np.int64)
    fy, fx = yy + iy, xx + ix
    f = (
        (256 - wy) * (256 - wx) * fr[fy, fx]
        + (256 - wy) * wx * fr[fy, fx + 1]
        + wy * (256 - wx) * fr[fy + 1, fx]
        + wy * wx * fr[fy + 1, fx + 1]
        + 128
    ) >> 8
    r = ref[yy, xx]
    gx = ref[yy, xx + 1] - ref[yy, xx - 1]
    gy = ref[yy + 1, xx] - ref[yy - 1, xx]
    terms = {
        "n": np.ones_like(f),
        "f": f,
        "r": r,
        "fr": f * r,
        "rr": r * r,
        "gx": gx,
        "gy": gy,
        "gxf": gx * f,
        "gxr": gx * r,
        "gyf": gy * f,
        "gyr": gy * r,
        "hxx": gx * gx,
        "hxy": gx * gy,
        "hyy": gy * gy,
    }
    return {name: int(values.sum()) for name, values in terms.items()}


def _lk_step(s: dict[str, int]) -> tuple[float, float] | None:
    n = s["n"]
    if n < 16:
        return None
    dn = float(n)
    mf, mr = s["f"] / dn, s["r"] / dn
    cov = s["fr"] - dn * mf * mr
    var = s["rr"] - dn * mr * mr
    if var < 1e-9 or abs(cov) < 1e-9:
        return None
    gain = cov / var
    bx = ((s["gxf"] - mf * s["gx"]) / gain - (s["gxr"] - mr * s["gx"])) * 2.0
    by = ((s["gyf"] - mf * s["gy"]) / gain - (s["gyr"] - mr * s["gy"])) * 2.0
    hxx, hxy, hyy = float(s["hxx"]), float(s["hxy"]), float(s["hyy"])
    det = hxx * hyy - hxy * hxy
    if det < 1e-9:
        return None
    return (hyy * bx - hxy * by) / det, (hxx * by - hxy * bx) / det


def register_reference(
    frame: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.uint8],
    *,
    cell: int,
    box: Box,
    reach: int,
    iterations: int,
    fine: int = FINE,
) -> tuple[float, ...]:
    """Same contract as the compiled pass:
    (dx, dy, block dx, block dy, texture, cost, coarse dx, coarse dy)."""
    keep = keep_pixels(mask, cell, box)
    coarse = search(
        means(*blocks(frame, keep, box, 2 * fine, fine)),
        means(*blocks(reference, keep, box, 2 * fine, fine)),
        2 * fine,
        (0, 0),
        reach,
    )
    centre = (math.floor(coarse[1] / fine + 0.5), math.floor(coarse[0] / fine + 0.5))
    bx, by, cost, texture = search(
        means(*blocks(frame, keep, box, fine, fine)),
        means(*blocks(reference, keep, box, fine, fine)),
        fine,
        centre,
        FINE_REACH,
    )
    dx, dy = bx, by
    for _ in range(iterations):
        step = _lk_step(lk_sums(frame, reference, keep, box, dx, dy, fine))
        if step is None:
            break
        dx -= step[0]
        dy -= step[1]
        if abs(step[0]) + abs(step[1]) < LK_DONE:
            break
    if (dx - bx) ** 2 + (dy - by) ** 2 > fine * fine:
        dx, dy = bx, by
    return dx, dy, bx, by, texture, cost, coarse[0], coarse[1]


def fit_roll_reference(
    points: list[tuple[float, float]], shifts: list[tuple[float, float]]
) -> float:
    """Same contract as ``registration.fit_roll``, written as the sums it takes."""
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    tx = sum(d[0] for d in shifts) / len(shifts)
    ty = sum(d[1] for d in shifts) / len(shifts)
    num = sum(
        (d[0] - tx) * -(p[1] - my) + (d[1] - ty) * (p[0] - mx)
        for p, d in zip(points, shifts, strict=True)
    )
    den = sum((p[0] - mx) ** 2 + (p[1] - my) ** 2 for p in points)
    return num / den
