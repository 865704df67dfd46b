"""``lanectl states``: the lane's transition table as a diagram, generated from the table itself.

Printing the table (rather than a hand-drawn picture) keeps the documentation
honest: what the diagram shows is exactly what ``controller.core.lane`` runs.
"""

from __future__ import annotations

import argparse

from controller.core.lane import TRANSITIONS
from controller.core.types import Phase

__all__ = ["dot", "mermaid", "register"]


def _label(trigger: str, event: str | None) -> str:
    return f"{trigger} / {event}" if event else trigger


def mermaid() -> str:
    """The table as a Mermaid ``stateDiagram-v2``."""
    lines = ["stateDiagram-v2", f"    [*] --> {Phase.START.name}"]
    for phase, rows in TRANSITIONS.items():
        for row in rows:
            label = _label(row.trigger.value, row.event)
            lines.append(f"    {phase.name} --> {row.target.name}: {label}")
    return "\n".join(lines) + "\n"


def dot() -> str:
    """The table as a Graphviz digraph."""
    lines = ["digraph lane {", "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    for phase in Phase:
        lines.append(f'    {phase.name} [label="{phase.name} ({phase.value})"];')
    for phase, rows in TRANSITIONS.items():
        for row in rows:
            label = _label(row.trigger.value, row.event).replace('"', '\\"')
            lines.append(f'    {phase.name} -> {row.target.name} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("states", help="print the lane's transition table as a diagram")
    parser.add_argument(
        "--format",
        choices=("mermaid", "dot"),
        default="mermaid",
        help="diagram language (default: mermaid)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(dot() if args.format == "dot" else mermaid(), end="")
    return 0
