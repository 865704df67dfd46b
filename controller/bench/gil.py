"""``lanectl bench gil``: how late a real-time thread gets the GIL back beside the detector.

The scan thread sleeps to each deadline with the GIL released and needs it back
to run; another thread of the process holding it (the detector's Python and
numpy work, a C call that never lets go) makes the scan late whatever its
priority. This suite measures that alone, without Modbus or the simulator's
own scheduling in the figure: a thread at the scan's ``SCHED_FIFO`` priority
(where granted) wakes on 1 ms deadlines for ``seconds``, and its lateness is
taken with no detector, with the detector in this process
(``[camera] process = false``) and in a child process (``true``), on the
simulator's 1280x720 camera at 25 fps. The modes alternate round by round, so
a noisy machine weighs on all of them alike.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from controller.bench.hil import SCAN_PRIORITY, HilError
from controller.bench.hil_load import CAMERA_FPS, CAMERA_SIZE, camera_sim_args
from controller.children import Children

__all__ = ["MODES", "lateness", "run"]

MODES: tuple[str, ...] = ("none", "in_process", "child")
PERIOD_NS = 1_000_000
SETTLE_S = 2.0
"""After the detector starts, before the probe: its first frames and reference."""


def lateness(seconds: float, priority: int = SCAN_PRIORITY) -> dict[str, Any]:
    """Wake a thread on 1 ms deadlines for ``seconds``; its lateness in ms."""
    from controller.realtime import setup_scan_thread, sleep_until

    late: list[int] = []
    granted: dict[str, Any] = {}

    def probe() -> None:
        granted.update(setup_scan_thread(priority).as_dict())
        t0 = time.monotonic_ns() + PERIOD_NS
        for k in range(int(seconds * 1e9 / PERIOD_NS)):
            deadline = t0 + k * PERIOD_NS
            sleep_until(deadline)
            late.append(time.monotonic_ns() - deadline)

    thread = threading.Thread(target=probe, name="gil-probe")
    thread.start()
    thread.join()
    late.sort()
    n = len(late)
    return {
        "p50": round(late[n // 2] / 1e6, 3),
        "p99": round(late[int(n * 0.99)] / 1e6, 3),
        "p999": round(late[int(n * 0.999)] / 1e6, 3),
        "max": round(late[-1] / 1e6, 3),
        "n": n,
        "policy": granted.get("policy"),
    }


def _camera(mode: str, cfg: dict[str, Any]) -> Any:
    if mode == "in_process":
        from controller.vision.presence import from_config

        return from_config(cfg)
    from controller.vision.process import from_config as child

    provider = child(cfg)
    provider.wait_ready()
    return provider


def run(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    """``{"lateness_ms": {mode: [per round {p50, p99, p999, max, n, frames}]}, ...}``."""
    seconds = 3.0 if quick else 15.0
    rounds = rounds if rounds is not None else (1 if quick else 2)
    out: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    switch = sys.getswitchinterval()
    with tempfile.TemporaryDirectory(prefix="lanectl-bench-gil-") as tmp:
        workdir = Path(tmp)
        info_path = workdir / "camera-info.json"
        with Children(workdir, error=HilError, start_timeout_s=20.0) as children:
            sim, _ = children.start(
                "sim-camera",
                camera_sim_args(info_path),
                "listening on",
            )
            info = json.loads(info_path.read_text(encoding="utf-8"))
            cfg = {"url": info["url"], "zones": info["zones"]}
            from controller.realtime import SWITCH_INTERVAL_S

            sys.setswitchinterval(SWITCH_INTERVAL_S)  # as the runtime sets it
            try:
                for _ in range(rounds):
                    for mode in MODES:
                        camera = None if mode == "none" else _camera(mode, cfg)
                        try:
                            time.sleep(SETTLE_S)
                            figures = lateness(seconds)
                            if camera is not None:
                                figures["frames"] = camera.view().seq
                        finally:
                            if camera is not None:
                                camera.close()
                        out[mode].append(figures)
            finally:
                sys.setswitchinterval(switch)
            children.stop(sim, what="sim")
    return {
        "lateness_ms": out,
        "period_ms": PERIOD_NS / 1e6,
        "seconds": seconds,
        "camera": f"{CAMERA_SIZE}@{CAMERA_FPS}",
    }
