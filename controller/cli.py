"""``lanectl``: the command-line entry point.

Each sub-command lives in its own module under ``controller.commands`` and
registers itself on the parser; this module only assembles them. Commands that
start the simulated lane (sim, demo, mil) import ``hw_sim`` lazily inside their
handlers, so the product running on a lane never loads the simulator.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "version",
    "iomap",
    "states",
    "sim",
    "run",
    "ctl",
    "journal",
    "replay",
    "config_cmd",
    "demo",
    "bench",
    "eval_vision",
    "mil",
    "site",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lanectl", description="Lane controller for a road checkpoint lane."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"controller.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
