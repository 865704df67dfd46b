"""The JSON codecs: lossless round trips and errors that name the field."""

from __future__ import annotations

import re

import pytest

from controller.core.codec import (
    decode_event,
    decode_inputs,
    decode_state,
    encode_event,
    encode_inputs,
    encode_state,
)
from controller.core.scan import Persisted, initial_state, scan
from controller.core.types import (
    CameraHealth,
    CameraZones,
    Command,
    CommandKind,
    Event,
    FailMode,
    Inputs,
    LaneConfig,
)

INPUTS = Inputs(
    loop_bay=True,
    barrier_down=True,
    camera=CameraZones(health=CameraHealth.OK, bay=True),
    commands=(Command(CommandKind.RELEASE, "console"), Command(CommandKind.OPEN_LANE)),
)


def test_inputs_round_trip() -> None:
    """Inputs, camera zones and commands survive encode/decode exactly."""
    assert decode_inputs(encode_inputs(INPUTS)) == INPUTS
    assert encode_inputs(INPUTS) == encode_inputs(decode_inputs(encode_inputs(INPUTS)))


def test_state_round_trip_mid_cycle() -> None:
    """A running state (lane, monitor, config, cache) decodes equal and scans on identically."""
    config = LaneConfig(auto_release_ms=500, early_entry=True, fail_mode=FailMode.SAFE)
    state = initial_state(config, Persisted(faults=(), count=3))
    for now in range(5, 400, 5):
        state = scan(
            state, INPUTS if now == 5 else Inputs(barrier_down=True, loop_bay=True), now
        ).state
    copy = decode_state(encode_state(state))
    assert copy == state
    nxt = Inputs(barrier_down=True, loop_bay=True)
    assert scan(copy, nxt, 2000) == scan(state, nxt, 2000)


def test_event_round_trip_keeps_value_types() -> None:
    """Event values keep int, str and bool apart."""
    event = Event.make("vehicle_passed", 1234, count=1, authorised="release", flag=True)
    back = decode_event(encode_event(event))
    assert back == event
    assert back.get("flag") is True and back.get("count") == 1


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"loop_bay": 1}', "inputs.loop_bay"),
        ('{"camera": {"health": "blurry"}}', "inputs.camera.health"),
        ('{"commands": [{"kind": "fly"}]}', "inputs.commands[0].kind"),
        ('{"wheels": 4}', "inputs.wheels"),
        ("[1, 2]", "inputs"),
        ("not json", "inputs"),
    ],
)
def test_bad_inputs_name_the_field(text: str, field: str) -> None:
    """A decode error says which field is wrong."""
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        decode_inputs(text)


def test_bad_state_and_event_name_the_field() -> None:
    """State and event decoding name the missing or mistyped field."""
    good = encode_state(initial_state(LaneConfig()))
    with pytest.raises(ValueError, match=re.escape("state.safety")):
        decode_state(good.replace('"safety"', '"safe"'))
    with pytest.raises(ValueError, match=re.escape("state.lane.config.amber_ms")):
        decode_state(good.replace('"amber_ms":3000', '"amber_ms":"x"'))
    with pytest.raises(ValueError, match="amber_ms"):
        decode_state(good.replace('"amber_ms":3000', '"amber_ms":100'))
    with pytest.raises(ValueError, match=re.escape("event.at_ms")):
        decode_event('{"kind": "x", "data": {}}')
    with pytest.raises(ValueError, match=re.escape("event.data.v")):
        decode_event('{"kind": "x", "at_ms": 1, "data": {"v": [1]}}')
