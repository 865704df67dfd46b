"""The supervisor's own journal: every decision with its reason, every pin, hash-chained.

One SQLite file, one table. Each row's ``hash`` is SHA-256 over the previous
row's hash and this row's fields, so a row changed or removed afterwards shows
in ``verify()``. Kinds: ``start``, ``decision`` (open/close, reason, figures,
the command id sent), ``pin`` (who pinned which lane, and how).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["DecisionLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    wall TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    lane TEXT NOT NULL,
    body TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""
_GENESIS = "0" * 64


def _digest(prev: str, row_id: int, wall: str, at_ms: int, kind: str, lane: str, body: str) -> str:
    text = json.dumps([prev, row_id, wall, at_ms, kind, lane, body], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DecisionLog:
    """Append-only; one writer (the supervisor)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def append(self, at_ms: int, kind: str, lane: str, body: dict[str, Any]) -> int:
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        wall = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        with self._conn:
            last = self._conn.execute("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1")
            row = last.fetchone()
            row_id, prev = (1, _GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
            digest = _digest(prev, row_id, wall, at_ms, kind, lane, text)
            self._conn.execute(
                "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row_id, wall, at_ms, kind, lane, text, prev, digest),
            )
        return row_id

    def last_id(self) -> int:
        """The newest row's id (0 when empty); ids run 1, 2, 3... without gaps."""
        row = self._conn.execute("SELECT MAX(id) FROM entries").fetchone()
        return int(row[0] or 0)

    def rows(self, kind: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT id, wall, at_ms, kind, lane, body FROM entries WHERE id > ?"
        args: list[Any] = [after]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        cur = self._conn.execute(sql + " ORDER BY id", args)
        return [
            {"id": i, "wall": w, "at_ms": a, "kind": k, "lane": ln, "body": json.loads(b)}
            for i, w, a, k, ln, b in cur
        ]

    def verify(self) -> str:
        """ "" when the chain is whole, else the first broken row."""
        prev = _GENESIS
        cur = self._conn.execute(
            "SELECT id, wall, at_ms, kind, lane, body, prev, hash FROM entries ORDER BY id"
        )
        expected_id = 1
        for row_id, wall, at_ms, kind, lane, body, row_prev, digest in cur:
            if row_id != expected_id:
                return f"row {expected_id}: missing"
            if row_prev != prev or digest != _digest(prev, row_id, wall, at_ms, kind, lane, body):
                return f"row {row_id}: hash does not match"
            prev = digest
            expected_id += 1
        return ""
