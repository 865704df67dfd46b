"""A tiny scripted lane controller that drives the plant's I/O module directly.

The simulator's tests must not depend on the real core: this is the simplest
controller that follows DESIGN.md's OPEN cycle closely enough to move traffic
through the plant (entry green, amber, red, release, warn, raise, exit green,
clear, lower with reversal on presence), so physics, drivers and ground truth
can be checked end to end.
"""

from __future__ import annotations

import enum

from controller.core.types import Outputs
from controller.iomap import coils_from_outputs, inputs_from_bits
from hw_sim.io_module import IoModule

__all__ = ["ScriptedController"]


class _Phase(enum.Enum):
    READY = "ready"
    AMBER = "amber"
    INSPECTING = "inspecting"
    WARNING = "warning"
    RAISING = "raising"
    PASSING = "passing"
    LOWERING = "lowering"


class ScriptedController:
    """Call ``scan(now_ms)`` every few ms: reads inputs, writes coils and the heartbeat."""

    def __init__(self, io: IoModule, *, amber_ms: int = 3000, warn_ms: int = 1500) -> None:
        self.io = io
        self.amber_ms = amber_ms
        self.warn_ms = warn_ms
        self.phase = _Phase.READY
        self.since_ms = 0
        self.heartbeat = 0
        self.heartbeat_on = True
        self._last_release = False
        self._last_aside = False
        self._clear_since: int | None = None
        self._seen_photocell = False
        self.reversals = 0

    def _go(self, phase: _Phase, now_ms: int) -> None:
        self.phase = phase
        self.since_ms = now_ms

    def scan(self, now_ms: int) -> Outputs:
        inp = inputs_from_bits(self.io.read_discrete_inputs())
        release = inp.release_button and not self._last_release
        aside = inp.send_aside_button and not self._last_aside
        self._last_release = inp.release_button
        self._last_aside = inp.send_aside_button
        presence = inp.photocell or inp.safety_edge
        p = self.phase
        if p is _Phase.READY and inp.loop_bay:
            self._go(_Phase.AMBER, now_ms)
        elif p is _Phase.AMBER and now_ms - self.since_ms >= self.amber_ms:
            self._go(_Phase.INSPECTING, now_ms)
        elif p is _Phase.INSPECTING:
            if release:
                self._go(_Phase.WARNING, now_ms)
            elif aside or not inp.loop_bay:
                self._go(_Phase.READY, now_ms)
        elif p is _Phase.WARNING and now_ms - self.since_ms >= self.warn_ms:
            self._go(_Phase.RAISING, now_ms)
        elif p is _Phase.RAISING and inp.barrier_up:
            self._go(_Phase.PASSING, now_ms)
            self._seen_photocell = False
            self._clear_since = None
        elif p is _Phase.PASSING:
            self._seen_photocell = self._seen_photocell or inp.photocell
            clear = not presence and not inp.loop_exit and not inp.loop_bay
            gave_up = now_ms - self.since_ms >= 15_000
            if (self._seen_photocell or gave_up) and clear:
                self._clear_since = self._clear_since if self._clear_since is not None else now_ms
                if now_ms - self._clear_since >= 500:
                    self._go(_Phase.LOWERING, now_ms)
            else:
                self._clear_since = None
        elif p is _Phase.LOWERING:
            if presence:
                self.reversals += 1
                self._go(_Phase.RAISING, now_ms)
            elif inp.barrier_down:
                self._go(_Phase.READY, now_ms)
        p = self.phase
        amber = p is _Phase.AMBER
        green = p is _Phase.READY and inp.barrier_down and not inp.loop_bay
        out = Outputs(
            barrier_raise=p is _Phase.RAISING and not inp.barrier_up,
            barrier_lower=p is _Phase.LOWERING and not inp.barrier_down and not presence,
            entry_red=not (green or amber),
            entry_amber=amber,
            entry_green=green,
            exit_red=p is not _Phase.PASSING,
            exit_green=p is _Phase.PASSING,
            lane_open=True,
            lane_closed=False,
            warn=p in (_Phase.WARNING, _Phase.RAISING, _Phase.LOWERING),
            alarm=False,
        )
        self.io.write_coils(coils_from_outputs(out))
        if self.heartbeat_on:
            self.heartbeat = (self.heartbeat + 1) & 0xFFFF
            self.io.write_holding(0, [self.heartbeat])
        return out
