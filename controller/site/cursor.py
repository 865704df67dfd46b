"""Store and forward's cursor: the last event id the broker acknowledged, kept in the journal.

A small table of its own in the journal's SQLite file (``mqtt_acked``, one row per
stream ``site/lane``) rather than an event: acknowledging an event must not make a
new event to publish. It is a delivery cursor, not a record of what happened, so it
is outside the hash chains; ``lanectl journal verify`` checks only the chained
tables and still passes. A cursor that lags (kill -9 between an acknowledgement and
its write) only means a few events are sent again, which the site store absorbs.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from pathlib import Path

__all__ = ["journal_key", "journal_max_event_id", "read_cursor", "write_cursor"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mqtt_acked "
    "(stream TEXT PRIMARY KEY, acked_id INTEGER NOT NULL, wall TEXT NOT NULL)"
)


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=5.0)
    conn.execute(_SCHEMA)
    return conn


def read_cursor(path: str | Path, stream: str) -> int:
    """The last acknowledged event id of ``stream`` (0: nothing acknowledged yet)."""
    conn = _open(Path(path))
    try:
        row = conn.execute("SELECT acked_id FROM mqtt_acked WHERE stream = ?", (stream,)).fetchone()
        conn.commit()
        return int(row[0]) if row else 0
    finally:
        conn.close()


def write_cursor(path: str | Path, stream: str, acked_id: int) -> None:
    """Move the cursor forward (never back: a late writer cannot undo a newer write)."""
    wall = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
    conn = _open(Path(path))
    try:
        conn.execute(
            "INSERT INTO mqtt_acked (stream, acked_id, wall) VALUES (?, ?, ?) "
            "ON CONFLICT(stream) DO UPDATE SET acked_id = excluded.acked_id, wall = excluded.wall "
            "WHERE excluded.acked_id > mqtt_acked.acked_id",
            (stream, acked_id, wall),
        )
        conn.commit()
    finally:
        conn.close()


def journal_max_event_id(path: str | Path) -> int:
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=5.0)
    try:
        row = conn.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)
    finally:
        conn.close()


def journal_key(path: str | Path) -> str:
    """Which journal the ids count in: the hash of its first run row (16 hex digits).

    A lane whose journal file was replaced starts its ids at 1 again; the site store
    keys events by (site, lane, journal, id) so the new ones are not taken for repeats.
    """
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=5.0)
    try:
        row = conn.execute("SELECT hash FROM runs ORDER BY id LIMIT 1").fetchone()
        return str(row[0])[:16] if row else "0" * 16
    finally:
        conn.close()
