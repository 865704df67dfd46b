"""The one module that imports the MQTT client library (paho-mqtt, pinned).

paho's API has changed between major versions (callback signatures, the
``CallbackAPIVersion`` switch), so the rest of lanectl sees only :class:`MqttLink`:
one MQTT 5 connection run by paho's network thread, with plain callbacks for
connected, disconnected, acknowledged and message. Callbacks arrive on that
thread; callers that live in an event loop hand them over themselves.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "BrokerAddress",
    "LinkDown",
    "Message",
    "MqttLink",
    "Will",
    "parse_url",
]

SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps a persistent session (the site store's) while it is away."""


class LinkDown(Exception):
    """A publish or subscribe while the link is not connected."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is; ``tls`` with ``cafile`` (and a client certificate if any)."""

    host: str
    port: int
    tls: bool = False
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` -> (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"{url!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        raise ValueError(f"{url!r}: give only scheme, host and port (credentials go in files)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number in 1..65535") from None
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool


ConnectHandler = Callable[[int, bool, str], None]
"""(connection number, accepted, reason): once per CONNACK."""
DisconnectHandler = Callable[[int, str], None]
AckHandler = Callable[[int, int, bool, str], None]
"""(connection number, message id, accepted, reason): a QoS 1 PUBACK."""
MessageHandler = Callable[[Message], None]


class MqttLink:
    """One client connection; paho reconnects by itself (1..``max_backoff_s`` s) until stopped.

    On every (re)connect paho's own queue of unacknowledged messages is dropped:
    what was not acknowledged is the caller's to send again (the lane resends from
    its journal), so nothing goes out twice from two queues.
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        username: str,
        password: str,
        will: Will | None = None,
        persistent_session: bool = False,
        on_connect: ConnectHandler | None = None,
        on_disconnect: DisconnectHandler | None = None,
        on_ack: AckHandler | None = None,
        on_message: MessageHandler | None = None,
        max_backoff_s: int = 2,
        max_inflight: int = 100,
    ) -> None:
        self.address = address
        self.persistent_session = persistent_session
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_ack = on_ack
        self._on_message = on_message
        self._lock = threading.Lock()
        self.connection = 0
        self.connected = False
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(username, password)
        client.reconnect_delay_set(1, max_backoff_s)
        client.max_inflight_messages_set(max_inflight)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        if address.tls:
            client.tls_set(
                ca_certs=address.cafile,
                certfile=address.certfile,
                keyfile=address.keyfile,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._message
        self._client = client

    # ---- control (any thread) ----

    def start(self) -> None:
        """Connect in the background; returns at once (a broker that is down is retried)."""
        props: Properties | None = None
        clean = True
        if self.persistent_session:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            clean = False
        self._client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=10,
            clean_start=clean,
            properties=props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> int:
        """Queue one message; returns its message id (QoS 1: acknowledged via ``on_ack``)."""
        if not self.connected:
            raise LinkDown(f"{self.address.describe()}: not connected")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkDown(
                f"{self.address.describe()}: publish failed ({paho.error_string(info.rc)})"
            )
        return int(info.mid)

    def subscribe(self, topic: str, qos: int = 1, *, retain_as_published: bool = False) -> None:
        """``retain_as_published``: keep the retain flag on live messages too (MQTT 5), so
        the receiver can tell a retained message from a fresh one."""
        if not self.connected:
            raise LinkDown(f"{self.address.describe()}: not connected")
        options = SubscribeOptions(qos=qos, retainAsPublished=retain_as_published)
        rc, _ = self._client.subscribe(topic, options=options)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkDown(f"{self.address.describe()}: subscribe failed ({paho.error_string(rc)})")

    # ---- paho's network thread ----

    def _connected(self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        client.drop_out_messages()
        ok = not rc.is_failure
        with self._lock:
            self.connection += 1
            self.connected = ok
            number = self.connection
        if self._on_connect is not None:
            self._on_connect(number, ok, str(rc))

    def _disconnected(self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._lock:
            was = self.connected
            self.connected = False
            number = self.connection
        if was and self._on_disconnect is not None:
            self._on_disconnect(number, str(rc))

    def _published(self, _c: paho.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        if self._on_ack is not None:
            self._on_ack(self.connection, mid, not rc.is_failure, str(rc))

    def _message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        # paho sends the PUBACK of a QoS 1 message only after this returns: a handler that
        # stores before returning makes delivery at-least-once into its store.
        if self._on_message is not None:
            self._on_message(
                Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), bool(msg.dup))
            )
