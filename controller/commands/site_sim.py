"""``lanectl site sim``: a day at a checkpoint of N lanes, each its real core against its plant.

Prints the waits, lane-hours and decision count of one policy (``queue``: the
supervisor's live rules; ``fixed``: the hourly plan from mean demand), as one
JSON object with ``--json``; ``--out DIR`` also draws the day as a PNG.
``hw_sim`` is imported inside the handler only, so the product running on a
lane never loads the simulator.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 168:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of hours in (0, 168]")
    return value


def _hour_of_day(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 24:
        raise argparse.ArgumentTypeError(f"{text!r} must be an hour of the day in [0, 24)")
    return value


def _switch_s(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds in [0, 600]")
    return value


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sim",
        help="simulate a day of N lanes, opened and closed by the queue policy or a fixed plan",
        description="N lanes, each its real core against its simulated plant on a simulated "
        "clock, fed by one arrival stream with morning and evening peaks; drivers join the "
        "open lane with the fewest vehicles and the back of a line at least 2 longer than an "
        "open lane's moves to it (not once on the approach loop). --policy queue: the "
        "supervisor opens and closes lanes by the live queues; --policy fixed: k lanes per "
        "hour from each hour's mean demand, utilisation under 0.85. Waits run from arrival "
        "to entering the bay.",
    )
    parser.add_argument("--lanes", type=_positive_int, default=6, help="lanes (default 6)")
    parser.add_argument("--hours", type=_hours, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--policy", choices=("queue", "fixed"), default="queue")
    parser.add_argument("--seed", type=int, default=1, help="seed of the arrival stream")
    parser.add_argument(
        "--start", type=_hour_of_day, default=0.0, help="hour of the day to start at (default 0)"
    )
    parser.add_argument(
        "--staff", type=_positive_int, help="lanes the staff on duty can run (default: all)"
    )
    parser.add_argument(
        "--budget",
        action="store_true",
        help="queue policy: keep to the fixed plan's lane-hours (its bounds rise as they run out)",
    )
    switching = parser.add_mutually_exclusive_group()
    switching.add_argument(
        "--switch-s",
        type=_switch_s,
        default=10.0,
        help="seconds a driver takes to move to a shorter line (default 10)",
    )
    switching.add_argument(
        "--no-switching",
        action="store_true",
        help="drivers stay in the lane they joined, whatever opens beside them",
    )
    parser.add_argument(
        "--scan-ms", type=int, default=100, help="each lane's scan and plant step (default 100)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="directory for the PNG of the day")
    parser.set_defaults(func=_run)


def _table(result: Any) -> str:
    stats = result.wait_stats_s()
    rows = [
        ("policy", result.config.policy),
        ("vehicles", result.arrived),
        ("entered the bay", result.entered),
        ("still queued", result.waiting_at_end),
        ("wait mean s", stats["mean"]),
        ("wait p95 s", stats["p95"]),
        ("wait max s", stats["max"]),
        ("lane-hours", round(result.lane_hours, 3)),
        ("most lanes staffed", result.max_staffed),
        ("decisions", len(result.decisions)),
        ("lane switches", result.switches),
        ("wall s", result.wall_s),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _run(args: argparse.Namespace) -> int:
    from controller.site.sim import SimConfig, run_site_sim
    from hw_sim.site_lane import SiteLanes

    try:
        config = SimConfig(
            lanes=args.lanes,
            hours=args.hours,
            policy=args.policy,
            seed=args.seed,
            start_h=args.start,
            staff=args.staff,
            scan_ms=args.scan_ms,
            budget=args.budget,
            switch_ms=None if args.no_switching else round(args.switch_s * 1000),
        )
    except ValueError as exc:
        print(f"lanectl site sim: {exc}", file=sys.stderr)
        return 2
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(f"lanectl site sim: --out: {args.out} is not a directory", file=sys.stderr)
        return 2
    plants = SiteLanes(args.seed, step_ms=config.scan_ms, start_ms=config.start_ms)
    result = run_site_sim(config, plants)
    if args.out is not None:
        from controller.site.plot import plot_day

        path = plot_day(result, args.out)
        print(f"lanectl site sim: wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(_table(result))
    return 0
