"""``lanectl demo``: the whole system in one command, for a new user and for CI.

Starts the simulated lane (``lanectl sim``) and the controller (``lanectl run``)
as two processes talking Modbus TCP on free loopback ports, lets the simulated
operator work the lane for a few minutes with a progress line on stderr, stops
both, and reports what happened, holding the controller's journal against the
plant's ground truth: ``boom_contacts`` and ``lost`` must be 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import secrets
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from controller.children import Children
from controller.commands.sim_render import camera_condition
from controller.journal import PASSAGE_KINDS, read_events, read_passages, read_run_stats

__all__ = ["DemoError", "build_report", "match_crossings", "register"]

START_TIMEOUT_S = 30.0
MATCH_TOLERANCE_MS = 3000
END_MARGIN_MS = 5000


class DemoError(RuntimeError):
    """A child process did not start, or exited early (its log path is in the message)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run the simulated lane and the controller, then report")
    parser.add_argument("--minutes", type=float, default=2.0, help="run time (default 2)")
    parser.add_argument("--scenario", default="checkpoint", help="hw_sim scenario name")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scan-ms", type=int, default=10, help="controller scan period")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--keep", metavar="DIR", help="keep journal, truth and logs in DIR")
    parser.add_argument(
        "--no-camera", action="store_true", help="run on loops and photocell only (no camera)"
    )
    parser.add_argument(
        "--camera-condition",
        type=camera_condition,
        default="day",
        help="what the simulated camera sees",
    )
    parser.add_argument(
        "--console-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the operator's web console on 127.0.0.1:PORT (default: a free port)",
    )
    parser.add_argument(
        "--console-password-file",
        type=Path,
        metavar="F",
        help="the console user 'operator' gets the password in F (default: a random one)",
    )
    parser.add_argument(
        "--mqtt", metavar="URL", help="also publish the lane to this running broker (mqtt://H:P)"
    )
    parser.add_argument("--mqtt-site", default="demo", help="site name in the topics")
    parser.add_argument("--mqtt-user", default="demo", help="broker user, also the lane's name")
    parser.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        help="the broker user's password (needed with --mqtt)",
    )
    parser.set_defaults(func=_run)


def _console_user(args: argparse.Namespace, workdir: Path) -> tuple[list[str], str]:
    """A users file with one ``operator`` user; the ``[console]`` lines and the password."""
    from controller.console.users import Role, UsersError, UsersFile

    if args.console_password_file is not None:
        try:
            lines = args.console_password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DemoError(
                f"--console-password-file: cannot read {args.console_password_file}: {exc.strerror}"
            ) from None
        password = lines[0] if lines else ""
    else:
        password = secrets.token_urlsafe(12)
    users = UsersFile(workdir / "users.json")
    try:
        users.add("operator", Role.OPERATOR, password)
    except UsersError as exc:
        raise DemoError(f"--console-password-file: {exc}") from None
    users.save()
    toml = [
        "[console]",
        f"users_file = {json.dumps(str(users.path))}",
        'host = "127.0.0.1"',
        f"port = {args.console_port}",
    ]
    return toml, password


def _mqtt_toml(args: argparse.Namespace) -> list[str]:
    """The ``[mqtt]`` section for ``--mqtt`` (empty without it)."""
    if not args.mqtt:
        return []
    password_file = Path(args.mqtt_password_file).resolve()
    return [
        "[mqtt]",
        f"url = {json.dumps(args.mqtt)}",
        f"site = {json.dumps(args.mqtt_site)}",
        f"lane = {json.dumps(args.mqtt_user)}",
        f"username = {json.dumps(args.mqtt_user)}",
        f"password_file = {json.dumps(str(password_file))}",
    ]


def _camera_toml(info: dict[str, Any], frame_log: Path) -> list[str]:
    """The ``[camera]`` section for the simulated camera's URL and zones."""
    lines = ["[camera]", f"url = {json.dumps(info['url'])}", "[camera.detector]"]
    lines.append(f"frame_log = {json.dumps(str(frame_log))}")
    for zone in info["zones"]:
        points = ", ".join(f"[{x}, {y}]" for x, y in zone["polygon"])
        lines += ["[[camera.zone]]", f"name = {json.dumps(zone['name'])}", f"polygon = [{points}]"]
    return lines


def _write_config(
    path: Path,
    *,
    port: int,
    journal: Path,
    scan_ms: int,
    camera: list[str] | None = None,
    console: list[str] | None = None,
) -> None:
    path.write_text(
        "\n".join(
            [
                "[lane]",
                'name = "demo"',
                "open_on_start = true",
                "[io]",
                'host = "127.0.0.1"',
                f"port = {port}",
                f"scan_ms = {scan_ms}",
                # The demo shares its machine with the simulator (and often a CI job):
                # a little more patience per request than a dedicated lane PC needs.
                "timeout_ms = 100",
                "missed_scans = 2",
                "[journal]",
                f'path = "{journal}"',
                "[api]",
                'host = "127.0.0.1"',
                "port = 0",
                *(console or []),
                *(camera or []),
                "",
            ]
        ),
        encoding="utf-8",
    )


def _get_json(url: str, timeout_s: float = 1.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _read_truth(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data


def _iso_ms(text: str) -> float:
    return _dt.datetime.fromisoformat(text).timestamp() * 1000.0


def match_crossings(
    truth_ms: list[tuple[int, int, str]],
    journal_ms: list[tuple[float, str]],
    *,
    tolerance_ms: float = MATCH_TOLERANCE_MS,
    offset_hint_ms: float | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int], float]:
    """Pair truth crossings (sim ms) with journal passages (wall ms), in order.

    A truth crossing is (front across the line, rear clear of the exit, kind):
    the controller counts a vehicle somewhere in between (a long truck creeping
    out is counted seconds after its front crossed), so a passage pairs with it
    anywhere in that span, give or take ``tolerance_ms``. The two clocks differ
    by an unknown offset: try the offsets that line up any pair (near
    ``offset_hint_ms`` when given) and keep the one that pairs the most.
    Returns (pairs of indexes, unmatched truth, unmatched journal, offset).
    """
    candidates = {offset_hint_ms} if offset_hint_ms is not None else set()
    for start, end, _ in truth_ms:
        for j, _ in journal_ms:
            for off in (j - start, j - end):
                if offset_hint_ms is None or abs(off - offset_hint_ms) <= 10_000:
                    candidates.add(off)
    best: tuple[int, float, list[tuple[int, int]]] = (-1, 0.0, [])
    hint = offset_hint_ms
    for off in sorted(candidates, key=lambda o: 0.0 if hint is None else abs(o - hint)):
        pairs = _pair(truth_ms, journal_ms, off, tolerance_ms)
        if len(pairs) > best[0]:
            best = (len(pairs), off, pairs)
    _, offset, pairs = best
    matched_t = {p[0] for p in pairs}
    matched_j = {p[1] for p in pairs}
    lost_t = [i for i in range(len(truth_ms)) if i not in matched_t]
    extra_j = [i for i in range(len(journal_ms)) if i not in matched_j]
    return pairs, lost_t, extra_j, offset


def _pair(
    truth_ms: list[tuple[int, int, str]],
    journal_ms: list[tuple[float, str]],
    off: float,
    tol: float,
) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    j = 0
    for i, (start, end, _) in enumerate(truth_ms):
        while j < len(journal_ms) and journal_ms[j][0] - off < start - tol:
            j += 1
        if j < len(journal_ms) and journal_ms[j][0] - off <= max(start, end) + tol:
            pairs.append((i, j))
            j += 1
    return pairs


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


def build_report(
    truth: dict[str, Any],
    journal: Path,
    *,
    sim_wall0_ms: float,
    stop_wall_ms: float,
    duration_s: float,
) -> dict[str, Any]:
    """The demo's report from the truth JSON and the controller's journal."""
    vehicles: list[dict[str, Any]] = truth.get("vehicles", [])
    contacts: list[dict[str, Any]] = truth.get("contacts", [])
    events = read_events(journal)
    passages = read_passages(journal)
    kinds = [e["kind"] for e in events]
    stats = read_run_stats(journal)
    last_stats = stats[-1] if stats else {}

    # Crossings the controller could have journalled: not the ones still rolling at the end.
    end_sim_ms = stop_wall_ms - sim_wall0_ms - END_MARGIN_MS
    crossed = sorted(
        (
            int(v["crossing_ms"]),
            int(v.get("cleared_ms") or v["crossing_ms"]),
            str(v.get("crossing")),
        )
        for v in vehicles
        if v.get("crossing_ms")
    )
    truth_in_window = [c for c in crossed if c[0] <= end_sim_ms]
    journal_ms = [(_iso_ms(p["wall"]), str(p["kind"])) for p in passages]
    pairs, lost_t, extra_j, offset = match_crossings(
        truth_in_window, journal_ms, offset_hint_ms=sim_wall0_ms
    )
    # A passage that pairs with a crossing after the window's end is not a double count.
    late = [c for c in crossed if c[0] > end_sim_ms]
    _, _, extra_after_late, _ = match_crossings(
        late, [journal_ms[i] for i in extra_j], offset_hint_ms=offset
    )
    kind_names = {"passed": "vehicle_passed", "tailgate": "tailgate", "run_through": "run_through"}
    misclassified = sum(
        1 for i, j in pairs if kind_names.get(truth_in_window[i][2]) != journal_ms[j][1]
    )
    times = [
        (int(v["cleared_ms"]) - int(v["bay_entry_ms"])) / 1000.0
        for v in vehicles
        if v.get("cleared_ms") is not None and v.get("bay_entry_ms") is not None
    ]
    passed = sum(1 for p in passages if p["kind"] in PASSAGE_KINDS)
    return {
        "arrived": sum(1 for v in vehicles if v.get("spawn_ms") is not None),
        "passed": kinds.count("vehicle_passed"),
        "sent_aside": kinds.count("vehicle_sent_aside"),
        "violations": kinds.count("tailgate") + kinds.count("run_through"),
        "tailgates": kinds.count("tailgate"),
        "run_throughs": kinds.count("run_through"),
        "throughput_vph": round(passed * 3600.0 / duration_s, 1) if duration_s > 0 else 0.0,
        "time_in_lane_mean_s": round(sum(times) / len(times), 2) if times else 0.0,
        "time_in_lane_p95_s": round(_percentile(times, 0.95), 2),
        "faults": kinds.count("fault_latched"),
        "boom_contacts": len(contacts),
        "boom_lowered_onto_vehicle": sum(1 for c in contacts if c.get("cause") == "boom_lowered"),
        "lost": len(lost_t) + len(extra_after_late),
        "misclassified": misclassified,
        "crossings_truth": len(truth_in_window),
        "crossings_journal": len(journal_ms),
        "in_flight_at_end": len(late),
        "scan_p50_ms": last_stats.get("scan_p50_ms"),
        "scan_p99_ms": last_stats.get("scan_p99_ms"),
        "overruns": last_stats.get("overruns"),
        "scans": last_stats.get("scans"),
        "bus_failures": last_stats.get("bus_failures"),
        "duration_s": round(duration_s, 1),
    }


def _progress(api_url: str, truth_path: Path, elapsed: float, total: float) -> str:
    try:
        status = _get_json(f"{api_url}/status")
    except (OSError, ValueError):
        status = {}
    core = status.get("core", {}) if isinstance(status, dict) else {}
    truth = _read_truth(truth_path) or {}
    summary = truth.get("summary", {})
    return (
        f"\r[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}/"
        f"{int(total) // 60:02d}:{int(total) % 60:02d}] "
        f"mode {core.get('mode', '?')} phase {core.get('phase', '?')} "
        f"count {core.get('count', core.get('vehicle_count', '?'))} "
        f"arrived {summary.get('vehicles', '?')} contacts {summary.get('boom_contacts', '?')}   "
    )


def _run(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        print("demo: --minutes must be positive", file=sys.stderr)
        return 2
    if not 0 <= args.console_port <= 65535:
        print(f"demo: --console-port: {args.console_port} is outside 0..65535", file=sys.stderr)
        return 2
    if args.mqtt and not args.mqtt_password_file:
        print("demo: --mqtt-password-file is needed with --mqtt", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lanectl-demo-")))
        try:
            report = _demo(args, workdir)
        except DemoError as exc:
            print(f"\ndemo: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report, sort_keys=False))
    else:
        width = max(len(k) for k in report)
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    return 0 if report["boom_contacts"] == 0 and report["lost"] == 0 else 1


def _demo(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    truth_path = workdir / "truth.json"
    camera_info = workdir / "camera_info.json"
    camera_truth = workdir / "camera_truth.json"
    camera_frames = workdir / "camera_frames.json"
    journal = workdir / "journal.sqlite"
    config_path = workdir / "lane.toml"
    with Children(workdir, error=DemoError, start_timeout_s=START_TIMEOUT_S) as children:
        sim_args = [
            "sim",
            "--scenario",
            args.scenario,
            "--port",
            "0",
            "--seed",
            str(args.seed),
            "--truth-out",
            str(truth_path),
        ]
        if not args.no_camera:
            sim_args += [
                "--camera-port",
                "0",
                "--camera-condition",
                args.camera_condition,
                "--camera-info-out",
                str(camera_info),
                "--camera-log",
                str(camera_truth),
            ]
        sim, addr = children.start("sim", sim_args, "listening on")
        sim_wall0_ms = time.time() * 1000.0
        port = int(addr.rsplit(":", 1)[1])
        camera = None
        if not args.no_camera:
            info = json.loads(camera_info.read_text(encoding="utf-8"))
            camera = _camera_toml(info, camera_frames)
        console, password = _console_user(args, workdir)
        _write_config(
            config_path,
            port=port,
            journal=journal,
            scan_ms=args.scan_ms,
            camera=[*(camera or []), *_mqtt_toml(args)],
            console=console,
        )
        run, console_url = children.start(
            "run", ["run", "--config", str(config_path)], "console listening on"
        )
        api_line = next(ln for ln in run.lines if ln.startswith("api listening on"))
        api_url = api_line.removeprefix("api listening on").strip()
        # Before the run starts; with --json on stderr, so stdout stays one JSON object.
        print(
            f"console: {console_url} user operator password {password}",
            file=sys.stderr if args.json else sys.stdout,
            flush=True,
        )
        total = args.minutes * 60.0
        t0 = time.monotonic()

        def progress() -> None:
            elapsed = time.monotonic() - t0
            print(_progress(api_url, truth_path, elapsed, total), end="", file=sys.stderr)
            sys.stderr.flush()

        children.watch(t0 + total, poll_s=1.0, tick=progress)
        duration = time.monotonic() - t0
        stop_wall_ms = time.time() * 1000.0
        print(file=sys.stderr)
        children.stop(run, what="run")
        children.stop(sim)
    truth = _read_truth(truth_path)
    if truth is None:
        raise DemoError(f"no ground truth in {truth_path}; see {workdir / 'sim.log'}")
    report = build_report(
        truth,
        journal,
        sim_wall0_ms=sim_wall0_ms,
        stop_wall_ms=stop_wall_ms,
        duration_s=duration,
    )
    if not args.no_camera:
        from controller.commands.eval_vision import camera_report

        try:
            sim_log = json.loads(camera_truth.read_text(encoding="utf-8"))
            ctrl_log = json.loads(camera_frames.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DemoError(f"camera logs missing in {workdir}: {exc}") from exc
        report.update(camera_report(sim_log, ctrl_log))
    return report
