"""The simulated lane behind a real Modbus TCP server (pymodbus 3.16, asyncio).

The datastore is a thin class that calls ``IoModule`` directly with the
protocol address from the wire, so the addresses are exactly those of
``controller.iomap`` (pymodbus's own data blocks shift them by one). Each
connection gets a request handler that parses the MBAP header itself, counts
requests and malformed requests, and applies the bus faults of the scenario
(delay, no reply, disconnect, garbage reply, exception reply) before or instead
of answering. The plant runs in real time (times ``speed``) in the same event
loop, so no lock is needed between the Modbus side and the physics.

TCP on loopback is the default; Modbus/TCP Security (TLS, same framing) and
RTU over a serial line (e.g. one end of a socat pty pair) are options. With a
client CA, the TLS server demands and verifies a client certificate, and logs
every refused handshake (``sim_tls_refused``): asyncio itself reports a failed
server-side handshake only in debug mode.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer, ModbusTlsServer
from pymodbus.server.requesthandler import ServerRequestHandler

from controller.logs import get_logger
from hw_sim.faults import FaultKind, FaultSpec
from hw_sim.io_module import IoAddressError, IoModule
from hw_sim.plant import Plant

__all__ = ["BusCounters", "SerialPort", "SimServer", "TlsFiles"]

_MBAP = struct.Struct(">HHHB")
_MAX_ADU_LENGTH = 254
"""Largest MBAP length field a Modbus TCP ADU can carry (unit id + 253-byte PDU)."""


@dataclass(slots=True)
class BusCounters:
    """What the server saw on the bus, for tests, logs and the demo."""

    connections: int = 0
    requests: int = 0
    malformed: int = 0
    replies: int = 0
    exceptions: int = 0
    delayed: int = 0
    dropped: int = 0
    garbage: int = 0
    disconnects: int = 0
    tls_refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class _IoContext(ModbusServerContext):
    """Datastore over IoModule: function code and wire address go straight to the module."""

    def __init__(self, io: IoModule) -> None:
        # Deliberately no super().__init__: the base class builds pymodbus data
        # blocks (with their address shift) that this context replaces.
        self.io = io
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}

    def device_ids(self) -> list[int]:
        return [0]

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        io = self.io
        try:
            if func_code in (1, 5, 15):
                return io.read_coil_range(address, count)
            if func_code == 2:
                return io.read_discrete_range(address, count)
            if func_code in (3, 6, 16, 22, 23):
                return io.read_holding(address, count)
            if func_code == 4:
                return io.read_input_range(address, count)
        except IoAddressError:
            return ExcCodes.ILLEGAL_ADDRESS
        return ExcCodes.ILLEGAL_FUNCTION

    async def async_setValues(
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        io = self.io
        try:
            if func_code in (5, 15):
                io.write_coils([bool(v) for v in values], address)
                return None
            if func_code in (6, 16, 22, 23):
                io.write_holding(address, [int(v) for v in values])
                return None
        except IoAddressError:
            return ExcCodes.ILLEGAL_ADDRESS
        except ValueError:
            return ExcCodes.ILLEGAL_VALUE
        return ExcCodes.ILLEGAL_FUNCTION


class _FaultyHandler(ServerRequestHandler):
    """One connection: parse ADUs, count, inject bus faults, answer."""

    sim: SimServer

    def callback_connected(self) -> None:
        super().callback_connected()
        self.sim.counters.connections += 1
        fault = self.sim.bus_fault()
        if fault is not None and fault.kind is FaultKind.DISCONNECT:
            self.sim.counters.disconnects += 1
            self.close()

    def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        used = 0
        counters = self.sim.counters
        while len(data) - used >= _MBAP.size:
            tid, pid, length, unit = _MBAP.unpack_from(data, used)
            if pid != 0 or not 2 <= length <= _MAX_ADU_LENGTH:
                counters.malformed += 1
                return len(data)
            end = used + 6 + length
            if len(data) < end:
                break
            payload = data[used + _MBAP.size : end]
            used = end
            counters.requests += 1
            pdu = self.server.decoder.decode(payload)
            if pdu is None:
                counters.malformed += 1
                counters.exceptions += 1
                reply = ExceptionResponse(payload[0] & 0x7F, ExcCodes.ILLEGAL_FUNCTION, unit, tid)
                self.pdu_send(reply, addr)
                continue
            pdu.dev_id = unit
            pdu.transaction_id = tid
            task = asyncio.ensure_future(self._answer(pdu, addr))
            self.sim.tasks.add(task)
            task.add_done_callback(self.sim.tasks.discard)
        return used

    async def _answer(self, pdu: ModbusPDU, addr: tuple[Any, ...] | None) -> None:
        sim = self.sim
        counters = sim.counters
        fault = sim.bus_fault()
        if fault is not None:
            kind = fault.kind
            if kind is FaultKind.BUS_DROP:
                counters.dropped += 1
                return
            if kind is FaultKind.DISCONNECT:
                counters.disconnects += 1
                self.close()
                return
            if kind is FaultKind.EXCEPTION_REPLY:
                counters.exceptions += 1
                reply = ExceptionResponse(
                    pdu.function_code, fault.code, pdu.dev_id, pdu.transaction_id
                )
                self.pdu_send(reply, addr)
                return
            if kind is FaultKind.GARBAGE_REPLY:
                counters.garbage += 1
                self.send(_garbage(pdu, counters.garbage), addr)
                return
            if kind is FaultKind.BUS_DELAY:
                counters.delayed += 1
                await asyncio.sleep(fault.delay_ms / 1000.0)
                if not self.transport:
                    return
        try:
            response = await pdu.datastore_update(sim.context, pdu.dev_id)
        except Exception:
            response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        if isinstance(response, ExceptionResponse):
            counters.exceptions += 1
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        counters.replies += 1
        if self.transport:
            self.pdu_send(response, addr)


def _garbage(pdu: ModbusPDU, n: int) -> bytes:
    """Three kinds of broken reply, in turn: bad protocol id, lying length, truncated PDU."""
    tid = pdu.transaction_id & 0xFFFF
    fc = pdu.function_code & 0xFF
    variant = n % 3
    if variant == 0:
        return _MBAP.pack(tid, 0x4242, 3, pdu.dev_id) + bytes([fc, 0])
    if variant == 1:
        return _MBAP.pack(tid, 0, 200, pdu.dev_id) + bytes([fc, 2, 0])
    return _MBAP.pack(tid, 0, 2, pdu.dev_id) + bytes([fc])


class _LaneServer(ModbusTcpServer):
    sim: SimServer

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _FaultyHandler(  # type: ignore[no-untyped-call]
            self, self.trace_packet, self.trace_pdu, self.trace_connect
        )
        handler.sim = self.sim
        return handler


class _LaneTlsServer(ModbusTlsServer):
    """Modbus/TCP Security: the same MBAP framing inside TLS, so the same handler."""

    sim: SimServer

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _FaultyHandler(  # type: ignore[no-untyped-call]
            self, self.trace_packet, self.trace_pdu, self.trace_connect
        )
        handler.sim = self.sim
        return handler


def _refusal_logger(counters: BusCounters) -> type[ssl.SSLObject]:
    """An SSLObject class that counts and logs a failed handshake before asyncio drops it."""
    log = get_logger(component="sim")

    class _Logged(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as exc:
                counters.tls_refused += 1
                log.warning("sim_tls_refused", reason=exc.reason or str(exc), error=str(exc))
                raise

    return _Logged


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Server certificate chain and private key (PEM) for Modbus/TCP Security.

    ``cafile``: the CA of client certificates; when set, a client must present a
    certificate it signed or the handshake is refused (and logged).
    """

    certfile: str
    keyfile: str
    cafile: str | None = None


@dataclass(frozen=True, slots=True)
class SerialPort:
    """An RTU line: device path and line settings."""

    device: str
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1


class SimServer:
    """The plant in real time behind a Modbus TCP server on loopback.

    ``await start()`` binds (port 0 picks a free one) and returns the real
    address; ``await run()`` runs the plant until ``stop()``. Bus faults come
    from the plant's fault schedule, in simulated time.
    """

    def __init__(
        self,
        plant: Plant,
        *,
        host: str = "127.0.0.1",
        port: int = 5020,
        speed: float = 1.0,
        tick_ms: float = 1.0,
        tls: TlsFiles | None = None,
        serial: SerialPort | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed: must be positive, got {speed}")
        if tls is not None and serial is not None:
            raise ValueError("tls, serial: choose TCP (optionally with TLS) or RTU, not both")
        self.tls = tls
        self.serial = serial
        self.plant = plant
        self.host = host
        self.port = port
        self.speed = speed
        self.tick_ms = tick_ms
        self.counters = BusCounters()
        self.context = _IoContext(plant.io)
        self.tasks: set[asyncio.Future[None]] = set()
        self._server: _LaneServer | _LaneTlsServer | ModbusSerialServer | None = None
        self._stopping = False
        self._last_bus_kind: FaultKind | None = None

    @property
    def io(self) -> IoModule:
        return self.plant.io

    def bus_fault(self) -> FaultSpec | None:
        return self.plant.active_faults.bus

    @property
    def address(self) -> str:
        """Where the server listens: ``HOST:PORT`` for TCP / TLS, the device path for RTU."""
        return self.serial.device if self.serial else f"{self.host}:{self.port}"

    async def start(self) -> tuple[str, int]:
        """Bind and serve in the background; returns (host, real port), or (device, 0) for RTU."""
        if self.serial is not None:
            return await self._start_serial(self.serial)
        server: _LaneServer | _LaneTlsServer
        if self.tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ctx.load_cert_chain(self.tls.certfile, self.tls.keyfile)
            except (OSError, ssl.SSLError) as exc:
                raise OSError(
                    f"tls: cannot load cert {self.tls.certfile} / key {self.tls.keyfile}: {exc}"
                ) from exc
            if self.tls.cafile is not None:
                try:
                    ctx.load_verify_locations(self.tls.cafile)
                except (OSError, ssl.SSLError) as exc:
                    raise OSError(f"tls: cannot load client CA {self.tls.cafile}: {exc}") from exc
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.sslobject_class = _refusal_logger(self.counters)
            server = _LaneTlsServer(self.context, address=(self.host, self.port), sslctx=ctx)
        else:
            server = _LaneServer(self.context, address=(self.host, self.port))
        server.sim = self
        await server.serve_forever(background=True)
        self._server = server
        sockets = server.transport.sockets  # type: ignore[attr-defined]
        self.port = int(sockets[0].getsockname()[1])
        return self.host, self.port

    async def _start_serial(self, line: SerialPort) -> tuple[str, int]:
        """RTU over a serial line: pymodbus's own handler, counting requests by PDU.

        Bus faults are a TCP matter here (delay, drop, disconnect, garbage and
        exceptions are injected by the TCP handler); on RTU the register map,
        the watchdog and every field fault apply.
        """

        def trace_pdu(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
            if sending:
                self.counters.replies += 1
                if isinstance(pdu, ExceptionResponse):
                    self.counters.exceptions += 1
            else:
                self.counters.requests += 1
            return pdu

        server = ModbusSerialServer(
            self.context,
            framer=FramerType.RTU,
            port=line.device,
            baudrate=line.baudrate,
            parity=line.parity,
            stopbits=line.stopbits,
            trace_pdu=trace_pdu,
        )
        await server.serve_forever(background=True)
        if not server.transport:
            raise OSError(f"serial: cannot open {line.device}")
        self._server = server
        return line.device, 0

    def close_connections(self) -> None:
        if self._server is None or self.serial is not None:
            return
        for conn in list(self._server.active_connections.values()):
            conn.close()

    async def run(self) -> None:
        """Advance the plant with the wall clock until ``stop``; drop connections on disconnect."""
        plant = self.plant
        t0 = time.monotonic()
        sim0 = plant.now_ms
        while not self._stopping:
            target = sim0 + int((time.monotonic() - t0) * 1000.0 * self.speed)
            if target > plant.now_ms:
                plant.run_until(target)
            fault = plant.active_faults.bus
            kind = fault.kind if fault is not None else None
            if kind is FaultKind.DISCONNECT and self._last_bus_kind is not FaultKind.DISCONNECT:
                self.counters.disconnects += 1
                self.close_connections()
            self._last_bus_kind = kind
            await asyncio.sleep(self.tick_ms / 1000.0)

    def stop(self) -> None:
        self._stopping = True

    async def shutdown(self) -> None:
        self.stop()
        for task in list(self.tasks):
            task.cancel()
        if self._server is not None:
            self.close_connections()
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
