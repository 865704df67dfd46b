"""Named scenarios: the traffic, operator, boom and faults of one simulated run, read from TOML.

A scenario is data so that a test, the demo and the soak name the same lane.
Every value is checked on load; an error names the file and the dotted key, so
a typo in ``scenarios/rush.toml`` reads ``rush.toml: traffic.rate_per_hour: ...``.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw_sim.faults import FaultKind, FaultSpec

__all__ = [
    "SCENARIO_DIR",
    "Behaviour",
    "BoomSpec",
    "OperatorSpec",
    "Range",
    "Scenario",
    "ScenarioError",
    "TrafficSpec",
    "VehicleKind",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

Range = tuple[float, float]


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or holds a bad value (message names file, key)."""


class VehicleKind(enum.StrEnum):
    """A StrEnum, so a vehicle's kind reads as the plain string the camera renderer expects."""

    CAR = "car"
    VAN = "van"
    TRUCK = "truck"


class Behaviour(enum.StrEnum):
    """How a driver treats the signals and the boom."""

    COMPLIANT = "compliant"
    """Enters on green, stops at the stop line, leaves on exit green with the boom up."""
    TAILGATER = "tailgater"
    """Creeps into the bay behind the vehicle ahead and follows it through on its release."""
    RUNNER = "runner"
    """Ignores the signals, does not stop, pushes through the boom."""
    REVERSER = "reverser"
    """Stops in the bay, then backs out of it and leaves the lane."""
    HESITANT = "hesitant"
    """Compliant, but waits a while after exit green before moving off."""


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """Arrivals (Poisson at a rate, or a fixed schedule) and the mix of vehicles and drivers."""

    rate_per_hour: float | None = 60.0
    schedule_s: tuple[float, ...] | None = None
    first_arrival_s: float | None = None
    """With a rate: the first vehicle arrives at this time instead of after a random gap."""
    kinds: tuple[tuple[VehicleKind, float], ...] = (
        (VehicleKind.CAR, 0.8),
        (VehicleKind.VAN, 0.12),
        (VehicleKind.TRUCK, 0.08),
    )
    behaviours: tuple[tuple[Behaviour, float], ...] = ((Behaviour.COMPLIANT, 1.0),)
    car_length_m: Range = (4.5, 4.5)
    van_length_m: Range = (6.0, 6.0)
    truck_length_m: Range = (12.0, 18.0)
    approach_speed_kmh: Range = (25.0, 40.0)
    bay_speed_kmh: Range = (10.0, 15.0)
    reaction_ms: Range = (300.0, 800.0)
    hesitation_s: Range = (3.0, 8.0)
    reverse_after_s: Range = (3.0, 12.0)
    max_vehicles: int | None = None


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """The automatic operator at the console: dwell, how many are sent aside, button hold."""

    dwell_s: Range = (10.0, 40.0)
    aside_share: float = 0.05
    hold_ms: int = 300
    retry_s: float = 10.0
    """Press again if the lane has not answered a press within this long."""
    aside_delay_s: float = 2.0
    """A vehicle sent aside starts to pull out this long after the press."""


@dataclass(frozen=True, slots=True)
class BoomSpec:
    raise_ms: int = 3000
    lower_ms: int = 3500


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "default"
    description: str = ""
    duration_s: float | None = None
    traffic: TrafficSpec = field(default_factory=TrafficSpec)
    operator: OperatorSpec = field(default_factory=OperatorSpec)
    boom: BoomSpec = field(default_factory=BoomSpec)
    faults: tuple[FaultSpec, ...] = ()
    source: str = "<built in>"


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped in hw_sim/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``checkpoint``), or any TOML file by path."""
    text_name = str(name_or_path)
    path = Path(name_or_path)
    if not (text_name.endswith(".toml") or path.is_file()):
        path = SCENARIO_DIR / f"{text_name}.toml"
        if not path.is_file():
            raise ScenarioError(
                f"scenario {text_name!r}: no such scenario (known: {', '.join(list_scenarios())})"
            )
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path.name}: not UTF-8 text: {exc.reason}") from exc
    return parse_scenario(data, source=path.name)


class _Reader:
    """Typed access to one TOML table that names file and key in every error."""

    def __init__(self, source: str, prefix: str, table: Mapping[str, Any]) -> None:
        self.source = source
        self.prefix = prefix
        self.table = table
        self.used: set[str] = set()

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {self.prefix}{key}: {message}")

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.table[key]

    def number(
        self, key: str, default: float, *, low: float = 0.0, high: float | None = None
    ) -> float:
        if key not in self.table:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.error(key, f"must be finite, got {value}")
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.error(key, f"{value} is out of range ({bound})")
        return float(value)

    def integer(self, key: str, default: int, *, low: int = 0) -> int:
        if key not in self.table:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if value < low:
            raise self.error(key, f"{value} is under the minimum {low}")
        return value

    def text(self, key: str, default: str) -> str:
        if key not in self.table:
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def range(self, key: str, default: Range, *, low: float = 0.0) -> Range:
        if key not in self.table:
            return default
        value = self.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value, value]
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.error(key, f"expected a number or [min, max], got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise self.error(key, f"[{lo}, {hi}] must be finite")
        if lo < low or hi < lo:
            raise self.error(key, f"[{lo}, {hi}] is not a range with {low} <= min <= max")
        return lo, hi

    def sub(self, key: str) -> _Reader:
        value = self.table.get(key, {})
        self.used.add(key)
        if not isinstance(value, Mapping):
            raise self.error(key, "expected a table")
        return _Reader(self.source, f"{self.prefix}{key}.", value)

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _weights(reader: _Reader, key: str, enum_type: type[enum.Enum], default: Any) -> Any:
    if not reader.has(key):
        return default
    table = reader.sub(key)
    out = []
    known = {e.value: e for e in enum_type}
    for name in table.table:
        if name not in known:
            raise table.error(name, f"unknown name (known: {', '.join(known)})")
        weight = table.number(name, 0.0)
        if weight > 0:
            out.append((known[name], weight))
    table.finish()
    if not out:
        raise reader.error(key, "needs at least one positive weight")
    return tuple(out)


def _traffic(reader: _Reader) -> TrafficSpec:
    d = TrafficSpec()
    rate: float | None = None
    schedule: tuple[float, ...] | None = None
    if reader.has("schedule_s"):
        raw = reader.raw("schedule_s")
        if not isinstance(raw, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < math.inf
            for v in raw
        ):
            raise reader.error("schedule_s", "expected a list of times in seconds >= 0")
        schedule = tuple(sorted(float(v) for v in raw))
    if reader.has("rate_per_hour"):
        if schedule is not None:
            raise reader.error("rate_per_hour", "give rate_per_hour or schedule_s, not both")
        rate = reader.number("rate_per_hour", 60.0, low=0.001, high=100_000.0)
    if rate is None and schedule is None:
        rate = d.rate_per_hour
    max_vehicles = reader.integer("max_vehicles", 0, low=1) if reader.has("max_vehicles") else None
    first_arrival: float | None = None
    if reader.has("first_arrival_s"):
        if schedule is not None:
            raise reader.error("first_arrival_s", "needs rate_per_hour, not schedule_s")
        first_arrival = reader.number("first_arrival_s", 0.0, low=0.0, high=86_400.0)
    spec = TrafficSpec(
        rate_per_hour=rate,
        schedule_s=schedule,
        first_arrival_s=first_arrival,
        kinds=_weights(reader, "kinds", VehicleKind, d.kinds),
        behaviours=_weights(reader, "behaviours", Behaviour, d.behaviours),
        car_length_m=reader.range("car_length_m", d.car_length_m, low=2.0),
        van_length_m=reader.range("van_length_m", d.van_length_m, low=2.0),
        truck_length_m=reader.range("truck_length_m", d.truck_length_m, low=2.0),
        approach_speed_kmh=reader.range("approach_speed_kmh", d.approach_speed_kmh, low=1.0),
        bay_speed_kmh=reader.range("bay_speed_kmh", d.bay_speed_kmh, low=1.0),
        reaction_ms=reader.range("reaction_ms", d.reaction_ms),
        hesitation_s=reader.range("hesitation_s", d.hesitation_s),
        reverse_after_s=reader.range("reverse_after_s", d.reverse_after_s),
        max_vehicles=max_vehicles,
    )
    reader.finish()
    return spec


def _operator(reader: _Reader) -> OperatorSpec:
    d = OperatorSpec()
    spec = OperatorSpec(
        dwell_s=reader.range("dwell_s", d.dwell_s),
        aside_share=reader.number("aside_share", d.aside_share, high=1.0),
        hold_ms=reader.integer("hold_ms", d.hold_ms, low=1),
        retry_s=reader.number("retry_s", d.retry_s, low=0.5),
        aside_delay_s=reader.number("aside_delay_s", d.aside_delay_s),
    )
    reader.finish()
    return spec


def _boom(reader: _Reader) -> BoomSpec:
    d = BoomSpec()
    spec = BoomSpec(
        raise_ms=reader.integer("raise_ms", d.raise_ms, low=100),
        lower_ms=reader.integer("lower_ms", d.lower_ms, low=100),
    )
    reader.finish()
    return spec


def _fault(reader: _Reader) -> FaultSpec:
    kinds = {k.value: k for k in FaultKind}
    if not reader.has("kind"):
        raise reader.error("kind", f"missing (one of {', '.join(kinds)})")
    name = reader.text("kind", "")
    if name not in kinds:
        raise reader.error("kind", f"unknown fault kind {name!r} (one of {', '.join(kinds)})")
    if not reader.has("at_s"):
        raise reader.error("at_s", "missing")
    at_ms = round(reader.number("at_s", 0.0) * 1000)
    duration_ms = round(reader.number("duration_s", 5.0, low=0.001) * 1000)
    repeat_ms = (
        round(reader.number("repeat_s", 0.0, low=0.001) * 1000) if reader.has("repeat_s") else None
    )
    input_name = reader.text("input", "") if reader.has("input") else None
    factor = reader.number("factor", 1.0)
    delay_ms = reader.integer("delay_ms", 0)
    code = reader.integer("code", 4, low=1)
    reader.finish()
    try:
        return FaultSpec(
            kind=kinds[name],
            at_ms=at_ms,
            duration_ms=duration_ms,
            repeat_ms=repeat_ms,
            input=input_name,
            factor=factor,
            delay_ms=delay_ms,
            code=code,
        )
    except ValueError as exc:
        key, _, message = str(exc).partition(": ")
        raise reader.error(key, message) from exc


def parse_scenario(data: Mapping[str, Any], *, source: str = "<memory>") -> Scenario:
    """Build and validate a Scenario from parsed TOML; errors name ``source`` and the key."""
    root = _Reader(source, "", data)
    head = root.sub("scenario")
    name = head.text("name", Path(source).stem)
    description = head.text("description", "")
    duration_s = head.number("duration_s", 0.0, low=0.001) if head.has("duration_s") else None
    head.finish()
    traffic = _traffic(root.sub("traffic"))
    operator = _operator(root.sub("operator"))
    boom = _boom(root.sub("boom"))
    faults: list[FaultSpec] = []
    if root.has("faults"):
        raw = root.raw("faults")
        if not isinstance(raw, list):
            raise root.error("faults", "expected an array of tables ([[faults]])")
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise root.error(f"faults[{i}]", "expected a table")
            faults.append(_fault(_Reader(source, f"faults[{i}].", item)))
    root.finish()
    return Scenario(
        name=name,
        description=description,
        duration_s=duration_s,
        traffic=traffic,
        operator=operator,
        boom=boom,
        faults=tuple(faults),
        source=source,
    )
