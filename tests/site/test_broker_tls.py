"""The site broker with TLS: clients that trust the site CA publish; plain TCP gets nothing."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from controller.site.broker import Broker, BrokerTls
from controller.site.mqtt import BrokerAddress, MqttLink
from tests.hil.test_tls import _ca, _signed
from tests.site.helpers import SITE, site_users, wait_until

pytestmark = pytest.mark.hil


def test_tls_listener_takes_trusting_clients_only(tmp_path: Path) -> None:
    """mqtts with the site CA connects and is acknowledged; a plain client never connects."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make test certificates")
    pki = tmp_path / "pki"
    pki.mkdir()
    ca = _ca(pki, "site-ca")
    cert, key = _signed(
        pki, "broker", ca, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"
    )
    broker = Broker(tmp_path / "broker", site_users(), tls=BrokerTls(ca[0], cert, key))
    broker.start()
    try:
        results: dict[str, list[bool]] = {"tls": [], "plain": []}
        acks: list[bool] = []
        done = threading.Event()
        tls = MqttLink(
            BrokerAddress(broker.host, broker.port, True, str(ca[0])),
            client_id="tls-lane1",
            username="lane1",
            password="pw-lane1-0123",
            on_connect=lambda _n, ok, _r: (results["tls"].append(ok), done.set()),
            on_ack=lambda _n, _m, ok, _r: acks.append(ok),
        )
        plain = MqttLink(
            BrokerAddress(broker.host, broker.port),
            client_id="plain-lane1",
            username="lane1",
            password="pw-lane1-0123",
            on_connect=lambda _n, ok, _r: results["plain"].append(ok),
        )
        tls.start()
        plain.start()
        try:
            wait_until(done.is_set, 15, "the TLS client's CONNACK")
            tls.publish(f"lanectl/{SITE}/lane1/event", b"{}", qos=1)
            wait_until(lambda: bool(acks), 10, "PUBACK over TLS")
            time.sleep(2.0)
        finally:
            tls.stop()
            plain.stop()
        assert results["tls"] == [True] and acks == [True]
        assert results["plain"] == [] and not plain.connected
    finally:
        broker.stop()
    assert broker.url.startswith("mqtts://")
