"""``lanectl site broker`` and ``lanectl site store`` as processes from one site config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.site.broker import Broker, free_port
from tests.hil.harness import start_proc, stop_proc
from tests.site.helpers import Publisher, wait_until
from tests.site.lanes import store_ids

pytestmark = pytest.mark.hil


def test_site_broker_and_store_commands(tmp_path: Path) -> None:
    """The foreground broker takes lane1's event; the store process keeps it; both stop on TERM."""
    port = free_port()
    for name in ("lane1", "store"):
        (tmp_path / f"{name}.pass").write_text(f"pw-{name}-0123\n", encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(
        f"""[site]
name = "east"
[broker]
port = {port}
[[users]]
name = "lane1"
role = "lane"
password_file = "lane1.pass"
[[users]]
name = "store"
role = "store"
password_file = "store.pass"
[store]
path = "east.sqlite"
""",
        encoding="utf-8",
    )
    broker_proc, url = start_proc(
        "site-broker", ["site", "broker", "--config", str(site)], tmp_path, "broker listening on"
    )
    store_proc = None
    try:
        assert url == f"mqtt://127.0.0.1:{port}"
        store_proc, _ = start_proc(
            "site-store", ["site", "store", "--config", str(site)], tmp_path, "store collecting"
        )
        wait_until(
            lambda: "store_connected" in store_proc.log_path.read_text(encoding="utf-8"),
            15,
            "the store connected",
        )
        # A Broker object on the same port only to address it (never started).
        target = Broker(tmp_path / "unused", [], port=port)
        event = {
            "journal": "j" * 16,
            "id": 7,
            "kind": "k",
            "time": "t",
            "at_ms": 1,
            "run": 1,
            "seq": 1,
            "body": {},
        }
        with Publisher(target, "lane1", "pw-lane1-0123") as lane:
            assert lane.publish("lanectl/east/lane1/event", json.dumps(event).encode())[0]
        wait_until(lambda: store_ids(tmp_path / "east.sqlite", "lane1") == [7], 15, "stored")
    finally:
        codes = [stop_proc(p) for p in (store_proc, broker_proc) if p is not None]
    assert codes == [0, 0]
    assert "allow_anonymous false" in (tmp_path / "broker" / "mosquitto.conf").read_text()
