"""``lanectl site run --config site.toml``: the supervisor, in the foreground until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from controller.config import ConfigError

__all__ = ["register"]


def register(site_sub: Any) -> None:
    p: argparse.ArgumentParser = site_sub.add_parser(
        "run", help="the supervisor: open and close lanes by their queues, pins, journal"
    )
    p.add_argument("--config", required=True, metavar="FILE", help="site config (TOML)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from controller.logs import configure
    from controller.site.page import SitePageError
    from controller.site.supconf import load_supervisor
    from controller.site.supervisor import Supervisor

    try:
        config = load_supervisor(args.config)
    except ConfigError as exc:
        print(f"lanectl site run: config error: {exc}", file=sys.stderr)
        return 2
    configure()

    async def main() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        supervisor = Supervisor(config)
        task = asyncio.create_task(supervisor.run(stop, ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if ready.is_set():
            about = (
                f"(site {config.site.site}, broker {config.site.address().describe()}, "
                f"journal {config.journal})"
            )
            if supervisor.http_url:
                print(f"supervisor listening on {supervisor.http_url} {about}", flush=True)
            else:
                print(f"supervisor running {about}", flush=True)
            if supervisor.page_url:
                print(f"site page listening on {supervisor.page_url}", flush=True)
        await task

    try:
        asyncio.run(main())
    except SitePageError as exc:
        print(f"lanectl site run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lanectl site run: {exc}", file=sys.stderr)
        return 1
    return 0
