"""The presence camera as the lane core sees it, for the model-in-the-loop soak.

Rendering and detecting a day of frames would take longer than the day; the
soak needs only what reaches the core: per zone a debounced presence that
lags the vehicles, a latency from capture to scan, and a camera fault some
time after the picture freezes or goes black, and how long the body in the
bay zone has stood still (``bay_still_ms``, the core's standstill signal).
``CameraModelSpec`` holds those figures, measured on the real detector
(tests/vision quality suite and standstill tests, the demo's frame-to-scan
latency, the HIL camera-fault tests); ``CameraModelSpec.ideal()`` is the zone
truth with no lag at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from controller.core.types import CameraHealth, CameraZones
from hw_sim.camera import VehicleLike, zone_bodies, zone_truth
from hw_sim.faults import FaultKind
from hw_sim.geometry import LaneGeometry

__all__ = ["ZONES", "CameraModel", "CameraModelSpec"]

ZONES = ("approach", "bay", "barrier", "exit")
_FAULT = CameraZones(health=CameraHealth.FAULT)


@dataclass(frozen=True, slots=True)
class CameraModelSpec:
    """How late and how coarse the camera's zones are (all in milliseconds)."""

    frame_ms: int = 67
    """One frame at 15 fps."""
    on_lag_ms: int = 268
    """A zone turns on once its truth has been on this long: 4 frames, the slowest onset
    of the quality suite (a car creeping over a zone edge under a shaking mast)."""
    off_lag_ms: int = 67
    """A zone turns off once its truth has been off this long: 1 frame, the latest release
    of the quality suite (it is early by up to 2 frames as often)."""
    move_lag_ms: int = 134
    """A standing body that sets off is seen moving once it has moved in frames this far
    apart: the detector asks the same cells to differ in two frames running
    (tests/vision/test_standstill.py: still_ms stays <= 120 ms while the car rolls)."""
    latency_ms: int = 45
    """Capture to the scan that uses the frame (the demo's p99 is 20-44 ms)."""
    freeze_detect_ms: int = 2100
    """A frozen picture gives a camera fault after this (HIL: 2.0-2.1 s)."""
    blackout_detect_ms: int = 600
    """A black picture gives a camera fault after this (HIL: about 0.6 s)."""
    clear_ms: int = 1000
    """A camera fault clears this long after its cause has gone (the detector's
    ``fault_clear_ms``)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"camera model {f.name}: must be a whole number >= 0, got {value!r}"
                )
        if self.frame_ms < 1:
            raise ValueError(f"camera model frame_ms: must be at least 1, got {self.frame_ms}")

    @classmethod
    def ideal(cls) -> CameraModelSpec:
        """Zone truth every frame, a fault the moment the picture fails."""
        return cls(
            on_lag_ms=0,
            off_lag_ms=0,
            move_lag_ms=0,
            latency_ms=0,
            freeze_detect_ms=0,
            blackout_detect_ms=0,
            clear_ms=0,
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class CameraModel:
    """Feed it the zone truth at each frame; ask it what the core sees at each scan."""

    def __init__(self, spec: CameraModelSpec) -> None:
        self.spec = spec
        self._on = dict.fromkeys(ZONES, False)
        self._since: dict[str, int | None] = dict.fromkeys(ZONES)
        self._broken_since: int | None = None
        self._fault = False
        self._fine_since: int | None = None
        self._queue: deque[tuple[int, CameraZones]] = deque()
        self._shown = CameraZones(CameraHealth.OK)
        self._last = self._shown
        self._next_frame = 0
        self._bodies: dict[int, tuple[float, float]] | None = None
        """Where the bodies in the bay zone stood at the last frame, by id."""
        self._still_since: int | None = None
        self._moving_since: int | None = None

    def scan(
        self,
        t_ms: int,
        vehicles: Iterable[VehicleLike],
        geometry: LaneGeometry,
        faults: frozenset[FaultKind],
    ) -> CameraZones:
        """One scan at t_ms: capture a frame of ``vehicles`` if one is due, return what the core
        reads (the loop drivers call this every scan)."""
        if t_ms >= self._next_frame:
            self._next_frame = t_ms + self.spec.frame_ms
            vehicles = tuple(vehicles)
            self.frame(
                t_ms, zone_truth(vehicles, geometry), faults, zone_bodies(vehicles, "bay", geometry)
            )
        return self.zones(t_ms)

    def frame(
        self,
        t_ms: int,
        truth: Mapping[str, bool],
        faults: frozenset[FaultKind],
        bay_bodies: Mapping[int, tuple[float, float]] | None = None,
    ) -> None:
        """One captured frame at t_ms: the truth it shows and the camera faults active.

        ``bay_bodies`` is where each body in the bay zone stands (``zone_bodies``); without
        it the camera reports no standstill (``bay_still_ms`` None)."""
        s = self.spec
        broken = bool(faults)
        if broken:
            self._fine_since = None
            if self._broken_since is None:
                self._broken_since = t_ms
            detect = (
                s.freeze_detect_ms if FaultKind.CAMERA_FREEZE in faults else s.blackout_detect_ms
            )
            if t_ms - self._broken_since >= detect:
                self._fault = True
        else:
            self._broken_since = None
            if self._fault:
                if self._fine_since is None:
                    self._fine_since = t_ms
                if t_ms - self._fine_since >= s.clear_ms:
                    self._fault = False
                    self._fine_since = None
                    # The detector starts over from what it sees now.
                    self._on = {z: bool(truth[z]) for z in ZONES}
                    self._since = dict.fromkeys(ZONES)
                    self._bodies = self._still_since = self._moving_since = None
        if self._fault:
            zones = _FAULT
        elif broken:
            # Not detected yet: the zones hold what they last said.
            zones = self._last if self._last.health is CameraHealth.OK else _FAULT
        else:
            for z in ZONES:
                self._debounce(z, bool(truth[z]), t_ms)
            still = None if bay_bodies is None else self._still(t_ms, bay_bodies)
            on = self._on
            zones = CameraZones(
                CameraHealth.OK,
                approach=on["approach"],
                bay=on["bay"],
                barrier=on["barrier"],
                exit=on["exit"],
                bay_still_ms=still,
            )
        if zones != self._last:
            self._last = zones
            self._queue.append((t_ms + s.latency_ms, zones))

    def _debounce(self, zone: str, present: bool, t_ms: int) -> None:
        if present == self._on[zone]:
            self._since[zone] = None
            return
        since = self._since[zone]
        if since is None:
            self._since[zone] = since = t_ms
        lag = self.spec.on_lag_ms if present else self.spec.off_lag_ms
        if t_ms - since >= lag:
            self._on[zone] = present
            self._since[zone] = None

    def _still(self, t_ms: int, bodies: Mapping[int, tuple[float, float]]) -> int:
        """How long the bay zone's bodies have not moved, as the detector sees it: 0 while
        its bay zone is off; a body that came, went or shifted since the last frame is
        motion, believed once it has lasted ``move_lag_ms``."""
        before, now = self._bodies, dict(bodies)
        self._bodies = now
        if not self._on["bay"]:
            self._still_since, self._moving_since = t_ms, None
            return 0
        if self._still_since is None:
            self._still_since = t_ms
        if before is not None and now != before:
            if self._moving_since is None:
                self._moving_since = t_ms
            if t_ms - self._moving_since >= self.spec.move_lag_ms:
                self._still_since = t_ms
        else:
            self._moving_since = None
        return t_ms - self._still_since

    def zones(self, t_ms: int) -> CameraZones:
        """What the core reads at t_ms; the same object while nothing changed."""
        queue = self._queue
        while queue and queue[0][0] <= t_ms:
            self._shown = queue.popleft()[1]
        return self._shown
