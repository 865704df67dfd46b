"""A raw Modbus TCP responder in a thread of its own, with its own event loop.

The adapter's requests block their caller until the reply or the timeout, so a fake
server on the caller's loop would never get to answer: this one runs beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

__all__ = ["CLOSE", "FakeModbus", "Late", "Reply", "frame"]

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Late:
    """Bytes sent ``after_s`` after the request came (the next request waits for them)."""

    after_s: float
    data: bytes


CLOSE = object()
"""A reply that closes the connection instead of answering."""

Reply = Callable[[int, int, bytes], "bytes | Late | object | None"]
"""(transaction id, unit, PDU) of a request -> bytes, ``Late``, ``CLOSE`` or None (silence)."""


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    """An MBAP frame around ``pdu``."""
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


class FakeModbus:
    """``with FakeModbus(reply) as fake:`` serves on ``fake.port`` until the block ends.

    ``requests`` lists each request's (transaction id, unit, PDU); ``connections``
    counts the connections accepted.
    """

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self.port = 0
        self.requests: list[tuple[int, int, bytes]] = []
        self.connections = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, name="fake-modbus", daemon=True)

    def __enter__(self) -> FakeModbus:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failed:
            self._close()
            raise RuntimeError(f"fake Modbus server did not start: {self._failed}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("fake Modbus server did not stop")

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the test through __enter__
            self._failed.append(exc)
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _proto, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(length - 1)
                self.requests.append((tid, unit, pdu))
                out = self._reply(tid, unit, pdu)
                if out is CLOSE:
                    break
                if isinstance(out, Late):
                    await asyncio.sleep(out.after_s)
                    out = out.data
                if isinstance(out, bytes):
                    writer.write(out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
