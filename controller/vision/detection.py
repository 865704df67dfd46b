"""The detector's answer for one frame: what the lane (``presence``) reads of a camera.

Kept apart from the detector so its readers (the presence provider, the
evaluation and the benchmarks) need not know how it is made.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.vision.diagnostics import Fault

__all__ = ["Detection"]


@dataclass(frozen=True, slots=True)
class Detection:
    """The detector's answer for one frame."""

    t_ms: int
    occupied: tuple[tuple[str, bool], ...]
    """Debounced presence per zone, in zone order."""
    raw: tuple[tuple[str, bool], ...]
    """Undebounced presence per zone (for diagnosis)."""
    faults: frozenset[Fault]
    gain_q8: int
    offset: int
    shift_px: tuple[float, float]
    ready: bool = True
    """False while the first reference is still being built (nothing can be seen yet)."""
    still_ms: tuple[tuple[str, int], ...] = ()
    """Per zone, how long the body in it has not moved (0 when it moved this frame or the
    zone is empty), from the difference between registered frames inside the zone."""

    def zone(self, name: str) -> bool:
        for key, value in self.occupied:
            if key == name:
                return value
        raise KeyError(f"no zone named {name!r}")

    def still(self, name: str) -> int:
        """``still_ms`` of the zone named name."""
        for key, value in self.still_ms:
            if key == name:
                return value
        raise KeyError(f"no zone named {name!r}")

    @property
    def healthy(self) -> bool:
        return self.ready and not self.faults
