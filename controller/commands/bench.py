"""``lanectl bench [SUITE ...] [--json] [--quick] [--out DIR]``: run benchmark suites.

Suites come from ``controller.bench.SUITES``. With one suite, ``--json`` prints
that suite's result as is (``lanectl bench kernel --json`` prints the list of
per-size objects); with several it prints one object keyed by suite name.
``--out DIR`` also writes ``DIR/<suite>.json`` for each suite, for reports and
for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.bench import SUITES

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "bench",
        help="run benchmark suites (" + ", ".join(SUITES) + ")",
        description="Run benchmark suites side by side in this process. "
        "Suites: " + ", ".join(SUITES) + " (default: all).",
    )
    parser.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions: a smoke run, not a measurement"
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="also write DIR/<suite>.json")
    parser.set_defaults(func=_run)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _render(result: Any) -> str:
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return _table(result)
    if isinstance(result, dict):
        return "\n".join(f"{key}: {value}" for key, value in result.items())
    return json.dumps(result, indent=2)


def _run(args: argparse.Namespace) -> int:
    names: list[str] = list(dict.fromkeys(args.suites)) or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(
            f"lanectl bench: unknown suite {', '.join(unknown)} (known: {', '.join(SUITES)})",
            file=sys.stderr,
        )
        return 2
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name in names:
        results[name] = SUITES[name](args.quick)
        if args.out is not None:
            (args.out / f"{name}.json").write_text(json.dumps(results[name], indent=2) + "\n")
        if not args.json:
            print(f"== {name}" + (" (quick)" if args.quick else ""))
            print(_render(results[name]), flush=True)
    if args.json:
        print(json.dumps(results[names[0]] if len(names) == 1 else results, indent=2))
    return 0
