"""The camera-in-the-loop latency benchmark: frame published -> the scan that acts on it.

``lanectl sim --camera-port`` renders the plant at the camera's frame rate,
serves it as MJPEG over HTTP like an IP camera and logs, per published frame,
the monotonic time and the zone truth. ``lanectl run`` with a ``[camera]``
section reads that stream through ``cv2.VideoCapture`` in its camera thread,
runs the presence detector and, with ``camera.detector.frame_log``, logs per
captured frame the capture time and the time of the first scan that used the
frame's answer and the time that scan's coil write returned. Both are the
machine's monotonic clock, so each captured frame is matched with the last
frame published before its capture (``controller.commands.eval_vision``'s
rule): ``frame_to_coil_ms`` is publish -> coils written, JPEG, HTTP,
decoding, detection, the wait for the scan and the Modbus write included;
``capture_to_scan_ms`` leaves out the transport and the write. The target is
p99 <= one frame interval + 15 ms. The detector's warm-up frames are skipped;
both processes are always stopped.
"""

from __future__ import annotations

import bisect
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from controller.bench.hil import (
    HIST_LIMIT_MS,
    HilError,
    lane_config_toml,
    scan_stats,
    wait_scanning,
)
from controller.bench.stats import histogram, summary
from controller.children import Children

__all__ = ["SCAN_MS", "frame_latencies", "run"]

SCAN_MS = 5
"""The scan period of the latency target (as for the sensor edge -> coil target)."""
WARMUP_FRAMES = 30
START_TIMEOUT_S = 20.0
TARGET_MARGIN_MS = 15.0


def _config_toml(port: int, journal: Path, info: dict[str, Any], frame_log: Path) -> str:
    lines = [
        lane_config_toml(port, SCAN_MS, journal).rstrip("\n"),
        "[camera]",
        f"url = {json.dumps(str(info['url']))}",
        "[camera.detector]",
        f"frame_log = {json.dumps(str(frame_log))}",
    ]
    for zone in info["zones"]:
        points = ", ".join(f"[{float(x)}, {float(y)}]" for x, y in zone["polygon"])
        lines += ["[[camera.zone]]", f"name = {json.dumps(zone['name'])}", f"polygon = [{points}]"]
    return "\n".join(lines) + "\n"


def frame_latencies(
    sim_log: dict[str, Any], controller_log: dict[str, Any], warmup: int = WARMUP_FRAMES
) -> tuple[list[float], list[float]]:
    """(publish -> coils written, capture -> first scan) in ms, per captured frame after
    ``warmup`` whose first scan wrote its coils."""
    published = sorted(int(p) for p, _ in sim_log.get("frames", []))
    to_coil: list[float] = []
    to_scan: list[float] = []
    frames = list(controller_log.get("frames", []))[warmup:]
    for _seq, capture, _bits, _healthy, consumed, written in frames:
        if consumed is None or written is None:
            continue
        i = bisect.bisect_right(published, int(capture)) - 1
        if i < 0:
            continue
        to_coil.append(float(written) - float(published[i]))
        to_scan.append(float(consumed) - float(capture))
    return to_coil, to_scan


def _measure(seconds: float, workdir: Path) -> dict[str, Any]:
    info_path = workdir / "camera-info.json"
    truth_path = workdir / "camera-truth.json"
    frames_path = workdir / "camera-frames.json"
    with Children(workdir, error=HilError, start_timeout_s=START_TIMEOUT_S) as children:
        sim, addr = children.start(
            "sim-camera",
            [
                "sim",
                "--scenario",
                "rush",
                "--port",
                "0",
                "--camera-port",
                "0",
                "--camera-info-out",
                str(info_path),
                "--camera-log",
                str(truth_path),
            ],
            "listening on",
        )
        info = json.loads(info_path.read_text(encoding="utf-8"))
        port = int(addr.rsplit(":", 1)[1])
        config = workdir / "lane-camera.toml"
        config.write_text(
            _config_toml(port, workdir / "journal-camera.sqlite", info, frames_path),
            encoding="utf-8",
        )
        ctl, api_url = children.start(
            "run-camera", ["run", "--config", str(config)], "api listening on"
        )
        wait_scanning(api_url, ctl, time.monotonic() + START_TIMEOUT_S)
        children.watch(time.monotonic() + seconds)
        stats = scan_stats(api_url)
        children.stop(ctl, what="run")
        children.stop(sim, what="sim")
    try:
        sim_log = json.loads(truth_path.read_text(encoding="utf-8"))
        ctrl_log = json.loads(frames_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HilError(f"camera logs missing or unreadable in {workdir}: {exc}") from exc
    to_coil, to_scan = frame_latencies(sim_log, ctrl_log)
    if len(to_coil) < 10:
        raise HilError(f"camera: only {len(to_coil)} frames used by a scan in {seconds} s")
    fps = float(info.get("fps", 15.0))
    interval = 1000.0 / fps
    frame = summary(to_coil)
    return {
        "frame_to_coil_ms": frame,
        "capture_to_scan_ms": summary(to_scan),
        "fps": fps,
        "target_p99_ms": round(interval + TARGET_MARGIN_MS, 1),
        "frames_published": len(sim_log.get("frames", [])),
        "frames_captured": len(ctrl_log.get("frames", [])),
        "scan_ms": SCAN_MS,
        "seconds": seconds,
        "scans": int(stats.get("scans", 0) or 0),
        "plot": {"histogram_ms": histogram(to_coil, width=1.0, limit=max(HIST_LIMIT_MS, 150.0))},
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The ``frame`` suite: frame published -> scan that used it, through the real camera path."""
    seconds = 6.0 if quick else 30.0
    with tempfile.TemporaryDirectory(prefix="lanectl-bench-frame-") as tmp:
        return _measure(seconds, Path(tmp))
