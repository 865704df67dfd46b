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
from typing import Any

__all__ = ["Ledger", "journal_max_event_id"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mqtt_acked "
    "(stream TEXT PRIMARY KEY, acked_id INTEGER NOT NULL, wall TEXT NOT NULL)"
)


class Ledger:
    """The publisher's one connection to the journal file: events to send, the cursor.

    Opened once (a connection per read would cost the lane's process a file open, a
    schema read and a GIL hand-over each time); used from worker threads one call at
    a time, never concurrently.
    """

    def __init__(self, path: str | Path, stream: str) -> None:
        self.stream = stream
        self._conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def acked(self) -> int:
        row = self._conn.execute(
            "SELECT acked_id FROM mqtt_acked WHERE stream = ?", (self.stream,)
        ).fetchone()
        return int(row[0]) if row else 0

    def write(self, acked_id: int) -> None:
        wall = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        self._conn.execute(
            "INSERT INTO mqtt_acked (stream, acked_id, wall) VALUES (?, ?, ?) "
            "ON CONFLICT(stream) DO UPDATE SET acked_id = excluded.acked_id, wall = excluded.wall "
            "WHERE excluded.acked_id > mqtt_acked.acked_id",
            (self.stream, acked_id, wall),
        )
        self._conn.commit()

    def max_event_id(self) -> int:
        row = self._conn.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    def events_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Journal events above ``after_id``, oldest first (as ``read_events_after``)."""
        cur = self._conn.execute(
            "SELECT id, run, seq, at_ms, wall, kind, body FROM events WHERE id > ? "
            "ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def journal_key(self) -> str:
        """Which journal the ids count in: the hash of its first run row (16 hex digits).

        A lane whose journal file was replaced starts its ids at 1 again; the site store
        keys events by (site, lane, journal, id) so the new ones are not taken for repeats.
        """
        row = self._conn.execute("SELECT hash FROM runs ORDER BY id LIMIT 1").fetchone()
        return str(row[0])[:16] if row else "0" * 16


def journal_max_event_id(path: str | Path) -> int:
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=5.0)
    try:
        row = conn.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)
    finally:
        conn.close()
