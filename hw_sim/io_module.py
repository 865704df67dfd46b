"""The lane's remote I/O module as logic, with no transport.

A real checkpoint lane has a PLC or remote I/O block between the controller
and the field: it holds the coil image, reports the inputs and, on its own,
applies the fail state when the controller's heartbeat stops (S9, S10). This
class is that block. The Modbus server (hw_sim.server) exposes it over TCP with
exactly the addresses of controller.iomap; a model-in-the-loop run calls it
directly. It also carries the latency probe the HIL benchmark reads.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from controller.core.types import FailMode, Outputs
from controller.iomap import (
    COILS,
    DISCRETE_INPUTS,
    HOLDING_REGISTERS,
    INPUT_REGISTERS,
    IO_STATUS_WATCHDOG_TRIPPED,
    coils_from_outputs,
    outputs_from_coils,
)

__all__ = ["DEFAULT_WATCHDOG_MS", "IoAddressError", "IoModule"]

DEFAULT_WATCHDOG_MS = 500

_N_DI = len(DISCRETE_INPUTS)
_N_COILS = len(COILS)
_N_HR = len(HOLDING_REGISTERS)
_N_IR = len(INPUT_REGISTERS)
_DI_PHOTOCELL = 2
_DI_UP = 4
_DI_DOWN = 5
_DI_EDGE = 6
_HR_HEARTBEAT = 0
_HR_WATCHDOG = 1


class IoAddressError(ValueError):
    """A request reaches outside a table of the register map (Modbus exception 2)."""


def _check_range(table: str, size: int, address: int, count: int) -> None:
    if count < 1 or address < 0 or address + count > size:
        raise IoAddressError(
            f"{table}: addresses {address}..{address + count - 1} outside 0..{size - 1}"
        )


class IoModule:
    """Coil image, inputs, holding registers, the S9 watchdog and a latency probe.

    Time is simulated: the plant calls ``set_inputs`` and ``tick`` every step;
    the heartbeat's age is measured in those steps. ``watchdog_ms`` 0 (written
    to HR1 or given here) disables the watchdog.
    """

    def __init__(
        self,
        *,
        fail_mode: FailMode = FailMode.SECURE,
        watchdog_ms: int = DEFAULT_WATCHDOG_MS,
        probe: bool = True,
        probe_capacity: int = 1_000_000,
    ) -> None:
        if not 0 <= watchdog_ms <= 0xFFFF:
            raise ValueError(f"watchdog_ms: {watchdog_ms} is outside 0..65535")
        self.fail_mode = fail_mode
        self.now_ms = 0
        self.tripped = False
        self.trips = 0
        self.io_cycle = 0
        self.barrier_position = 0
        self._di = [False] * _N_DI
        self._coils = [False] * _N_COILS
        self._hr = [0] * _N_HR
        self._hr[_HR_WATCHDOG] = watchdog_ms
        self._heartbeat_ms = 0
        self._outputs: Outputs | None = None
        """Cache of effective_outputs, cleared whenever coils, inputs or the trip change."""
        self.probe = probe
        self._primed = False
        """The first set_inputs is power-on, not an edge."""
        self._edges_unread: list[int] = []
        self._edges_read: list[int] = []
        self._samples: deque[int] = deque(maxlen=probe_capacity)

    # -- the controller's side (Modbus function codes) -------------------------

    def read_discrete_inputs(self) -> list[bool]:
        """FC2: the 11 inputs in register-map order."""
        if self.probe and self._edges_unread:
            self._edges_read.extend(self._edges_unread)
            self._edges_unread.clear()
        return list(self._di)

    def read_coils(self) -> list[bool]:
        """FC1: the outputs the module is driving (the fail state while tripped)."""
        if self.tripped:
            return coils_from_outputs(self.effective_outputs())
        return list(self._coils)

    def read_input_registers(self) -> list[int]:
        """FC4: io_status, barrier_position (0..1000), io_cycle (wraps at 65536)."""
        status = IO_STATUS_WATCHDOG_TRIPPED if self.tripped else 0
        return [status, self.barrier_position, self.io_cycle & 0xFFFF]

    def write_coils(self, bits: Sequence[bool], address: int = 0) -> None:
        """FC15 (FC5 with one bit): set coils from ``address`` on."""
        _check_range("coils", _N_COILS, address, len(bits))
        if self.probe and self._edges_read:
            now = time.monotonic_ns()
            self._samples.extend(now - t for t in self._edges_read)
            self._edges_read.clear()
        for i, bit in enumerate(bits):
            self._coils[address + i] = bool(bit)
        self._outputs = None

    def write_holding(self, address: int, values: Sequence[int]) -> None:
        """FC6 / FC16. A changed heartbeat (HR0) feeds the watchdog and re-arms it."""
        _check_range("holding registers", _N_HR, address, len(values))
        for i, value in enumerate(values):
            if not 0 <= int(value) <= 0xFFFF:
                raise ValueError(f"holding register {address + i}: {value} is not a 16-bit value")
        for i, value in enumerate(values):
            reg = address + i
            if reg == _HR_HEARTBEAT and int(value) != self._hr[reg]:
                self._heartbeat_ms = self.now_ms
                if self.tripped:
                    self.tripped = False
                    self._outputs = None
            self._hr[reg] = int(value)

    def read_holding(self, address: int, count: int) -> list[int]:
        """FC3."""
        _check_range("holding registers", _N_HR, address, count)
        return self._hr[address : address + count]

    def read_input_range(self, address: int, count: int) -> list[int]:
        _check_range("input registers", _N_IR, address, count)
        return self.read_input_registers()[address : address + count]

    def read_discrete_range(self, address: int, count: int) -> list[bool]:
        _check_range("discrete inputs", _N_DI, address, count)
        return self.read_discrete_inputs()[address : address + count]

    def read_coil_range(self, address: int, count: int) -> list[bool]:
        _check_range("coils", _N_COILS, address, count)
        return self.read_coils()[address : address + count]

    # -- the field's side (called by the plant) --------------------------------

    @property
    def watchdog_ms(self) -> int:
        return self._hr[_HR_WATCHDOG]

    @property
    def heartbeat(self) -> int:
        return self._hr[_HR_HEARTBEAT]

    def set_inputs(self, bits: Sequence[bool]) -> None:
        """The field inputs as the module sees them this step; records edges for the probe."""
        if len(bits) != _N_DI:
            raise ValueError(f"bits: expected {_N_DI} discrete inputs, got {len(bits)}")
        new = [bool(b) for b in bits]
        if new != self._di:
            if self.probe and self._primed:
                self._edges_unread.append(time.monotonic_ns())
            self._di = new
            self._outputs = None
        self._primed = True

    def tick(self, now_ms: int, barrier_position: int) -> None:
        """Advance the module's clock: watchdog check, cycle counter, boom position register."""
        self.now_ms = now_ms
        self.io_cycle += 1
        self.barrier_position = max(0, min(1000, int(barrier_position)))
        wd = self._hr[_HR_WATCHDOG]
        if wd and not self.tripped and now_ms - self._heartbeat_ms >= wd:
            self.tripped = True
            self.trips += 1
            self._outputs = None

    def effective_outputs(self) -> Outputs:
        """What the module drives: the coil image, or the fail state (S10) while tripped."""
        if self._outputs is None:
            self._outputs = self._compute_outputs()
        return self._outputs

    def _compute_outputs(self) -> Outputs:
        if not self.tripped:
            return outputs_from_coils(self._coils)
        presence = self._di[_DI_PHOTOCELL] or self._di[_DI_EDGE]
        go_up = self.fail_mode is FailMode.SAFE or presence
        raise_ = go_up and not self._di[_DI_UP]
        lower = not go_up and not self._di[_DI_DOWN]
        return Outputs(
            barrier_raise=raise_,
            barrier_lower=lower,
            entry_red=True,
            entry_amber=False,
            entry_green=False,
            exit_red=True,
            exit_green=False,
            lane_open=False,
            lane_closed=True,
            warn=raise_ or lower,
            alarm=True,
        )

    # -- latency probe -----------------------------------------------------------

    def edge_to_coil_ns(self) -> list[int]:
        """Per input edge: ns to the first coil write after a read that followed the edge."""
        return list(self._samples)

    def reset_probe(self) -> None:
        self._edges_unread.clear()
        self._edges_read.clear()
        self._samples.clear()
