"""One scan's view of the lane (presence computed once) and its scratch (changes, events)."""

from __future__ import annotations

from controller.core.lane.names import FAULT_PHOTOCELL, MECHANICAL_FAULTS, Trigger
from controller.core.lane.state import LaneState
from controller.core.presence import bay_occupied, camera_barrier
from controller.core.types import (
    CameraHealth,
    Command,
    Event,
    EventValue,
    Inputs,
    LaneConfig,
    Mode,
)

__all__ = ["View"]


class View:
    """What this scan's inputs say about the lane, each fact computed once.

    It is also the scan's scratch (changes to the state, events, faults latched), mutable
    and never escaping ``step``. The raw facts (bay, camera, limits) are set from the
    inputs; what lies under the boom also reads the photocell latched blind, which
    crossings may latch in this very scan, so ``settle`` sets it once crossings have run.
    The guards read the view, with the mode, the crossing and the commands of this scan.
    """

    __slots__ = (
        "bay",
        "cam_barrier",
        "cam_ok",
        "changes",
        "clear",
        "cmds",
        "config",
        "crossed",
        "cycle",
        "down",
        "events",
        "faults_added",
        "faults_seen",
        "halt",
        "inputs",
        "mode",
        "now",
        "photocell",
        "state",
        "still_ms",
        "up",
    )

    def __init__(self, state: LaneState, inputs: Inputs, now: int) -> None:
        self.now = now
        self.changes: dict[str, object] = {}
        self.events: list[Event] = []
        self.faults_added: list[str] = []
        self.faults_seen: list[str] = []
        """Every fault whose cause was seen this scan, latched before or not."""
        self.halt = False
        """A mechanical fault was seen this scan (latched now or before): stop the boom."""
        self.state = state
        self.inputs = inputs
        self.config: LaneConfig = state.config
        self.cam_ok = inputs.camera.health is CameraHealth.OK
        self.cam_barrier = camera_barrier(inputs)
        self.bay = bay_occupied(inputs)
        """Bay occupied: the bay loop or the healthy camera's bay zone."""
        self.still_ms = inputs.camera.bay_still_ms if self.cam_ok else None
        """The bay zone's standstill from a healthy camera; None: the loop rule decides."""
        up, down = inputs.barrier_up, inputs.barrier_down
        self.up = up and not down
        self.down = down and not up
        self.cmds: dict[Trigger, Command] = {}
        # Set by ``settle`` (photocell, clear) and before the CYCLE and REVERSAL rows
        # are walked (mode, cycle, crossed).
        self.photocell: bool
        self.clear: bool
        self.mode: Mode
        self.cycle: bool
        self.crossed: bool

    def settle(self) -> None:
        """Set what is under the boom, after crossings (a blind photocell counts as occupied)."""
        s, i, sc = self.state, self.inputs, self
        self.photocell = (
            i.photocell or FAULT_PHOTOCELL in s.faults or FAULT_PHOTOCELL in sc.faults_added
        )
        self.clear = not (self.photocell or i.safety_edge or self.cam_barrier)

    def emit(self, kind: str, **data: EventValue) -> None:
        self.events.append(Event.make(kind, self.now, **data))

    def fault(self, state: LaneState, name: str) -> None:
        if name in MECHANICAL_FAULTS:
            self.halt = True
        if name not in self.faults_seen:
            self.faults_seen.append(name)
        if name not in state.faults and name not in self.faults_added:
            self.faults_added.append(name)
            self.emit("fault_latched", fault=name)
