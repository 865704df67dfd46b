"""The detector benchmark: CPU time of the whole presence detector per frame, and of decoding.

DESIGN.md sets the detector's cost in CPU time, not wall time: a camera
thread competes with the scan loop for one of the PC's cores, and CPU time is
what it takes from it (OpenCV's worker threads included, so the process's
clock is read, not the thread's). Clips are rendered here with the simulated
camera for every condition the renderer knows (the list comes from
``hw_sim.camera.Condition``, so a condition added there is benchmarked too):
an empty lane for the warm-up, then vehicles that drive in, stop at the stop
line, wait and drive out, so every step of the detector runs. Each frame is
JPEG-encoded once at the simulated camera's quality and the decode to grey is
timed on its own, as the camera thread does it for an MJPEG stream.
``core_share_25fps`` is (decode + detect) per frame times 25 frames a second,
as a fraction of one core. Beside it, ``decode`` gives what each decode mode
of the camera path (``controller.io.camera.DECODE_MODES``) costs per frame of
the day clip: colour then grey, grey, grey at half and at quarter size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from controller.bench.stats import nearest_rank

__all__ = ["DEFAULT_SIZES", "FPS", "JPEG_QUALITY", "bench_condition", "conditions", "run", "scene"]

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (640, 360))
"""(width, height) of the clips, as a camera names them."""
FPS = 25
"""The frame rate of the clips and of the core share."""
JPEG_QUALITY = 90
"""The simulated MJPEG camera's quality (``hw_sim.camera_server``)."""
SKIP_FRAMES = 10
"""Frames left out of the figures: the warm-up (the first reference is being built)."""
QUICK_FRAMES = 150
"""Frames of a ``--quick`` clip: the first vehicle reaches the approach zone about the
50th frame and the bay about the 90th, so a shorter clip would time an empty lane."""
FULL_FRAMES = 300

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class _Car:
    """One vehicle of the bench's scene: arrives, brakes to the stop line, waits, leaves."""

    arrive_s: float
    dwell_s: float
    length_m: float
    width_m: float
    kind: str


_CRUISE = 7.0
_BRAKE = 2.5
_ACCEL = 2.0
_START_M = -40.0
_STOP_M = -1.0


def _front_x(car: _Car, t: float) -> float | None:
    """Front position of ``car`` at ``t`` seconds (None before it arrives), kinematics by hand."""
    if t < car.arrive_s:
        return None
    brake_m = _CRUISE * _CRUISE / (2.0 * _BRAKE)
    cruise_s = (_STOP_M - _START_M - brake_m) / _CRUISE
    brake_s = _CRUISE / _BRAKE
    dt = t - car.arrive_s
    if dt < cruise_s:
        return _START_M + _CRUISE * dt
    dt -= cruise_s
    if dt < brake_s:
        return _STOP_M - brake_m + _CRUISE * dt - 0.5 * _BRAKE * dt * dt
    dt -= brake_s
    if dt < car.dwell_s:
        return _STOP_M
    dt -= car.dwell_s
    return _STOP_M + 0.5 * _ACCEL * dt * dt


_CARS = (
    _Car(arrive_s=0.8, dwell_s=2.0, length_m=4.4, width_m=1.8, kind="car"),
    _Car(arrive_s=3.6, dwell_s=1.5, length_m=9.0, width_m=2.4, kind="truck"),
)


def scene(t_ms: int) -> list[Any]:
    """The vehicles in view at ``t_ms`` (``hw_sim.camera.Vehicle``), the second one queueing."""
    from hw_sim.camera import Vehicle

    out: list[Any] = []
    ahead_rear: float | None = None
    for k, car in enumerate(_CARS):
        x = _front_x(car, t_ms / 1000.0)
        if x is None:
            continue
        if ahead_rear is not None and x > ahead_rear - 2.5 and ahead_rear - 2.5 < _STOP_M:
            x = ahead_rear - 2.5
        if x - car.length_m > 14.0:
            ahead_rear = None
            continue
        out.append(
            Vehicle(
                id=k + 1, kind=car.kind, length_m=car.length_m, width_m=car.width_m, front_x_m=x
            )
        )
        ahead_rear = x - car.length_m
    return out


def conditions() -> tuple[str, ...]:
    """The renderer's conditions, by name (its enum is the one list)."""
    from hw_sim.camera import Condition

    return tuple(c.value for c in Condition)


def render_clip(
    width: int, height: int, condition: str, frames: int
) -> tuple[tuple[Any, ...], list[tuple[int, Frame]]]:
    """The camera's zones and ``frames`` frames of the scene at ``FPS``, as (t_ms, grey frame)."""
    from hw_sim.camera import CameraSpec, Condition, LaneCamera

    camera = LaneCamera(CameraSpec(width=width, height=height, fps=FPS), Condition(condition))
    interval = 1000 // FPS
    out: list[tuple[int, Frame]] = []
    for k in range(frames):
        t = k * interval
        out.append((t, camera.render(scene(t), 0, t)))
    return camera.zones(), out


def _ms(samples_ns: Sequence[int]) -> tuple[float, float]:
    ordered = sorted(s / 1e6 for s in samples_ns)
    return sum(ordered) / len(ordered), nearest_rank(ordered, 0.99)


def bench_condition(width: int, height: int, condition: str, frames: int) -> dict[str, float]:
    """Detector CPU ms per frame (mean, p99), decode ms per frame and the core share at 25 fps."""
    from controller.vision.detector import Detector

    zones, clip = render_clip(width, height, condition, frames)
    detector = Detector(zones, height, width)
    detect_ns: list[int] = []
    for k, (t, frame) in enumerate(clip):
        start = time.process_time_ns()
        detector.process(frame, t)
        took = time.process_time_ns() - start
        if k >= SKIP_FRAMES:
            detect_ns.append(took)
    encoded = [
        cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
        for _, frame in clip
    ]
    decode_ns: list[int] = []
    for data in encoded:
        start = time.process_time_ns()
        cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        decode_ns.append(time.process_time_ns() - start)
    cpu_mean, cpu_p99 = _ms(detect_ns)
    decode_mean, _ = _ms(decode_ns)
    return {
        "cpu_ms_mean": round(cpu_mean, 4),
        "cpu_ms_p99": round(cpu_p99, 4),
        "decode_ms_mean": round(decode_mean, 4),
        "core_share_25fps": round((cpu_mean + decode_mean) * FPS / 1000.0, 4),
    }


def decode_costs(width: int, height: int, frames: int) -> dict[str, float]:
    """CPU ms per frame of each decode mode, on the day clip's JPEGs (``<mode>_ms``)."""
    from controller.io.camera import DECODE_MODES

    _, clip = render_clip(width, height, "day", frames)
    encoded = [
        cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
        for _, frame in clip
    ]
    out: dict[str, float] = {}
    for mode, (flag, _) in DECODE_MODES.items():
        took: list[int] = []
        for data in encoded:
            start = time.process_time_ns()
            image = cv2.imdecode(data, flag)
            if mode == "colour" and image is not None:
                cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            took.append(time.process_time_ns() - start)
        out[f"{mode}_ms"] = round(_ms(took)[0], 4)
    return out


def run(
    quick: bool = False, sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES
) -> dict[str, dict[str, dict[str, Any]]]:
    """The ``detector`` suite: ``{"detector": {"WxH": {condition: figures}}, "decode": ...}``."""
    frames = QUICK_FRAMES if quick else FULL_FRAMES
    out: dict[str, dict[str, dict[str, float]]] = {}
    decode: dict[str, dict[str, float]] = {}
    for width, height in sizes:
        out[f"{width}x{height}"] = {
            name: bench_condition(width, height, name, frames) for name in conditions()
        }
        decode[f"{width}x{height}"] = decode_costs(width, height, 20 if quick else 100)
    return {"detector": out, "decode": decode}
