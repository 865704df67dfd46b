"""The weather and light the simulated camera can render: one list for every caller.

The renderer, ``lanectl sim render``, ``lanectl sim``/``demo`` and the detector
benchmark all iterate or offer these; this module imports nothing heavy so a
command line can list the choices without loading OpenCV.
"""

from __future__ import annotations

import enum

__all__ = ["CONDITIONS", "Condition"]


class Condition(enum.Enum):
    """Weather and light the camera sees."""

    DAY = "day"
    NIGHT = "night"
    LIGHT_STEPS = "light_steps"
    """Day with global exposure steps and slow drifts (clouds, auto-exposure)."""
    RAIN = "rain"
    SHAKE = "shake"
    """Day with the mast swaying: the whole picture moves by a few pixels."""
    SHADOWS = "shadows"
    """Low sun: swaying trees and a slatted fence shade the zones, a through lane of
    traffic runs beside the bay lane and its vehicles' long shadows cross the zones."""


CONDITIONS: tuple[str, ...] = tuple(c.value for c in Condition)
"""Every condition's name, in the order above (the command-line choices)."""
