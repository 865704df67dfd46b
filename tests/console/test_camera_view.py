"""The camera view every page's stream relays is taken once per interval, not once per page."""

from __future__ import annotations

import numpy as np
import pytest

from controller.console.camera import SharedCameraView
from controller.vision.presence import CameraView
from controller.vision.zones import Zone


class CountingCamera:
    def __init__(self) -> None:
        self.calls = 0
        self.bay = False

    def view(self) -> CameraView:
        self.calls += 1
        zone = Zone("bay", ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0)))
        frame = np.zeros((72, 128), np.uint8)
        return CameraView(frame, self.calls, (zone,), (("bay", self.bay),), frozenset())


def test_twenty_pages_within_the_interval_take_one_view() -> None:
    camera = CountingCamera()
    now = [100.0]
    shared = SharedCameraView(camera, every_s=0.1, clock=lambda: now[0])
    views = [shared() for _ in range(20)]
    assert camera.calls == 1
    assert all(v == views[0] for v in views)
    assert views[0] is not None and views[0]["width"] == 128 and views[0]["height"] == 72
    assert views[0]["zones"][0]["occupied"] is False
    camera.bay = True
    now[0] += 0.05
    assert shared() == views[0] and camera.calls == 1
    now[0] += 0.06
    fresh = shared()
    assert camera.calls == 2 and fresh is not None and fresh["zones"][0]["occupied"] is True


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every_s"):
        SharedCameraView(CountingCamera(), every_s=0)
