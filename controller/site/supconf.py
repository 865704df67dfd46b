"""The supervisor's tables of ``site.toml``: ``[supervisor]``, ``[supervisor.policy]``,
``[supervisor.pins]``, ``[supervisor.budget]``. Every problem is a ``ConfigError`` naming
the file and the key."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from controller.config import ConfigError, read_toml
from controller.site.budget import HOURS, BudgetConfig
from controller.site.pageconf import SitePageConfig, parse_page
from controller.site.policy import Pin, PolicyConfig
from controller.site.siteconf import SiteMqtt, _Table, parse_site_mqtt

__all__ = ["LOOPBACK_HOSTS", "SupervisorConfig", "load_supervisor"]

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    site: SiteMqtt
    username: str
    password: str
    staff: int
    tick_s: float
    service_vph: float
    command_timeout_s: float
    journal: Path
    http_host: str
    http_port: int | None
    """None: no HTTP endpoint; 0: a free port."""
    policy: PolicyConfig
    pins: dict[str, Pin] = field(default_factory=dict)
    page: SitePageConfig | None = None
    """``[web]``: the site page (``controller.site.page``); None: no page."""
    budget: BudgetConfig | None = None
    """``[supervisor.budget]``: the lane-hours budget (``controller.site.budget``); None:
    none (``policy`` then has no ``budget_span_ms``)."""


def _number(t: _Table, key: str, default: float, lo: float, hi: float) -> float:
    value = t.raw.pop(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise t.error(key, f"must be a number in {lo}..{hi}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise t.error(key, f"must be a number in {lo}..{hi}, got {value}")
    return float(value)


_MS_PER_HOUR = 3_600_000


def _budget(path: Path, raw: Any, staff: int) -> BudgetConfig:
    t = _Table(path, "supervisor.budget", raw)
    plan = t.raw.pop("lanes_by_hour", None)
    if plan is None:
        raise t.error(
            "lanes_by_hour", f"missing: the lanes the plan staffs in each of the {HOURS} hours"
        )
    if not isinstance(plan, list) or len(plan) != HOURS:
        got = len(plan) if isinstance(plan, list) else type(plan).__name__
        raise t.error(
            "lanes_by_hour", f"must be a list of {HOURS} integers (hour 0 first), got {got}"
        )
    for hour, lanes in enumerate(plan):
        if isinstance(lanes, bool) or not isinstance(lanes, int) or not 0 <= lanes <= staff:
            raise t.error(
                "lanes_by_hour",
                f"hour {hour}: {lanes!r}: must be an integer in 0..{staff} (supervisor.staff)",
            )
    span_h = _number(t, "span_lane_hours", 1.0, 0.001, 1000.0)
    reserve_h = _number(t, "reserve_lane_hours", 1.0, 0.0, 1000.0)
    max_scale = _number(t, "max_scale", 8.0, 1.0, 1000.0)
    t.done()
    return BudgetConfig(
        lanes_by_hour=tuple(plan),
        span_ms=round(span_h * _MS_PER_HOUR),
        reserve_ms=round(reserve_h * _MS_PER_HOUR),
        max_scale=max_scale,
    )


def _policy(path: Path, raw: Any) -> PolicyConfig:
    t = _Table(path, "supervisor.policy", raw)
    kwargs: dict[str, Any] = {}
    for f in fields(PolicyConfig):
        if f.name not in t.raw:
            continue
        if f.name.startswith("budget_"):
            raise t.error(f.name, "set the lane-hours budget in [supervisor.budget]")
        if f.name == "service_cv2":
            kwargs[f.name] = _number(t, f.name, 0.1, 0.0, 4.0)
        else:
            kwargs[f.name] = t.integer(f.name, 0, 0, 10**9)
    t.done()
    try:
        return PolicyConfig(**kwargs)
    except ValueError as exc:
        key = str(exc).split(":", 1)[0]
        raise ConfigError(str(path), f"supervisor.policy.{key}", str(exc)) from None


def parse_supervisor(data: dict[str, Any], path: Path) -> SupervisorConfig:
    site = parse_site_mqtt(data, path)
    raw = data.get("supervisor")
    if raw is None:
        raise ConfigError(str(path), "supervisor", "missing: the [supervisor] table")
    t = _Table(path, "supervisor", raw)
    policy = _policy(path, t.raw.pop("policy", {}))
    pins_t = _Table(path, "supervisor.pins", t.raw.pop("pins", {}))
    pins: dict[str, Pin] = {}
    for lane in list(pins_t.raw):
        value = pins_t.string(lane)
        if value not in ("open", "closed"):
            raise pins_t.error(lane, f'{value!r}: use "open" or "closed"')
        pins[lane] = Pin(value)
    supervisors = [u.name for u in site.users if u.role == "supervisor"]
    username = t.string("username", supervisors[0] if supervisors else None)
    user = next((u for u in site.users if u.name == username), None)
    if user is None or user.role != "supervisor":
        raise t.error("username", f"{username!r} is not a [[users]] entry with role supervisor")
    staff = t.integer("staff", 1, 0, 1000)
    budget: BudgetConfig | None = None
    if "budget" in t.raw:
        budget = _budget(path, t.raw.pop("budget"), staff)
        policy = dataclasses.replace(
            policy,
            budget_span_ms=budget.span_ms,
            budget_reserve_ms=budget.reserve_ms,
            budget_max_scale=budget.max_scale,
        )
    tick_s = _number(t, "tick_s", 5.0, 0.05, 3600.0)
    service_vph = _number(t, "service_vph", 80.0, 1.0, 10_000.0)
    timeout_s = _number(t, "command_timeout_s", 15.0, 0.1, 3600.0)
    journal_raw = t.string("journal", "supervisor.sqlite")
    journal = Path(journal_raw) if Path(journal_raw).is_absolute() else path.parent / journal_raw
    http_host = t.string("http_host", "127.0.0.1")
    if http_host not in LOOPBACK_HOSTS:
        raise t.error("http_host", f"{http_host!r}: the pin endpoint listens on loopback only")
    http_port: int | None = None
    if "http_port" in t.raw:
        http_port = t.integer("http_port", 0, 0, 65535)
    t.done()
    page = parse_page(path, data["web"]) if "web" in data else None
    return SupervisorConfig(
        site,
        username,
        user.password,
        staff,
        tick_s,
        service_vph,
        timeout_s,
        journal,
        http_host,
        http_port,
        policy,
        pins,
        page,
        budget,
    )


def load_supervisor(path: str | Path) -> SupervisorConfig:
    return parse_supervisor(read_toml(path), Path(path))
