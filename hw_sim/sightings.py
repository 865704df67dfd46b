"""Which vehicles each crossing sensor saw on their own, for judging a soak's losses.

A sensor tells two vehicles apart only when its reading goes empty between
them. Every occupancy of a crossing sensor (photocell, exit loop, and with a
camera its barrier and exit zones), as the controller read it, is matched with
the vehicles really inside the sensor's span meanwhile: an occupancy that held
one vehicle alone means that sensor saw that vehicle. A vehicle lost while no
sensor saw it alone was beyond any sensor that still worked (merged with its
neighbour behind a stuck photocell, say); the soak reports it as such.
Occupancies while the controller could not trust a reading (bus down, camera
fault) credit nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from hw_sim.geometry import LaneGeometry, Span

__all__ = ["CHANNELS", "Sightings"]

CHANNELS: tuple[str, ...] = ("photocell", "loop_exit", "camera_barrier", "camera_exit")
"""The crossing sensors, in the order ``Sightings.scan`` takes their readings."""

_CAMERA_MARGIN_M = 0.5
"""As ``hw_sim.camera.zone_truth``: a body within half a lane width plus this is seen."""


class _Body(Protocol):
    id: int
    front_x_m: float
    length_m: float
    lateral_y_m: float
    width_m: float


class Sightings:
    """Feed it each scan's readings and the vehicles; ask it who was seen alone."""

    def __init__(self, geometry: LaneGeometry) -> None:
        self.geometry = geometry
        self._spans: tuple[Span, ...] = (
            geometry.photocell,
            geometry.exit_loop,
            geometry.zone_barrier,
            geometry.zone_exit,
        )
        self._episodes: list[set[int] | None] = [None] * len(CHANNELS)
        self._trusted: list[bool] = [True] * len(CHANNELS)
        self.alone: dict[int, set[str]] = {}
        """Vehicle id -> the sensors that saw it alone."""

    def scan(self, readings: Iterable[bool | None], vehicles: Iterable[_Body]) -> None:
        """One scan: a reading per channel (``CHANNELS`` order), None when untrustworthy."""
        bodies: list[_Body] | None = None
        g = self.geometry
        cam_half = g.lane_width_m / 2.0 + _CAMERA_MARGIN_M
        for n, reading in enumerate(readings):
            episode = self._episodes[n]
            if reading is None:
                if episode is not None:
                    self._trusted[n] = False
                continue
            if not reading:
                if episode is not None:
                    if self._trusted[n] and len(episode) == 1:
                        self.alone.setdefault(next(iter(episode)), set()).add(CHANNELS[n])
                    self._episodes[n] = None
                    self._trusted[n] = True
                continue
            if episode is None:
                episode = self._episodes[n] = set()
            if bodies is None:
                bodies = list(vehicles)
            span = self._spans[n]
            camera = n >= 2
            for v in bodies:
                inside = (
                    abs(v.lateral_y_m) < cam_half if camera else g.in_lane(v.lateral_y_m, v.width_m)
                )
                if inside and span.overlaps(v.front_x_m - v.length_m, v.front_x_m):
                    episode.add(v.id)

    def saw(self, vehicle_id: int) -> tuple[str, ...]:
        """The sensors that saw this vehicle alone, in ``CHANNELS`` order."""
        seen = self.alone.get(vehicle_id, set())
        return tuple(c for c in CHANNELS if c in seen)
