"""``lanectl bench [SUITE ...] [--json] [--quick] [--out DIR]``: run benchmark suites.

Suites come from ``controller.bench.SUITES`` and run one after the other in
this process (the ``hil`` suite starts its own simulator and controller
processes). With one suite, ``--json`` prints that suite's result as is
(``lanectl bench kernel --json`` prints the list of per-size objects); with
several (all by default) it prints the report of ``controller.bench.report``:
the headline figures (``kernel``, ``step_p99_us``, ``edge_to_coil_ms``,
``frame_to_coil_ms``, ``lost_time_per_vehicle_s``, ``throughput_vph``), which targets were met, and
each suite's result. ``--out DIR`` writes ``DIR/<suite>.json`` per suite, and
for several suites also ``DIR/report.json`` and the PNG plots.

A suite that raises is reported (stderr, and ``errors`` in the report) and the
others still run; the exit status is then 1. A missed target never changes
the exit status: timings on a shared machine are figures, not verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    parser.add_argument(
        "--load",
        action="store_true",
        help="hil only: measure at a 5 and a 2 ms scan while the controller also runs the "
        "detector on a 1280x720 camera, 20 console event streams and the MQTT publisher",
    )
    parser.add_argument(
        "--load-parts",
        metavar="LIST",
        help="with --load: only these load parts, comma-separated "
        "(detector, sse, mqtt, sim_camera; default detector,sse,mqtt)",
    )
    parser.add_argument(
        "--camera-process",
        choices=("true", "false"),
        help="with --load: set the lane's [camera] process (default: the config's default)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write DIR/<suite>.json, and with several suites DIR/report.json and plots",
    )
    parser.set_defaults(func=_run)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _nested_rows(value: Any, keys: tuple[str, ...] = ()) -> list[dict[str, Any]] | None:
    """Rows of a table from nested dicts whose leaves are dicts of numbers (the detector
    suite's size -> condition -> figures), each row led by its keys."""
    if not isinstance(value, dict) or not value:
        return None
    if all(isinstance(v, (int, float)) for v in value.values()):
        return [{"": " ".join(keys), **value}] if keys else None
    rows: list[dict[str, Any]] = []
    for key, child in value.items():
        sub = _nested_rows(child, (*keys, str(key)))
        if sub is None:
            return None
        rows += sub
    return rows


def _render(result: Any) -> str:
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return _table(result)
    if isinstance(result, dict) and result:
        tables = {key: _nested_rows(value) for key, value in result.items()}
        if all(tables.values()):
            return "\n".join(
                f"{key}:\n{_table(rows)}" for key, rows in tables.items() if rows is not None
            )
    if isinstance(result, dict):
        return "\n".join(f"{key}: {json.dumps(value)}" for key, value in result.items())
    return json.dumps(result, indent=2)


def _run_suite(
    name: str, quick: bool, load: bool = False, load_args: dict[str, Any] | None = None
) -> tuple[Any, bool]:
    """(result, ok): a suite that raises yields ``{"error": ...}`` instead of stopping the run."""
    try:
        if load:
            from controller.bench import hil_load

            return hil_load.run(quick, **(load_args or {})), True
        return SUITES[name](quick), True
    except Exception as exc:  # any failure of a benchmark is reported, then exits non-zero
        message = f"{type(exc).__name__}: {exc}"
        print(f"lanectl bench: suite {name} failed: {message}", file=sys.stderr, flush=True)
        return {"error": message}, False


def _run(args: argparse.Namespace) -> int:
    from controller.bench.report import machine, strip_plots, summarize, write_report

    names: list[str] = list(dict.fromkeys(args.suites)) or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(
            f"lanectl bench: unknown suite {', '.join(unknown)} (known: {', '.join(SUITES)})",
            file=sys.stderr,
        )
        return 2
    if args.load and names != ["hil"]:
        print(
            "lanectl bench: --load goes with the hil suite alone (lanectl bench hil --load)",
            file=sys.stderr,
        )
        return 2
    load_args: dict[str, Any] = {}
    if (args.load_parts is not None or args.camera_process is not None) and not args.load:
        print("lanectl bench: --load-parts and --camera-process go with --load", file=sys.stderr)
        return 2
    if args.load_parts is not None:
        from controller.bench.hil_load import parse_parts

        try:
            load_args["parts"] = parse_parts(args.load_parts)
        except ValueError as exc:
            print(f"lanectl bench: --load-parts: {exc}", file=sys.stderr)
            return 2
    if args.camera_process is not None:
        load_args["camera_process"] = args.camera_process == "true"
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    failed = False
    before = machine()
    for name in names:
        start = time.monotonic()
        results[name], ok = _run_suite(name, args.quick, args.load, load_args)
        failed = failed or not ok
        if args.out is not None:
            (args.out / f"{name}.json").write_text(json.dumps(results[name], indent=2) + "\n")
        if not args.json:
            took = time.monotonic() - start
            print(f"== {name}" + (" (quick)" if args.quick else "") + f" [{took:.1f} s]")
            print(_render(strip_plots(results[name])), flush=True)
    if len(names) == 1:
        if args.json:
            print(json.dumps(strip_plots(results[names[0]]), indent=2))
        return 1 if failed else 0
    report = summarize(results, quick=args.quick)
    report["machine"] = {"before": before, "after": machine()}
    if args.out is not None:
        for path in write_report(args.out, report):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(strip_plots(report), indent=2))
    else:
        print("== targets")
        print(_render(report["targets"]))
    return 1 if failed else 0
