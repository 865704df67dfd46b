"""The controller's Modbus client: the only module that imports pymodbus's client.

pymodbus changes its API between minor versions and its own retry/reconnect
logic has bitten users (pymodbus issues #1635, #1239, #2777), so the scan loop
talks to this small interface instead. Requests go through pymodbus's
synchronous clients: the scan thread's event loop serves only the scan, and a
blocking request costs less than half the CPU of the asyncio client's (FC2 on
loopback: 46 against 105 us). The methods stay coroutines, so the runtime
awaits them as before; a request runs to completion inside the call.

Each request has its own deadline: every wait for reply bytes ends at what is
left of ``timeout_s``. pymodbus's retries are off, and its reconnect before a
request is never reached: a request on a closed connection fails here, and the
runtime decides when to reconnect. A reply whose function code, transaction
id, unit, address or length does not match the request is rejected with
``BusError`` instead of being believed. Connecting runs in a worker thread
(``asyncio.to_thread``), and so do the requests after it until one has been
answered: a reconnect waiting on a dead link, or on a gateway that accepts
the connection for a device that does not answer, leaves the scans running
beside it.

After a failed request a late reply, or the tail of one, may still come. On
TCP and TLS the transaction id tells it apart, and what waits unread when the
next request starts is discarded first. RTU frames carry no transaction id, so
a reply that comes after its request timed out would be taken as the answer
to the next request (pymodbus PR #2636: "can only be avoided with a
sufficiently large timeout"). On a serial line, after a timeout or a
mismatched reply, the next request therefore waits one more timeout first, as
libmodbus's protocol error recovery does: a late reply arrives while nothing
is asked and is dropped. A reconnect needs no such wait: reopening the port
discards what came while it was closed, and the runtime's backoff is longer
than a timeout.

The transport is chosen by the endpoint object: ``TcpEndpoint``,
``RtuEndpoint`` (a serial line) or ``TlsEndpoint`` (Modbus/TCP Security, with
a client certificate: the I/O side must know who writes its coils). Only
``_make_client`` differs between them; the requests and checks are the same.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.client import (
    ModbusBaseSyncClient,
    ModbusSerialClient,
    ModbusTcpClient,
    ModbusTlsClient,
)
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadDiscreteInputsRequest,
    WriteMultipleCoilsRequest,
)
from pymodbus.pdu.register_message import (
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

__all__ = ["BusError", "Endpoint", "ModbusIo", "RtuEndpoint", "TcpEndpoint", "TlsEndpoint"]

# pymodbus logs its own failures ("No response received ...") through the standard
# library, which the controller leaves unconfigured: Python's last-resort handler printed
# them as bare lines among the structured log's JSON lines. Each failure reaches that log
# as a BusError, named, so pymodbus's own lines are dropped.
logging.getLogger("pymodbus").addHandler(logging.NullHandler())


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


PARITIES = ("N", "E", "O")


@dataclass(frozen=True, slots=True)
class RtuEndpoint:
    """Modbus RTU on a serial line: the device and its line settings."""

    device: str
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __post_init__(self) -> None:
        if not self.device:
            raise ValueError("device: a serial device path is needed for RTU")
        if self.baudrate <= 0:
            raise ValueError(f"baudrate: must be positive, got {self.baudrate}")
        if self.parity not in PARITIES:
            raise ValueError(f"parity: {self.parity!r} is not one of {PARITIES}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stopbits: {self.stopbits} is not 1 or 2")
        if self.bytesize not in (7, 8):
            raise ValueError(f"bytesize: {self.bytesize} is not 7 or 8")

    def describe(self) -> str:
        return f"rtu://{self.device}?{self.baudrate}{self.parity}{self.stopbits}"


@dataclass(frozen=True, slots=True)
class TlsEndpoint:
    """Modbus/TCP Security: host and port, the CA that signed the I/O side's certificate,
    and this controller's own certificate and key (PEM files)."""

    host: str
    port: int
    cafile: str
    certfile: str
    keyfile: str

    def describe(self) -> str:
        return f"tls://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context (server certificate and host name checked) that
        presents our certificate; a file that cannot be loaded is named in ``ValueError``."""
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cafile: cannot load {self.cafile}: {exc}") from exc
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"certfile/keyfile: cannot load {self.certfile} / {self.keyfile}: {exc}"
            ) from exc
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


Endpoint = TcpEndpoint | RtuEndpoint | TlsEndpoint


class _Bounded(ModbusBaseSyncClient):
    """A pymodbus sync client whose waits for reply bytes end at the request's deadline
    (pymodbus alone waits a whole timeout again after every chunk that comes)."""

    deadline = 0.0
    timed_out = False
    """The last request's reply had not come, whole, by its deadline."""

    def arm(self, timeout_s: float) -> None:
        """Start a request: its deadline is ``timeout_s`` from now."""
        self.deadline = time.monotonic() + timeout_s
        self.timed_out = False
        # The transaction manager gives up by its own copy of the parameters.
        self.transaction.comm_params.timeout_connect = timeout_s

    def recv(self, size: int | None) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            return b""
        self.comm_params.timeout_connect = left
        data: bytes = super().recv(size)  # type: ignore[safe-super]
        if not data:
            self.timed_out = True
        return data

    def close(self) -> None:
        super().close()  # type: ignore[no-untyped-call]


class _TcpClient(_Bounded, ModbusTcpClient):
    def drain(self) -> None:
        """Discard what waits unread in the socket: a late reply or the tail of one."""
        sock = self.socket
        if sock is None:
            return
        sock.setblocking(False)
        try:
            while select.select([sock], [], [], 0)[0] or (
                isinstance(sock, ssl.SSLSocket) and sock.pending()
            ):
                if not sock.recv(4096):
                    return  # the peer closed: the request will say so
        except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            return  # a TLS record not yet whole: nothing more to read now


class _TlsClient(_TcpClient, ModbusTlsClient):
    def connect(self) -> bool:
        """Open and verify the server. pymodbus's own connect names no server to the
        context, which a verifying context refuses; here a failure raises with its reason."""
        if self.socket:
            return True
        params = self.comm_params
        if params.sslctx is None:
            raise ssl.SSLError("no TLS context")
        sock = socket.create_connection((params.host, params.port), timeout=params.timeout_connect)
        try:
            self.socket = params.sslctx.wrap_socket(sock, server_hostname=params.host)
        except BaseException:
            sock.close()
            raise
        return True


class _SerialClient(_Bounded, ModbusSerialClient):
    def drain(self) -> None:
        """Discard what came on the line and was not read."""
        if self.socket is not None:
            self.socket.reset_input_buffer()


_Client = _TcpClient | _TlsClient | _SerialClient


def _make_client(endpoint: Endpoint, connect_timeout_s: float) -> _Client:
    # retries=0: pymodbus never repeats a request; reconnect_delay=0: nor reconnects.
    if isinstance(endpoint, RtuEndpoint):
        return _SerialClient(
            endpoint.device,
            baudrate=endpoint.baudrate,
            parity=endpoint.parity,
            stopbits=endpoint.stopbits,
            bytesize=endpoint.bytesize,
            timeout=connect_timeout_s,
            retries=0,
            reconnect_delay=0,
            reconnect_delay_max=0,
            name="lanectl",
        )
    if isinstance(endpoint, TlsEndpoint):
        try:
            ctx = endpoint.ssl_context()
        except ValueError as exc:
            raise BusError(f"connect {endpoint.describe()}", str(exc)) from exc
        return _TlsClient(
            endpoint.host,
            port=endpoint.port,
            sslctx=ctx,
            timeout=connect_timeout_s,
            retries=0,
            reconnect_delay=0,
            reconnect_delay_max=0,
            name="lanectl",
        )
    return _TcpClient(
        endpoint.host,
        port=endpoint.port,
        timeout=connect_timeout_s,
        retries=0,
        reconnect_delay=0,
        reconnect_delay_max=0,
        name="lanectl",
    )


class _Opening:
    """A client's connect in a worker thread, which its caller may give up on (timeout,
    cancellation): whichever side finishes last closes the client, so no socket or port
    is left open behind an abandoned connect."""

    def __init__(self, client: _Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._done = False
        self._abandoned = False

    def run(self) -> bool:
        try:
            return bool(self._client.connect())
        finally:
            with self._lock:
                self._done = True
                if self._abandoned:
                    self._client.close()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if self._done:
                self._client.close()


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
        self._client: _Client | None = None
        self._serial = isinstance(endpoint, RtuEndpoint)
        self._resync = False
        """RTU: a late reply may still be on the line; wait it out before the next request."""
        self._stale = False
        """A request failed: discard what waits unread before the next one."""
        self._answered = False
        """A request on this connection has been answered: requests run on the caller's loop."""
        self.requests = 0
        self.failures = 0

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection in a worker thread, bounded by ``connect_timeout_s``, so the
        caller's event loop runs on meanwhile; raises ``BusError``."""
        self.close()
        self._resync = self._stale = self._answered = False
        what = f"connect {self.endpoint.describe()}"
        client = _make_client(self.endpoint, self.connect_timeout_s)
        opening = _Opening(client)
        try:
            ok = await asyncio.wait_for(
                asyncio.to_thread(opening.run), self.connect_timeout_s + 0.5
            )
        except (TimeoutError, OSError, ModbusException) as exc:
            opening.abandon()
            raise BusError(what, str(exc) or "timed out") from exc
        except BaseException:
            opening.abandon()
            raise
        if not ok:
            opening.abandon()
            raise BusError(what, "refused or unreachable")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _execute(self, name: str, request: ModbusPDU) -> ModbusPDU:
        if self._answered:
            return self._request(name, request)
        reply = await asyncio.to_thread(self._request, name, request)
        self._answered = True
        return reply

    def _request(self, name: str, request: ModbusPDU) -> ModbusPDU:
        """One request to completion, in the calling thread."""
        client = self._client
        if client is None or not client.connected:
            # pymodbus would reconnect by itself inside the request; the runtime decides.
            raise BusError(name, "not connected")
        if self._resync:
            self._resync = False
            time.sleep(self.timeout_s)
        self.requests += 1
        try:
            if self._stale:
                self._stale = False
                client.drain()
            client.arm(self.timeout_s)
            reply: ModbusPDU = client.execute(False, request)
        except ModbusIOException as exc:
            if client.timed_out or time.monotonic() >= client.deadline:
                raise self._mismatch(
                    name, f"no reply within {self.timeout_s * 1000:.0f} ms", timeout=True
                ) from None
            raise self._mismatch(name, f"{type(exc).__name__}: {exc}") from exc
        except (ModbusException, OSError) as exc:
            raise self._mismatch(name, f"{type(exc).__name__}: {exc}") from exc
        if reply is None:
            raise self._mismatch(name, "no reply")
        if reply.isError():
            code = getattr(reply, "exception_code", "?")
            raise self._mismatch(name, f"exception reply, code {code}")
        if reply.function_code != request.function_code:
            raise self._mismatch(
                name, f"reply has function {reply.function_code}, sent {request.function_code}"
            )
        if reply.transaction_id and reply.transaction_id != request.transaction_id:
            raise self._mismatch(
                name,
                f"reply has transaction {reply.transaction_id}, sent {request.transaction_id}",
            )
        if self.unit and reply.dev_id and reply.dev_id != self.unit:
            raise self._mismatch(name, f"reply from unit {reply.dev_id}, asked unit {self.unit}")
        return reply

    def _mismatch(self, name: str, what: str, *, timeout: bool = False) -> BusError:
        """Count a failed request; the next one first discards what came late, and on a
        serial line waits out late replies before that."""
        self.failures += 1
        self._stale = True
        if self._serial:
            self._resync = True
        return BusError(name, what, timeout=timeout)

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

    async def read_coils(self, count: int, offset: int = 0) -> list[bool]:
        """FC1: ``count`` coils as the I/O module drives them (diagnostics and tests; the
        scan loop never reads its outputs back)."""
        address = self.coil_base + offset
        name = f"FC1 read_coils@{address}x{count}"
        reply = await self._execute(
            name, ReadCoilsRequest(address=address, count=count, dev_id=self.unit)
        )
        bits = list(reply.bits)
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
