"""``lanectl site demo``: a whole site on loopback, its page in a browser, then a report.

Starts its own Mosquitto (``controller.site.broker``: generated users, hashed
passwords, the site ACL) on a free loopback port; N simulated lanes, each
``lanectl sim`` and ``lanectl run`` as two processes over Modbus TCP (the real
core against the plant, as ``lanectl demo`` runs one lane) publishing over MQTT;
and the supervisor with its page, in this process. Prints the page's URL with a
generated ``supervisor`` user and password, runs until Ctrl-C or ``--seconds``,
stops everything it started (lanes, sims, broker) and prints what each lane did
and what the supervisor decided. Logs go to files in the work directory
(``--keep DIR`` keeps them): ``supervisor.log``, ``run-LANE.log``, ``sim-LANE.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from controller.children import Children

__all__ = ["SiteDemoError", "register"]

SITE = "demo"
START_TIMEOUT_S = 30.0
OUTCOME_KINDS = ("vehicle_passed", "vehicle_sent_aside", "tailgate", "run_through")


class SiteDemoError(RuntimeError):
    """A part of the demo site did not start or stopped early (its log is named)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 12:
        raise argparse.ArgumentTypeError(f"{value}: use 1..12 lanes")
    return value


def register(site_sub: Any) -> None:
    p: argparse.ArgumentParser = site_sub.add_parser(
        "demo", help="a broker, N simulated lanes and the supervisor with its page, on loopback"
    )
    p.add_argument("--lanes", type=_positive_int, default=3, help="simulated lanes (default 3)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: at Ctrl-C)")
    p.add_argument("--scenario", default="checkpoint", help="hw_sim scenario of every lane")
    p.add_argument("--seed", type=int, default=1, help="lane i runs seed + i")
    p.add_argument("--staff", type=int, help="lanes the staff can run (default: all)")
    p.add_argument("--tick-s", type=float, default=1.0, help="the supervisor's policy period")
    p.add_argument("--port", type=int, default=0, help="the page's port (default: a free one)")
    p.add_argument(
        "--password-file",
        type=Path,
        metavar="F",
        help="the page user 'supervisor' gets the password in F (default: a random one)",
    )
    p.add_argument("--keep", metavar="DIR", help="keep configs, journals and logs in DIR")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_run)


def _lane_names(n: int) -> list[str]:
    return [f"lane{i + 1}" for i in range(n)]


def _page_password(args: argparse.Namespace) -> str:
    if args.password_file is None:
        return secrets.token_urlsafe(12)
    try:
        lines = args.password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SiteDemoError(
            f"--password-file: cannot read {args.password_file}: {exc.strerror}"
        ) from None
    return lines[0] if lines else ""


def _lane_config(workdir: Path, lane: str, io_port: int, broker_url: str) -> Path:
    lane_dir = workdir / lane
    path = lane_dir / "lane.toml"
    path.write_text(
        "\n".join(
            [
                "[lane]",
                f'name = "{lane}"',
                # Closed until the supervisor opens it: the page shows the policy at work.
                "open_on_start = false",
                "[io]",
                'host = "127.0.0.1"',
                f"port = {io_port}",
                "scan_ms = 20",
                "timeout_ms = 250",
                "missed_scans = 2",
                # N lanes and their sims share one machine with the supervisor (and often a
                # CI job): a stalled process must not trip the simulated I/O's watchdog.
                "watchdog_ms = 3000",
                "[journal]",
                f"path = {json.dumps(str(lane_dir / 'journal.sqlite'))}",
                "[api]",
                'host = "127.0.0.1"',
                "port = 0",
                "[mqtt]",
                f'url = "{broker_url}"',
                f'site = "{SITE}"',
                'password_file = "mqtt.pass"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def _site_toml(workdir: Path, args: argparse.Namespace, broker_port: int, lanes: int) -> Path:
    staff = lanes if args.staff is None else args.staff
    path = workdir / "site.toml"
    path.write_text(
        "\n".join(
            [
                "[site]",
                f'name = "{SITE}"',
                "[broker]",
                'host = "127.0.0.1"',
                f"port = {broker_port}",
                "[[users]]",
                'name = "supervisor"',
                'role = "supervisor"',
                'password_file = "secrets/supervisor"',
                "[store]",
                'username = "supervisor"',
                "[supervisor]",
                f"staff = {staff}",
                f"tick_s = {args.tick_s}",
                "command_timeout_s = 5",
                'journal = "supervisor.sqlite"',
                # A demo lasts minutes: the bounds of a working day shrunk to fit.
                "[supervisor.policy]",
                "open_wait_ms = 40000",
                "open_dwell_ms = 5000",
                "close_wait_ms = 10000",
                "close_dwell_ms = 30000",
                "min_open_ms = 60000",
                "min_lanes = 1",
                "[web]",
                'users_file = "users.json"',
                'host = "127.0.0.1"',
                f"port = {args.port}",
                "chart_bucket_s = 15",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def _secret(workdir: Path, name: str) -> str:
    password = secrets.token_urlsafe(16)
    path = workdir / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return password


def _run(args: argparse.Namespace) -> int:
    if args.seconds is not None and args.seconds <= 0:
        print("site demo: --seconds must be positive", file=sys.stderr)
        return 2
    if args.staff is not None and not 0 <= args.staff <= args.lanes:
        print(f"site demo: --staff: use 0..{args.lanes} (--lanes)", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"site demo: --port: {args.port} is outside 0..65535", file=sys.stderr)
        return 2
    if not 0.05 <= args.tick_s <= 60:
        print("site demo: --tick-s: use 0.05..60", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lanectl-site-")))
        try:
            report = _demo(args, workdir)
        except SiteDemoError as exc:
            print(f"\nsite demo: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    return 0 if report["journal_verified"] else 1


def _demo(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from controller.console.users import Role, UsersError, UsersFile
    from controller.logs import configure
    from controller.site.broker import Broker, BrokerError, User

    lanes = _lane_names(args.lanes)
    password = _page_password(args)
    users = UsersFile(workdir / "users.json")
    try:
        users.add("supervisor", Role.SUPERVISOR, password)
    except UsersError as exc:
        raise SiteDemoError(f"--password-file: {exc}") from None
    users.save()
    mqtt_users = [User("supervisor", _secret(workdir, "supervisor"), "supervisor", SITE)]
    for lane in lanes:
        (workdir / lane).mkdir(parents=True, exist_ok=True)
        secret = _secret(workdir, lane)
        (workdir / lane / "mqtt.pass").write_text(secret + "\n", encoding="utf-8")
        mqtt_users.append(User(lane, secret, "lane", SITE))
    broker = Broker(workdir / "broker", mqtt_users)
    try:
        broker.start()
    except BrokerError as exc:
        raise SiteDemoError(f"broker: {exc}") from None
    try:
        with Children(workdir, error=SiteDemoError, start_timeout_s=START_TIMEOUT_S) as children:
            for i, lane in enumerate(lanes):
                _, addr = children.start(
                    f"sim-{lane}",
                    [
                        *("sim", "--scenario", args.scenario, "--port", "0"),
                        *("--seed", str(args.seed + i)),
                    ],
                    "listening on",
                )
                config = _lane_config(workdir, lane, int(addr.rsplit(":", 1)[1]), broker.url)
                children.start(f"run-{lane}", ["run", "--config", str(config)], "api listening on")
            site_toml = _site_toml(workdir, args, broker.port, len(lanes))
            started = time.monotonic()
            # The supervisor's log goes to a file: the terminal keeps the URL, progress, report.
            with (workdir / "supervisor.log").open("w", encoding="utf-8") as log:
                configure(json=True, stream=log)
                summary = asyncio.run(_supervise(args, site_toml, children, password))
            duration = time.monotonic() - started
            # Each lane's controller before its sim, so no lane sees its bus go first.
            for child in reversed(children.running[:]):
                children.stop(child)
    finally:
        broker.stop()
    return _report(workdir, lanes, duration, summary)


async def _supervise(
    args: argparse.Namespace, site_toml: Path, children: Children, password: str
) -> dict[str, Any]:
    """The supervisor and its page until Ctrl-C, SIGTERM or ``--seconds``."""
    from controller.config import ConfigError
    from controller.site.page import SitePageError
    from controller.site.supconf import load_supervisor
    from controller.site.supervisor import Supervisor

    try:
        config = load_supervisor(site_toml)
    except ConfigError as exc:
        raise SiteDemoError(f"{site_toml}: {exc}") from None
    supervisor = Supervisor(config)
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(supervisor.run(stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        try:
            task.result()
        except SitePageError as exc:
            raise SiteDemoError(str(exc)) from None
        raise SiteDemoError("the supervisor stopped before it started")
    out = sys.stderr if args.json else sys.stdout
    print(f"site page: {supervisor.page_url} user supervisor password {password}", file=out)
    until = "Ctrl-C" if args.seconds is None else f"{args.seconds:g} s or Ctrl-C"
    print(f"site {SITE}: {args.lanes} lanes, running until {until}", file=out, flush=True)
    deadline = None if args.seconds is None else loop.time() + args.seconds
    error: SiteDemoError | None = None
    try:
        while not stop.is_set() and not task.done():
            if deadline is not None and loop.time() >= deadline:
                break
            try:
                children.check()
            except SiteDemoError as exc:
                error = exc
                break
            if sys.stderr.isatty():
                print(_progress(supervisor), end="", file=sys.stderr, flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        stop.set()
        await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if error is not None:
        raise error
    view = supervisor.tracker.view(supervisor.now_ms())
    return {
        "url": supervisor.page_url,
        "modes": {
            name: (t.state or {}).get("mode") for name, t in supervisor.tracker.lanes.items()
        },
        "open_at_end": sum(1 for v in view.lanes if v.status.value == "open"),
        "journal": config.journal,
    }


def _progress(supervisor: Any) -> str:
    parts = []
    for name, track in sorted(supervisor.tracker.lanes.items()):
        state = track.state or {}
        parts.append(f"{name} {state.get('mode', '?')} q{supervisor.tracker.queue(name)}")
    return "\r" + "  ".join(parts) + "   "


def _report(
    workdir: Path, lanes: list[str], duration: float, summary: dict[str, Any]
) -> dict[str, Any]:
    from controller.journal import read_events
    from controller.site.decisionlog import DecisionLog

    per_lane: dict[str, dict[str, Any]] = {}
    for lane in lanes:
        events = read_events(workdir / lane / "journal.sqlite")
        kinds = Counter(e["kind"] for e in events)
        per_lane[lane] = {
            "mode_at_end": summary["modes"].get(lane),
            **{k: kinds.get(k, 0) for k in OUTCOME_KINDS},
            "faults": kinds.get("fault_latched", 0),
            "supervisor_commands": kinds.get("remote_command", 0),
            "events": len(events),
        }
    log = DecisionLog(summary["journal"])
    try:
        rows = log.rows()
        verified = log.verify() == ""
    finally:
        log.close()
    decisions = Counter(
        f"{r['body']['action']} {r['lane']} ({r['body']['reason']})"
        for r in rows
        if r["kind"] == "decision"
    )
    return {
        "duration_s": round(duration, 1),
        "lanes": per_lane,
        "vehicles": sum(v["vehicle_passed"] for v in per_lane.values()),
        "open_lanes_at_end": summary["open_at_end"],
        "decisions": dict(decisions),
        "pins": sum(1 for r in rows if r["kind"] == "pin"),
        "page_logins": sum(1 for r in rows if r["kind"] == "login"),
        "journal_verified": verified,
        "page": summary["url"],
    }


def _print_report(report: dict[str, Any]) -> None:
    print(f"ran {report['duration_s']} s; page was {report['page']}")
    print("lane     mode at end  passed  aside  tailgate  run_through  faults  supervisor cmds")
    for lane, r in report["lanes"].items():
        print(
            f"{lane:<8} {r['mode_at_end']!s:<12} {r['vehicle_passed']:>6} "
            f"{r['vehicle_sent_aside']:>6} {r['tailgate']:>9} {r['run_through']:>12} "
            f"{r['faults']:>7} {r['supervisor_commands']:>16}"
        )
    print(f"decisions: {report['decisions'] or 'none'}")
    print(
        f"pins {report['pins']}, page logins {report['page_logins']}, "
        f"supervisor journal {'verified' if report['journal_verified'] else 'BROKEN'}"
    )
