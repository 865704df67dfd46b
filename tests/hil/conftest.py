"""Fixtures shared by the hardware-in-the-loop tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hil.harness import Proc, stop_proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes a test starts; each is stopped afterwards, the last started first."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            stop_proc(proc)
