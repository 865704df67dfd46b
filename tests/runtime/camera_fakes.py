"""A scripted frame source for the camera providers' tests, importable by a spawned child.

It stands in for ``controller.io.camera.FrameSource``: the simulator's camera renders a
car driving into the bay and stopping, one frame every ``STEP_MS`` paced in real time,
stamped ``t0 + i * STEP_MS`` and numbered ``i``. Two providers each given one see the
same frames with the same relative times, so their detectors must answer alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

from controller.io.camera import CapturedFrame, FrameSource
from hw_sim.camera import CameraSpec, LaneCamera, Vehicle

__all__ = ["SPEC", "STEP_MS", "ScriptedSource", "pause_until", "scene_zones", "scripted"]

SPEC = CameraSpec(width=320, height=180, fps=25.0)
STEP_MS = 40
_SEED = 6
_ARRIVE_S = 1.5


def scene_zones() -> Any:
    return LaneCamera(SPEC, seed=_SEED).zones()


class ScriptedSource:
    """``url`` is ``scripted:N`` (N frames, then none) or ``scripted:forever``."""

    def __init__(
        self,
        url: str,
        on_frame: Callable[[CapturedFrame], None],
        *,
        clock_ms: Callable[[], int],
        **_: Any,
    ) -> None:
        count = url.removeprefix("scripted:")
        self.frames = None if count == "forever" else int(count)
        self._on_frame = on_frame
        self._clock = clock_ms
        self._camera = LaneCamera(SPEC, seed=_SEED)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-camera", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> ScriptedSource:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        t0 = self._clock()
        i = 0
        try:
            while not self._stop.is_set() and (self.frames is None or i < self.frames):
                t_ms = t0 + i * STEP_MS
                delay = t_ms - self._clock()
                if delay > 0:
                    self._stop.wait(delay / 1000.0)
                t = i * STEP_MS / 1000.0
                front = min(-3.0, -25.0 + 8.0 * (t - _ARRIVE_S))
                cars = [] if t < _ARRIVE_S else [Vehicle(id=2, front_x_m=front)]
                grey = self._camera.render(cars, 0, i * STEP_MS)
                self._on_frame(CapturedFrame(seq=i, t_ms=t_ms, grey=grey))
                i += 1
        except BaseException as exc:  # handed to the provider, as FrameSource does
            self.error = exc


def scripted(url: str, on_frame: Callable[[CapturedFrame], None], **kw: Any) -> FrameSource:
    """A ``source_factory`` for the providers (a module function: it pickles for a child)."""
    return cast(FrameSource, ScriptedSource(url, on_frame, **kw))


def pause_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``predicate`` every 10 ms until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
