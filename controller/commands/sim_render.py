"""``lanectl sim render``: a scenario as a video clip, its truth CSV and its zones TOML.

The clip is what the simulated camera would have seen while the lane core ran
the scenario's traffic (model in the loop, simulated clock), so detector
settings can be judged offline with ``lanectl eval-vision``. The writer's
output is read back before the command reports success.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["camera_condition", "register_sim", "render_clip"]


def camera_condition(text: str) -> str:
    """An argparse type: a camera condition name from ``hw_sim.conditions.CONDITIONS``.

    The simulator is imported only when a simulator command parses its
    arguments, so the product's own commands never load it.
    """
    from hw_sim.conditions import CONDITIONS

    if text not in CONDITIONS:
        raise argparse.ArgumentTypeError(
            f"unknown camera condition {text!r}; choose from {', '.join(CONDITIONS)}"
        )
    return text


def register_sim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "render",
        help="render a scenario to a video clip with truth CSV and zones TOML",
        description="Run SCENARIO with the lane core in the loop and write what the "
        "simulated camera sees as a video, with per-frame zone truth.",
    )
    parser.add_argument("--scenario", default="checkpoint", help="scenario name or TOML path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="video file to write (.mp4)")
    parser.add_argument("--truth", type=Path, help="truth CSV to write")
    parser.add_argument("--zones-out", type=Path, help="zones TOML to write")
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds")
    parser.add_argument(
        "--condition",
        type=camera_condition,
        default="day",
        help="what the camera sees: day, night, shadows, ... (hw_sim.conditions)",
    )
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.set_defaults(func=_run)


def render_clip(
    scenario: str,
    seed: int,
    out: Path,
    *,
    seconds: float,
    condition: str = "day",
    width: int = 640,
    height: int = 360,
    fps: float = 15.0,
    truth_out: Path | None = None,
    zones_out: Path | None = None,
) -> int:
    """Render and write the clip; returns the number of frames (verified by reading back)."""
    import cv2

    from controller.core import scan as core
    from controller.core.types import CameraZones, Command, CommandKind, LaneConfig
    from controller.io.camera import read_video
    from controller.iomap import coils_from_outputs, inputs_from_bits
    from controller.vision.zones import dump_zones
    from hw_sim.camera import ZONE_NAMES, CameraSpec, Condition, LaneCamera, truth_row
    from hw_sim.plant import Plant
    from hw_sim.scenario import load_scenario

    if seconds <= 0:
        raise ValueError(f"--seconds: must be positive, got {seconds}")
    spec = CameraSpec(width=width, height=height, fps=fps)
    camera = LaneCamera(spec, Condition(condition), seed)
    plant = Plant(load_scenario(scenario), seed, watchdog_ms=0)
    state = core.initial_state(LaneConfig())
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise ValueError(f"{out}: cannot open a video writer (mp4v)")
    rows = [",".join(("frame", *ZONE_NAMES))]
    frames = 0
    step = plant.step_ms
    end_ms = round(seconds * 1000)
    heartbeat = 0
    try:
        while frames * spec.interval_ms < end_ms:
            frame_at = round(frames * spec.interval_ms)
            while plant.now_ms < frame_at:
                commands = (Command(CommandKind.OPEN_LANE, "sim"),) if plant.now_ms == 0 else ()
                inputs = inputs_from_bits(
                    plant.io.read_discrete_inputs(),
                    io_status=plant.io.read_input_registers()[0],
                    camera=CameraZones(),
                    commands=commands,
                )
                result = core.scan(state, inputs, plant.now_ms)
                state = result.state
                plant.io.write_coils(coils_from_outputs(result.outputs))
                heartbeat = (heartbeat + 1) & 0xFFFF
                plant.io.write_holding(0, [heartbeat])
                plant.advance(step)
            grey = camera.render(plant.vehicles, plant.boom_position, frame_at)
            writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
            rows.append(truth_row(frames, camera.truth(plant.vehicles)))
            frames += 1
    finally:
        writer.release()
    read_back = sum(1 for _ in read_video(str(out)))
    if read_back != frames:
        raise ValueError(f"{out}: wrote {frames} frames but read back {read_back}")
    if truth_out is not None:
        truth_out.parent.mkdir(parents=True, exist_ok=True)
        truth_out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    if zones_out is not None:
        zones_out.parent.mkdir(parents=True, exist_ok=True)
        zones_out.write_text(dump_zones(camera.zones()), encoding="utf-8")
    return frames


def _run(args: argparse.Namespace) -> int:
    from hw_sim.scenario import ScenarioError

    try:
        frames = render_clip(
            args.scenario,
            args.seed,
            args.out,
            seconds=args.seconds,
            condition=args.condition,
            width=args.width,
            height=args.height,
            fps=args.fps,
            truth_out=args.truth,
            zones_out=args.zones_out,
        )
    except (ScenarioError, ValueError) as exc:
        print(f"lanectl sim render: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {frames} frames to {args.out}")
    return 0
