"""A site on loopback for the MQTT tests: a broker with its users, clients, waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controller.site.broker import Broker, User
from controller.site.mqtt import BrokerAddress, Message, MqttLink

__all__ = ["SITE", "Listener", "Publisher", "site_users", "start_site_broker", "wait_until"]

SITE = "north"


def site_users(lanes: tuple[str, ...] = ("lane1", "lane2")) -> list[User]:
    users = [User(lane, f"pw-{lane}-0123", "lane", SITE) for lane in lanes]
    users += [
        User("alice", "pw-alice-0123", "supervisor", SITE),
        User("store", "pw-store-0123", "store", SITE),
    ]
    return users


def start_site_broker(workdir: Path, lanes: tuple[str, ...] = ("lane1", "lane2")) -> Broker:
    broker = Broker(workdir / "broker", site_users(lanes))
    broker.start()
    return broker


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class Listener:
    """A client that subscribes to a filter and keeps every message it gets."""

    broker: Broker
    user: str
    password: str
    topic: str
    messages: list[Message] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ready = threading.Event()
        self.link = MqttLink(
            BrokerAddress(self.broker.host, self.broker.port),
            client_id=f"test-listener-{self.user}-{id(self)}",
            username=self.user,
            password=self.password,
            on_connect=self._connected,
            on_message=self.messages.append,
        )

    def _connected(self, _n: int, ok: bool, reason: str) -> None:
        if not ok:
            self.refused.append(reason)
            return
        self.link.subscribe(self.topic, qos=1)
        self.ready.set()

    def __enter__(self) -> Listener:
        self.link.start()
        wait_until(self.ready.is_set, 10, f"{self.user} subscribed")
        time.sleep(0.2)  # the SUBACK
        return self

    def __exit__(self, *exc: object) -> None:
        self.link.stop()

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in list(self.messages) if m.topic == topic]


class Publisher:
    """A client that publishes QoS 1 and records each acknowledgement's verdict."""

    def __init__(self, broker: Broker, user: str, password: str) -> None:
        self.acks: dict[int, tuple[bool, str]] = {}
        self.outcome: list[tuple[bool, str]] = []
        self.connected = threading.Event()
        self.link = MqttLink(
            BrokerAddress(broker.host, broker.port),
            client_id=f"test-pub-{user}-{id(self)}",
            username=user,
            password=password,
            on_connect=lambda _n, ok, why: (
                self.outcome.append((ok, why)),
                ok and self.connected.set(),
            ),
            on_ack=lambda _n, mid, ok, why: self.acks.__setitem__(mid, (ok, why)),
        )

    def __enter__(self) -> Publisher:
        self.link.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.link.stop()

    def publish(self, topic: str, payload: dict[str, object] | bytes) -> tuple[bool, str]:
        """Publish and wait for the PUBACK; returns (accepted, reason)."""
        wait_until(self.connected.is_set, 10, "the publisher connected")
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        mid = self.link.publish(topic, data, qos=1)
        wait_until(lambda: mid in self.acks, 10, f"PUBACK of {topic}")
        return self.acks[mid]
