"""Fuzzing the two TOML loaders an integrator or a tester edits by hand: the lane config
(controller.config) and the simulator's scenarios (hw_sim.scenario).

Whatever the file holds, a loader either returns a usable value or raises its own
named error naming the file and the key; never a TypeError, KeyError, OverflowError
or anything else from deep inside.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config import Config, ConfigError, load_config, parse_config
from hw_sim.scenario import SCENARIO_DIR, Scenario, ScenarioError, load_scenario, parse_scenario
from hw_sim.traffic import Arrivals

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lane.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
MIXED_TEXT = (SCENARIO_DIR / "mixed.toml").read_text(encoding="utf-8")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FUZZ_DOCS = settings(FUZZ, max_examples=300)
"""Parsing a document is cheap: more examples find the rarer hostile value at a number key."""

CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "lane": ("name", "open_on_start"),
    "io": (
        "transport",
        "host",
        "port",
        "unit",
        "timeout_ms",
        "connect_timeout_ms",
        "scan_ms",
        "watchdog_ms",
        "missed_scans",
        "reconnect_min_ms",
        "reconnect_max_ms",
        "offsets",
    ),
    "timing": (
        "amber_ms",
        "warn_ms",
        "travel_timeout_ms",
        "clear_delay_ms",
        "stop_debounce_ms",
        "presence_on_ms",
        "presence_off_ms",
        "stuck_loop_ms",
        "disagreement_ms",
    ),
    "policy": ("max_reversals", "auto_release_ms", "early_entry", "fail_mode"),
    "journal": ("path", "replay_hours", "snapshot_s"),
    "api": ("enabled", "host", "port", "token", "token_file", "max_body_bytes"),
    "camera": ("url", "zone", "detector"),
}

SCENARIO_KEYS: dict[str, tuple[str, ...]] = {
    "scenario": ("name", "description", "duration_s"),
    "traffic": (
        "rate_per_hour",
        "schedule_s",
        "kinds",
        "behaviours",
        "car_length_m",
        "van_length_m",
        "truck_length_m",
        "approach_speed_kmh",
        "bay_speed_kmh",
        "reaction_ms",
        "hesitation_s",
        "reverse_after_s",
        "max_vehicles",
    ),
    "operator": ("dwell_s", "aside_share", "hold_ms", "retry_s", "aside_delay_s"),
    "boom": ("raise_ms", "lower_ms"),
}
FAULT_KEYS = ("kind", "at_s", "duration_s", "repeat_s", "input", "factor", "delay_ms", "code")

# -- strategies -----------------------------------------------------------------------------

_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-5, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=1e6),
    st.booleans(),
    st.text(max_size=24),
    st.sampled_from(
        ["", "tcp", "secure", "safe", "car", "bus_drop", "stuck_on", "loop_bay", "127.0.0.1"]
    ),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.0001, 1e300, 2**63 - 1]),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(),
    st.times(),
)
"""Every kind of value tomllib can return, with extra weight near the plausible ones."""

_pairs = st.lists(st.sampled_from([math.nan, math.inf, -1.0, 0, 3, 12.5, 1e300]), max_size=3)
"""Range-like arrays ([min, max]) with hostile members."""

toml_values: st.SearchStrategy[Any] = st.recursive(
    _scalars | _pairs,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)

hostile_values = st.one_of(
    st.sampled_from(
        [math.nan, math.inf, -math.inf, 1e300, -1, 0, 2**63 - 1, [math.nan, 1.0], [1, math.inf]]
    ),
    toml_values,
)
"""Half the time a value that breaks arithmetic later (nan, inf, huge, negative)."""

_toml_alphabet = st.sampled_from(list('[]{}=",.#\n \t\'"-_+:0123456789abcdefgtruefalsenaninf'))
toml_ish_text = st.text(alphabet=_toml_alphabet, max_size=200)
"""Text made of TOML's punctuation and keywords: gets past the first character more often."""


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> str:
    """``base`` with a few random cuts, insertions and replacements."""
    text = base
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        piece = draw(
            st.one_of(st.just(""), toml_ish_text.map(lambda s: s[:10]), st.text(max_size=6))
        )
        text = text[:i] + piece + text[j:]
    return text


def _mutate(
    draw: st.DrawFn, doc: dict[str, Any], keys: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Set up to three keys (known or not, in known sections or not) to any TOML value."""
    for _ in range(draw(st.sampled_from((0, 1, 1, 2, 3)))):
        section = draw(st.sampled_from([*keys, *keys, "bogus"]))
        value = draw(hostile_values)
        if draw(st.integers(0, 9)) == 0:
            doc[section] = value  # a whole section replaced, perhaps by a non-table
            continue
        table = doc.get(section)
        if not isinstance(table, dict):
            table = {}
            doc[section] = table
        names = keys.get(section, ())
        known = names and draw(st.integers(0, 4)) > 0
        key = draw(st.sampled_from(names)) if known else draw(st.text(max_size=8))
        table[key] = value
    return doc


@st.composite
def config_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = tomllib.loads(EXAMPLE_TEXT)
    if draw(st.booleans()):
        polygon: list[Any] = [[100, 400], [500, 400], [500, 700], [100, 700]]
        if draw(st.booleans()):
            point = draw(st.integers(0, len(polygon) - 1))
            polygon[point][draw(st.integers(0, 1))] = draw(hostile_values)
        doc["camera"] = {
            "url": "http://127.0.0.1:8081/stream.mjpg",
            "zone": [{"name": "bay", "polygon": polygon}],
        }
    return _mutate(draw, doc, CONFIG_KEYS)


@st.composite
def scenario_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = _mutate(draw, tomllib.loads(MIXED_TEXT), SCENARIO_KEYS)
    faults = doc.get("faults")
    if isinstance(faults, list) and faults and draw(st.booleans()):
        i = draw(st.integers(0, len(faults) - 1))
        item = faults[i]
        if isinstance(item, dict):
            item[draw(st.sampled_from(FAULT_KEYS) | st.text(max_size=6))] = draw(hostile_values)
        else:
            faults[i] = draw(hostile_values)
    return doc


# -- checks -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lanectl-fuzz-") as d:
        yield Path(d)


def _finite_numbers(value: object, where: str) -> None:
    """Every number in a loaded value is finite (nan or inf would break the lane later)."""
    if isinstance(value, float):
        assert math.isfinite(value), f"{where}: {value} loaded"
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _finite_numbers(item, f"{where}[{i}]")
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _finite_numbers(getattr(value, name), f"{where}.{name}")


def _check_config(path: Path, load: Any) -> None:
    try:
        config = load()
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: "), str(exc)
        assert exc.key, str(exc)
        assert exc.path == str(path)
    else:
        assert isinstance(config, Config)
        _finite_numbers(config.io, "io")
        _finite_numbers(config.core, "core")
        _finite_numbers(config.journal, "journal")
        if config.camera is not None:
            _finite_numbers(config.camera.zones, "camera.zones")


def _check_scenario(source: str, load: Any) -> None:
    try:
        scenario = load()
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith(source) or message.startswith("scenario "), message
        assert ": " in message
    else:
        assert isinstance(scenario, Scenario)
        _finite_numbers(scenario, "scenario")
        # The loaded scenario drives traffic without blowing up.
        Arrivals(scenario.traffic, scenario.operator, 0).due(10_000)


# -- the lane config ------------------------------------------------------------------------


@FUZZ_DOCS
@given(doc=config_docs())
def test_config_wrong_typed_values_raise_config_error(doc: dict[str, Any]) -> None:
    """Any TOML value at any key of a valid config gives a Config or a ConfigError naming
    the file and the key."""
    path = Path("/etc/lanectl/lane1.toml")
    _check_config(path, lambda: parse_config(doc, path))


@FUZZ
@given(text=st.one_of(st.text(max_size=300), toml_ish_text, mutated_text(EXAMPLE_TEXT)))
def test_config_random_text_raises_config_error(scratch: Path, text: str) -> None:
    """Random or damaged config text gives a Config or a ConfigError naming the file."""
    path = scratch / "lane.toml"
    path.write_text(text, encoding="utf-8")
    _check_config(path, lambda: load_config(path))


@FUZZ
@given(data=st.binary(max_size=200))
def test_config_random_bytes_raise_config_error(scratch: Path, data: bytes) -> None:
    """Random bytes (often not UTF-8) give a ConfigError naming the file, or a Config."""
    path = scratch / "bytes.toml"
    path.write_bytes(data)
    _check_config(path, lambda: load_config(path))


# -- scenarios --------------------------------------------------------------------------------


@FUZZ_DOCS
@given(doc=scenario_docs())
def test_scenario_wrong_typed_values_raise_scenario_error(doc: dict[str, Any]) -> None:
    """Any TOML value at any key of a valid scenario gives a usable Scenario or a
    ScenarioError naming the source and the key."""
    _check_scenario("fuzz.toml", lambda: parse_scenario(doc, source="fuzz.toml"))


@FUZZ
@given(text=st.one_of(st.text(max_size=300), toml_ish_text, mutated_text(MIXED_TEXT)))
def test_scenario_random_text_raises_scenario_error(scratch: Path, text: str) -> None:
    """Random or damaged scenario text gives a Scenario or a ScenarioError naming the file."""
    path = scratch / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    _check_scenario("fuzz.toml", lambda: load_scenario(path))


@FUZZ
@given(data=st.binary(max_size=200))
def test_scenario_random_bytes_raise_scenario_error(scratch: Path, data: bytes) -> None:
    """Random bytes (often not UTF-8) give a ScenarioError naming the file, or a Scenario."""
    path = scratch / "bytes.toml"
    path.write_bytes(data)
    _check_scenario("bytes.toml", lambda: load_scenario(path))


def test_fuzz_checks_can_fail() -> None:
    """The checks reject a foreign exception and a non-finite loaded number."""
    with pytest.raises(TypeError):
        _check_config(Path("x.toml"), lambda: (_ for _ in ()).throw(TypeError("boom")))
    with pytest.raises(AssertionError):
        _finite_numbers((1.0, float("nan")), "x")
    with pytest.raises(AssertionError):
        _check_scenario("x.toml", lambda: (_ for _ in ()).throw(ScenarioError("other: k: v")))
