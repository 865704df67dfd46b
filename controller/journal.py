"""The lane's journal: what happened, what every scan saw, and what survives a restart.

One SQLite file per lane, in WAL mode so readers (``lanectl journal tail``,
the demo's report) never block the controller. Three kinds of tables:

- append-only (``runs``, ``events``, ``passages``, ``persisted``, ``run_stats``,
  ``cuts``): triggers refuse UPDATE and DELETE, and every row carries the
  sha256 of the previous row's hash plus its own content, so an edited or
  removed row is found by ``verify``. ``passages`` holds every barrier
  crossing (S11), ``persisted`` the core's restart state (latched faults, count).
- a replay ring (``recording``, ``snapshots``): per-scan (inputs, now_ms,
  coils) in compressed chunks, and the encoded core state at the start of
  each run and every ``snapshot_s``. Only whole spans older than
  ``replay_hours`` are cut, always at a snapshot, and each cut is itself an
  append-only row holding the hash the remaining ring starts from, so the
  chain stays checkable after truncation.

Writes happen on a writer thread fed by a queue, so the scan loop never waits
for the disk; events are committed as soon as they arrive, scans in chunks.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import hashlib
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "APPEND_ONLY_TABLES",
    "GENESIS",
    "PASSAGE_KINDS",
    "SHELL_EVENT_KINDS",
    "Journal",
    "JournalError",
    "ReplayResult",
    "ScanRecord",
    "VerifyResult",
    "export_csv",
    "read_events",
    "read_events_after",
    "read_events_since",
    "read_last_persisted",
    "read_last_persisted_row",
    "read_passages",
    "read_run_stats",
    "read_runs",
    "read_scans",
    "read_snapshots",
    "replay",
    "verify",
]

GENESIS = "0" * 64
PASSAGE_KINDS = frozenset({"vehicle_passed", "tailgate", "run_through"})
SHELL_EVENT_KINDS = frozenset(
    {
        "remote_command",
        "api_command",
        "login",
        "login_failed",
        "login_throttled",
        "logout",
        "user_command",
        "alarm_acknowledged",
        "forbidden",
        "csrf_refused",
    }
)
"""Events the shell journals beside the core's (who sent a command over MQTT or the API,
what people did at the console): the replay re-runs the core only, so it does not expect them."""
APPEND_ONLY_TABLES = ("runs", "events", "passages", "persisted", "run_stats", "cuts")
RING_TABLES = ("snapshots", "recording")
SCHEMA_VERSION = "1"

_COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("started", "lane", "config", "first_seq"),
    "events": ("run", "seq", "at_ms", "wall", "kind", "body"),
    "passages": ("run", "seq", "at_ms", "wall", "kind", "event_id", "body"),
    "persisted": ("run", "seq", "wall", "body"),
    "run_stats": ("run", "wall", "body"),
    "cuts": ("tbl", "first_id", "anchor", "wall"),
    "snapshots": ("run", "seq", "at_ms", "wall", "kind", "state"),
    "recording": ("run", "first_seq", "last_seq", "wall", "body"),
}

_TYPES = {
    "run": "INTEGER NOT NULL",
    "seq": "INTEGER NOT NULL",
    "first_seq": "INTEGER NOT NULL",
    "last_seq": "INTEGER NOT NULL",
    "at_ms": "INTEGER NOT NULL",
    "event_id": "INTEGER NOT NULL",
    "first_id": "INTEGER NOT NULL",
    "body": "TEXT NOT NULL",
}

CHUNK_SCANS = 100
CHUNK_SECONDS = 0.5
HANDOFF_SCANS = 50
HANDOFF_SECONDS = 0.25


class JournalError(Exception):
    """The journal file is missing, not a journal, or cannot be written."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _row_hash(prev: str, table: str, values: Sequence[object]) -> str:
    canon: list[object] = []
    for v in values:
        canon.append(hashlib.sha256(v).hexdigest() if isinstance(v, bytes) else v)
    text = json.dumps([table, *canon], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + text).encode("ascii")).hexdigest()


def _schema() -> str:
    parts = ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"]
    for table, cols in _COLUMNS.items():
        coldefs = ", ".join(f"{c} {_TYPES.get(c, 'TEXT NOT NULL')}" for c in cols)
        if table == "recording":
            coldefs = coldefs.replace("body TEXT NOT NULL", "body BLOB NOT NULL")
        parts.append(
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, {coldefs}, "
            "prev TEXT NOT NULL, hash TEXT NOT NULL);"
        )
        parts.append(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
        )
        if table in APPEND_ONLY_TABLES:
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
            )
    parts.append("CREATE INDEX IF NOT EXISTS events_seq ON events(seq);")
    parts.append("CREATE INDEX IF NOT EXISTS events_wall ON events(wall);")
    parts.append("CREATE INDEX IF NOT EXISTS recording_seq ON recording(first_seq);")
    return "\n".join(parts)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        if not path.exists():
            raise JournalError(f"{path}: no such journal file")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"{path}: not a lanectl journal ({exc})") from None
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_schema())
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )
        conn.commit()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise JournalError(f"{path}: cannot open as a journal ({exc})") from None
    return conn


class _Chains:
    """Last hash per table, and the insert that extends a chain."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.last: dict[str, str] = {}
        for table in _COLUMNS:
            row = conn.execute(f"SELECT hash FROM {table} ORDER BY id DESC LIMIT 1").fetchone()
            self.last[table] = row[0] if row else GENESIS

    def insert(self, table: str, values: Sequence[object], row_id: int | None = None) -> int:
        prev = self.last[table]
        cols = _COLUMNS[table]
        if row_id is None:
            row_id = self.next_id(table)
        digest = _row_hash(prev, table, [row_id, *values])
        self.conn.execute(
            f"INSERT INTO {table} (id, {', '.join(cols)}, prev, hash) "
            f"VALUES (?, {', '.join('?' for _ in cols)}, ?, ?)",
            (row_id, *values, prev, digest),
        )
        self.last[table] = digest
        return row_id

    def next_id(self, table: str) -> int:
        row = self.conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()
        return int(row[0] or 0) + 1


@dataclass(slots=True)
class _Chunk:
    first_seq: int = -1
    last_seq: int = -1
    rows: list[list[object]] = field(default_factory=list)
    started: float = 0.0


class Journal:
    """The controller's writer. Open once per process; ``close()`` drains and commits."""

    def __init__(
        self,
        path: str | Path,
        *,
        lane: str,
        config_json: str,
        replay_hours: float = 24.0,
    ) -> None:
        self.path = Path(path)
        self.replay_hours = replay_hours
        conn = _connect(self.path)
        self._conn = conn
        self._chains = _Chains(conn)
        row = conn.execute(
            "SELECT MAX(m) FROM (SELECT MAX(last_seq) AS m FROM recording "
            "UNION ALL SELECT MAX(seq) FROM events UNION ALL SELECT MAX(seq) FROM snapshots)"
        ).fetchone()
        self.first_seq = int(row[0]) + 1 if row and row[0] is not None else 0
        self.run_id = self._chains.insert("runs", [_now_iso(), lane, config_json, self.first_seq])
        conn.commit()
        # Event ids are handed out here, in the caller's thread, so whoever records an event
        # (the scan loop, the console's audit) knows its journal id at once: the event
        # stream's SSE ids and the MQTT store-and-forward cursor are these ids.
        self._next_event_id = self._chains.next_id("events")
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._chunk = _Chunk()
        self._scans: list[list[object]] = []
        self._scans_since = 0.0
        self._error: BaseException | None = None
        self._closed = False
        self.rows_written = 0
        self.lock = threading.RLock()
        """Held by every ``record_*``: the scan thread and the event loop (console audit, MQTT
        commands) both record; a caller that must publish an event's id in journal order holds
        it across ``record_event`` and the publish."""
        self._thread = threading.Thread(target=self._writer, name="journal", daemon=True)
        self._thread.start()

    # ---- called from the scan loop (non-blocking) ----

    @property
    def error(self) -> BaseException | None:
        """The writer thread's failure, if any (the lane keeps running; status shows it)."""
        return self._error

    def _put(self, op: tuple[Any, ...]) -> None:
        # A dead writer must not turn into unbounded memory: drop, the error is in status.
        if self._error is None and not self._closed:
            self._queue.put(op)

    def _handoff(self) -> None:
        if self._scans:
            self._put(("scans", self._scans))
            self._scans = []

    def record_scan(self, seq: int, now_ms: int, inputs_json: str | None, coils: int) -> None:
        """One scan: ``inputs_json`` None means 'same inputs as the previous scan'.

        Scans are handed to the writer in batches: waking the writer thread every
        scan would cost the scan loop a GIL hand-over each time.
        """
        with self.lock:
            if not self._scans:
                self._scans_since = time.monotonic()
            self._scans.append([seq, now_ms, inputs_json, coils])
            if (
                len(self._scans) >= HANDOFF_SCANS
                or time.monotonic() - self._scans_since >= HANDOFF_SECONDS
            ):
                self._handoff()

    def record_event(self, seq: int, at_ms: int, kind: str, body: str) -> int:
        """Queue one event; returns its journal id (unique and increasing, gap-free)."""
        with self.lock:
            eid = self._next_event_id
            self._next_event_id += 1
            self._handoff()
            self._put(("event", eid, seq, at_ms, kind, body, _now_iso()))
            return eid

    def record_snapshot(self, seq: int, at_ms: int, kind: str, state_json: str) -> None:
        """Core state *before* scan ``seq``; kind is 'start' (a run begins) or 'periodic'."""
        with self.lock:
            self._handoff()
            self._put(("snapshot", seq, at_ms, kind, state_json, _now_iso()))

    def record_persisted(self, seq: int, body: str) -> None:
        with self.lock:
            self._handoff()
            self._put(("persisted", seq, body, _now_iso()))

    def record_stats(self, stats: dict[str, object]) -> None:
        with self.lock:
            self._handoff()
            self._put(("stats", json.dumps(stats, sort_keys=True), _now_iso()))

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush everything queued and close the file (bounded wait)."""
        with self.lock:
            if self._closed:
                return
            self._handoff()
            self._closed = True
            self._queue.put(("close",))
        self._thread.join(timeout_s)

    # ---- writer thread ----

    def _writer(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported through .error
            self._error = exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.commit()
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _loop(self) -> None:
        conn = self._conn
        while True:
            try:
                item = self._queue.get(timeout=CHUNK_SECONDS / 2)
            except queue.Empty:
                if self._chunk.rows and time.monotonic() - self._chunk.started >= CHUNK_SECONDS:
                    self._flush_chunk()
                    conn.commit()
                continue
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            stop = False
            for op in batch:
                if op[0] == "close":
                    stop = True
                    continue
                self._apply(op)
            if self._chunk.rows and (
                stop
                or len(self._chunk.rows) >= CHUNK_SCANS
                or time.monotonic() - self._chunk.started >= CHUNK_SECONDS
            ):
                self._flush_chunk()
            conn.commit()
            if stop:
                return

    def _apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        chains = self._chains
        if kind == "scans":
            chunk = self._chunk
            for row in op[1]:
                if not chunk.rows:
                    chunk.first_seq = row[0]
                    chunk.started = time.monotonic()
                chunk.last_seq = row[0]
                chunk.rows.append(row)
        elif kind == "event":
            # The scans leading to an event go to disk before it.
            if self._chunk.rows:
                self._flush_chunk()
            _, eid, seq, at_ms, ev_kind, body, wall = op
            chains.insert("events", [self.run_id, seq, at_ms, wall, ev_kind, body], row_id=eid)
            if ev_kind in PASSAGE_KINDS:
                chains.insert("passages", [self.run_id, seq, at_ms, wall, ev_kind, eid, body])
            self.rows_written += 1
        elif kind == "snapshot":
            if self._chunk.rows:
                self._flush_chunk()
            _, seq, at_ms, snap_kind, state, wall = op
            chains.insert("snapshots", [self.run_id, seq, at_ms, wall, snap_kind, state])
            self._cut_ring()
        elif kind == "persisted":
            _, seq, body, wall = op
            chains.insert("persisted", [self.run_id, seq, wall, body])
        elif kind == "stats":
            _, body, wall = op
            chains.insert("run_stats", [self.run_id, wall, body])
        else:
            raise JournalError(f"unknown journal operation {kind!r}")

    def _flush_chunk(self) -> None:
        chunk = self._chunk
        body = zlib.compress(json.dumps(chunk.rows, separators=(",", ":")).encode("utf-8"), 6)
        self._chains.insert(
            "recording", [self.run_id, chunk.first_seq, chunk.last_seq, _now_iso(), body]
        )
        self.rows_written += 1
        self._chunk = _Chunk()

    def _cut_ring(self) -> None:
        """Drop replay data older than ``replay_hours``, cutting at the newest old snapshot."""
        cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=self.replay_hours)
        row = self._conn.execute(
            "SELECT id, seq FROM snapshots WHERE wall <= ? ORDER BY id DESC LIMIT 1",
            (cutoff.isoformat(timespec="milliseconds"),),
        ).fetchone()
        if row is None:
            return
        snap_id, snap_seq = int(row[0]), int(row[1])
        first = self._conn.execute("SELECT MIN(id) FROM snapshots").fetchone()[0]
        if first is not None and int(first) < snap_id:
            self._cut("snapshots", "id < ?", snap_id)
        rec = self._conn.execute(
            "SELECT MIN(id) FROM recording WHERE first_seq >= ?", (snap_seq,)
        ).fetchone()[0]
        if rec is not None:
            older = self._conn.execute(
                "SELECT COUNT(*) FROM recording WHERE id < ?", (int(rec),)
            ).fetchone()[0]
            if older:
                self._cut("recording", "id < ?", int(rec))

    def _cut(self, table: str, where: str, first_id: int) -> None:
        anchor = self._conn.execute(
            f"SELECT prev FROM {table} WHERE id = ?", (first_id,)
        ).fetchone()
        if anchor is None:
            return
        self._conn.execute(f"DELETE FROM {table} WHERE {where}", (first_id,))
        self._chains.insert("cuts", [table, first_id, anchor[0], _now_iso()])


# ---------------------------------------------------------------- readers


@dataclass(frozen=True, slots=True)
class ScanRecord:
    run: int
    seq: int
    now_ms: int
    inputs_json: str
    coils: int


def _select(path: str | Path, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """The rows of one read-only query, each a dict keyed by the query's column names."""
    conn = _connect(Path(path), readonly=True)
    try:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]
    finally:
        conn.close()


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    return _select(path, "SELECT id AS run, started, lane, config, first_seq FROM runs ORDER BY id")


def read_events(
    path: str | Path, *, limit: int | None = None, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Events oldest first (the last ``limit`` ones when given)."""
    sql = "SELECT id, run, seq, at_ms, wall, kind, body FROM events"
    params: list[object] = []
    if kinds:
        sql += f" WHERE kind IN ({', '.join('?' for _ in kinds)})"
        params.extend(kinds)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = _select(path, sql, params)
    rows.reverse()
    return rows


def read_events_after(
    path: str | Path, after_id: int, *, limit: int = 1000
) -> list[dict[str, Any]]:
    """Events with an id above ``after_id``, oldest first (stream resume, store and forward)."""
    return _select(
        path,
        "SELECT id, run, seq, at_ms, wall, kind, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )


def read_events_since(
    path: str | Path,
    since_wall: str | None = None,
    *,
    after_seq: int | None = None,
    kinds: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Events oldest first, journaled at or after ``since_wall`` (ISO UTC, as written) and
    at or after scan ``after_seq``, of ``kinds`` when given (restart recovery, statistics)."""
    where: list[str] = []
    params: list[object] = []
    if since_wall is not None:
        where.append("wall >= ?")
        params.append(since_wall)
    if after_seq is not None:
        where.append("seq >= ?")
        params.append(after_seq)
    if kinds:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(kinds)
    sql = "SELECT id, run, seq, at_ms, wall, kind, body FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return _select(path, sql + " ORDER BY id", params)


def read_passages(path: str | Path) -> list[dict[str, Any]]:
    return _select(
        path, "SELECT id, run, seq, at_ms, wall, kind, event_id, body FROM passages ORDER BY id"
    )


def read_run_stats(path: str | Path) -> list[dict[str, Any]]:
    conn = _connect(Path(path), readonly=True)
    try:
        out: list[dict[str, Any]] = []
        for run, body in conn.execute("SELECT run, body FROM run_stats ORDER BY id"):
            stats = json.loads(body)
            stats["run"] = run
            out.append(stats)
        return out
    finally:
        conn.close()


def read_last_persisted(path: str | Path) -> str | None:
    """The core's last persisted state (JSON) or None for a new journal."""
    p = Path(path)
    if not p.exists():
        return None
    conn = _connect(p, readonly=True)
    try:
        row = conn.execute("SELECT body FROM persisted ORDER BY id DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None
    finally:
        conn.close()


def read_last_persisted_row(path: str | Path) -> dict[str, Any] | None:
    """The last ``persisted`` row (``seq``, ``body``), or None when there is none yet."""
    p = Path(path)
    if not p.exists():
        return None
    rows = _select(p, "SELECT id, run, seq, body FROM persisted ORDER BY id DESC LIMIT 1")
    return rows[0] if rows else None


def read_snapshots(path: str | Path) -> list[dict[str, Any]]:
    conn = _connect(Path(path), readonly=True)
    try:
        rows = conn.execute("SELECT id, run, seq, at_ms, kind, state FROM snapshots ORDER BY seq")
        return [
            {"id": r[0], "run": r[1], "seq": r[2], "at_ms": r[3], "kind": r[4], "state": r[5]}
            for r in rows
        ]
    finally:
        conn.close()


def read_scans(path: str | Path) -> Iterator[ScanRecord]:
    """Every recorded scan in order, with 'same as before' inputs filled in."""
    conn = _connect(Path(path), readonly=True)
    try:
        last_inputs = ""
        last_run = -1
        for run, body in conn.execute("SELECT run, body FROM recording ORDER BY first_seq"):
            rows = json.loads(zlib.decompress(body).decode("utf-8"))
            for seq, now_ms, inputs_json, coils in rows:
                if run != last_run:
                    last_inputs = ""
                    last_run = run
                if inputs_json is not None:
                    last_inputs = inputs_json
                if not last_inputs:
                    raise JournalError(f"{path}: scan {seq} has no inputs to repeat")
                yield ScanRecord(int(run), int(seq), int(now_ms), last_inputs, int(coils))
    finally:
        conn.close()


def export_csv(path: str | Path, out: TextIO, *, table: str = "events") -> int:
    """Write ``events`` or ``passages`` as CSV; returns the number of rows."""
    if table == "events":
        rows = read_events(path)
        cols = ["id", "run", "seq", "at_ms", "wall", "kind", "body"]
    elif table == "passages":
        rows = read_passages(path)
        cols = ["id", "run", "seq", "at_ms", "wall", "kind", "event_id", "body"]
    else:
        raise ValueError(f"table: {table!r} is not events or passages")
    writer = csv.writer(out)
    writer.writerow(cols)
    for row in rows:
        writer.writerow([row[c] for c in cols])
    return len(rows)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows: int
    problem: str | None = None
    """The first bad row: table, id and what is wrong."""


def verify(path: str | Path) -> VerifyResult:
    """PRAGMA integrity_check, then every hash chain from its start (or its last cut)."""
    p = Path(path)
    conn = _connect(p, readonly=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if [r[0] for r in result] != ["ok"]:
            return VerifyResult(False, 0, f"integrity_check: {'; '.join(r[0] for r in result)}")
        anchors: dict[str, str] = {}
        total = 0
        for table in (*APPEND_ONLY_TABLES, *RING_TABLES):
            cols = _COLUMNS[table]
            prev = anchors.get(table, GENESIS)
            expected_id: int | None = 1 if table in APPEND_ONLY_TABLES else None
            cur = conn.execute(f"SELECT id, {', '.join(cols)}, prev, hash FROM {table} ORDER BY id")
            for row in cur:
                row_id = int(row[0])
                values = list(row[:-2])
                row_prev, row_hash = row[-2], row[-1]
                where = f"{table} row {row_id}"
                if expected_id is not None and row_id != expected_id:
                    return VerifyResult(
                        False, total, f"{table} row {expected_id}: missing (next row is {row_id})"
                    )
                if row_prev != prev:
                    return VerifyResult(False, total, f"{where}: does not follow the row before it")
                if _row_hash(row_prev, table, values) != row_hash:
                    return VerifyResult(False, total, f"{where}: content does not match its hash")
                prev = row_hash
                expected_id = row_id + 1
                total += 1
            if table == "cuts":
                for tbl, _first, anchor in conn.execute(
                    "SELECT tbl, first_id, anchor FROM cuts ORDER BY id"
                ):
                    anchors[str(tbl)] = str(anchor)
        return VerifyResult(True, total, None)
    finally:
        conn.close()


# ---------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class ReplayResult:
    identical: bool
    scans: int
    """Scans re-run and compared."""
    divergence: str | None = None
    """The first divergent scan (run, seq, now_ms) and what differs."""


def _coil_names() -> tuple[str, ...]:
    from controller.iomap import COILS

    return tuple(r.name for r in COILS)


_SCAN_CACHE_FIELDS = frozenset({"settled", "wake_ms", "last_inputs", "last_outputs"})
"""Lane state fields that only say what a scan may skip, never what it decides."""


def _same_older_state(replayed: str, recorded: str) -> bool:
    """A snapshot recorded before lane state fields were added matches the replayed state
    when every field it has agrees, except the scan cache: the added fields change when a
    scan may be skipped, never the outputs or events, which replay compares scan by scan."""
    new, old = json.loads(replayed), json.loads(recorded)
    new_lane, old_lane = new.get("lane"), old.get("lane")
    if not isinstance(new_lane, dict) or not isinstance(old_lane, dict):
        return False
    new_cfg, old_cfg = new_lane.get("config"), old_lane.get("config")
    if not isinstance(new_cfg, dict) or not isinstance(old_cfg, dict):
        return False
    # Older: the lane state or its config (a setting added since) lacks fields, none extra.
    if not (set(old_lane) <= set(new_lane) and set(old_cfg) <= set(new_cfg)):
        return False
    if set(old_lane) == set(new_lane) and set(old_cfg) == set(new_cfg):
        return False
    if new.get("safety") != old.get("safety"):
        return False
    if any(new_cfg[key] != value for key, value in old_cfg.items()):
        return False
    return all(
        new_lane[key] == value
        for key, value in old_lane.items()
        if key not in _SCAN_CACHE_FIELDS and key != "config"
    )


def replay(
    path: str | Path, *, from_ms: int | None = None, to_ms: int | None = None
) -> ReplayResult:
    """Re-run ``core.scan`` over the recording and compare outputs, events and snapshots.

    Each run restarts from its 'start' snapshot (or, with ``from_ms``, from the
    last snapshot at or before it); only scans with ``from_ms <= now_ms <= to_ms``
    are compared.
    """
    from controller.core import codec
    from controller.core import scan as core

    names = _coil_names()
    snapshots: dict[int, dict[str, Any]] = {s["seq"]: s for s in read_snapshots(path)}
    starts: dict[int, int] = {}
    for start in sorted(snapshots.values(), key=lambda s: s["seq"]):
        if from_ms is None or start["at_ms"] <= from_ms:
            if from_ms is None and start["run"] in starts:
                continue
            starts[start["run"]] = start["seq"]
    events: dict[int, list[str]] = {}
    core_kinds = frozenset(core.EVENT_KINDS)
    for ev in read_events(path):
        # Only the core's own events are compared: who-did-what events (the console's
        # logins, commands and acknowledgements, SHELL_EVENT_KINDS) share the chain only.
        if ev["kind"] not in core_kinds:
            continue
        events.setdefault(int(ev["seq"]), []).append(str(ev["body"]))

    state: Any = None
    run = -1
    compared = 0
    last_seq = -1
    for rec in read_scans(path):
        if rec.run != run:
            run, state, last_seq = rec.run, None, -1
        where = f"run {rec.run} scan {rec.seq} (now_ms {rec.now_ms})"
        snap = snapshots.get(rec.seq)
        if state is None:
            if snap is None or starts.get(rec.run) != rec.seq:
                continue
            state = codec.decode_state(snap["state"])
        else:
            if last_seq + 1 != rec.seq:
                return ReplayResult(False, compared, f"{where}: scans {last_seq + 1}.. are missing")
            if snap is not None and snap["run"] == rec.run:
                replayed = codec.encode_state(state)
                if replayed != snap["state"] and not _same_older_state(replayed, snap["state"]):
                    return ReplayResult(
                        False, compared, f"{where}: state differs from the {snap['kind']} snapshot"
                    )
        last_seq = rec.seq
        if to_ms is not None and rec.now_ms > to_ms:
            state = None
            continue
        inputs = codec.decode_inputs(rec.inputs_json)
        result = core.scan(state, inputs, rec.now_ms)
        state = result.state
        if from_ms is not None and rec.now_ms < from_ms:
            continue
        compared += 1
        coils = 0
        for i, name in enumerate(names):
            coils |= int(bool(getattr(result.outputs, name))) << i
        if coils != rec.coils:
            diffs = [
                f"{name} recorded {bool(rec.coils >> i & 1)} replayed {bool(coils >> i & 1)}"
                for i, name in enumerate(names)
                if (rec.coils ^ coils) >> i & 1
            ]
            return ReplayResult(False, compared, f"{where}: outputs differ: {', '.join(diffs)}")
        got = [codec.encode_event(e) for e in result.events]
        want = events.get(rec.seq, [])
        if got != want:
            return ReplayResult(
                False, compared, f"{where}: events differ: recorded {want} replayed {got}"
            )
    if compared == 0:
        return ReplayResult(False, 0, "no recorded scans in the requested range")
    return ReplayResult(True, compared, None)
