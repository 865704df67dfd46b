"""Hostile input at the controller's edges: frames, Modbus replies and control API requests.

Each must end in a named error the caller handles (ValueError naming the
argument, BusError naming the request, a 4xx JSON error naming the problem) or
be accepted; never another exception, a hang or a crash. For Modbus, a raw
asyncio TCP server in the test plays a hostile I/O module that answers every
request with bytes chosen by hypothesis; the scan loop behind it must turn that
into a latched bus fault and keep scanning.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from controller.api import COMMAND_NAMES, build_app
from controller.config import parse_config
from controller.io.modbus import BusError, ModbusIo, TcpEndpoint
from controller.runtime import Runtime
from controller.vision.detector import Detector
from controller.vision.kernel import frame_stats
from controller.vision.zones import Zone
from tests.runtime.api_sink import MemorySink
from tests.runtime.fake_modbus import FakeModbus, frame

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- frames ----------------------------------------------------------------------------

H, W = 48, 64
ZONES = (
    Zone("bay", ((4.0, 4.0), (30.0, 4.0), (30.0, 40.0), (4.0, 40.0))),
    Zone("barrier", ((34.0, 4.0), (60.0, 4.0), (60.0, 40.0), (34.0, 40.0))),
)

bad_frames = st.one_of(
    # wrong dtype, any shape
    hnp.arrays(
        dtype=st.sampled_from([np.uint16, np.int8, np.float32, np.float64, np.bool_, np.int64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=80),
    ),
    # right dtype, wrong number of dimensions (colour frames, flat buffers, scalars)
    hnp.arrays(dtype=np.uint8, shape=st.sampled_from([(), (H * W,), (H, W, 3), (1, H, W)])),
    # right dtype and rank, wrong size or empty
    hnp.arrays(
        dtype=np.uint8,
        shape=st.tuples(st.integers(0, 80), st.integers(0, 80)).filter(lambda s: s != (H, W)),
    ),
    # not an array at all
    st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=4)),
)


@FUZZ
@given(frame=bad_frames)
def test_detector_names_bad_frames(frame: Any) -> None:
    """Any frame that is not H x W uint8 grey is a ValueError naming the frame; the detector
    still takes a good frame afterwards."""
    detector = Detector(ZONES, H, W)
    with pytest.raises(ValueError, match="frame"):
        detector.process(frame, 0)
    good = np.full((H, W), 90, dtype=np.uint8)
    assert detector.process(good, 10).t_ms == 10


@FUZZ
@given(frame=bad_frames, which=st.sampled_from(["frame", "reference", "previous"]))
def test_kernel_names_bad_frames(frame: Any, which: str) -> None:
    """The compiled kernel's wrapper rejects a bad array in any position with a ValueError
    naming that argument, before any pixel is read."""
    arrays: dict[str, Any] = {
        "frame": np.zeros((H, W), np.uint8),
        "reference": np.zeros((H, W), np.uint8),
        "previous": np.zeros((H, W), np.uint8),
    }
    arrays[which] = frame
    with pytest.raises(ValueError, match=which):
        frame_stats(
            arrays["frame"],
            arrays["reference"],
            arrays["previous"],
            cell=8,
            ref_threshold=20,
            motion_threshold=20,
        )


@FUZZ
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    cell=st.integers(-3, 300),
    order=st.sampled_from(["C", "F"]),
)
def test_kernel_odd_layouts(height: int, width: int, cell: int, order: str) -> None:
    """Odd sizes, Fortran order and out-of-range cells: a result or a named ValueError."""
    values = (np.arange(height * width).reshape(height, width) % 251).astype(np.uint8)
    frame = np.asfortranarray(values) if order == "F" else values
    try:
        stats = frame_stats(
            frame,
            np.zeros((height, width), np.uint8),
            np.zeros((height, width), np.uint8),
            cell=cell,
            ref_threshold=0,
            motion_threshold=0,
        )
    except ValueError as exc:
        assert any(word in str(exc) for word in ("cell", "contiguous", "frame")), exc
        return
    assert stats.ref_count.sum() == np.count_nonzero(frame)


# ---- Modbus replies ---------------------------------------------------------------------


def _hostile_server(reply: Callable[[bytes], bytes]) -> FakeModbus:
    """A TCP 'I/O module' in a thread of its own answering each request with
    ``reply(request)``: the adapter's requests block their caller until the reply or the
    timeout, so a server on the caller's loop would never get to answer."""
    return FakeModbus(lambda tid, unit, pdu: reply(frame(tid, unit, pdu)))


def _echo_header(data: bytes, body: bytes, *, length: int | None = None) -> bytes:
    """An MBAP header echoing the request's transaction and unit, then ``body``."""
    tid = data[:2] if len(data) >= 2 else b"\x00\x00"
    unit = data[6:7] if len(data) >= 7 else b"\x01"
    size = len(body) + 1 if length is None else length
    return tid + b"\x00\x00" + struct.pack(">H", size & 0xFFFF) + unit + body


replies = st.one_of(
    # pure noise
    st.binary(min_size=0, max_size=300).map(lambda b: lambda _req, b=b: b),
    # a plausible header with a random PDU (right transaction, right unit)
    st.binary(min_size=0, max_size=40).map(lambda b: lambda req, b=b: _echo_header(req, b)),
    # a header whose length field lies
    st.tuples(st.binary(max_size=20), st.integers(0, 0xFFFF)).map(
        lambda t: lambda req, t=t: _echo_header(req, t[0], length=t[1])
    ),
    # an exception reply with any code for the request's function
    st.integers(0, 255).map(
        lambda code: (
            lambda req, code=code: _echo_header(
                req, bytes([(req[7] if len(req) > 7 else 2) | 0x80, code])
            )
        )
    ),
)


@FUZZ
@given(reply=replies)
def test_modbus_adapter_survives_any_reply(reply: Callable[[bytes], bytes]) -> None:
    """Every request against a hostile server returns a value of the right size or raises
    BusError naming the request, within its timeout."""

    async def go(port: int) -> None:
        io = ModbusIo(TcpEndpoint("127.0.0.1", port), timeout_s=0.1, connect_timeout_s=1.0)
        try:
            await io.connect()
            calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("FC2", lambda: io.read_discrete_inputs(11)),
                ("FC4", lambda: io.read_input_registers(3)),
                ("FC15", lambda: io.write_coils([True, False] * 5 + [True])),
                ("FC6", lambda: io.write_register(0, 7)),
            ]
            for fc, call in calls:
                if not io.connected:
                    await io.connect()
                try:
                    result = await asyncio.wait_for(call(), 2.0)
                except BusError as exc:
                    assert exc.request.startswith(fc), exc
                    io.close()
                    continue
                if fc == "FC2":
                    assert len(result) == 11
                elif fc == "FC4":
                    assert len(result) == 3
        finally:
            io.close()

    with _hostile_server(reply) as server:
        asyncio.run(asyncio.wait_for(go(server.port), 30.0))
    # The server runs beside the client's loop: every request reached it.
    assert len(server.requests) >= 1


def test_scan_loop_turns_garbage_into_a_bus_fault(tmp_path: Path) -> None:
    """A lane I/O that answers properly, then only random bytes: the running scan loop
    journals bus_lost, latches the bus fault and keeps scanning without raising.

    (An I/O that never answers sensibly is never 'connected': the runtime waits in its
    connect loop, and the I/O side's own watchdog holds the fail state.)
    """
    from controller.journal import read_events
    from hw_sim.plant import Plant
    from hw_sim.scenario import parse_scenario
    from hw_sim.server import SimServer

    rng = np.random.default_rng(7)
    hostile = asyncio.Event()

    def garbage(req: bytes) -> bytes:
        if rng.random() < 0.5:
            return bytes(rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8))
        return _echo_header(req, bytes(rng.integers(0, 256, 6, dtype=np.uint8)))

    async def go() -> Runtime:
        plant = Plant(parse_scenario({"scenario": {"name": "empty"}}), 1, watchdog_ms=0)
        sim = SimServer(plant, host="127.0.0.1", port=0)
        _, sim_port = await sim.start()
        sim_task = asyncio.ensure_future(sim.run())

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", sim_port)
            try:
                while data := await reader.read(260):
                    if hostile.is_set():
                        writer.write(garbage(data))
                    else:
                        up_w.write(data)
                        writer.write(await asyncio.wait_for(up_r.read(260), 2.0))
                    await writer.drain()
            except (ConnectionError, OSError, TimeoutError):
                pass
            finally:
                up_w.close()
                writer.close()

        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        config = parse_config(
            {
                "lane": {"name": "fuzz"},
                "io": {"port": port, "timeout_ms": 50, "reconnect_min_ms": 10},
                "journal": {"path": str(tmp_path / "journal.sqlite")},
                "api": {"enabled": False},
            },
            tmp_path / "lane.toml",
        )
        runtime = Runtime(config)
        stop = asyncio.Event()
        task = asyncio.ensure_future(runtime.run(stop))
        try:
            for _ in range(100):
                if runtime.scans > 20:
                    break
                await asyncio.sleep(0.05)
            assert runtime.scans > 20, "the runtime never scanned the proxied sim"
            assert runtime.bus_failures == 0
            hostile.set()
            await asyncio.sleep(1.5)
            scans = runtime.scans
            await asyncio.sleep(0.3)
            assert runtime.scans > scans, "the scan loop stopped"
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)
            server.close()
            await server.wait_closed()
            await sim.shutdown()
            await asyncio.wait_for(sim_task, 5.0)
        return runtime

    runtime = asyncio.run(asyncio.wait_for(go(), 60.0))
    kinds = [e["kind"] for e in read_events(tmp_path / "journal.sqlite")]
    assert runtime.bus_failures > 0
    assert "bus_lost" in kinds
    assert "bus" in runtime.status()["core"]["faults"]


# ---- control API ------------------------------------------------------------------------


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"command": st.one_of(st.sampled_from(sorted(COMMAND_NAMES)), json_values)},
        optional={"source": json_values},
    ).map(lambda v: json.dumps(v).encode()),
)
names = st.one_of(st.sampled_from(sorted(COMMAND_NAMES)), st.text(min_size=1, max_size=30))


@FUZZ
@given(body=bodies, name=names, path=st.sampled_from(["/command", "/commands/{}"]))
def test_api_answers_any_request_with_a_named_status(body: bytes, name: str, path: str) -> None:
    """Any body to either command route gets 202 or a 4xx whose JSON names the error; a 202
    queued exactly one command (409 ``refused``: one the closed lane's core would refuse)."""
    sink = MemorySink(lane="fuzz")

    async def go() -> None:
        app = build_app(sink, token=None, max_body_bytes=512)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            url = path.format(name) if "{}" in path else path
            r = await client.post(url, data=body, headers={"Content-Type": "application/json"})
            assert r.status in (202, 400, 404, 405, 409, 413), r.status
            if r.status == 202:
                assert len(sink.commands) == 1
            else:
                assert not sink.commands
                if r.status != 405 and r.content_type == "application/json":
                    payload = await r.json()
                    assert payload["error"] in (
                        "malformed_json",
                        "bad_field",
                        "unknown_command",
                        "body_too_large",
                        "refused",
                    ), payload
                else:
                    # aiohttp's own router answers odd paths (encoded slashes...) itself.
                    assert r.status in (404, 405), (r.status, await r.text())

    asyncio.run(asyncio.wait_for(go(), 30.0))


@pytest.mark.parametrize("size", [513, 64 * 1024, 4 * 1024 * 1024])
def test_api_huge_bodies_are_413(size: int) -> None:
    """A body over max_body_bytes is refused 413 body_too_large, with or without a
    Content-Length, and nothing is queued."""
    sink = MemorySink(lane="fuzz")

    async def go() -> None:
        app = build_app(sink, token=None, max_body_bytes=512)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            r = await client.post("/commands/release", data=b"{" + b" " * size + b"}")
            assert r.status == 413
            assert (await r.json())["error"] == "body_too_large"

            async def chunks() -> Any:
                for _ in range(size // 4096 + 1):
                    yield b" " * 4096

            r = await client.post("/command", data=chunks())
            assert r.status == 413

    asyncio.run(asyncio.wait_for(go(), 60.0))
    assert sink.commands == []
