"""Which camera zones the loops and the photocell prove empty (no OpenCV needed here)."""

from __future__ import annotations

from controller.core.types import Inputs

__all__ = ["known_empty_zones"]


def known_empty_zones(inputs: Inputs) -> dict[str, bool]:
    """The zones the loops and the photocell prove empty, for the detector's reference.

    A zone is proved empty only when every sensor a vehicle in it would have to
    cover is clear: a car with its bumper past the stop line stands in the
    barrier zone with the photocell clear, but on the bay loop; a car nosing
    into the bay zone from the approach is on the approach loop. A zone said
    empty while a vehicle stands in it takes the vehicle into its reference
    after the detector's ``absorb_ms``, and shows its absence as presence when
    it leaves. What no sensor covers (between the approach and bay loops, beyond
    the exit loop) a vehicle only drives through, far quicker than ``absorb_ms``.
    Call it only with inputs read from a live bus.
    """
    edge = inputs.photocell or inputs.safety_edge
    return {
        "approach": not inputs.loop_approach,
        "bay": not (inputs.loop_bay or inputs.loop_approach or edge),
        "barrier": not (edge or inputs.loop_bay or inputs.loop_exit),
        "exit": not (inputs.loop_exit or edge),
    }
