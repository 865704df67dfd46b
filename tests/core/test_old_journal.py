"""A journal recorded by an earlier core (commit a4b6239) replays bit-identical today."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest

from controller.journal import read_events, replay, verify

OLD = Path(__file__).resolve().parents[1] / "data" / "journal_a4b6239.sqlite.gz"


@pytest.fixture()
def old_journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    with gzip.open(OLD, "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def test_old_journal_replays_identical(old_journal: Path) -> None:
    """Every recorded scan of the old journal gives the same coils and events today."""
    assert verify(old_journal).ok
    kinds = {str(e["kind"]) for e in read_events(old_journal)}
    # The recording is not trivial: the cycle, faults, the bus and the camera are in it.
    assert {
        "vehicle_passed",
        "tailgate",
        "run_through",
        "boom_reversed",
        "fault_latched",
        "fault_reset",
        "bus_lost",
        "camera_fault",
        "stuck_loop",
    } <= kinds
    result = replay(old_journal)
    assert result.identical, result.divergence
    assert result.scans == 268_125


def test_a_changed_event_is_a_divergence(old_journal: Path) -> None:
    """The comparison can fail: one recorded event edited is found at its scan."""
    conn = sqlite3.connect(old_journal)
    conn.execute("DROP TRIGGER events_no_update")
    row_id, seq, body = conn.execute(
        "SELECT id, seq, body FROM events WHERE kind = 'vehicle_arrived' ORDER BY id LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE events SET body = ? WHERE id = ?", (body.replace("}", ', "x": 1}'), row_id)
    )
    conn.commit()
    conn.close()
    result = replay(old_journal)
    assert not result.identical
    assert result.divergence is not None and f"scan {seq} " in result.divergence
