"""Hub messages are encoded once per audience, however many pages follow the lane."""

from __future__ import annotations

from collections.abc import Callable

from controller.console.stream import EncodedMessages
from controller.events import HubMessage


def test_each_message_is_encoded_once_per_audience() -> None:
    calls: list[tuple[int | None, str]] = []

    def encoder(audience: str) -> Callable[[HubMessage], bytes]:
        def encode(msg: HubMessage) -> bytes:
            calls.append((msg.id, audience))
            return f"{audience}:{msg.data['n']}".encode()

        return encode

    cache = EncodedMessages(size=4)
    state = HubMessage("state", {"n": 1})
    pages = [cache.get(state, role, encoder(role)) for role in ("viewer", "operator") * 10]
    assert pages == [b"viewer:1", b"operator:1"] * 10
    assert calls == [(None, "viewer"), (None, "operator")] and cache.encoded == 2
    # A new message with equal data is a new message: encoded again.
    again = HubMessage("state", {"n": 2})
    assert cache.get(again, "viewer", encoder("viewer")) == b"viewer:2"
    assert cache.encoded == 3


def test_an_old_message_evicted_is_encoded_again_and_a_recycled_id_never_hits() -> None:
    cache = EncodedMessages(size=2)
    first = HubMessage("event", {"n": 1}, 1)
    cache.get(first, "", lambda m: b"1")
    for n in range(2, 5):
        cache.get(HubMessage("event", {"n": n}, n), "", lambda m: str(m.id).encode())
    assert cache.get(first, "", lambda m: b"1 again") == b"1 again"
    # A message made after another was dropped may get its id(): it must not get its bytes.
    cache = EncodedMessages(size=8)
    cache.get(HubMessage("state", {"n": 1}), "viewer", lambda m: b"old")
    fresh = HubMessage("state", {"n": 9})
    assert cache.get(fresh, "viewer", lambda m: b"new") == b"new"
