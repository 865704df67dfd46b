"""The benchmark report: one JSON object with the headline figures, and the plots.

``summarize`` lifts the figures DESIGN.md sets targets for out of the suites'
results (``step_p99_us``, ``edge_to_coil_ms``, ``frame_to_coil_ms``,
``lost_time_per_vehicle_s``, ``throughput_vph``, the kernel list) and says
which targets this run met; it never fails on a missed target, because CI
machines are shared and noisy. The plots are drawn from the report alone
(each suite keeps what its plot needs under a ``plot`` key), with
matplotlib's Agg backend so no display is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "machine", "strip_plots", "summarize", "write_report"]

TARGETS: dict[str, str] = {
    "step_p99_us_le_20": "core.lane.step p99 <= 20 us",
    "edge_to_coil_p99_ms_le_8_at_5ms": "sensor edge -> coil written p99 <= 8 ms at a 5 ms scan",
    "frame_to_coil_p99_ms_le_frame_interval_plus_15": "camera frame -> decision -> coil p99 "
    "<= one frame interval + 15 ms",
    "lost_time_s_le_0_3": "lost time per vehicle <= 0.3 s (auto-release, early entry)",
    "kernel_vs_opencv_le_0_35": "kernel <= 0.35x OpenCV (1280x720)",
    "kernel_vs_numpy_ge_30": "kernel >= 30x faster than numpy (1280x720)",
    "kernel_vs_copy_le_4": "kernel <= 4x one np.copyto (1280x720)",
    "detector_cpu_ms_le_0_4_at_1280x720": "detector CPU per 1280x720 frame, mean <= 0.4 ms, "
    "every condition",
    "detector_cpu_p99_ms_le_1_5_at_1280x720": "detector CPU per 1280x720 frame, p99 <= 1.5 ms, "
    "every condition",
    "detector_cpu_ms_le_0_15_at_640x360": "detector CPU per 640x360 frame, mean <= 0.15 ms, "
    "every condition",
    "decode_detect_core_share_le_0_05_at_1280x720": "MJPEG decode + detect of a 1280x720 "
    "camera at 25 fps <= 5 % of a core, every condition",
}
"""Each target's key in ``summary["targets"]`` and what it means."""


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPUs and the load average (other work on the box)."""
    import os
    import platform

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpus": os.cpu_count(),
        "loadavg_1_5_15m": load,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def strip_plots(value: Any) -> Any:
    """``value`` without the bulky ``plot`` entries (for printing; report.json keeps them)."""
    if isinstance(value, dict):
        return {k: strip_plots(v) for k, v in value.items() if k != "plot"}
    if isinstance(value, list):
        return [strip_plots(v) for v in value]
    return value


def _ok(result: Any) -> bool:
    return not (isinstance(result, dict) and "error" in result)


def _targets(results: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    step = results.get("step")
    if _ok(step) and isinstance(step, dict) and "step_p99_us" in step:
        met["step_p99_us_le_20"] = float(step["step_p99_us"]) <= 20.0
    hil = results.get("hil")
    if _ok(hil) and isinstance(hil, dict) and "5" in hil.get("edge_to_coil_ms", {}):
        met["edge_to_coil_p99_ms_le_8_at_5ms"] = float(hil["edge_to_coil_ms"]["5"]["p99"]) <= 8.0
    frame = results.get("frame")
    if _ok(frame) and isinstance(frame, dict) and "frame_to_coil_ms" in frame:
        met["frame_to_coil_p99_ms_le_frame_interval_plus_15"] = float(
            frame["frame_to_coil_ms"]["p99"]
        ) <= float(frame["target_p99_ms"])
    throughput = results.get("throughput")
    if _ok(throughput) and isinstance(throughput, dict):
        lost = throughput.get("lost_time_per_vehicle_s", {}).get("early_entry")
        if lost is not None:
            met["lost_time_s_le_0_3"] = float(lost) <= 0.3
    detector = results.get("detector")
    if _ok(detector) and isinstance(detector, dict) and "detector" in detector:
        table = detector["detector"]
        big = table.get("1280x720", {}).values()
        small = table.get("640x360", {}).values()
        if big:
            met["detector_cpu_ms_le_0_4_at_1280x720"] = all(r["cpu_ms_mean"] <= 0.4 for r in big)
            met["detector_cpu_p99_ms_le_1_5_at_1280x720"] = all(r["cpu_ms_p99"] <= 1.5 for r in big)
            met["decode_detect_core_share_le_0_05_at_1280x720"] = all(
                r["core_share_25fps"] <= 0.05 for r in big
            )
        if small:
            met["detector_cpu_ms_le_0_15_at_640x360"] = all(r["cpu_ms_mean"] <= 0.15 for r in small)
    kernel = results.get("kernel")
    if isinstance(kernel, list):
        row = next((r for r in kernel if r.get("frame") == "1280x720"), None)
        if row is not None:
            met["kernel_vs_opencv_le_0_35"] = float(row["vs_opencv"]) <= 0.35
            met["kernel_vs_numpy_ge_30"] = float(row["vs_numpy"]) >= 30.0
            met["kernel_vs_copy_le_4"] = float(row["vs_copy"]) <= 4.0
    return met


def summarize(results: dict[str, Any], *, quick: bool) -> dict[str, Any]:
    """The report object: headline figures first, then every suite's full result by name."""
    out: dict[str, Any] = {"quick": quick}
    if "kernel" in results:
        out["kernel"] = results["kernel"]
    step = results.get("step")
    if _ok(step) and isinstance(step, dict):
        out["step_p99_us"] = step.get("step_p99_us")
    journal = results.get("journal")
    if _ok(journal) and isinstance(journal, dict):
        out["journal_events_per_s"] = journal.get("events_per_s")
    hil = results.get("hil")
    if _ok(hil) and isinstance(hil, dict):
        out["edge_to_coil_ms"] = hil.get("edge_to_coil_ms")
    frame = results.get("frame")
    if _ok(frame) and isinstance(frame, dict):
        out["frame_to_coil_ms"] = frame.get("frame_to_coil_ms")
    throughput = results.get("throughput")
    if _ok(throughput) and isinstance(throughput, dict):
        out["lost_time_per_vehicle_s"] = throughput.get("lost_time_per_vehicle_s")
        out["throughput_vph"] = throughput.get("throughput_vph")
    out["targets"] = _targets(results)
    out["errors"] = {name: r["error"] for name, r in results.items() if not _ok(r)}
    for name, result in results.items():
        if name != "kernel":
            out[name] = result
    return out


def _latency_plot(
    path: Path,
    period: str,
    hist: dict[str, Any],
    stats: dict[str, Any],
    *,
    target_ms: float = 8.0,
    what: str = "sensor edge -> coil written (ms), measured by the plant",
    counted: str = "edges",
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = float(hist["width"])
    counts = list(hist["counts"])
    lefts = [i * width for i in range(len(counts))]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    try:
        ax.bar(lefts, counts, width=width, align="edge", color="#4c72b0")
        top = ax.get_ylim()[1]
        limit = len(counts) * width
        for row, (key, style) in enumerate((("p50", ":"), ("p99", "--"), ("max", "-"))):
            if key in stats:
                value = float(stats[key])
                shown = min(value, limit)
                label = f" {key} {value:.2f}" + (" (off scale)" if value > limit else "")
                ax.axvline(shown, color="#c44e52", linestyle=style, linewidth=1)
                align = "right" if value > limit * 0.8 else "left"
                ax.text(shown, top * (0.92 - 0.08 * row), label, fontsize=8, ha=align)
        ax.set_xlim(0, limit)
        ax.axvline(target_ms, color="#55a868", linewidth=1, alpha=0.6)
        ax.set_xlabel(what)
        ax.set_ylabel(counted)
        over = int(hist.get("over", 0))
        note = f", {over} beyond {len(counts) * width:.0f} ms" if over else ""
        ax.set_title(
            f"HIL, {period} ms scan: n={stats.get('n', sum(counts))}{note}",
            fontsize=10,
        )
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


_LANES = (
    ("entry_green", "#2ca02c"),
    ("entry_amber", "#ff9f1c"),
    ("entry_red", "#d62728"),
    ("warn", "#ff9f1c"),
    ("barrier_raise", "#1f77b4"),
    ("barrier_lower", "#9467bd"),
    ("exit_green", "#2ca02c"),
    ("exit_red", "#d62728"),
    ("loop_approach", "#555555"),
    ("loop_bay", "#555555"),
    ("photocell", "#555555"),
    ("loop_exit", "#555555"),
    ("barrier_up", "#555555"),
    ("barrier_down", "#555555"),
)


def _timeline_plot(path: Path, trace: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [float(x) for x in trace["t_s"]]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 6.5), dpi=110, sharex=True, gridspec_kw={"height_ratios": [1, 3]}
    )
    try:
        top.plot(t, [p / 10.0 for p in trace["boom_permille"]], color="#1f77b4")
        top.set_ylabel("boom (% up)")
        top.set_ylim(-5, 105)
        names = [name for name, _ in _LANES if name in trace]
        for row, (name, colour) in enumerate((n, c) for n, c in _LANES if n in trace):
            base = len(names) - 1 - row
            values = [base + 0.8 * int(v) for v in trace[name]]
            bottom.fill_between(t, base, values, step="post", color=colour, alpha=0.8)
        bottom.set_yticks([len(names) - 1 - i + 0.4 for i in range(len(names))], names)
        bottom.set_xlabel("s")
        for label, at in trace.get("marks_s", {}).items():
            for ax in (top, bottom):
                ax.axvline(float(at), color="#888888", linestyle=":", linewidth=0.8)
            top.text(float(at), 102, label, fontsize=7, rotation=30, va="bottom")
        v = trace.get("vehicle", {})
        fig.suptitle(
            f"one vehicle cycle, model in the loop (core, auto-release, early entry): "
            f"vehicle {v.get('id')} {v.get('kind')} {v.get('length_m')} m",
            fontsize=10,
        )
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def write_report(out: Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``out/report.json`` and the PNG plots the report's data allows; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    report = out / "report.json"
    report.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(report)
    hil = summary.get("hil")
    if _ok(hil) and isinstance(hil, dict):
        hists = hil.get("plot", {}).get("histogram_ms", {})
        for period, hist in hists.items():
            path = out / f"edge_to_coil_{period}ms.png"
            _latency_plot(path, period, hist, hil.get("edge_to_coil_ms", {}).get(period, {}))
            written.append(path)
    frame = summary.get("frame")
    if _ok(frame) and isinstance(frame, dict) and "plot" in frame:
        path = out / "frame_to_coil.png"
        _latency_plot(
            path,
            f"camera {frame.get('fps')} fps, {frame.get('scan_ms')}",
            frame["plot"]["histogram_ms"],
            frame.get("frame_to_coil_ms", {}),
            target_ms=float(frame.get("target_p99_ms", 0.0)),
            what="camera frame published -> scan that used it (ms)",
            counted="frames",
        )
        written.append(path)
    throughput = summary.get("throughput")
    if _ok(throughput) and isinstance(throughput, dict):
        trace = throughput.get("plot", {}).get("timeline")
        if trace:
            path = out / "timeline.png"
            _timeline_plot(path, trace)
            written.append(path)
    return written
