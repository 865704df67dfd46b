"""Presence read from the raw inputs, shared by the lane and the safety monitor.

Only what the inputs say, with the camera believed only while healthy: the lane adds
its own memory (a photocell latched blind) on top, the monitor its own (stale inputs).
"""

from __future__ import annotations

from controller.core.types import CameraHealth, Inputs

__all__ = ["bay_occupied", "camera_barrier"]


def bay_occupied(inputs: Inputs) -> bool:
    """The bay loop, or the healthy camera's bay zone."""
    return inputs.loop_bay or (inputs.camera.health is CameraHealth.OK and inputs.camera.bay)


def camera_barrier(inputs: Inputs) -> bool:
    """The healthy camera's barrier zone (under the boom)."""
    return inputs.camera.health is CameraHealth.OK and inputs.camera.barrier
