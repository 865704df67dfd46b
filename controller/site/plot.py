"""The site sim's day as one PNG: queue and arrivals, lanes open and staffed, waits.

Drawn with matplotlib's Agg backend (no display needed), imported only here
and only when a plot is asked for (it comes with the ``bench`` extra).
"""

from __future__ import annotations

from pathlib import Path

from controller.site.sim import SimResult

__all__ = ["plot_day"]

_MS_PER_HOUR = 3_600_000
_BIN_MS = 1_800_000


def _p95(values: list[int]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)] / 1000.0


def plot_day(result: SimResult, out_dir: Path) -> Path:
    """Write ``site-sim-<policy>-seed<S>.png`` in ``out_dir`` (created); return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result.config
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"site-sim-{cfg.policy}-seed{cfg.seed}.png"
    hours = [p.t_ms / _MS_PER_HOUR for p in result.timeline]
    fig, (top, mid, bottom) = plt.subplots(
        3, 1, figsize=(10, 8), dpi=100, sharex=True, gridspec_kw={"height_ratios": [2, 1, 2]}
    )
    try:
        top.plot(hours, [p.queue for p in result.timeline], color="#c44e52", label="queued")
        top.set_ylabel("vehicles queued")
        rate = top.twinx()
        rate.plot(
            hours,
            [p.arrival_vph for p in result.timeline],
            color="#8172b2",
            linewidth=0.8,
            label="arrivals (15 min)",
        )
        rate.set_ylabel("arrivals / h")
        top.legend(loc="upper left")
        rate.legend(loc="upper right")
        mid.step(hours, [p.open_lanes for p in result.timeline], where="post", label="open")
        mid.step(
            hours,
            [p.staffed for p in result.timeline],
            where="post",
            linestyle="--",
            label="staffed",
        )
        mid.set_ylabel("lanes")
        mid.set_ylim(0, cfg.lanes + 0.5)
        mid.legend(loc="upper left")
        bottom.scatter(
            [at / _MS_PER_HOUR for at, _ in result.entries],
            [w / 1000.0 for _, w in result.entries],
            s=3,
            alpha=0.4,
            color="#4c72b0",
            label="wait per vehicle",
        )
        bins: dict[int, list[int]] = {}
        for at, w in result.entries:
            bins.setdefault(at // _BIN_MS, []).append(w)
        keys = sorted(bins)
        bottom.step(
            [k * _BIN_MS / _MS_PER_HOUR for k in keys],
            [_p95(bins[k]) for k in keys],
            where="post",
            color="#dd8452",
            label="p95 per 30 min",
        )
        bottom.set_ylabel("wait to enter the bay (s)")
        bottom.set_xlabel("hour of the day")
        bottom.legend(loc="upper left")
        stats = result.wait_stats_s()
        fig.suptitle(
            f"site sim: {cfg.lanes} lanes, policy {cfg.policy}, seed {cfg.seed}: "
            f"{result.arrived} vehicles, wait mean {stats['mean']} s, p95 {stats['p95']} s, "
            f"{result.lane_hours:.1f} lane-hours"
        )
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
