"""``lanectl site ...``: the checkpoint as a site.

Each site sub-command lives in its own module, listed in ``SITE_COMMAND_MODULES``,
with a ``register(sub)`` that adds its parser to the ``site`` sub-parsers.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

SITE_COMMAND_MODULES: tuple[str, ...] = ("site_mqtt", "site_sim", "site_run", "site_demo")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "site", help="the checkpoint as a site: MQTT broker, supervisor, site sim"
    )
    site_sub = parser.add_subparsers(dest="site_command", required=True, metavar="SITE_COMMAND")
    for name in SITE_COMMAND_MODULES:
        importlib.import_module(f"controller.commands.{name}").register(site_sub)
