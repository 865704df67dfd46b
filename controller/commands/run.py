"""``lanectl run --config FILE``: the production entry point, one process per lane.

Loads and checks the config (exit 2 naming the key on any error), opens the
journal, starts the control API and the scan loop in one event loop, and stops
cleanly on SIGTERM/SIGINT: the last coils stay as written, and the I/O side's
watchdog applies the fail state once heartbeats stop (S9).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from controller.api import ApiError, ApiServer, start_api
from controller.config import Config, ConfigError, load_config
from controller.console.errors import ConsoleError
from controller.journal import JournalError
from controller.logs import configure, get_logger

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run one lane's controller from its config file")
    parser.add_argument("--config", required=True, metavar="FILE", help="lane config (TOML)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"lanectl run: config error: {exc}", file=sys.stderr)
        return 2
    configure()
    log = get_logger(lane=config.lane.name)
    try:
        return asyncio.run(_main(config, log))
    except (JournalError, ApiError, ConsoleError) as exc:
        log.error("startup_failed", error=str(exc))
        print(f"lanectl run: {exc}", file=sys.stderr)
        return 1


async def _main(config: Config, log: Any) -> int:
    # Imported here so `lanectl --help` and the other commands load without the core.
    from controller.runtime import Runtime, make_camera

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        camera = make_camera(config)
    except ValueError as exc:
        # The vision package checks [camera] further (zones, detector settings).
        print(f"lanectl run: config error: {config.path}: {exc}", file=sys.stderr)
        return 2
    try:
        runtime = Runtime(config, camera=camera)
    except BaseException:
        if camera is not None:
            camera.close()
        raise
    # The MQTT publisher and the metrics counter are hub subscribers beside the API,
    # never in the scan; they stop after the scan loop so its last events still go out.
    from controller.metrics import LaneMetrics

    publisher = None
    if config.mqtt is not None:
        from controller.site.publisher import LanePublisher

        publisher = LanePublisher(runtime, config.mqtt)
    metrics = LaneMetrics(runtime, publisher)
    side_stop = asyncio.Event()
    side_tasks = [asyncio.create_task(metrics.run(side_stop))]
    if publisher is not None:
        side_tasks.append(asyncio.create_task(publisher.run(side_stop)))
    api: ApiServer | None = None
    console: Any = None
    try:
        if config.api.enabled:
            try:
                api = await start_api(runtime, config.api, metrics=metrics.render)
            except ApiError:
                runtime.journal.close()
                if camera is not None:
                    camera.close()
                raise
            print(f"api listening on {api.url}", flush=True)
            log.info("api_listening", url=api.url)
        if config.console is not None:
            console = await _start_console(runtime, config, camera)
            print(f"console listening on {console.url}", flush=True)
            log.info("console_listening", url=console.url)
        await runtime.run(stop)
    finally:
        side_stop.set()
        for task in side_tasks:
            try:
                await asyncio.wait_for(task, 5.0)
            except Exception as exc:  # a side task never decides the exit code
                log.error("side_task_failed", error=repr(exc))
        if console is not None:
            await console.close()
        if api is not None:
            await api.close()
    return 0


async def _start_console(runtime: Any, config: Config, camera: Any) -> Any:
    from controller.console.server import start_console

    assert config.console is not None
    try:
        return await start_console(runtime, config.console)
    except ConsoleError:
        runtime.journal.close()
        if camera is not None:
            camera.close()
        raise
