"""The console's start-up error, importable without loading the console itself."""

from __future__ import annotations

__all__ = ["ConsoleError"]


class ConsoleError(Exception):
    """The console cannot start as configured (names the key or the file)."""
