"""``lanectl version``: print the installed version."""

from __future__ import annotations

import argparse

from controller import __version__

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("version", help="print the lanectl version")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(f"lanectl {__version__}")
    return 0
