"""Adapters between the controller and the lane's hardware (Modbus I/O, camera capture)."""

from __future__ import annotations

__all__: list[str] = []
