"""``lanectl eval-vision``: run the presence detector over a clip and score it.

This is how a detector setting is judged before it goes near a lane: per zone
the presence episodes (first and last frame), their count and, against a truth
CSV, per-frame precision, recall and F1, plus the camera faults seen. The clip
is read at its own frame rate, so the millisecond timings behave as live.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "TruthError",
    "VisionReport",
    "ZoneScore",
    "camera_report",
    "episodes",
    "evaluate_frames",
    "load_truth",
    "parse_overrides",
    "register",
    "score",
]


class TruthError(ValueError):
    """The truth CSV is malformed; the message names the file, line and column."""


@dataclass(frozen=True, slots=True)
class ZoneScore:
    """Per-frame precision, recall and F1 of one zone against truth."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True, slots=True)
class VisionReport:
    """What ``eval-vision`` prints (``as_json`` gives the issue's exact shape)."""

    frames: int
    zone_names: tuple[str, ...]
    occupied: Mapping[str, Sequence[bool]]
    scores: Mapping[str, ZoneScore]
    camera_faults: tuple[tuple[str, int, int], ...]

    def episodes(self, zone: str) -> list[tuple[int, int]]:
        return episodes(self.occupied[zone])

    def as_json(self) -> dict[str, object]:
        zones: dict[str, object] = {}
        for name in self.zone_names:
            eps = self.episodes(name)
            entry: dict[str, object] = {"episodes": [list(e) for e in eps], "count": len(eps)}
            sc = self.scores.get(name)
            if sc is not None:
                entry.update(
                    precision=round(sc.precision, 4),
                    recall=round(sc.recall, 4),
                    f1=round(sc.f1, 4),
                )
            zones[name] = entry
        return {
            "frames": self.frames,
            "zones": zones,
            "camera_faults": [
                {"fault": f, "first": a, "last": b} for f, a, b in self.camera_faults
            ],
        }


def episodes(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Runs of True as (first frame, last frame), inclusive."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, on in enumerate(flags):
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def score(predicted: Sequence[bool], truth: Sequence[bool], guard: int = 0) -> ZoneScore:
    """Per-frame precision, recall and F1 (1.0 where nothing was there and nothing was seen).

    ``guard`` > 0 leaves out the frames within that many frames of a change in
    the truth (where a body covers only its outermost pixel column of a zone,
    its outline, often as grey as the road); 0 is strict.
    """
    if len(predicted) != len(truth):
        raise ValueError(f"score: {len(predicted)} predictions for {len(truth)} truth frames")
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if guard > 0 and t.size > 1:
        scored = np.ones(t.size, dtype=bool)
        for change in np.nonzero(t[1:] != t[:-1])[0]:
            scored[max(0, change + 1 - guard) : change + 1 + guard] = False
        p, t = p[scored], t[scored]
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ZoneScore(precision, recall, f1, tp, fp, fn)


def load_truth(path: Path) -> dict[str, list[bool]]:
    """Truth CSV: header ``frame,<zone>,...`` then one row per frame of 0/1."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise TruthError(f"{path}: cannot read truth: {exc.strerror}") from exc
    if not rows or not rows[0] or rows[0][0] != "frame" or len(rows[0]) < 2:
        raise TruthError(f"{path}: line 1: header must be 'frame,<zone>,...'")
    names = rows[0][1:]
    out: dict[str, list[bool]] = {n: [] for n in names}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(names) + 1:
            raise TruthError(f"{path}: line {lineno}: expected {len(names) + 1} columns")
        if row[0] != str(len(out[names[0]])):
            raise TruthError(
                f"{path}: line {lineno}: frame {row[0]!r}, expected {len(out[names[0]])}"
            )
        for name, cell in zip(names, row[1:], strict=True):
            if cell not in ("0", "1"):
                raise TruthError(f"{path}: line {lineno}: column {name!r}: expected 0 or 1")
            out[name].append(cell == "1")
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, object]:
    """``KEY=VALUE`` detector overrides; values are ints, floats or true/false."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        value: object
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError as exc:
                    raise ValueError(f"--set {key}: {text!r} is not a number") from exc
        out[key] = value
    return out


def evaluate_frames(
    frames: Iterable[tuple[int, int, npt.NDArray[np.uint8]]],
    zones: Sequence[object],
    settings: object,
    truth: Mapping[str, Sequence[bool]] | None = None,
) -> VisionReport:
    """Run a fresh detector over (index, t_ms, grey) frames and score it."""
    from controller.vision.detector import Detector, DetectorSettings
    from controller.vision.zones import Zone

    assert isinstance(settings, DetectorSettings)
    zone_list = [z for z in zones if isinstance(z, Zone)]
    detector: Detector | None = None
    occupied: dict[str, list[bool]] = {z.name: [] for z in zone_list}
    faults: dict[str, list[int]] = {}
    count = 0
    for index, t_ms, grey in frames:
        if detector is None:
            detector = Detector(zone_list, grey.shape[0], grey.shape[1], settings)
        det = detector.process(grey, t_ms)
        for name, on in det.occupied:
            occupied[name].append(on)
        for fault in det.faults:
            faults.setdefault(fault.value, []).append(index)
        count += 1
    fault_runs: list[tuple[str, int, int]] = []
    for name, idx in sorted(faults.items()):
        start = prev = idx[0]
        for i in idx[1:]:
            if i != prev + 1:
                fault_runs.append((name, start, prev))
                start = i
            prev = i
        fault_runs.append((name, start, prev))
    scores: dict[str, ZoneScore] = {}
    if truth is not None:
        for name, pred in occupied.items():
            if name in truth:
                want = list(truth[name])
                if len(want) != len(pred):
                    raise TruthError(
                        f"truth has {len(want)} frames for zone {name!r}, the clip {len(pred)}"
                    )
                scores[name] = score(pred, want)
    return VisionReport(
        frames=count,
        zone_names=tuple(z.name for z in zone_list),
        occupied=occupied,
        scores=scores,
        camera_faults=tuple(sorted(fault_runs, key=lambda r: r[1])),
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "eval-vision",
        help="run the presence detector over a video clip and score it",
        description="Run the presence detector over VIDEO with the zones of --zones; "
        "print per-zone presence episodes and, with --truth, per-frame precision, "
        "recall and F1.",
    )
    parser.add_argument("video", type=Path, help="video file (any format OpenCV reads)")
    parser.add_argument("--zones", type=Path, required=True, help="zones TOML ([[zone]] tables)")
    parser.add_argument("--truth", type=Path, help="truth CSV: frame,<zone>,... of 0/1")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a detector setting (repeatable)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from controller.io.camera import SourceError, read_video
    from controller.vision.detector import DetectorSettings, SettingsError
    from controller.vision.zones import ZoneError, load_zones

    try:
        zones = load_zones(args.zones)
        settings = DetectorSettings.from_mapping(parse_overrides(args.set), source="--set")
        truth = load_truth(args.truth) if args.truth is not None else None
        if not args.video.is_file():
            raise SourceError(f"{args.video}: no such video file")
        report = evaluate_frames(read_video(str(args.video)), zones, settings, truth)
    except (ZoneError, SettingsError, TruthError, SourceError, ValueError) as exc:
        print(f"lanectl eval-vision: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_json(), sort_keys=False))
        return 0
    print(f"frames: {report.frames}")
    for name in report.zone_names:
        eps = report.episodes(name)
        line = f"{name}: {len(eps)} episode(s) {eps}"
        sc = report.scores.get(name)
        if sc is not None:
            line += f"  precision={sc.precision:.4f} recall={sc.recall:.4f} f1={sc.f1:.4f}"
        print(line)
    faults = ", ".join(f"{f} {a}-{b}" for f, a, b in report.camera_faults) or "none"
    print(f"camera faults: {faults}")
    return 0


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q * 100.0)), 1)


def camera_report(
    sim_log: Mapping[str, object], controller_log: Mapping[str, object], warmup: int = 10
) -> dict[str, object]:
    """Score the controller's camera frames against the simulator's per-frame truth.

    ``sim_log`` is ``SimCamera.truth_log()`` (publish monotonic ms, truth bits),
    ``controller_log`` the provider's ``frame_log`` (seq, capture ms, bits,
    healthy, first-scan ms, coils-written ms). Both clocks are the machine's
    monotonic clock, so each captured frame is matched to the last frame
    published before it. ``latency`` is from capture to the first scan that
    used the frame's answer; ``coil`` from capture to the end of that scan's
    coil write; ``end_to_end`` from the simulator's render to that coil write,
    so it adds JPEG, HTTP and decoding.
    """
    zones = [str(z) for z in sim_log.get("zones", [])]  # type: ignore[attr-defined]
    published = [(int(p), str(b)) for p, b in sim_log.get("frames", [])]  # type: ignore[attr-defined]
    frames = list(controller_log.get("frames", []))  # type: ignore[call-overload]
    ctrl_zones = [str(z) for z in controller_log.get("zones", [])]  # type: ignore[attr-defined]
    times = [p for p, _ in published]
    predicted: dict[str, list[bool]] = {z: [] for z in zones}
    truth: dict[str, list[bool]] = {z: [] for z in zones}
    latency: list[float] = []
    coil: list[float] = []
    end_to_end: list[float] = []
    unhealthy = 0
    for seq, capture, bits, healthy, consumed, written in frames[warmup:]:
        i = int(np.searchsorted(times, capture, side="right")) - 1
        if i < 0:
            continue
        if not healthy:
            unhealthy += 1
        for k, name in enumerate(zones):
            j = ctrl_zones.index(name) if name in ctrl_zones else -1
            predicted[name].append(healthy and j >= 0 and bits[j] == "1")
            truth[name].append(published[i][1][k] == "1")
        if consumed is not None:
            latency.append(float(consumed) - float(capture))
        if written is not None:
            coil.append(float(written) - float(capture))
            end_to_end.append(float(written) - float(published[i][0]))
        del seq
    out: dict[str, object] = {"camera_frames": len(frames), "camera_unhealthy_frames": unhealthy}
    for name in zones:
        out[f"camera_f1_{name}"] = round(score(predicted[name], truth[name]).f1, 4)
    out["camera_latency_p50_ms"] = _percentile(latency, 0.5)
    out["camera_latency_p99_ms"] = _percentile(latency, 0.99)
    out["camera_to_coil_p50_ms"] = _percentile(coil, 0.5)
    out["camera_to_coil_p99_ms"] = _percentile(coil, 0.99)
    out["camera_end_to_end_p50_ms"] = _percentile(end_to_end, 0.5)
    out["camera_end_to_end_p99_ms"] = _percentile(end_to_end, 0.99)
    return out
