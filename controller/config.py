"""One lane's TOML configuration, read into frozen dataclasses.

An integrator edits this file on site; a typo must stop the controller before
it touches the barrier, with a message that says which key of which file is
wrong. So every key is checked (unknown keys too), and every problem is a
``ConfigError`` naming the file and the dotted key.
"""

from __future__ import annotations

import ipaddress
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from controller.core.types import FailMode, LaneConfig
from controller.iomap import RegisterMap

__all__ = [
    "ApiConfig",
    "CameraConfig",
    "CameraZoneConfig",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "IoConfig",
    "JournalConfig",
    "LaneSection",
    "MqttConfig",
    "is_loopback",
    "load_config",
    "parse_config",
    "read_toml",
]


class ConfigError(ValueError):
    """A lane configuration problem; ``key`` is the dotted TOML key, ``path`` the file."""

    def __init__(self, path: str, key: str, message: str) -> None:
        self.path = path
        self.key = key
        self.message = message
        super().__init__(f"{path}: {key}: {message}")


@dataclass(frozen=True, slots=True)
class LaneSection:
    name: str = "lane"
    open_on_start: bool = True
    standstill_ms: int = 500
    """How long the camera's bay zone must be still before INSPECTING (core.standstill_ms)."""
    standstill_timeout_ms: int = 5000
    """How long past the loop rule a camera that never sees the bay still may hold a
    vehicle back (core.standstill_timeout_ms)."""


@dataclass(frozen=True, slots=True)
class IoConfig:
    """Where the lane's I/O is and how the scan loop talks to it."""

    transport: str = "tcp"
    host: str = "127.0.0.1"
    port: int = 502
    unit: int = 1
    timeout_ms: int = 50
    """Per-request timeout of the Modbus adapter."""
    connect_timeout_ms: int = 1000
    scan_ms: int = 10
    scan_priority: int = 0
    """SCHED_FIFO priority (1..99) asked for the scan thread; 0 leaves it time-shared."""
    scan_cpu: int | None = None
    """The one CPU the scan thread runs on (None: any)."""
    watchdog_ms: int = 500
    """Written to holding register 1 on every (re)connect (S9)."""
    missed_scans: int = 1
    """Failed scans tolerated (last inputs reused) before the core is told bus_ok=False."""
    reconnect_min_ms: int = 100
    reconnect_max_ms: int = 500
    """Cap of the reconnect backoff: the lane is back within about this (plus one request)
    after the bus returns; the issue asks for 1 s."""
    offsets: RegisterMap = field(default_factory=RegisterMap)
    device: str = ""
    """transport "rtu": the serial device (e.g. /dev/ttyUSB0)."""
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    cafile: Path | None = None
    """transport "tls": the CA that signed the I/O side's certificate (PEM)."""
    certfile: Path | None = None
    """transport "tls": this controller's client certificate (PEM)."""
    keyfile: Path | None = None
    """transport "tls": the private key of ``certfile`` (PEM)."""


@dataclass(frozen=True, slots=True)
class JournalConfig:
    path: Path = Path("lanectl-journal.sqlite")
    replay_hours: float = 24.0
    snapshot_s: int = 600
    """A state snapshot is written this often; the replay ring is cut at snapshots."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_body_bytes: int = 4096


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """``[console]``: the operator's web console (``controller.console``)."""

    users_file: Path
    host: str = "127.0.0.1"
    port: int = 8081
    session_minutes: int = 480
    stream_max_s: int = 300
    """Each event stream ends after this long and the page resumes it (re-checking the
    session), so a logged-out or expired session stops receiving."""
    shift_hours: int = 8
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False


@dataclass(frozen=True, slots=True)
class CameraZoneConfig:
    name: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """Passed as is to ``controller.vision.presence.from_config``."""

    url: str
    zones: tuple[CameraZoneConfig, ...] = ()
    detector: Mapping[str, Any] = field(default_factory=dict)
    process: bool = True
    """Run the detector in a child process (``controller.vision.process``), so that its
    work never holds the GIL the scan thread needs; false: in a thread of this process."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """``[mqtt]``: publish this lane to the site broker (controller.site.publisher)."""

    url: str
    site: str
    lane: str
    username: str
    password: str
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    lane: LaneSection
    io: IoConfig
    core: LaneConfig
    journal: JournalConfig
    api: ApiConfig
    camera: CameraConfig | None = None
    console: ConsoleConfig | None = None
    mqtt: MqttConfig | None = None


_TIMING_KEYS = (
    "amber_ms",
    "warn_ms",
    "travel_timeout_ms",
    "clear_delay_ms",
    "stop_debounce_ms",
    "presence_on_ms",
    "presence_off_ms",
    "stuck_loop_ms",
    "disagreement_ms",
)
_POLICY_KEYS = ("max_reversals", "auto_release_ms", "early_entry", "fail_mode")
_CAMERA_ZONES = ("approach", "bay", "barrier", "exit")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Reader:
    """Pops typed values from one TOML table, remembering the dotted prefix for errors."""

    def __init__(self, path: str, prefix: str, table: object) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(table, dict):
            raise ConfigError(path, prefix or "<root>", f"must be a table, got {_kind(table)}")
        self.table: dict[str, Any] = dict(table)

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.path, self.key(name), message)

    def sub(self, name: str) -> _Reader:
        return _Reader(self.path, self.key(name), self.table.pop(name, {}))

    def has(self, name: str) -> bool:
        return name in self.table

    def raw(self, name: str) -> Any:
        return self.table.pop(name)

    def string(self, name: str, default: str) -> str:
        value = self.table.pop(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, got {_kind(value)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.pop(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, got {_kind(value)}")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.table.pop(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            raise self.error(name, f"{value} is outside {lo}..{hi}")
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.table.pop(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number, got {_kind(value)}")
        if not lo <= value <= hi:
            raise self.error(name, f"{value} is outside {lo}..{hi}")
        return float(value)

    def done(self) -> None:
        for name in self.table:
            raise self.error(name, "unknown key")


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


def _host(r: _Reader, name: str, default: str) -> str:
    host = r.string(name, default)
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not host or any(c.isspace() for c in host):
                raise r.error(name, f"{host!r} is not a host name or address") from None
    return host


def _lane(r: _Reader) -> LaneSection:
    name = r.string("name", "lane")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise r.error("name", f"{name!r}: use letters, digits, '-' and '_'")
    section = LaneSection(
        name=name,
        open_on_start=r.boolean("open_on_start", True),
        standstill_ms=r.integer("standstill_ms", LaneConfig().standstill_ms, 0, 60_000),
        standstill_timeout_ms=r.integer(
            "standstill_timeout_ms", LaneConfig().standstill_timeout_ms, 0, 600_000
        ),
    )
    r.done()
    return section


_TRANSPORTS = ("tcp", "rtu", "tls")


def _tls_file(r: _Reader, name: str, base: Path, needed: bool) -> Path | None:
    if not r.has(name):
        if needed:
            raise r.error(name, "missing (transport 'tls' needs cafile, certfile and keyfile)")
        return None
    raw = r.string(name, "")
    if not needed:
        raise r.error(name, "only transport 'tls' takes a certificate file")
    if not raw:
        raise r.error(name, "must not be empty")
    path = Path(raw) if Path(raw).is_absolute() else base / raw
    if not path.is_file():
        raise r.error(name, f"{path}: no such file")
    return path


def _serial(r: _Reader, rtu: bool) -> dict[str, Any]:
    if not rtu:
        for name in ("device", "baudrate", "parity", "stopbits", "bytesize"):
            if r.has(name):
                raise r.error(name, "only transport 'rtu' takes serial line settings")
        return {}
    device = r.string("device", "")
    if not device:
        raise r.error("device", "missing (transport 'rtu' needs a serial device path)")
    parity = r.string("parity", "N")
    if parity not in ("N", "E", "O"):
        raise r.error("parity", f"{parity!r}: use 'N', 'E' or 'O'")
    stopbits = r.integer("stopbits", 1, 1, 2)
    return {
        "device": device,
        "baudrate": r.integer("baudrate", 19200, 300, 4_000_000),
        "parity": parity,
        "stopbits": stopbits,
        "bytesize": r.integer("bytesize", 8, 7, 8),
    }


def _io(r: _Reader, base: Path | None = None) -> IoConfig:
    transport = r.string("transport", "tcp")
    if transport not in _TRANSPORTS:
        raise r.error(
            "transport", f"{transport!r}: supported transports are {', '.join(_TRANSPORTS)}"
        )
    serial = _serial(r, transport == "rtu")
    tls = transport == "tls"
    where = base if base is not None else Path(".")
    cafile = _tls_file(r, "cafile", where, tls)
    certfile = _tls_file(r, "certfile", where, tls)
    keyfile = _tls_file(r, "keyfile", where, tls)
    host = _host(r, "host", "127.0.0.1")
    port = r.integer("port", 502, 1, 65535)
    unit = r.integer("unit", 1, 0, 247)
    timeout_ms = r.integer("timeout_ms", 50, 1, 10_000)
    connect_timeout_ms = r.integer("connect_timeout_ms", 1000, 10, 60_000)
    scan_ms = r.integer("scan_ms", 10, 2, 1000)
    scan_priority = r.integer("scan_priority", 0, 0, 99)
    scan_cpu = r.integer("scan_cpu", -1, -1, 4095)
    watchdog_ms = r.integer("watchdog_ms", 500, 20, 65535)
    missed = r.integer("missed_scans", 1, 0, 2)
    rmin = r.integer("reconnect_min_ms", 100, 10, 60_000)
    rmax = r.integer("reconnect_max_ms", 500, 10, 600_000)
    if rmax < rmin:
        raise r.error("reconnect_max_ms", f"{rmax} is under reconnect_min_ms {rmin}")
    if watchdog_ms < 3 * scan_ms:
        raise r.error("watchdog_ms", f"{watchdog_ms} is under three scans ({3 * scan_ms} ms)")
    off = r.sub("offsets")
    offsets = RegisterMap(
        discrete_input_base=off.integer("discrete_inputs", 0, 0, 65519),
        coil_base=off.integer("coils", 0, 0, 65519),
        holding_register_base=off.integer("holding_registers", 0, 0, 65519),
        input_register_base=off.integer("input_registers", 0, 0, 65519),
    )
    off.done()
    r.done()
    return IoConfig(
        transport=transport,
        host=host,
        port=port,
        unit=unit,
        timeout_ms=timeout_ms,
        connect_timeout_ms=connect_timeout_ms,
        scan_ms=scan_ms,
        scan_priority=scan_priority,
        scan_cpu=None if scan_cpu < 0 else scan_cpu,
        watchdog_ms=watchdog_ms,
        missed_scans=missed,
        reconnect_min_ms=rmin,
        reconnect_max_ms=rmax,
        offsets=offsets,
        cafile=cafile,
        certfile=certfile,
        keyfile=keyfile,
        **serial,
    )


def _core(timing: _Reader, policy: _Reader, watchdog_ms: int, lane: LaneSection) -> LaneConfig:
    defaults = LaneConfig()
    values: dict[str, Any] = {
        "watchdog_ms": watchdog_ms,
        "standstill_ms": lane.standstill_ms,
        "standstill_timeout_ms": lane.standstill_timeout_ms,
    }
    for name in _TIMING_KEYS:
        values[name] = timing.integer(name, getattr(defaults, name), 0, 86_400_000)
    if values["amber_ms"] < LaneConfig.AMBER_MIN_MS:
        raise timing.error(
            "amber_ms", f"{values['amber_ms']} is under the minimum {LaneConfig.AMBER_MIN_MS} (S6)"
        )
    timing.done()
    values["max_reversals"] = policy.integer("max_reversals", defaults.max_reversals, 1, 100)
    auto = policy.integer("auto_release_ms", 0, 0, 86_400_000)
    values["auto_release_ms"] = auto if auto > 0 else None
    values["early_entry"] = policy.boolean("early_entry", defaults.early_entry)
    fail = policy.string("fail_mode", defaults.fail_mode.value)
    try:
        values["fail_mode"] = FailMode(fail)
    except ValueError:
        raise policy.error("fail_mode", f"{fail!r}: use 'secure' or 'safe'") from None
    policy.done()
    known = {f.name for f in fields(LaneConfig)}
    return LaneConfig(**{k: v for k, v in values.items() if k in known})


def _journal(r: _Reader, base: Path) -> JournalConfig:
    raw = r.string("path", "lanectl-journal.sqlite")
    if not raw:
        raise r.error("path", "must not be empty")
    path = Path(raw)
    if not path.is_absolute():
        path = base / path
    hours = r.number("replay_hours", 24.0, 0.01, 24.0 * 366)
    snapshot_s = r.integer("snapshot_s", 600, 1, 86_400)
    r.done()
    return JournalConfig(path=path, replay_hours=hours, snapshot_s=snapshot_s)


def _api(r: _Reader, base: Path) -> ApiConfig:
    enabled = r.boolean("enabled", True)
    host = _host(r, "host", "127.0.0.1")
    port = r.integer("port", 8080, 0, 65535)
    max_body = r.integer("max_body_bytes", 4096, 64, 1_048_576)
    token: str | None = None
    if r.has("token") and r.has("token_file"):
        raise r.error("token_file", "give either token or token_file, not both")
    if r.has("token"):
        token = r.string("token", "")
        if len(token) < 16:
            raise r.error("token", "must be at least 16 characters")
    elif r.has("token_file"):
        raw = r.string("token_file", "")
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise r.error("token_file", f"cannot read {path}: {exc.strerror}") from None
        if len(token) < 16:
            raise r.error("token_file", f"{path}: the token must be at least 16 characters")
    r.done()
    if enabled and not is_loopback(host) and token is None:
        raise ConfigError(
            r.path, r.key("token"), f"required when the API binds to {host} (not loopback)"
        )
    return ApiConfig(enabled=enabled, host=host, port=port, token=token, max_body_bytes=max_body)


def _console(r: _Reader, base: Path) -> ConsoleConfig:
    raw_users = r.string("users_file", "")
    if not raw_users:
        raise r.error("users_file", "missing (the file `lanectl users add` writes)")
    users = Path(raw_users) if Path(raw_users).is_absolute() else base / raw_users
    host = _host(r, "host", "127.0.0.1")
    port = r.integer("port", 8081, 0, 65535)
    session_minutes = r.integer("session_minutes", 480, 1, 7 * 24 * 60)
    stream_max_s = r.integer("stream_max_s", 300, 1, 86_400)
    shift_hours = r.integer("shift_hours", 8, 1, 24)
    insecure = r.boolean("insecure_http", False)
    files: dict[str, Path] = {}
    for name in ("tls_cert", "tls_key"):
        if r.has(name):
            raw = r.string(name, "")
            path = Path(raw) if Path(raw).is_absolute() else base / raw
            if not raw or not path.is_file():
                raise r.error(name, f"{path}: no such file")
            files[name] = path
    r.done()
    if len(files) == 1:
        missing = "tls_key" if "tls_cert" in files else "tls_cert"
        raise r.error(missing, "missing (TLS needs both tls_cert and tls_key)")
    if not files and not insecure and not is_loopback(host):
        raise r.error(
            "tls_cert",
            f"required when the console binds to {host} (not loopback), "
            "unless insecure_http = true",
        )
    return ConsoleConfig(
        users_file=users,
        host=host,
        port=port,
        session_minutes=session_minutes,
        stream_max_s=stream_max_s,
        shift_hours=shift_hours,
        tls_cert=files.get("tls_cert"),
        tls_key=files.get("tls_key"),
        insecure_http=insecure,
    )


def _camera(r: _Reader) -> CameraConfig:
    url = r.string("url", "")
    if not url:
        raise r.error("url", "missing (a stream URL, device path or video file)")
    zones: list[CameraZoneConfig] = []
    raw_zones = r.raw("zone") if r.has("zone") else []
    if not isinstance(raw_zones, list):
        raise r.error("zone", "must be an array of tables ([[camera.zone]])")
    seen: set[str] = set()
    for i, item in enumerate(raw_zones):
        z = _Reader(r.path, f"{r.key('zone')}[{i}]", item)
        name = z.string("name", "")
        if name not in _CAMERA_ZONES:
            raise z.error("name", f"{name!r}: use one of {', '.join(_CAMERA_ZONES)}")
        if name in seen:
            raise z.error("name", f"{name!r} is given twice")
        seen.add(name)
        if not z.has("polygon"):
            raise z.error("polygon", "missing")
        poly = z.raw("polygon")
        if not isinstance(poly, list) or len(poly) < 3:
            raise z.error("polygon", "must be an array of at least 3 [x, y] points")
        points: list[tuple[float, float]] = []
        for j, pt in enumerate(poly):
            ok = (
                isinstance(pt, list)
                and len(pt) == 2
                and all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in pt
                )
            )
            if not ok:
                raise z.error(f"polygon[{j}]", f"must be [x, y] finite numbers, got {pt!r}")
            points.append((float(pt[0]), float(pt[1])))
        z.done()
        zones.append(CameraZoneConfig(name=name, polygon=tuple(points)))
    detector = r.raw("detector") if r.has("detector") else {}
    if not isinstance(detector, dict):
        raise r.error("detector", "must be a table")
    process = r.boolean("process", True)
    r.done()
    return CameraConfig(url=url, zones=tuple(zones), detector=detector, process=process)


def _topic_level(r: _Reader, name: str, default: str) -> str:
    value = r.string(name, default)
    if not value or not value.replace("-", "").replace("_", "").isalnum():
        raise r.error(name, f"{value!r}: use letters, digits, '-' and '_' (an MQTT topic level)")
    return value


_MQTT_TLS_FILES = ("cafile", "certfile", "keyfile")


def _mqtt_file(r: _Reader, name: str, base: Path, tls: bool) -> Path | None:
    if not r.has(name):
        return None
    raw = r.string(name, "")
    if not tls:
        raise r.error(name, "only an mqtts:// url takes certificate files")
    path = Path(raw) if Path(raw).is_absolute() else base / raw
    if not raw or not path.is_file():
        raise r.error(name, f"{path}: no such file")
    return path


def _mqtt(r: _Reader, base: Path, lane: str) -> MqttConfig:
    from urllib.parse import urlsplit

    url = r.string("url", "")
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise r.error("url", f"{url!r}: give mqtt://HOST:PORT or mqtts://HOST:PORT")
    try:
        _ = parts.port
    except ValueError:
        raise r.error("url", f"{url!r}: the port is not a number in 1..65535") from None
    if parts.username or parts.password:
        raise r.error("url", "no credentials in the URL: use username and password_file")
    site = _topic_level(r, "site", "")
    lane_name = _topic_level(r, "lane", lane)
    username = r.string("username", lane_name)
    if not username:
        raise r.error("username", "must not be empty")
    raw = r.string("password_file", "")
    if not raw:
        raise r.error("password_file", "missing (a file holding this lane's broker password)")
    pw_path = Path(raw) if Path(raw).is_absolute() else base / raw
    try:
        password = pw_path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise r.error("password_file", f"cannot read {pw_path}: {exc.strerror}") from None
    if not password:
        raise r.error("password_file", f"{pw_path}: empty")
    tls = parts.scheme == "mqtts"
    cafile, certfile, keyfile = (_mqtt_file(r, n, base, tls) for n in _MQTT_TLS_FILES)
    if (certfile is None) != (keyfile is None):
        raise r.error("keyfile" if keyfile is None else "certfile", "give certfile and keyfile")
    r.done()
    return MqttConfig(url, site, lane_name, username, password, cafile, certfile, keyfile)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Check and convert an already-parsed TOML document (``path`` is used for errors and
    for resolving relative paths)."""
    name = str(path)
    root = _Reader(name, "", dict(data))
    base = path.parent
    lane = _lane(root.sub("lane"))
    io = _io(root.sub("io"), base)
    core = _core(root.sub("timing"), root.sub("policy"), io.watchdog_ms, lane)
    journal = _journal(root.sub("journal"), base)
    api = _api(root.sub("api"), base)
    camera = _camera(root.sub("camera")) if root.has("camera") else None
    console = _console(root.sub("console"), base) if root.has("console") else None
    mqtt = _mqtt(root.sub("mqtt"), base, lane.name) if root.has("mqtt") else None
    root.done()
    return Config(
        path=path,
        lane=lane,
        io=io,
        core=core,
        journal=journal,
        api=api,
        camera=camera,
        console=console,
        mqtt=mqtt,
    )


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a table; a missing, unreadable, non-UTF-8 or malformed file raises
    ``ConfigError`` naming the file (the lane, site and supervisor configs share this)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), "<file>", "no such file") from None
    except OSError as exc:
        raise ConfigError(str(p), "<file>", f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), "<file>", f"not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "<toml>", f"bad TOML: {exc}") from None


def load_config(path: str | Path) -> Config:
    """Read and check a lane config file; every problem raises ``ConfigError``."""
    return parse_config(read_toml(path), Path(path))
