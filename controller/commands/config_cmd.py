"""``lanectl config check FILE``: check a lane config before it is deployed (exit 2 on an error)."""

from __future__ import annotations

import argparse
import sys

from controller.config import ConfigError, load_config

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check a lane config file")
    actions = parser.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="load FILE and report the first problem")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    camera = "none" if config.camera is None else config.camera.url
    print(
        f"{config.path}: ok (lane {config.lane.name}, io {config.io.transport}://"
        f"{config.io.host}:{config.io.port} unit {config.io.unit}, scan {config.io.scan_ms} ms, "
        f"journal {config.journal.path}, api {config.api.host}:{config.api.port}, "
        f"camera {camera})"
    )
    return 0
