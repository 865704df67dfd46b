"""Restart state: the count and latched faults as of the journal's last event, even when a
kill -9 landed between a scan's events and its persisted record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from controller import stats as stats_module
from controller.config import parse_config
from controller.core.codec import encode_event
from controller.core.scan import Persisted
from controller.core.types import Event, EventValue
from controller.journal import Journal, read_last_persisted, read_passages
from controller.recovery import recover_persisted
from controller.runtime import Runtime


def _event(j: Journal, seq: int, kind: str, **data: EventValue) -> None:
    j.record_event(seq, seq * 10, kind, encode_event(Event.make(kind, seq * 10, **data)))


def test_events_after_the_persisted_record_are_folded_in(tmp_path: Path) -> None:
    """Crossings set the count, fault_latched adds, fault_reset clears what it names."""
    path = tmp_path / "j.sqlite"
    j = Journal(path, lane="t", config_json="{}")
    _event(j, 1, "vehicle_passed", count=1, authorised="release", detected_by="photocell")
    _event(j, 1, "fault_latched", fault="bus")
    j.record_persisted(1, Persisted(faults=("bus",), count=1).to_json())
    _event(j, 2, "fault_reset", faults="bus")
    _event(j, 3, "tailgate", count=2, detected_by="photocell")
    _event(j, 4, "fault_latched", fault="motor")
    _event(j, 5, "run_through", count=3, phase="READY", mode="OPEN", detected_by="exit_loop")
    j.close()
    assert read_last_persisted(path) == Persisted(faults=("bus",), count=1).to_json()
    assert recover_persisted(path) == Persisted(faults=("motor",), count=3)


def test_new_journal_recovers_nothing(tmp_path: Path) -> None:
    """No file, or a file with neither persisted records nor events: nothing to take over."""
    assert recover_persisted(tmp_path / "none.sqlite") is None
    Journal(tmp_path / "empty.sqlite", lane="t", config_json="{}").close()
    assert recover_persisted(tmp_path / "empty.sqlite") is None


_WRITER = textwrap.dedent(
    """
    import os, signal, sqlite3, sys, time
    from controller.core.codec import encode_event
    from controller.core.scan import Persisted
    from controller.core.types import Event
    from controller.journal import Journal

    path = sys.argv[1]
    j = Journal(path, lane="t", config_json="{}")
    for n in (1, 2, 3):
        e = Event.make("vehicle_passed", n * 1000, count=n, authorised="release",
                       detected_by="photocell")
        j.record_event(n, e.at_ms, e.kind, encode_event(e))
        if n < 3:
            j.record_persisted(n, Persisted(count=n).to_json())
    # The third crossing is on disk; its persisted record would come next. Die now.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        conn.close()
        if rows == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.01)
    sys.exit(3)
    """
)


def test_count_after_a_kill_9_between_event_and_persisted_record(tmp_path: Path) -> None:
    """A writer killed with SIGKILL after its third crossing reached the disk but before the
    persisted record did: the restarted runtime's count is the journal's passage count."""
    path = tmp_path / "j.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path)], env=env, timeout=60, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert len(read_passages(path)) == 3
    assert read_last_persisted(path) == Persisted(count=2).to_json(), "the record lags"
    data: dict[str, Any] = {
        "lane": {"name": "t"},
        "journal": {"path": str(path)},
    }
    rt = Runtime(parse_config(data, tmp_path / "lane.toml"))
    try:
        assert rt.status()["core"]["count"] == 3
        assert rt.status()["shift"]["passed"] == 3
    finally:
        rt.journal.close()


@pytest.mark.parametrize("body", ['{"count": "x"}', "not json"])
def test_bad_event_body_is_named(tmp_path: Path, body: str) -> None:
    """A crossing event whose body cannot be read is an error naming the journal or event."""
    path = tmp_path / "j.sqlite"
    j = Journal(path, lane="t", config_json="{}")
    j.record_event(1, 10, "vehicle_passed", body)
    j.close()
    with pytest.raises(ValueError, match="event 1"):
        recover_persisted(path)


def test_shift_statistics_start_over_when_the_day_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status shows today's shift; once the UTC day turns it shows a fresh, empty one."""
    path = tmp_path / "j.sqlite"
    j = Journal(path, lane="t", config_json="{}")
    _event(j, 1, "vehicle_passed", count=1, authorised="release", detected_by="photocell")
    j.close()
    data: dict[str, Any] = {"lane": {"name": "t"}, "journal": {"path": str(path)}}
    rt = Runtime(parse_config(data, tmp_path / "lane.toml"))
    try:
        assert rt.status()["shift"]["passed"] == 1
        tomorrow = "2999-01-01T00:00:00.000+00:00"
        monkeypatch.setattr(stats_module, "utc_day_start", lambda now=None: tomorrow)
        shift = rt.status()["shift"]
        assert shift["since"] == tomorrow and shift["passed"] == 0
    finally:
        rt.journal.close()
