"""``lanectl mil``: soak the lane core against the simulated lane, much faster than real time.

The verdict is the exit code, so ``make soak`` and CI can gate on it: 1 when
the boom came down on a vehicle while its sensors were healthy, a vehicle was
lost or counted twice, or the controller crashed; 0 otherwise. Timing never
decides it. ``hw_sim`` is imported inside the handler only, so the product
running on a lane never loads the simulator.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["SUMMARY_KEYS", "register"]

SUMMARY_KEYS: tuple[str, ...] = (
    "scenario",
    "seed",
    "sim_hours",
    "wall_s",
    "arrived",
    "passed",
    "tailgates",
    "run_throughs",
    "sent_aside",
    "reversed",
    "crossed",
    "counted",
    "lost",
    "lost_healthy_sensors",
    "lost_faulty_sensors",
    "lost_unseen",
    "boom_contacts",
    "boom_contacts_lowered",
    "boom_contacts_healthy_sensors",
    "faults",
    "resets",
    "safety_overrides",
    "crashes",
    "watchdog_trips",
    "throughput_vph",
    "lost_time_s",
    "downtime_s",
)
"""Rows of the human-readable table, in order."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of hours")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "mil",
        help="model-in-the-loop soak: the core against the simulated lane",
        description="Run the lane core against the simulated lane on a simulated clock "
        "(no Modbus) with the scenario's faults plus a seeded random fault schedule, and "
        "print totals. Exit 1 on a boom contact with healthy sensors, a vehicle lost or "
        "counted twice while its crossing sensors were healthy and read, a safety "
        "override or a controller crash. Vehicles lost while a crossing sensor was "
        "faulty or unread are reported (lost_faulty_sensors, with each cause and whether "
        "any working sensor saw the vehicle on its own; lost_unseen counts those none did).",
    )
    parser.add_argument(
        "--hours", type=_positive_float, default=2.0, help="simulated hours (default 2)"
    )
    parser.add_argument("--scenario", default="mixed", help="scenario name or TOML path")
    parser.add_argument("--seed", type=int, default=1, help="seed of traffic and random faults")
    parser.add_argument("--scan-ms", type=int, default=10, help="controller scan period (ms)")
    parser.add_argument(
        "--config", type=Path, help="lane config TOML: its timing and policy drive the core"
    )
    parser.add_argument(
        "--no-random-faults", action="store_true", help="only the scenario's own faults"
    )
    parser.add_argument(
        "--camera",
        action="store_true",
        help="add the presence camera, with the detector's measured lags and fault "
        "detection times (hw_sim.camera_model)",
    )
    parser.add_argument(
        "--ideal-camera",
        action="store_true",
        help="with --camera: zone truth every frame, no lag (to tell the detector's "
        "share of a result from the lane logic's)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--progress", action="store_true", help="progress on stderr")
    parser.set_defaults(func=_run)


def _table(report: dict[str, Any]) -> str:
    width = max(len(k) for k in SUMMARY_KEYS)
    lines = [f"{key.ljust(width)}  {report[key]}" for key in SUMMARY_KEYS]
    kinds = report["fault_kinds"]
    if kinds:
        lines.append(
            f"{'fault kinds'.ljust(width)}  " + ", ".join(f"{k}={v}" for k, v in kinds.items())
        )
    for incident in report["incidents"]:
        lines.append(f"! {incident['kind']} at {incident['at_ms']} ms: {incident['detail']}")
    lines.append("verdict".ljust(width) + "  " + ("ok" if report["ok"] else "FAILED"))
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from controller.config import ConfigError, load_config
    from controller.core.types import LaneConfig
    from hw_sim.camera_model import CameraModelSpec
    from hw_sim.mil import run_mil
    from hw_sim.scenario import ScenarioError, load_scenario

    if not 1 <= args.scan_ms <= 1000:
        print(f"lanectl mil: --scan-ms: {args.scan_ms} is outside 1..1000", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"lanectl mil: --scenario: {exc}", file=sys.stderr)
        return 2

    core = LaneConfig()
    if args.config is not None:
        try:
            core = load_config(args.config).core
        except ConfigError as exc:
            print(f"lanectl mil: --config: {exc}", file=sys.stderr)
            return 2

    def progress(fraction: float) -> None:
        print(f"\rmil: {fraction * 100:5.1f} %", end="", file=sys.stderr, flush=True)

    report = run_mil(
        scenario,
        hours=args.hours,
        seed=args.seed,
        config=core,
        random_faults=not args.no_random_faults,
        scan_ms=args.scan_ms,
        camera=args.camera or args.ideal_camera,
        camera_model=CameraModelSpec.ideal() if args.ideal_camera else None,
        progress=progress if args.progress else None,
    )
    if args.progress:
        print(file=sys.stderr)
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, sort_keys=False))
    else:
        print(_table(data))
    return 0 if report.ok else 1
