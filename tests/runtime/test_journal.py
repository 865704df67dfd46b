"""Journal: hash chains catch tampering, append-only tables hold, the replay ring is cut safely."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

import controller.journal as journal_mod
from controller.cli import main
from controller.journal import (
    Journal,
    export_csv,
    read_events,
    read_last_persisted,
    read_passages,
    read_run_stats,
    read_scans,
    read_snapshots,
    verify,
)


def _fill(path: Path, runs: int = 1) -> None:
    for _ in range(runs):
        j = Journal(path, lane="t", config_json="{}", replay_hours=1.0)
        seq = j.first_seq
        j.record_snapshot(seq, 0, "start", '{"s": 0}')
        for i in range(250):
            j.record_scan(seq + i, i * 10, '{"i": 1}' if i % 50 == 0 else None, i & 0x7FF)
            if i in (30, 120):
                j.record_event(seq + i, i * 10, "vehicle_passed", json.dumps({"n": i}))
            if i == 200:
                j.record_event(seq + i, i * 10, "fault_latched", json.dumps({"f": "bus"}))
        j.record_persisted(seq + 249, '{"count": 2}')
        j.record_stats({"scans": 250, "scan_p99_ms": 1.5})
        j.close()
        assert j.error is None


def test_rows_round_trip(tmp_path: Path) -> None:
    """Events, passages, scans (repeated inputs filled in), persisted state and stats read back."""
    path = tmp_path / "j.sqlite"
    _fill(path, runs=2)
    events = read_events(path)
    assert [e["kind"] for e in events] == ["vehicle_passed", "vehicle_passed", "fault_latched"] * 2
    passages = read_passages(path)
    assert len(passages) == 4 and all(p["kind"] == "vehicle_passed" for p in passages)
    scans = list(read_scans(path))
    assert len(scans) == 500
    assert [s.seq for s in scans] == list(range(500))
    assert scans[51].inputs_json == '{"i": 1}' and scans[51].coils == 51
    assert {s.run for s in scans} == {1, 2}
    assert read_last_persisted(path) == '{"count": 2}'
    assert [s["scans"] for s in read_run_stats(path)] == [250, 250]
    assert [s["kind"] for s in read_snapshots(path)] == ["start", "start"]
    assert read_events(path, limit=1)[0]["kind"] == "fault_latched"


def test_verify_ok_then_detects_edit(tmp_path: Path) -> None:
    """verify passes on a clean journal and names the first edited row after tampering."""
    path = tmp_path / "j.sqlite"
    _fill(path)
    result = verify(path)
    assert result.ok and result.rows > 5
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET body = '{\"n\": 99}' WHERE id = 2")
    conn.commit()
    conn.close()
    bad = verify(path)
    assert not bad.ok
    assert bad.problem is not None and "events row 2" in bad.problem


def test_verify_detects_deleted_row(tmp_path: Path) -> None:
    """Removing a row from an append-only table breaks the chain at that row."""
    path = tmp_path / "j.sqlite"
    _fill(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER passages_no_delete")
    conn.execute("DELETE FROM passages WHERE id = 1")
    conn.commit()
    conn.close()
    bad = verify(path)
    assert not bad.ok and bad.problem is not None and "passages row 1" in bad.problem


def test_append_only_triggers(tmp_path: Path) -> None:
    """UPDATE and DELETE on append-only tables are refused by the database itself."""
    path = tmp_path / "j.sqlite"
    _fill(path)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()


def test_cli_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lanectl journal verify` exits 0 when clean and 1 naming the bad row when not."""
    path = tmp_path / "j.sqlite"
    _fill(path)
    assert main(["journal", "verify", str(path)]) == 0
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER runs_no_update")
    conn.execute("UPDATE runs SET lane = 'other'")
    conn.commit()
    conn.close()
    assert main(["journal", "verify", str(path)]) == 1
    assert "runs row 1" in capsys.readouterr().out


def test_export_csv_and_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV export has a header and one line per event; tail prints JSON lines."""
    path = tmp_path / "j.sqlite"
    _fill(path)
    out = io.StringIO()
    assert export_csv(path, out) == 3
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("id,run,seq,at_ms") and len(lines) == 4
    assert main(["journal", "tail", str(path), "-n", "2"]) == 0
    printed = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [p["id"] for p in printed] == [2, 3]


def test_not_a_journal(tmp_path: Path) -> None:
    """Reading a file that is not a journal names the file."""
    bogus = tmp_path / "x.sqlite"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(journal_mod.JournalError, match=r"x\.sqlite"):
        verify(bogus)


def test_ring_cut_keeps_chain_verifiable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old replay data is cut at a snapshot, and verify still passes from the recorded anchor."""
    path = tmp_path / "j.sqlite"
    wall = {"now": "2000-01-01T00:00:00.000+00:00"}
    real = journal_mod._now_iso
    monkeypatch.setattr(journal_mod, "_now_iso", lambda: wall["now"] or real())
    j = Journal(path, lane="t", config_json="{}", replay_hours=1.0)
    j.record_snapshot(0, 0, "start", "{}")
    for i in range(300):
        j.record_scan(i, i * 10, "{}" if i == 0 else None, 0)
    j.record_snapshot(300, 3000, "periodic", "{}")
    wall["now"] = ""
    for i in range(300, 400):
        j.record_scan(i, i * 10, "{}" if i == 300 else None, 0)
    j.record_snapshot(400, 4000, "periodic", "{}")
    j.close()
    assert j.error is None
    snaps = read_snapshots(path)
    assert snaps[0]["seq"] == 300
    scans = list(read_scans(path))
    assert scans[0].seq >= 300 and scans[-1].seq == 399
    assert verify(path).ok


def test_writer_failure_is_reported_and_bounded(tmp_path: Path) -> None:
    """A failed writer thread shows up as .error and later records are dropped, not queued."""
    j = Journal(tmp_path / "j.sqlite", lane="t", config_json="{}")
    j._queue.put(("bogus",))
    j._thread.join(5.0)
    assert isinstance(j.error, journal_mod.JournalError)
    for i in range(100):
        j.record_scan(i, i, None, 0)
    assert j._queue.qsize() == 0
    j.close()
