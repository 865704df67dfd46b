"""The site store: every lane's events exactly once, and each lane's last state.

SQLite (WAL). QoS 1 delivers at least once, and a lane resends what its broker
did not acknowledge, so the same event can arrive several times: the primary
key (site, lane, journal, id) keeps the first copy and counts the others in
``deliveries.duplicates``. ``journal`` tells apart two journals of one lane (a
replaced journal file starts its ids at 1 again). The schema is in the README.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "SiteStore", "StoreError", "read_deliveries", "read_store_events"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    site TEXT NOT NULL, lane TEXT NOT NULL, journal TEXT NOT NULL, id INTEGER NOT NULL,
    kind TEXT NOT NULL, time TEXT NOT NULL, at_ms INTEGER NOT NULL,
    run INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    historical INTEGER NOT NULL, boot TEXT NOT NULL, received TEXT NOT NULL,
    PRIMARY KEY (site, lane, journal, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lanes (
    site TEXT NOT NULL, lane TEXT NOT NULL,
    state TEXT, state_time TEXT, availability TEXT, boot TEXT, updated TEXT NOT NULL,
    PRIMARY KEY (site, lane)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    site TEXT NOT NULL, lane TEXT NOT NULL,
    received INTEGER NOT NULL, stored INTEGER NOT NULL, duplicates INTEGER NOT NULL,
    PRIMARY KEY (site, lane)
) WITHOUT ROWID;
"""


class StoreError(ValueError):
    """A message the store cannot take (the message says which field is wrong)."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class SiteStore:
    """One writer (the collector's thread; a lock guards the connection); readers may open
    their own connections at any time."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_s, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add_event(self, site: str, lane: str, payload: bytes) -> bool:
        """Store one ``event`` message (committed on return); False when it was a repeat."""
        try:
            ev = json.loads(payload)
            if not isinstance(ev, dict):
                raise StoreError("an event must be a JSON object")
            row = (
                site,
                lane,
                str(ev["journal"]),
                int(ev["id"]),
                str(ev["kind"]),
                str(ev["time"]),
                int(ev["at_ms"]),
                int(ev["run"]),
                int(ev["seq"]),
                json.dumps(ev.get("body", {}), separators=(",", ":")),
                int(bool(ev.get("historical", False))),
                str(ev.get("boot", "")),
                _now(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{site}/{lane} event: {exc!r}") from None
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            new = cur.rowcount == 1
            self._conn.execute(
                "INSERT INTO deliveries VALUES (?, ?, 1, ?, ?) ON CONFLICT(site, lane) DO UPDATE "
                "SET received = received + 1, stored = stored + excluded.stored, "
                "duplicates = duplicates + excluded.duplicates",
                (site, lane, int(new), int(not new)),
            )
            self._conn.commit()
        return new

    def set_lane(self, site: str, lane: str, leaf: str, payload: bytes) -> None:
        """Keep a lane's last ``state`` or ``availability`` message."""
        try:
            data = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise StoreError(f"{site}/{lane} {leaf}: {exc}") from None
        if not isinstance(data, dict):
            raise StoreError(f"{site}/{lane} {leaf}: must be a JSON object")
        text = json.dumps(data, separators=(",", ":"))
        now = _now()
        with self._lock:
            if leaf == "state":
                self._conn.execute(
                    "INSERT INTO lanes (site, lane, state, state_time, updated) VALUES "
                    "(?, ?, ?, ?, ?) ON CONFLICT(site, lane) DO UPDATE SET state = excluded.state, "
                    "state_time = excluded.state_time, updated = excluded.updated",
                    (site, lane, text, str(data.get("time", now)), now),
                )
            else:
                self._conn.execute(
                    "INSERT INTO lanes (site, lane, availability, boot, updated) VALUES "
                    "(?, ?, ?, ?, ?) ON CONFLICT(site, lane) DO UPDATE SET "
                    "availability = excluded.availability, boot = excluded.boot, "
                    "updated = excluded.updated",
                    (site, lane, str(data.get("status", "")), str(data.get("boot", "")), now),
                )
            self._conn.commit()


def read_store_events(path: str | Path, lane: str | None = None) -> list[dict[str, Any]]:
    """Stored events in (site, lane, journal, id) order."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=10.0)
    try:
        sql = "SELECT site, lane, journal, id, kind, time, historical FROM events"
        params: tuple[str, ...] = ()
        if lane is not None:
            sql += " WHERE lane = ?"
            params = (lane,)
        cur = conn.execute(sql + " ORDER BY site, lane, journal, id", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]
    finally:
        conn.close()


def read_deliveries(path: str | Path) -> dict[str, dict[str, int]]:
    """Per ``site/lane``: messages received, stored, and duplicates absorbed."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=10.0)
    try:
        return {
            f"{s}/{ln}": {"received": r, "stored": st, "duplicates": d}
            for s, ln, r, st, d in conn.execute("SELECT * FROM deliveries ORDER BY site, lane")
        }
    finally:
        conn.close()
