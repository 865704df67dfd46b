"""``lanectl sim``: run the simulated lane in real time behind a Modbus TCP server.

This is how a controller is tested without a lane: hardware-in-the-loop tests
and the demo start it, read the address it prints, and talk Modbus to it. The
simulator is imported inside the handler only, so the product never loads it.
Further ``lanectl sim <sub-command>`` handlers (e.g. ``render``) live in their
own modules, listed in ``SIM_SUBCOMMAND_MODULES``, each exposing
``register_sim(sub)``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.commands.sim_render import camera_condition

if TYPE_CHECKING:
    from hw_sim.camera_server import SimCamera
    from hw_sim.plant import Plant
    from hw_sim.server import SimServer

__all__ = ["SIM_SUBCOMMAND_MODULES", "register", "write_json_atomic"]

SIM_SUBCOMMAND_MODULES: tuple[str, ...] = ("sim_render",)
"""Modules under controller.commands that add ``lanectl sim <name>`` via ``register_sim(sub)``."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "sim",
        help="run the simulated lane as a Modbus TCP server",
        description="Run the simulated lane in real time behind a Modbus TCP server "
        "until SIGINT/SIGTERM. Prints 'listening on HOST:PORT' once bound.",
    )
    parser.add_argument("--scenario", default="checkpoint", help="scenario name or TOML path")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=5020, help="TCP port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the traffic")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--step-ms", type=int, default=10, help="plant time step (ms)")
    parser.add_argument("--truth-out", type=Path, help="write the ground truth JSON here")
    parser.add_argument("--edge-log", type=Path, help="write edge-to-coil latencies on exit")
    parser.add_argument("--fail-mode", choices=("secure", "safe"), default="secure")
    parser.add_argument("--tls-cert", type=Path, help="serve Modbus/TCP Security: PEM cert chain")
    parser.add_argument("--tls-key", type=Path, help="private key (PEM) for --tls-cert")
    parser.add_argument(
        "--tls-ca",
        type=Path,
        help="CA (PEM) of client certificates: with --tls-cert, clients without one are refused",
    )
    parser.add_argument(
        "--serial", "--rtu", metavar="DEVICE", help="serve RTU on this serial device"
    )
    parser.add_argument("--baudrate", type=int, default=19200, help="RTU baud rate")
    parser.add_argument(
        "--watchdog-ms", type=int, default=500, help="initial HR1 watchdog (0 disables)"
    )
    parser.add_argument(
        "--camera-port", type=int, help="serve the simulated camera as MJPEG here (0: free port)"
    )
    parser.add_argument(
        "--camera-condition",
        type=camera_condition,
        default="day",
    )
    parser.add_argument(
        "--camera-size",
        type=_frame_size,
        default=(640, 360),
        metavar="WxH",
        help="camera frame size in pixels (default 640x360)",
    )
    parser.add_argument(
        "--camera-fps", type=float, default=15.0, help="camera frame rate (default 15)"
    )
    parser.add_argument("--camera-info-out", type=Path, help="write camera URL and zones JSON")
    parser.add_argument("--camera-log", type=Path, help="write per-frame camera truth on exit")
    parser.set_defaults(func=_run, sim_command=None)
    sim_sub = parser.add_subparsers(dest="sim_command", required=False, metavar="SUBCOMMAND")
    for name in SIM_SUBCOMMAND_MODULES:
        importlib.import_module(f"controller.commands.{name}").register_sim(sim_sub)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader never sees a half-written file (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run(args: argparse.Namespace) -> int:
    from controller.core.types import FailMode
    from controller.logs import configure
    from hw_sim.plant import Plant
    from hw_sim.scenario import ScenarioError, load_scenario

    configure()
    if not 0 <= args.port <= 65535:
        raise SystemExit(f"lanectl sim: --port: {args.port} is outside 0..65535")
    if args.speed <= 0:
        raise SystemExit(f"lanectl sim: --speed: must be positive, got {args.speed}")
    if not 0 <= args.watchdog_ms <= 65535:
        raise SystemExit(f"lanectl sim: --watchdog-ms: {args.watchdog_ms} is outside 0..65535")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("lanectl sim: --tls-cert and --tls-key go together")
    if args.tls_cert is not None and args.tls_ca is None:
        raise SystemExit("lanectl sim: --tls-ca: Modbus/TCP Security verifies client certificates")
    if args.tls_ca is not None and args.tls_cert is None:
        raise SystemExit("lanectl sim: --tls-ca goes with --tls-cert and --tls-key")
    if args.serial and args.tls_cert:
        raise SystemExit("lanectl sim: --serial: RTU does not take --tls-cert")
    if args.step_ms < 1:
        raise SystemExit(f"lanectl sim: --step-ms: must be at least 1, got {args.step_ms}")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise SystemExit(f"lanectl sim: --scenario: {exc}") from exc
    plant = Plant(
        scenario,
        args.seed,
        step_ms=args.step_ms,
        fail_mode=FailMode(args.fail_mode),
        watchdog_ms=args.watchdog_ms,
    )
    return asyncio.run(_serve(plant, args))


async def _serve(plant: Plant, args: argparse.Namespace) -> int:
    from controller.logs import get_logger
    from hw_sim.server import SerialPort, SimServer, TlsFiles

    log = get_logger(component="sim", scenario=plant.scenario.name, seed=plant.seed)
    tls = (
        TlsFiles(str(args.tls_cert), str(args.tls_key), str(args.tls_ca)) if args.tls_cert else None
    )
    serial = SerialPort(args.serial, baudrate=args.baudrate) if args.serial else None
    server = SimServer(
        plant, host=args.host, port=args.port, speed=args.speed, tls=tls, serial=serial
    )
    try:
        await server.start()
    except (OSError, RuntimeError, ssl.SSLError) as exc:
        log.error("sim_bind_failed", address=server.address, error=str(exc))
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    transport = "rtu" if serial else "tls" if tls else "tcp"
    camera = _start_camera(plant, args)
    if camera is not None:
        log.info("sim_camera", url=camera.url, condition=args.camera_condition)
    log.info("sim_listening", address=server.address, transport=transport, speed=args.speed)
    print(f"listening on {server.address}", flush=True)
    writer = asyncio.ensure_future(_write_truth_periodically(plant, args.truth_out))
    monitor = asyncio.ensure_future(_monitor(server, log))
    try:
        await server.run()
    finally:
        writer.cancel()
        monitor.cancel()
        await server.shutdown()
        if camera is not None:
            camera.close()
            if args.camera_log is not None:
                write_json_atomic(args.camera_log, camera.truth_log())
        if args.truth_out is not None:
            write_json_atomic(args.truth_out, plant.truth.to_dict())
        if args.edge_log is not None:
            samples = plant.io.edge_to_coil_ns()
            write_json_atomic(args.edge_log, {"edge_to_coil_ns": samples, "count": len(samples)})
        log.info(
            "sim_stopped",
            now_ms=plant.now_ms,
            bus=server.counters.as_dict(),
            watchdog_trips=plant.io.trips,
            **plant.truth.summary(),
        )
    sys.stdout.flush()
    return 0


def _frame_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. ``1280x720``) as (width, height)."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give WIDTHxHEIGHT, e.g. 1280x720")
    return int(w), int(h)


def _start_camera(plant: Plant, args: argparse.Namespace) -> SimCamera | None:
    """The simulated camera over the plant, when --camera-port is given."""
    if args.camera_port is None:
        return None
    from hw_sim.camera import CameraSpec, Condition
    from hw_sim.camera_server import SimCamera

    if not 0 <= args.camera_port <= 65535:
        raise SystemExit(f"lanectl sim: --camera-port: {args.camera_port} is outside 0..65535")
    width, height = args.camera_size
    try:
        spec = CameraSpec(width=width, height=height, fps=args.camera_fps)
    except ValueError as exc:
        raise SystemExit(f"lanectl sim: --camera-size/--camera-fps: {exc}") from None
    camera = SimCamera(
        plant,
        port=args.camera_port,
        spec=spec,
        condition=Condition(args.camera_condition),
        seed=plant.seed,
    ).start()
    if args.camera_info_out is not None:
        write_json_atomic(args.camera_info_out, camera.info())
    return camera


async def _monitor(server: SimServer, log: Any, status_every_s: float = 60.0) -> None:
    """Log fault windows, watchdog trips and re-arms as they happen, and a status line a minute."""
    plant = server.plant
    active: set[str] = set()
    tripped = False
    last_status = time.monotonic()
    while True:
        now_active = {
            f"{f.kind.value}:{f.input}" if f.input else f.kind.value
            for f in plant.faults.active(plant.now_ms)
        }
        for name in sorted(now_active - active):
            log.info("sim_fault_started", fault=name, sim_ms=plant.now_ms)
        for name in sorted(active - now_active):
            log.info("sim_fault_ended", fault=name, sim_ms=plant.now_ms)
        active = now_active
        if plant.io.tripped != tripped:
            tripped = plant.io.tripped
            event = "sim_watchdog_tripped" if tripped else "sim_watchdog_rearmed"
            log.warning(event, sim_ms=plant.now_ms, watchdog_ms=plant.io.watchdog_ms)
        if time.monotonic() - last_status >= status_every_s:
            last_status = time.monotonic()
            log.info(
                "sim_status",
                sim_ms=plant.now_ms,
                vehicles_in_lane=len(plant.vehicles),
                boom_position=plant.boom_position,
                bus=server.counters.as_dict(),
                **plant.truth.summary(),
            )
        await asyncio.sleep(0.1)


async def _write_truth_periodically(plant: Plant, path: Path | None) -> None:
    if path is None:
        return
    while True:
        write_json_atomic(path, plant.truth.to_dict())
        await asyncio.sleep(1.0)
