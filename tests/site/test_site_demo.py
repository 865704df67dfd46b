"""``lanectl site demo``: bad arguments are named; a short run with ``--json`` prints one JSON
report in which the supervisor opened a lane and every lane's journal was read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.journal import read_events


def _demo(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", "site", "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--lanes", "2", "--staff", "3"], "--staff"),
        (["--seconds", "0"], "--seconds"),
        (["--port", "70000"], "--port"),
        (["--tick-s", "0"], "--tick-s"),
        (["--lanes", "0"], "--lanes"),
    ],
)
def test_bad_arguments_are_named(args: list[str], named: str) -> None:
    """Each bad argument exits 2 naming itself, before anything starts."""
    proc = _demo(*args)
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr


@pytest.mark.hil
@pytest.mark.slow
def test_short_run_prints_one_json_report(tmp_path: Path) -> None:
    """Two lanes for 25 s: stdout is one JSON object; the supervisor opened lane1 by its
    minimum-lanes rule, lane1 journaled that command, the page line went to stderr."""
    keep = tmp_path / "site"
    proc = _demo("--lanes", "2", "--seconds", "25", "--keep", str(keep), "--json", timeout=180)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "site page: http://127.0.0.1:" in proc.stderr
    assert set(report["lanes"]) == {"lane1", "lane2"}
    assert report["decisions"].get("open lane1 (min_lanes)") == 1
    assert report["journal_verified"] is True and report["page_logins"] == 0
    remote = read_events(keep / "lane1" / "journal.sqlite", kinds=["remote_command"])
    assert report["lanes"]["lane1"]["supervisor_commands"] == len(remote) >= 1
    assert report["lanes"]["lane1"]["mode_at_end"] == "OPEN"
    assert json.loads(str(remote[0]["body"]))["data"]["source"] == "mqtt:supervisor"
