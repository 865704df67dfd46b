"""Replay of a journal recorded before lane state fields were added: still identical."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from controller.core import codec
from controller.journal import read_snapshots, replay
from tests.runtime.test_runtime import _runtime

ADDED = ("witness",)
"""Lane state fields a journal recorded before the faulty-sensor crossings does not have."""


def _record(tmp_path: Path) -> Path:
    """A run with a camera-less vehicle through the bay and a periodic snapshot mid-way."""
    rt, fake = _runtime(tmp_path)

    async def go() -> None:
        assert await rt._try_connect()
        for k in range(80):
            fake.bits[1] = 20 <= k < 50  # a vehicle on the bay loop
            if k == 40:
                state = codec.encode_state(rt.state)
                rt.journal.record_snapshot(rt.seq, k * 10, "periodic", state)
            await rt.scan_once(k * 10)

    asyncio.run(go())
    rt.journal.close()
    return rt.journal.path


def _edit_snapshots(path: Path, edit: dict[str, object], drop: tuple[str, ...]) -> None:
    """Drop ``drop`` from every snapshot's lane state; apply ``edit`` to the periodic one."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER snapshots_no_update")
    for row_id, kind, text in conn.execute("SELECT id, kind, state FROM snapshots").fetchall():
        state = json.loads(text)
        for key in drop:
            state["lane"].pop(key)
        if kind == "periodic":
            state["lane"].update(edit)
        conn.execute("UPDATE snapshots SET state = ? WHERE id = ?", (json.dumps(state), row_id))
    conn.commit()
    conn.close()


def test_snapshots_without_the_added_fields_replay_identical(tmp_path: Path) -> None:
    """Snapshots as an older controller wrote them (no witness) replay
    identical from the start and from the periodic snapshot."""
    path = _record(tmp_path)
    _edit_snapshots(path, {}, ADDED)
    assert all("witness" not in s["state"] for s in read_snapshots(path))
    whole = replay(path)
    assert whole.identical, whole.divergence
    part = replay(path, from_ms=400)
    assert part.identical and part.scans > 10


def test_older_snapshot_that_disagrees_is_still_a_divergence(tmp_path: Path) -> None:
    """An older periodic snapshot whose own fields differ from the replay (the count)
    diverges: only the added fields and the scan cache are left out of the comparison."""
    path = _record(tmp_path)
    _edit_snapshots(path, {"count": 5}, ADDED)
    result = replay(path)
    assert not result.identical
    assert result.divergence is not None and "snapshot" in result.divergence
