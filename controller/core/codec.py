"""Pure JSON codecs for recording and replaying scans (``lanectl replay``, the journal).

A recording is one ``encode_inputs`` line per scan plus its ``now_ms``; a
snapshot of the whole ``ScanState`` can be stored and resumed. Decoding is
strict: a missing, unknown or mistyped field raises ``ValueError`` naming the
field (with its path inside nested values), never a half-built object.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Hashable
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from typing import Any, TypeVar

from controller.core.lane import LaneState
from controller.core.safety import SafetyState
from controller.core.scan import ScanState
from controller.core.types import Event, Inputs

__all__ = [
    "decode_event",
    "decode_inputs",
    "decode_state",
    "encode_event",
    "encode_inputs",
    "encode_state",
]

_D = TypeVar("_D")


def _dump(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    return value


@cache
def _hints(cls: object) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _load(tp: Any, data: object, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _load(option, data, path)
            except ValueError:
                continue
        raise ValueError(f"{path}: {data!r} matches none of {tp}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list, got {data!r}")
        item = args[0]
        return tuple(_load(item, v, f"{path}[{n}]") for n, v in enumerate(data))
    if tp is bool:
        if not isinstance(data, bool):
            raise ValueError(f"{path}: expected true/false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"{path}: expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise ValueError(f"{path}: expected a string, got {data!r}")
        return data
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise ValueError(f"{path}: {data!r} is not a {tp.__name__}") from None
    if isinstance(tp, type) and is_dataclass(tp):
        return _load_dataclass(tp, data, path)
    raise ValueError(f"{path}: cannot decode type {tp!r}")


def _load_dataclass(cls: type[_D], data: object, path: str) -> _D:
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object, got {data!r}")
    hints = _hints(typing.cast(Hashable, cls))
    cls_fields = fields(cls)  # type: ignore[arg-type]
    unknown = sorted(set(data) - {f.name for f in cls_fields})
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown field")
    values = {}
    for f in cls_fields:
        name = f.name
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"{path}.{name}: missing")
            continue  # a field added after the recording was made: its default applies
        values[name] = _load(hints[name], data[name], f"{path}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _parse(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not JSON ({exc})") from exc


def encode_inputs(inputs: Inputs) -> str:
    """One scan's inputs as compact JSON (field order fixed, so equal inputs give equal text)."""
    return json.dumps(_dump(inputs), separators=(",", ":"))


def decode_inputs(text: str) -> Inputs:
    return _load_dataclass(Inputs, _parse(text, "inputs"), "inputs")


def encode_state(state: ScanState) -> str:
    """The whole scan state (lane, safety monitor, config) as JSON."""
    return json.dumps(_dump(state), separators=(",", ":"))


def decode_state(text: str) -> ScanState:
    data = _parse(text, "state")
    if not isinstance(data, dict):
        raise ValueError(f"state: expected an object, got {data!r}")
    for key in ("lane", "safety"):
        if key not in data:
            raise ValueError(f"state.{key}: missing")
    unknown = sorted(set(data) - {"lane", "safety"})
    if unknown:
        raise ValueError(f"state.{unknown[0]}: unknown field")
    lane = _load_dataclass(LaneState, data["lane"], "state.lane")
    safety = _load_dataclass(SafetyState, data["safety"], "state.safety")
    return ScanState(lane=lane, safety=safety)


def encode_event(event: Event) -> str:
    """``{"kind", "at_ms", "data": {key: value}}``; values keep their JSON type."""
    return json.dumps(
        {"kind": event.kind, "at_ms": event.at_ms, "data": dict(event.data)},
        separators=(",", ":"),
    )


def decode_event(text: str) -> Event:
    data = _parse(text, "event")
    if not isinstance(data, dict):
        raise ValueError(f"event: expected an object, got {data!r}")
    for key in ("kind", "at_ms", "data"):
        if key not in data:
            raise ValueError(f"event.{key}: missing")
    kind, at_ms, values = data["kind"], data["at_ms"], data["data"]
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"event.kind: expected a non-empty string, got {kind!r}")
    if isinstance(at_ms, bool) or not isinstance(at_ms, int):
        raise ValueError(f"event.at_ms: expected an integer, got {at_ms!r}")
    if not isinstance(values, dict):
        raise ValueError(f"event.data: expected an object, got {values!r}")
    for key, value in values.items():
        if not isinstance(value, int | str | bool):
            raise ValueError(f"event.data.{key}: expected an integer, string or bool")
    return Event.make(kind, at_ms, **values)
