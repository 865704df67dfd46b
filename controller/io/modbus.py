"""The controller's Modbus client: the only module that imports pymodbus's client.

pymodbus changes its API between minor versions and its own retry/reconnect
logic has bitten users (pymodbus issues #1635, #1239, #2777), so the scan loop
talks to this small interface instead. Each request has its own deadline
(``asyncio.wait_for``); pymodbus's retries and automatic reconnect are switched
off, and the runtime decides when to reconnect. A reply whose function code,
transaction id, address or length does not match the request is rejected with
``BusError`` instead of being believed.

The transport is chosen by the endpoint object: ``TcpEndpoint`` now; serial
(RTU) and TLS endpoints plug in through ``_make_client`` without changing the
interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadDiscreteInputsRequest,
    WriteMultipleCoilsRequest,
)
from pymodbus.pdu.register_message import (
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

__all__ = ["BusError", "Endpoint", "ModbusIo", "TcpEndpoint"]


class BusError(Exception):
    """A Modbus request failed: timeout, lost connection, exception reply or a mismatched reply.

    ``request`` names the request (``FC2 read_discrete_inputs@0x11``); ``timeout`` is True
    when it ran out of time (the connection itself may still be good).
    """

    def __init__(self, request: str, reason: str, *, timeout: bool = False) -> None:
        self.request = request
        self.reason = reason
        self.timeout = timeout
        super().__init__(f"{request}: {reason}")


@dataclass(frozen=True, slots=True)
class TcpEndpoint:
    """Modbus TCP: a host and port (the I/O module or a gateway)."""

    host: str = "127.0.0.1"
    port: int = 502

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"


Endpoint = TcpEndpoint


def _make_client(endpoint: Endpoint, connect_timeout_s: float) -> Any:
    # retries=0 and reconnect_delay=0: pymodbus neither repeats a request nor
    # reconnects by itself (transport/transport.py: no reconnect task when the delay is 0).
    return AsyncModbusTcpClient(
        endpoint.host,
        port=endpoint.port,
        timeout=connect_timeout_s,
        retries=0,
        reconnect_delay=0,
        reconnect_delay_max=0,
        name="lanectl",
    )


class ModbusIo:
    """One Modbus connection to a lane's I/O, request by request.

    Every method raises ``BusError`` on any failure; after one that is not a
    timeout the caller should ``close()`` and ``connect()`` again.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        unit: int = 1,
        timeout_s: float = 0.05,
        connect_timeout_s: float = 1.0,
        di_base: int = 0,
        ir_base: int = 0,
        coil_base: int = 0,
        hr_base: int = 0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s: must be positive, got {timeout_s}")
        if not 0 <= unit <= 247:
            raise ValueError(f"unit: {unit} is outside 0..247")
        self.endpoint = endpoint
        self.unit = unit
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.di_base = di_base
        self.ir_base = ir_base
        self.coil_base = coil_base
        self.hr_base = hr_base
        self._client: Any = None
        self.requests = 0
        self.failures = 0

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.connected)

    async def connect(self) -> None:
        """Open the connection (bounded by ``connect_timeout_s``); raises ``BusError``."""
        self.close()
        client = _make_client(self.endpoint, self.connect_timeout_s)
        try:
            ok = await asyncio.wait_for(client.connect(), self.connect_timeout_s + 0.5)
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise BusError(f"connect {self.endpoint.describe()}", str(exc) or "timed out") from exc
        if not ok:
            client.close()
            raise BusError(f"connect {self.endpoint.describe()}", "refused or unreachable")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _execute(self, name: str, request: ModbusPDU) -> ModbusPDU:
        client = self._client
        if client is None or not client.connected:
            raise BusError(name, "not connected")
        self.requests += 1
        try:
            reply: ModbusPDU = await asyncio.wait_for(
                client.execute(False, request), self.timeout_s
            )
        except TimeoutError:
            self.failures += 1
            raise BusError(
                name, f"no reply within {self.timeout_s * 1000:.0f} ms", timeout=True
            ) from None
        except (ModbusException, OSError, asyncio.InvalidStateError) as exc:
            self.failures += 1
            raise BusError(name, f"{type(exc).__name__}: {exc}") from exc
        if reply is None:
            self.failures += 1
            raise BusError(name, "no reply")
        if reply.isError():
            self.failures += 1
            code = getattr(reply, "exception_code", "?")
            raise BusError(name, f"exception reply, code {code}")
        if reply.function_code != request.function_code:
            self.failures += 1
            raise BusError(
                name, f"reply has function {reply.function_code}, sent {request.function_code}"
            )
        if reply.transaction_id and reply.transaction_id != request.transaction_id:
            self.failures += 1
            raise BusError(
                name,
                f"reply has transaction {reply.transaction_id}, sent {request.transaction_id}",
            )
        if self.unit and reply.dev_id and reply.dev_id != self.unit:
            self.failures += 1
            raise BusError(name, f"reply from unit {reply.dev_id}, asked unit {self.unit}")
        return reply

    def _mismatch(self, name: str, what: str) -> BusError:
        self.failures += 1
        return BusError(name, what)

    async def read_discrete_inputs(self, count: int, offset: int = 0) -> list[bool]:
        """FC2: ``count`` discrete inputs from the table base (+ ``offset``)."""
        address = self.di_base + offset
        name = f"FC2 read_discrete_inputs@{address}x{count}"
        reply = await self._execute(
            name, ReadDiscreteInputsRequest(address=address, count=count, dev_id=self.unit)
        )
        bits = list(reply.bits)
        # Bits come back padded to whole bytes: anything shorter than asked is a bad reply.
        if len(bits) < count or len(bits) >= count + 8:
            raise self._mismatch(name, f"reply carries {len(bits)} bits for {count} asked")
        return [bool(b) for b in bits[:count]]

    async def read_input_registers(self, count: int, offset: int = 0) -> list[int]:
        """FC4: ``count`` input registers from the table base (+ ``offset``)."""
        address = self.ir_base + offset
        name = f"FC4 read_input_registers@{address}x{count}"
        reply = await self._execute(
            name, ReadInputRegistersRequest(address=address, count=count, dev_id=self.unit)
        )
        regs = list(reply.registers)
        if len(regs) != count:
            raise self._mismatch(name, f"reply carries {len(regs)} registers for {count} asked")
        return [int(r) for r in regs]

    async def write_coils(self, bits: Sequence[bool], offset: int = 0) -> None:
        """FC15: all ``bits`` in one request."""
        address = self.coil_base + offset
        name = f"FC15 write_coils@{address}x{len(bits)}"
        reply = await self._execute(
            name,
            WriteMultipleCoilsRequest(address=address, bits=list(bits), dev_id=self.unit),
        )
        if reply.address != address or reply.count != len(bits):
            raise self._mismatch(name, f"reply echoes {reply.count} coils at {reply.address}")

    async def write_register(self, offset: int, value: int) -> None:
        """FC6: one holding register at table base + ``offset``."""
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"value: {value} does not fit 16 bits")
        address = self.hr_base + offset
        name = f"FC6 write_register@{address}"
        reply = await self._execute(
            name, WriteSingleRegisterRequest(address=address, registers=[value], dev_id=self.unit)
        )
        echoed = list(reply.registers)
        if reply.address != address or echoed != [value]:
            raise self._mismatch(name, f"reply echoes {echoed} at {reply.address}")

    async def write_registers(self, offset: int, values: Sequence[int]) -> None:
        """FC16: consecutive holding registers from table base + ``offset``."""
        for v in values:
            if not 0 <= v <= 0xFFFF:
                raise ValueError(f"values: {v} does not fit 16 bits")
        address = self.hr_base + offset
        name = f"FC16 write_registers@{address}x{len(values)}"
        reply = await self._execute(
            name,
            WriteMultipleRegistersRequest(
                address=address, registers=list(values), dev_id=self.unit
            ),
        )
        if reply.address != address or reply.count != len(values):
            raise self._mismatch(name, f"reply echoes {reply.count} registers at {reply.address}")
