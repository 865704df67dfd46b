"""The MQTT parts of a site config (``site.toml``): site name, broker, users, store, bridge.

Only the tables read here are checked (``[site]``, ``[broker]``, ``[[users]]``,
``[store]``, ``[bridge]``); the supervisor reads its own tables from the same file.
Every problem is a ``ConfigError`` naming the file and the dotted key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config import ConfigError, read_toml
from controller.site.broker import ROLES, BrokerTls, User
from controller.site.mqtt import BrokerAddress, parse_url

__all__ = ["BridgeSettings", "SiteMqtt", "load_site_mqtt", "parse_site_mqtt"]


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The site broker's bridge into the region broker."""

    url: str
    username: str
    password: str
    cafile: Path | None = None


@dataclass(frozen=True, slots=True)
class SiteMqtt:
    path: Path
    site: str
    host: str
    port: int
    data_dir: Path
    users: tuple[User, ...]
    tls: BrokerTls | None
    store_path: Path
    store_user: str
    bridge: BridgeSettings | None

    def user(self, name: str) -> User:
        for u in self.users:
            if u.name == name:
                return u
        raise ConfigError(str(self.path), "users", f"no user {name!r}")

    def address(self) -> BrokerAddress:
        """How a site-side client reaches this broker."""
        if self.tls is None:
            return BrokerAddress(self.host, self.port)
        return BrokerAddress(self.host, self.port, True, str(self.tls.cafile))


class _Table:
    def __init__(self, path: Path, prefix: str, raw: Any) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(raw, dict):
            raise ConfigError(str(path), prefix, "must be a table")
        self.raw: dict[str, Any] = dict(raw)

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(str(self.path), f"{self.prefix}.{key}", message)

    def string(self, key: str, default: str | None = None) -> str:
        value = self.raw.pop(key, default)
        if value is None:
            raise self.error(key, "missing")
        if not isinstance(value, str) or not value:
            raise self.error(key, "must be a non-empty string")
        return value

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self.raw.pop(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.error(key, f"must be an integer in {lo}..{hi}")
        return value

    def file(self, key: str, *, required: bool) -> Path | None:
        if key not in self.raw and not required:
            return None
        raw = self.string(key)
        p = Path(raw) if Path(raw).is_absolute() else self.path.parent / raw
        if not p.is_file():
            raise self.error(key, f"{p}: no such file")
        return p

    def secret(self, key: str) -> str:
        p = self.file(key, required=True)
        assert p is not None
        text = p.read_text(encoding="utf-8").strip()
        if not text:
            raise self.error(key, f"{p}: empty")
        return text

    def done(self) -> None:
        for key in self.raw:
            raise self.error(key, "unknown key")


def _level(t: _Table, key: str, value: str) -> str:
    if not value.replace("-", "").replace("_", "").isalnum():
        raise t.error(key, f"{value!r}: use letters, digits, '-' and '_' (an MQTT topic level)")
    return value


def parse_site_mqtt(data: dict[str, Any], path: Path) -> SiteMqtt:
    site_t = _Table(path, "site", data.get("site", {}))
    site = _level(site_t, "name", site_t.string("name"))
    broker = _Table(path, "broker", data.get("broker", {}))
    host = broker.string("host", "127.0.0.1")
    port = broker.integer("port", 1883, 0, 65535)
    data_dir_raw = broker.string("data_dir", "broker")
    data_dir = (
        Path(data_dir_raw) if Path(data_dir_raw).is_absolute() else path.parent / data_dir_raw
    )
    tls = None
    if any(k in broker.raw for k in ("cafile", "certfile", "keyfile")):
        ca, cert, key = (broker.file(k, required=True) for k in ("cafile", "certfile", "keyfile"))
        assert ca is not None and cert is not None and key is not None
        tls = BrokerTls(ca, cert, key)
    broker.done()
    raw_users = data.get("users", [])
    if not isinstance(raw_users, list) or not raw_users:
        raise ConfigError(str(path), "users", "missing: an array of tables [[users]]")
    users: list[User] = []
    for i, item in enumerate(raw_users):
        t = _Table(path, f"users[{i}]", item)
        name = t.string("name")
        role = t.string("role")
        if role not in ROLES:
            raise t.error("role", f"{role!r}: use one of {', '.join(ROLES)}")
        lane = _level(t, "lane", t.string("lane", name)) if role == "lane" else None
        users.append(User(name, t.secret("password_file"), role, site, lane))
        t.done()
    names = [u.name for u in users]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(str(path), "users", f"user {n!r} is given twice")
    store = _Table(path, "store", data.get("store", {}))
    store_raw = store.string("path", "site-store.sqlite")
    store_path = Path(store_raw) if Path(store_raw).is_absolute() else path.parent / store_raw
    store_user = store.string("username", next((u.name for u in users if u.role == "store"), "-"))
    if store_user not in names:
        raise store.error("username", f"{store_user!r} is not one of the [[users]]")
    store.done()
    bridge = None
    if "bridge" in data:
        b = _Table(path, "bridge", data["bridge"])
        url = b.string("url")
        try:
            parse_url(url)
        except ValueError as exc:
            raise b.error("url", str(exc)) from None
        username = b.string("username")
        password = b.secret("password_file")
        bridge = BridgeSettings(url, username, password, b.file("cafile", required=False))
        b.done()
    return SiteMqtt(
        path, site, host, port, data_dir, tuple(users), tls, store_path, store_user, bridge
    )


def load_site_mqtt(path: str | Path) -> SiteMqtt:
    return parse_site_mqtt(read_toml(path), Path(path))
