"""The camera provider the runtime asks for zone presence each scan.

It owns a ``FrameSource`` whose thread runs the detector on every frame, and
keeps the latest debounced answer behind a lock, so ``zones`` never waits on a
frame. Health is FAULT when the detector says frozen, blinded or shaken, or
when no frame has come for ``stale_ms``: a camera that cannot see is never
reported as an empty lane.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from controller.core.types import CameraHealth, CameraZones
from controller.io.camera import DECODE_MODES, CapturedFrame, FrameSource
from controller.vision.detector import Detection, Detector, DetectorSettings, Fault
from controller.vision.zones import Zone, ZoneError, parse_zones, zone_grid

__all__ = [
    "ZONE_FIELDS",
    "CameraSettings",
    "CameraView",
    "PresenceProvider",
    "from_config",
    "scale_zones",
    "settings_from_config",
]

ZONE_FIELDS: tuple[str, ...] = ("approach", "bay", "barrier", "exit")
"""Zone names that map onto the fields of ``CameraZones``."""


@dataclass(frozen=True, slots=True)
class CameraSettings:
    """What the provider needs: where the stream is, the zones, the detector's settings."""

    url: str
    zones: tuple[Zone, ...]
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    stale_ms: int = 1000
    frame_log: str | None = None
    """Write every frame's capture time, zones and first use by a scan here on close."""
    decode: str = "grey"
    """How an MJPEG stream is decoded (``controller.io.camera.DECODE_MODES``): "grey_half"
    and "grey_quarter" hand the detector a smaller picture, the zones scaled with it."""


def settings_from_config(cfg: object) -> CameraSettings:
    """Settings from the lane config's ``[camera]`` (a dataclass or a mapping).

    Reads ``url``, ``zones`` (objects or tables with ``name`` and ``polygon``)
    and ``detector`` (a table passed to ``DetectorSettings``; ``stale_ms`` in it
    is the provider's own). Errors name the key under ``camera``.
    """

    def get(key: str, default: object = None) -> object:
        if isinstance(cfg, Mapping):
            return cfg.get(key, default)
        return getattr(cfg, key, default)

    url = get("url")
    if not isinstance(url, str) or not url:
        raise ZoneError("camera.url: missing (a stream URL, device or video file)")
    raw_zones = get("zones") or get("zone") or ()
    tables = [
        z if isinstance(z, Mapping) else {"name": z.name, "polygon": [list(p) for p in z.polygon]}
        for z in raw_zones  # type: ignore[attr-defined]
    ]
    zones = parse_zones(tables, source="camera")
    unknown = sorted({z.name for z in zones} - set(ZONE_FIELDS))
    if unknown:
        raise ZoneError(f"camera.zone: unknown zone name(s) {', '.join(unknown)}")
    raw_detector = dict(get("detector") or {})  # type: ignore[call-overload]
    # The provider's own settings ride in the same table.
    stale_ms = raw_detector.pop("stale_ms", 1000)
    if isinstance(stale_ms, bool) or not isinstance(stale_ms, int) or stale_ms <= 0:
        raise ZoneError(f"camera.detector.stale_ms: expected a positive int, got {stale_ms!r}")
    frame_log = raw_detector.pop("frame_log", None)
    if frame_log is not None and (not isinstance(frame_log, str) or not frame_log):
        raise ZoneError(f"camera.detector.frame_log: expected a file path, got {frame_log!r}")
    decode = raw_detector.pop("decode", "grey")
    if not isinstance(decode, str) or decode not in DECODE_MODES:
        raise ZoneError(
            f"camera.detector.decode: {decode!r} is not one of {', '.join(DECODE_MODES)}"
        )
    settings = DetectorSettings.from_mapping(raw_detector, source="camera.detector")
    scale = DECODE_MODES[decode][1]
    if scale != 1:
        # The detector must still see every zone at the reduced size: each must cover
        # a cell of the smallest picture holding them all.
        small = scale_zones(zones, scale)
        width = math.ceil(max(x for z in small for x, _ in z.polygon))
        height = math.ceil(max(y for z in small for _, y in z.polygon))
        try:
            zone_grid(small, max(height, 1), max(width, 1), settings.cell)
        except ZoneError as exc:
            raise ZoneError(f"camera.detector.decode: {decode!r} is too small: {exc}") from exc
    return CameraSettings(
        url=url,
        zones=zones,
        detector=settings,
        stale_ms=stale_ms,
        frame_log=frame_log,
        decode=decode,
    )


@dataclass(frozen=True, slots=True)
class CameraView:
    """What an operator's screen shows of the camera: the latest frame (grey, None before
    the first), its sequence number, the zones with their debounced presence, the faults."""

    frame: npt.NDArray[np.uint8] | None
    seq: int
    zones: tuple[Zone, ...]
    occupied: tuple[tuple[str, bool], ...]
    faults: frozenset[Fault]


def scale_zones(zones: tuple[Zone, ...], scale: int) -> tuple[Zone, ...]:
    """The zones on a picture ``scale`` times smaller."""
    return tuple(Zone(z.name, tuple((x / scale, y / scale) for x, y in z.polygon)) for z in zones)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class PresenceProvider:
    """Camera zones for the scan loop: latest detection, health, and the empty-zone feedback."""

    def __init__(
        self,
        settings: CameraSettings,
        *,
        source_factory: Callable[..., FrameSource] = FrameSource,
        clock_ms: Callable[[], int] = _monotonic_ms,
        standalone: bool = False,
    ) -> None:
        self.settings = settings
        self._clock = clock_ms
        self._standalone = standalone
        self._lock = threading.Lock()
        self._detector: Detector | None = None
        self._latest: Detection | None = None
        self._latest_capture_ms: int | None = None
        self._latest_frame: npt.NDArray[np.uint8] | None = None
        self._empty: dict[str, bool] = {}
        self.frames = 0
        self.changes: list[tuple[int, str, bool]] = []
        """(capture ms, zone, state) of every debounced change, for latency reports."""
        self._latest_seq = -1
        self._consumed_seq = -1
        self._log: collections.deque[list[object]] = collections.deque(maxlen=200_000)
        self._log_index: dict[int, list[object]] = {}
        self._awaiting_write: list[object] | None = None
        if settings.decode == "grey":
            self._source = source_factory(settings.url, self._on_frame, clock_ms=clock_ms)
        else:
            self._source = source_factory(
                settings.url, self._on_frame, clock_ms=clock_ms, decode=settings.decode
            )
        self._source.start()

    def _on_frame(self, frame: CapturedFrame) -> None:
        detector = self._detector
        if detector is None:
            height, width = frame.grey.shape
            detector_settings = self.settings.detector
            if not self._standalone and detector_settings.standalone:
                detector_settings = replace(detector_settings, standalone=False)
            zones = self.settings.zones
            scale = DECODE_MODES[self.settings.decode][1]
            if scale != 1:
                zones = scale_zones(zones, scale)
            detector = Detector(zones, height, width, detector_settings)
            self._detector = detector
        with self._lock:
            detector.note_empty(self._empty)
        detection = detector.process(frame.grey, frame.t_ms)
        with self._lock:
            before = self._latest
            if before is not None:
                for (name, on), (_, was) in zip(detection.occupied, before.occupied, strict=True):
                    if on != was:
                        self.changes.append((frame.t_ms, name, on))
                del self.changes[:-1000]
            self._latest = detection
            self._latest_capture_ms = frame.t_ms
            self._latest_seq = frame.seq
            self._latest_frame = frame.grey
            self.frames += 1
            if self.settings.frame_log is not None:
                bits = "".join("1" if dict(detection.occupied).get(z) else "0" for z in ZONE_FIELDS)
                entry: list[object] = [frame.seq, frame.t_ms, bits, detection.healthy, None, None]
                if len(self._log) == self._log.maxlen:
                    self._log_index.pop(int(self._log[0][0]), None)  # type: ignore[call-overload]
                self._log.append(entry)
                self._log_index[frame.seq] = entry

    @property
    def last_capture_ms(self) -> int | None:
        """Monotonic ms at which the frame behind the latest answer was read."""
        with self._lock:
            return self._latest_capture_ms

    def view(self) -> CameraView:
        """The latest frame, zones, presence and faults, for the console (read only)."""
        with self._lock:
            latest, frame, seq = self._latest, self._latest_frame, self._latest_seq
        occupied = latest.occupied if latest is not None else ()
        zones = self.settings.zones
        scale = DECODE_MODES[self.settings.decode][1]
        if scale != 1:
            # The frame is the decoded, reduced picture: draw the zones on its scale.
            zones = scale_zones(zones, scale)
        return CameraView(frame, seq, zones, occupied, self.faults())

    def faults(self, now_ms: int | None = None) -> frozenset[Fault]:
        """Current camera faults (detector diagnostics plus staleness)."""
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            latest, captured = self._latest, self._latest_capture_ms
        faults = set(latest.faults) if latest is not None else set()
        if captured is None or now - captured > self.settings.stale_ms:
            faults.add(Fault.STALE)
        if self._source.error is not None:
            faults.add(Fault.STALE)
        return frozenset(faults)

    def zones(self, now_ms: int) -> CameraZones:
        """Latest debounced zones with health; never blocks on a frame.

        ``now_ms`` is the caller's scan time; staleness is judged on the
        provider's own monotonic clock, the one frames are stamped with.
        """
        del now_ms
        with self._lock:
            latest = self._latest
            if self._latest_seq != self._consumed_seq:
                # The first scan to see this frame's answer; its coil write ends the latency.
                self._consumed_seq = self._latest_seq
                entry = self._log_index.get(self._latest_seq)
                if entry is not None:
                    entry[4] = self._clock()
                    self._awaiting_write = entry
        if latest is None or not latest.ready or self.faults():
            return CameraZones(health=CameraHealth.FAULT)
        occupied = dict(latest.occupied)
        return CameraZones(
            health=CameraHealth.OK,
            approach=occupied.get("approach", False),
            bay=occupied.get("bay", False),
            barrier=occupied.get("barrier", False),
            exit=occupied.get("exit", False),
            # How long the body in the bay has not moved; None without a bay zone.
            bay_still_ms=dict(latest.still_ms).get("bay"),
        )

    def coils_written(self) -> None:
        """The scan that first used the latest frame has written its coils: the frame's
        latency ends here (the frame log's last field)."""
        with self._lock:
            entry, self._awaiting_write = self._awaiting_write, None
            if entry is not None:
                entry[5] = self._clock()

    def note_empty(self, bay: bool, barrier: bool, approach: bool, exit: bool) -> None:
        """The controller knows these zones are empty: only they may refresh their reference."""
        with self._lock:
            self._empty = {"bay": bay, "barrier": barrier, "approach": approach, "exit": exit}

    def close(self) -> None:
        self._source.close()
        if self.settings.frame_log is not None:
            path = Path(self.settings.frame_log)
            data = {"zones": list(ZONE_FIELDS), "frames": list(self._log)}
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(path)


def from_config(cfg: object) -> PresenceProvider:
    """The provider for a lane config's ``[camera]`` section; starts reading at once."""
    return PresenceProvider(settings_from_config(cfg))
