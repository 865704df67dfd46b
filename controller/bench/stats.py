"""Percentiles and histograms shared by the latency suites, in plain Python.

Benchmarks report p50, p99 and max the same way everywhere (nearest-rank, so a
reported p99 is a latency that really happened), and carry a compact histogram
rather than raw samples so ``report.json`` stays small and the plots can be
redrawn from it alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["histogram", "nearest_rank", "summary"]


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of an already sorted, non-empty sequence."""
    if not ordered:
        raise ValueError("ordered: no samples")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q: must be in (0, 1], got {q}")
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


def summary(samples: Sequence[float], *, digits: int = 3) -> dict[str, float | int]:
    """``{"p50", "p99", "max", "mean", "n"}`` of ``samples`` (rounded to ``digits``)."""
    if not samples:
        raise ValueError("samples: no samples to summarise")
    ordered = sorted(samples)
    return {
        "p50": round(nearest_rank(ordered, 0.50), digits),
        "p99": round(nearest_rank(ordered, 0.99), digits),
        "max": round(ordered[-1], digits),
        "mean": round(sum(ordered) / len(ordered), digits),
        "n": len(ordered),
    }


def histogram(samples: Sequence[float], *, width: float, limit: float) -> dict[str, object]:
    """Counts per bin of ``width`` from 0 to ``limit``; larger samples land in ``over``."""
    if width <= 0 or limit <= 0:
        raise ValueError(f"width, limit: must be positive, got {width}, {limit}")
    bins = math.ceil(limit / width)
    counts = [0] * bins
    over = 0
    for value in samples:
        index = int(value // width)
        if 0 <= index < bins:
            counts[index] += 1
        else:
            over += 1
    return {"width": width, "counts": counts, "over": over}
