"""Detector settings: every threshold and time of the presence detector, checked.

A config table becomes ``DetectorSettings`` through ``from_mapping``, which
names the bad key (unknown, wrong type, out of range) in a ``SettingsError``;
kept apart from the detector so the config, the CLI and the tests can read and
check settings without building a detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from controller.vision.diagnostics import DiagnosticsSettings
from controller.vision.light_only import LightOnlySettings

__all__ = ["DetectorSettings", "SettingsError"]


class SettingsError(ValueError):
    """A detector setting is unknown or out of range; the message names the key."""


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Thresholds and times of the presence detector (times in milliseconds)."""

    cell: int = 4
    """Cell size in pixels; counts are per cell (cheap despeckle)."""
    ref_threshold: int = 20
    """Grey-level difference from the corrected reference that counts a pixel."""
    motion_threshold: int = 16
    """Grey-level difference from the previous frame that counts a pixel as moving, at the
    reference's exposure; it scales down with the fitted gain when the picture darkens."""
    motion_floor: int = 8
    """The motion threshold never goes under this (sensor noise)."""
    cell_fraction: float = 0.3
    """Fraction of a cell's pixels that must differ for the cell to be occupied."""
    edge_fraction: float = 0.25
    """Where a zone's edge cuts a cell, the fraction of the zone's pixels there that must
    differ (and at least two) for that part to be occupied."""
    motion_fraction: float = 0.3
    """Fraction of a cell's pixels that must move for the cell to be moving."""
    zone_cells: int = 5
    """Occupied cells a zone needs to be occupied (raw), all in one group of touching cells
    (side by side, not corner to corner; a zone's part of a cell its edge cuts counts
    as a cell)."""
    on_ms: int = 300
    """Raw presence without motion must last this long to switch a zone on."""
    off_ms: int = 1000
    """Raw absence without motion must last this long to switch a zone off."""
    motion_on_ms: int = 0
    """Raw presence that arrives with motion switches a zone on after this."""
    motion_off_ms: int = 0
    """Raw absence that arrives with motion switches a zone off after this."""
    motion_hold_ms: int = 400
    """Motion seen in a zone this recently makes the motion timings apply."""
    still_cells: int = 6
    """Cells of a zone (each beside another: lone ones are rain or noise) that must differ
    from the zone's picture when its body last moved, in two frames running, for the body
    to have moved again; ``still_ms`` restarts then. Comparing with that picture, not only
    with the last frame, sees a vehicle that creeps less than a pixel per frame."""
    abrupt_off_ms: int = 60
    """A zone whose occupied cells fall at once from at least three times ``zone_cells``
    to too few, while half of those cells still differ from the reference, switches off
    only after this: a body that for one frame lines up with the road's markings passes the
    light-only test; a vehicle that has gone leaves no difference behind."""
    texture_min: float = 3.5
    """Reference cells with less grey-level spread cannot be checked for a light-only change."""
    light_corr: float = 0.75
    """A cell whose frame follows its reference's texture this closely only changed light."""
    light_contrast: float = 1.35
    """Slack on the light-only rule that light raises a texture's contrast no more than its
    brightness (a shadow scales both, a headlight beam adds brightness only)."""
    light_residual: float = 12.0
    """Grey levels (rms) a light-only change may leave after the fit, on a steady camera
    (resampling a swaying picture leaves more)."""
    light_trim: float = 0.2
    """Share of the worst-fitting pixels the light-only test leaves out. On a steady
    camera only those on a line under two pixels wide are left out (a boom, a cable, a
    streak of rain): a body's edge that lines up with a road marking stays in."""
    thin_px: int = 2
    """On a steady camera the light-only test leaves out lines up to this wide only."""
    steady_px: float = 0.3
    """Measured sway under this is no sway."""
    steady_frames: int = 45
    """Frames without sway after which the camera is steady. Until then the light-only
    test leaves out the worst-fitting pixels whatever their shape: undoing sway
    resamples the picture and leaves the markings' edges, blurred, in the difference."""
    quiet_ms: int = 2000
    """No motion this long in a zone known empty before its reference is refreshed."""
    standalone: bool = True
    """True: no controller; a zone's reference refreshes after it is quiet and empty."""
    standalone_refresh_ms: int = 5000
    """Standalone: the whole lane quiet and empty this long before references refresh."""
    drift_px: float = 6.0
    """Controller mode: per-pixel difference up to which a known-empty zone tracks drift."""
    absorb_ms: int = 30_000
    """Controller mode: a zone known empty but seen occupied this long takes the change in."""
    refresh_every_ms: int = 500
    refresh_alpha: float = 0.3
    frozen_ms: int = 2000
    """Identical frames this long (a live sensor always has noise) mean a frozen camera."""
    blind_low: int = 12
    blind_high: int = 243
    blind_texture: float = 2.0
    """Spread of the cell means under this means nothing can be seen (lens covered)."""
    blind_ms: int = 500
    shaken_fraction: float = 0.5
    """Occupied share of the cells believed empty above this means the view moved."""
    max_shift_px: float = 16.0
    """Sway above this is not compensated; the camera reports shaken."""
    anchor_frames: int = 45
    """Frames of measured sway averaged before the zones are laid at the mast's rest."""
    anchor_px: float = 0.3
    """Mean sway against the reference beyond which the zones are laid where the mast
    rests, to the nearest quarter pixel (the reference caught the mast somewhere in its
    swing)."""
    shaken_ms: int = 500
    fault_clear_ms: int = 1000
    warmup_frames: int = 5
    """Frames whose median becomes the first reference (the lane must be empty then)."""
    """A fault clears after its cause has been absent this long."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and value < 0:
                raise SettingsError(f"detector.{f.name}: must not be negative, got {value}")
        if not 2 <= self.cell <= 64:
            raise SettingsError(f"detector.cell: {self.cell} is outside 2..64")
        for name in (
            "ref_threshold",
            "motion_threshold",
            "motion_floor",
            "blind_low",
            "blind_high",
        ):
            if getattr(self, name) > 255:
                raise SettingsError(f"detector.{name}: {getattr(self, name)} is over 255")
        for name in (
            "cell_fraction",
            "edge_fraction",
            "motion_fraction",
            "light_corr",
            "light_trim",
            "shaken_fraction",
        ):
            if getattr(self, name) > 1.0:
                raise SettingsError(f"detector.{name}: {getattr(self, name)} is over 1")
        if not 0.0 < self.refresh_alpha <= 1.0:
            raise SettingsError(f"detector.refresh_alpha: {self.refresh_alpha} is outside (0, 1]")
        if self.zone_cells < 1:
            raise SettingsError("detector.zone_cells: must be at least 1")

    def diagnostics(self) -> DiagnosticsSettings:
        """The diagnostics stage's part of these settings."""
        return DiagnosticsSettings(
            frozen_ms=self.frozen_ms,
            blind_low=self.blind_low,
            blind_high=self.blind_high,
            blind_texture=self.blind_texture,
            blind_ms=self.blind_ms,
            shaken_fraction=self.shaken_fraction,
            shaken_ms=self.shaken_ms,
            clear_ms=self.fault_clear_ms,
        )

    def light_only(self, margin: int) -> LightOnlySettings:
        """The light-only stage's part of these settings, for windows a cell plus margin wide
        on each side."""
        return LightOnlySettings(
            win=self.cell + 2 * margin,
            trim=self.light_trim,
            across=self.thin_px + 1,
            texture_min=self.texture_min,
            light_corr=self.light_corr,
            light_contrast=self.light_contrast,
            light_residual=self.light_residual,
        )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object], source: str = "detector") -> DetectorSettings:
        """Settings from a config table; unknown keys and wrong types are named errors."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in raw.items():
            if key not in known:
                raise SettingsError(f"{source}.{key}: unknown detector setting")
            default = getattr(cls(), key)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise SettingsError(
                    f"{source}.{key}: expected {type(default).__name__}, got {value!r}"
                )
            values[key] = float(value) if isinstance(default, float) else value  # type: ignore[arg-type]
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SettingsError as exc:
            raise SettingsError(f"{source}: {exc}") from exc
