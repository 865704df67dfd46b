"""``lanectl demo --mqtt URL`` publishes the demo lane to a broker that is already running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.site.helpers import SITE, Listener, start_site_broker

pytestmark = [pytest.mark.hil, pytest.mark.slow]


def test_demo_publishes_to_a_running_broker(tmp_path: Path) -> None:
    """The demo lane's availability, state and events reach a site subscriber."""
    broker = start_site_broker(tmp_path, lanes=("demo",))
    pw = tmp_path / "demo.pass"
    pw.write_text("pw-demo-0123\n", encoding="utf-8")
    try:
        with Listener(broker, "store", "pw-store-0123", f"lanectl/{SITE}/demo/#") as seen:
            proc = subprocess.run(
                [
                    *(sys.executable, "-m", "controller.cli", "demo", "--minutes", "0.4"),
                    *("--no-camera", "--json", "--keep", str(tmp_path / "demo")),
                    *("--mqtt", broker.url, "--mqtt-site", SITE, "--mqtt-user", "demo"),
                    *("--mqtt-password-file", str(pw)),
                ],
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert proc.returncode == 0, proc.stderr[-2000:]
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            events = [json.loads(p) for p in seen.payloads(f"lanectl/{SITE}/demo/event")]
            avail = [json.loads(p) for p in seen.payloads(f"lanectl/{SITE}/demo/availability")]
            states = seen.payloads(f"lanectl/{SITE}/demo/state")
    finally:
        broker.stop()
    assert [a["status"] for a in avail][:1] == ["online"] and avail[-1]["status"] == "offline"
    assert states
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "mode_changed" and [e["id"] for e in events] == list(
        range(1, len(events) + 1)
    )
    assert kinds.count("vehicle_passed") == report["passed"]


def test_demo_mqtt_needs_a_password_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "controller.cli", "demo", "--mqtt", "mqtt://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--mqtt-password-file" in proc.stderr
