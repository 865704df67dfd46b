"""``lanectl bench hil --load``: the edge -> coil benchmark while the controller is busy.

The same two processes as ``controller.bench.hil``, but the ``lanectl run``
process also does what a real lane's does beside the scan: the presence
detector on the simulator's camera (1280x720 at 25 fps, MJPEG over HTTP),
``SSE_CLIENTS`` console pages on the event stream (``GET /events``, one
logged-in viewer session) and the MQTT publisher to a Mosquitto broker
started here on a free loopback port. Each load part is checked to have
really run -- the pages received events, the broker delivered the lane's
state messages to a subscriber, the detector logged processed frames -- and
reported under ``load``; a part that could not start (no Mosquitto) is
reported with why, and the benchmark runs without it.

The camera is a simulator of its own (``lanectl sim`` on the ``checkpoint``
scenario, its Modbus port unused), not the one behind the lane's I/O: on site
the camera and the I/O module are separate devices, and a simulator rendering
and JPEG-encoding 1280x720 frames shares its GIL with its own Modbus server,
which then answers late -- the rig's delay, not the controller's (with the
camera in the I/O simulator, ``sim_camera`` alone raised the read round trip's
p99 from 7.1 to 12.5 ms at a 5 ms scan).

``parts`` picks which load parts run (all by default), to find which of them
costs the scan its deadlines: ``detector`` (the camera simulator and the
controller's detector on it), ``sim_camera`` (only the camera simulator,
which nobody reads: what that part of the rig costs the machine),
``sse`` (the console and its event-stream pages) and ``mqtt``. ``camera_process``
sets ``[camera] process`` (None: the config's default); the detector's part
says where it ran.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controller.bench.hil import HilError, measure_period
from controller.bench.stats import summary
from controller.children import Child, start_child, stop_child

__all__ = [
    "CAMERA_FPS",
    "CAMERA_SIZE",
    "LOAD_PARTS",
    "PERIODS_MS",
    "SSE_CLIENTS",
    "LaneLoad",
    "camera_sim_args",
    "parse_parts",
    "run",
]

PERIODS_MS: tuple[int, ...] = (5, 2)
CAMERA_SIZE = "1280x720"
CAMERA_FPS = 25
SSE_CLIENTS = 20
LOAD_PARTS: tuple[str, ...] = ("detector", "sse", "mqtt", "sim_camera")
"""Every load part; the default load is all but ``sim_camera`` (which ``detector`` includes)."""
DEFAULT_PARTS: tuple[str, ...] = ("detector", "sse", "mqtt")
QUIET_S = 6.0
"""The controller with its camera, console and publisher starts slower than the bare one."""
CLIENT_TIMEOUT_S = 10.0
CAMERA_START_S = 20.0
_VIEWER = ("bench-viewer", "bench-viewer-password")
_SITE = "bench"
_LANE = "bench"
_LANE_PASSWORD = "bench-lane-password"
_STORE = ("bench-store", "bench-store-password")


def camera_sim_args(info_path: Path) -> list[str]:
    """``lanectl sim`` serving only the bench camera; it writes its stream's URL to
    ``info_path``."""
    return [
        *("sim", "--scenario", "checkpoint", "--port", "0", "--camera-port", "0"),
        *("--camera-size", CAMERA_SIZE, "--camera-fps", str(CAMERA_FPS)),
        *("--camera-info-out", str(info_path)),
    ]


class SseClients:
    """``n`` event-stream pages on one viewer session, in a thread with its own event loop.

    Counts the SSE events each page received, by event type."""

    def __init__(self, url: str, user: str, password: str, n: int) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.counts: list[collections.Counter[str]] = [collections.Counter() for _ in range(n)]
        self.errors: list[str] = []
        self.connected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="bench-sse", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.connected.wait(CLIENT_TIMEOUT_S) or self.errors:
            self.stop()
            raise HilError(f"console event streams did not open: {self.errors or 'timeout'}")

    def stop(self) -> None:
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(CLIENT_TIMEOUT_S)

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._amain())
        finally:
            self._loop.close()

    async def _amain(self) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CLIENT_TIMEOUT_S)
        jar = aiohttp.CookieJar(unsafe=True)  # the console is on 127.0.0.1, an IP address
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
            try:
                async with session.post(
                    f"{self.url}/api/login", json={"user": self.user, "password": self.password}
                ) as resp:
                    if resp.status != 200:
                        body = (await resp.text())[:200]
                        raise HilError(f"console login: HTTP {resp.status}: {body}")
            except (aiohttp.ClientError, HilError) as exc:
                self.errors.append(f"login: {exc}")
                self.connected.set()
                return
            opened: list[asyncio.Event] = [asyncio.Event() for _ in self.counts]
            tasks = [
                asyncio.create_task(self._page(session, i, opened[i]))
                for i in range(len(self.counts))
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(e.wait() for e in opened)), CLIENT_TIMEOUT_S
                )
            self.connected.set()
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _page(self, session: Any, i: int, opened: asyncio.Event) -> None:
        import aiohttp

        try:
            async with session.get(f"{self.url}/events") as resp:
                if resp.status != 200:
                    self.errors.append(f"page {i}: GET /events: HTTP {resp.status}")
                    opened.set()
                    return
                opened.set()
                async for line in resp.content:
                    if line.startswith(b"event: "):
                        self.counts[i][line[7:].strip().decode("ascii", "replace")] += 1
        except aiohttp.ClientError as exc:
            self.errors.append(f"page {i}: {type(exc).__name__}: {exc}")
            opened.set()


def parse_parts(text: str) -> tuple[str, ...]:
    """Load parts from a comma-separated list (``detector,sse``); ValueError names the
    unknown ones."""
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in parts if p not in LOAD_PARTS]
    if unknown or not parts:
        raise ValueError(
            f"load parts: {', '.join(unknown) or 'none given'}: use one or more of "
            + ", ".join(LOAD_PARTS)
        )
    return parts


class LaneLoad:
    """The load parts of one run (a fresh one per attempt): camera, console pages, MQTT."""

    def __init__(
        self,
        workdir: Path,
        tag: str,
        parts: tuple[str, ...] = DEFAULT_PARTS,
        camera_process: bool | None = None,
    ) -> None:
        self.parts = frozenset(parse_parts(",".join(parts)))
        self.camera_process = camera_process
        self.dir = workdir / f"load-{tag}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.info_path = self.dir / "camera-info.json"
        self.frame_log = self.dir / "camera-frames.json"
        self.broker: Any = None
        self.mqtt_missing: str | None = None
        self.listener: Any = None
        self.state_messages = 0
        self.sse: SseClients | None = None
        self.console_url = ""
        self.camera_sim: Child | None = None

    def sim_args(self) -> list[str]:
        """Nothing: the I/O simulator serves no camera (the camera has its own)."""
        return []

    def _start_camera(self) -> None:
        """The camera simulator, in a process of its own (stopped by ``stop``)."""
        self.camera_sim, _ = start_child(
            "camera-sim",
            camera_sim_args(self.info_path),
            self.dir,
            "listening on",
            timeout_s=CAMERA_START_S,
            error=HilError,
        )

    def config_toml(self) -> str:
        lines: list[str] = []
        if self.parts & {"detector", "sim_camera"}:
            self._start_camera()
        if "detector" in self.parts:
            lines += self._camera_toml()
        if "sse" in self.parts:
            lines += self._console_toml()
        url = self._start_broker() if "mqtt" in self.parts else None
        if url is not None:
            password_file = self.dir / "lane-password"
            password_file.write_text(_LANE_PASSWORD + "\n", encoding="utf-8")
            lines += [
                "[mqtt]",
                f"url = {json.dumps(url)}",
                f"site = {json.dumps(_SITE)}",
                f"lane = {json.dumps(_LANE)}",
                f"username = {json.dumps(_LANE)}",
                f"password_file = {json.dumps(str(password_file))}",
            ]
        return "\n".join(lines) + "\n"

    def _camera_toml(self) -> list[str]:
        info = json.loads(self.info_path.read_text(encoding="utf-8"))
        lines = ["[camera]", f"url = {json.dumps(str(info['url']))}"]
        if self.camera_process is not None:
            lines.append(f"process = {json.dumps(self.camera_process)}")
        lines += [
            "[camera.detector]",
            f"frame_log = {json.dumps(str(self.frame_log))}",
        ]
        for zone in info["zones"]:
            points = ", ".join(f"[{float(x)}, {float(y)}]" for x, y in zone["polygon"])
            lines += [
                "[[camera.zone]]",
                f"name = {json.dumps(zone['name'])}",
                f"polygon = [{points}]",
            ]
        return lines

    def _console_toml(self) -> list[str]:
        from controller.console.users import Role, UsersFile

        users = UsersFile(self.dir / "users.json")
        users.add(_VIEWER[0], Role.VIEWER, _VIEWER[1])
        users.save()
        return [
            "[console]",
            f"users_file = {json.dumps(str(self.dir / 'users.json'))}",
            'host = "127.0.0.1"',
            "port = 0",
        ]

    def _start_broker(self) -> str | None:
        from controller.site.broker import Broker, BrokerError, User

        users = [
            User(_LANE, _LANE_PASSWORD, "lane", _SITE),
            User(_STORE[0], _STORE[1], "store", _SITE),
        ]
        broker = Broker(self.dir / "broker", users)
        try:
            broker.start()
        except BrokerError as exc:
            self.mqtt_missing = str(exc)
            return None
        self.broker = broker
        return str(broker.url)

    def start(self, ctl: Child) -> None:
        if self.broker is not None:
            self._listen()
        if "sse" not in self.parts:
            return
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        prefix = "console listening on"
        while not (line := next((ln for ln in ctl.lines if ln.startswith(prefix)), "")):
            if time.monotonic() > deadline or ctl.proc.poll() is not None:
                raise HilError(f"the controller's console did not start; see {ctl.log_path}")
            time.sleep(0.05)
        self.console_url = line[len(prefix) :].strip().rstrip("/")
        self.sse = SseClients(self.console_url, *_VIEWER, SSE_CLIENTS)
        self.sse.start()

    def _listen(self) -> None:
        from controller.site.mqtt import BrokerAddress, Message, MqttLink

        topic = f"lanectl/{_SITE}/{_LANE}/state"
        ready = threading.Event()

        def on_message(message: Message) -> None:
            if message.topic == topic:
                self.state_messages += 1

        def on_connect(_n: int, ok: bool, _reason: str) -> None:
            if ok:
                link.subscribe(topic, qos=0)
                ready.set()

        link = MqttLink(
            BrokerAddress(self.broker.host, self.broker.port),
            client_id="bench-hil-load-listener",
            username=_STORE[0],
            password=_STORE[1],
            on_connect=on_connect,
            on_message=on_message,
        )
        link.start()
        self.listener = link
        if not ready.wait(CLIENT_TIMEOUT_S):
            raise HilError(f"the bench's MQTT subscriber did not connect to {self.broker.url}")

    def stop(self) -> None:
        try:
            if self.sse is not None:
                self.sse.stop()
            if self.listener is not None:
                self.listener.stop()
                self.listener = None
        finally:
            try:
                if self.broker is not None:
                    self.broker.stop()  # never left behind, whatever the clients did
            finally:
                if self.camera_sim is not None:
                    stop_child(self.camera_sim)
                    self.camera_sim = None

    def report(self) -> tuple[dict[str, Any], ...]:
        parts: list[dict[str, Any]] = []
        camera = f"{CAMERA_SIZE}@{CAMERA_FPS}"
        if "sim_camera" in self.parts:
            parts.append({"name": "sim_camera", "ran": self.info_path.is_file(), "camera": camera})
        if "detector" in self.parts:
            parts.append(self._detector_report(camera))
        if self.sse is not None:
            per_page = [sum(c.values()) for c in self.sse.counts]
            kinds: collections.Counter[str] = collections.Counter()
            for c in self.sse.counts:
                kinds.update(c)
            parts.append(
                {
                    "name": "sse",
                    "ran": min(per_page) > 0 and not self.sse.errors,
                    "clients": len(per_page),
                    "events_min": min(per_page),
                    "events_total": sum(per_page),
                    "by_kind": dict(sorted(kinds.items())),
                    "errors": self.sse.errors[:5],
                }
            )
        if self.mqtt_missing is not None:
            parts.append({"name": "mqtt", "ran": False, "why": self.mqtt_missing})
        elif "mqtt" in self.parts:
            parts.append(
                {
                    "name": "mqtt",
                    "ran": self.state_messages > 0,
                    "state_messages": self.state_messages,
                }
            )
        return tuple(parts)

    def _detector_report(self, camera: str) -> dict[str, Any]:
        try:
            frames = json.loads(self.frame_log.read_text(encoding="utf-8")).get("frames", [])
        except (OSError, ValueError) as exc:
            return {"name": "detector", "ran": False, "why": f"no frame log: {exc}"}
        return {
            "name": "detector",
            "ran": len(frames) > 0,
            "frames": len(frames),
            "camera": camera,
            "camera_sim": "own process",
            "process": self._camera_process(),
        }

    def _camera_process(self) -> bool:
        """Where the detector ran: as asked, else the config's default."""
        if self.camera_process is not None:
            return self.camera_process
        from controller.config import CameraConfig

        return CameraConfig(url="").process


def _fresh_load(
    workdir: Path,
    scan_ms: int,
    attempt: Iterator[int],
    parts: tuple[str, ...],
    camera_process: bool | None,
) -> LaneLoad:
    return LaneLoad(workdir, f"{scan_ms}ms-{next(attempt)}", parts, camera_process)


def run(
    quick: bool = False,
    periods: tuple[int, ...] = PERIODS_MS,
    parts: tuple[str, ...] = DEFAULT_PARTS,
    camera_process: bool | None = None,
) -> dict[str, Any]:
    """``{"edge_to_coil_ms": {"5": {p50, p99, ...}, "2": ...}, "overrun_share": {...},
    "load": [...], "runs": {...}}``; ``load`` lists each part per scan period."""
    parts = parse_parts(",".join(parts))
    seconds = 4.0 if quick else 30.0
    latency: dict[str, Any] = {}
    overruns: dict[str, float] = {}
    runs: dict[str, Any] = {}
    load: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lanectl-bench-hil-load-") as tmp:
        workdir = Path(tmp)
        for scan_ms in periods:
            make = functools.partial(
                _fresh_load, workdir, scan_ms, itertools.count(1), parts, camera_process
            )
            result = measure_period(scan_ms, seconds, workdir, quiet_s=QUIET_S, load=make)
            key = str(scan_ms)
            latency[key] = summary(result.samples_ms)
            overruns[key] = round(result.overruns / result.scans, 4) if result.scans else 0.0
            runs[key] = result.as_run()
            load += [{"scan_ms": scan_ms, **part} for part in result.load]
    return {"edge_to_coil_ms": latency, "overrun_share": overruns, "load": load, "runs": runs}
