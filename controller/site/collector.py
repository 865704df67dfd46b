"""The site-side subscriber that fills the site store from the broker.

It holds a persistent MQTT session (clean start off, a week's expiry), so the
broker keeps its QoS 1 messages while it is away, and stores each message before
its handler returns: paho acknowledges a QoS 1 message only then, so a collector
killed mid-way gets the message again rather than losing it (the store absorbs
the repeat).
"""

from __future__ import annotations

import sqlite3
import threading
import time

from controller.logs import get_logger
from controller.site.mqtt import BrokerAddress, Message, MqttLink
from controller.site.store import SiteStore, StoreError

__all__ = ["Collector"]


class Collector:
    """Subscribes to ``lanectl/<site>/+/{event,state,availability}`` into ``store``."""

    def __init__(
        self,
        store: SiteStore,
        address: BrokerAddress,
        *,
        site: str,
        username: str,
        password: str,
        client_id: str | None = None,
    ) -> None:
        self.store = store
        self.site = site
        self.log = get_logger(part="site_store", site=site)
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self.received = 0
        self.rejected = 0
        self._link = MqttLink(
            address,
            client_id=client_id or f"lanectl-store-{site}",
            username=username,
            password=password,
            persistent_session=True,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_message=self._on_message,
        )

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._stopping.set()
        self._link.stop()

    def _on_connect(self, _n: int, ok: bool, reason: str) -> None:
        if not ok:
            self.log.warning("store_connect_refused", reason=reason)
            return
        for leaf in ("event", "state", "availability"):
            self._link.subscribe(f"lanectl/{self.site}/+/{leaf}", qos=1)
        self.connected.set()
        self.log.info("store_connected", broker=self._link.address.describe())

    def _on_disconnect(self, _n: int, reason: str) -> None:
        self.connected.clear()
        self.log.warning("store_disconnected", reason=reason)

    def _on_message(self, message: Message) -> None:
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[0] != "lanectl":
            return
        _, site, lane, leaf = parts
        self.received += 1
        delay = 0.1
        while True:
            try:
                if leaf == "event":
                    self.store.add_event(site, lane, message.payload)
                elif leaf in ("state", "availability"):
                    self.store.set_lane(site, lane, leaf, message.payload)
                return
            except StoreError as exc:
                # A malformed message is logged and acknowledged: redelivery cannot mend it.
                self.rejected += 1
                self.log.error("store_rejected", topic=message.topic, error=str(exc))
                return
            except sqlite3.Error as exc:
                # The store cannot write (locked, disk full): hold this message unacknowledged
                # and retry; the broker keeps queueing the rest for this session meanwhile.
                if self._stopping.is_set():
                    raise
                self.log.error("store_write_failed", error=str(exc), retry_s=delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
