"""The supervisor's tick over scripted lane messages (no broker), its journal and config."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.config import ConfigError
from controller.site.decisionlog import DecisionLog
from controller.site.policy import Action, Pin, PolicyConfig
from controller.site.supconf import load_supervisor
from controller.site.supervisor import Supervisor
from controller.site.tracker import Tracker

POLICY = PolicyConfig(
    open_wait_ms=60_000,
    open_dwell_ms=10_000,
    close_wait_ms=20_000,
    close_dwell_ms=30_000,
    min_open_ms=60_000,
    min_lanes=1,
)


def _state(mode: str, *, approach_ms: int = 0, vehicles: int = 0, bus_ok: bool = True) -> Any:
    return {
        "mode": mode,
        "bus_ok": bus_ok,
        "queue": {
            "in_bay": approach_ms > 0,
            "approach": approach_ms > 0,
            "waiting_min": 2 if approach_ms > 0 else 0,
            "approach_occupied_ms": approach_ms,
        },
        "counts": {"vehicles": vehicles},
    }


def _site(*lanes: tuple[str, str], staff: int = 3) -> Tracker:
    t = Tracker(POLICY, staff, service_vph=60.0, command_timeout_ms=5_000)
    for name, mode in lanes:
        t.on_availability(name, {"status": "online", "boot": "b"})
        t.on_state(name, _state(mode), 0)
    return t


def test_queue_estimate_from_the_loops() -> None:
    t = _site(("a", "OPEN"))
    assert t.queue("a") == 0
    # 60 vph: one vehicle a minute; the approach loop covered 5 min -> the vehicle on it and
    # half a vehicle per minute behind it (2.5 -> 2); the one in the bay is not waiting.
    t.on_state("a", _state("OPEN", approach_ms=300_000), 1000)
    assert t.queue("a") == 3
    t.on_state("a", _state("OPEN", approach_ms=30_000), 1500)
    assert t.queue("a") == 1
    t.on_state("a", {"mode": "OPEN", "queue": "garbage"}, 2000)
    assert t.queue("a") == 0


def test_opens_a_closed_lane_when_the_wait_stays_above_the_bound() -> None:
    t = _site(("a", "OPEN"), ("b", "CLOSED"))
    t.on_state("a", _state("OPEN", approach_ms=180_000), 100_000)  # 1 + 1 = 2 min of queue
    _, first = t.tick(100_000)
    assert first == ()  # above the bound, but not yet for open_dwell_ms
    _, early = t.tick(105_000)
    assert early == ()
    _, made = t.tick(110_000)
    assert [(d.action, d.lane, d.reason) for d in made] == [(Action.OPEN, "b", "wait_above_bound")]
    assert made[0].get("queue") == 2 and int(made[0].get("predicted_wait_ms") or 0) > 60_000
    # Pending: the same decision is not sent again while the lane's state catches up...
    _, again = t.tick(111_000)
    assert again == ()
    assert t.view(111_000).lanes[1].status.value == "open"
    # ...and it is confirmed by the lane's own state.
    t.on_state("b", _state("OPEN"), 112_000)
    assert t.lanes["b"].pending is None and t.lanes["b"].open_since_ms == 112_000


def test_lanes_offline_in_fault_or_maintenance_are_left_out() -> None:
    t = _site(("a", "OPEN"), ("b", "CLOSED"), ("c", "MAINTENANCE"), ("d", "FAULT"), ("e", "CLOSED"))
    t.on_availability("b", {"status": "offline", "boot": "b"})
    t.on_state("e", _state("CLOSED", bus_ok=False), 0)
    t.on_state("a", _state("OPEN", approach_ms=600_000), 0)
    t.tick(0)
    _, made = t.tick(20_000)
    assert made == ()  # every other lane is offline, in maintenance, in fault or without I/O
    reasons = {v.lane: v.unavailable for v in t.view(20_000).lanes}
    assert reasons == {"a": "", "b": "offline", "c": "maintenance", "d": "fault", "e": "bus_lost"}
    t.on_state("e", _state("CLOSED"), 21_000)
    _, made = t.tick(40_000)
    assert [(d.action, d.lane) for d in made] == [(Action.OPEN, "e")]


def test_a_lane_pinned_closed_is_never_opened_and_is_closed() -> None:
    t = _site(("a", "OPEN"), ("b", "CLOSED"), ("c", "OPEN"))
    t.set_pin("b", Pin.CLOSED)
    t.set_pin("c", Pin.CLOSED)
    t.on_state("a", _state("OPEN", approach_ms=900_000), 0)
    _, made = t.tick(0)
    assert [(d.action, d.lane, d.reason) for d in made] == [(Action.CLOSE, "c", "pinned_closed")]
    t.on_state("c", _state("CLOSED"), 500)
    for now in range(1_000, 120_000, 5_000):
        _, made = t.tick(now)
        assert all(d.lane != "b" for d in made), made
    t.set_pin("b", None)
    _, made = t.tick(125_000)
    assert [(d.action, d.lane) for d in made] == [(Action.OPEN, "b")]


def test_arrival_rate_from_counts_and_queue_growth() -> None:
    t = _site(("a", "OPEN"))
    t.on_state("a", _state("OPEN", vehicles=10), 0)
    t.tick(0)
    assert t.arrival_vph() == 0.0
    # 12 served in 6 minutes and the queue grew from 0 to 1 + 1: 14 arrivals in 0.1 h.
    t.on_state("a", _state("OPEN", vehicles=22, approach_ms=180_000), 360_000)
    t.tick(360_000)
    assert t.arrival_vph() == pytest.approx(140.0)
    # A lane restart that resets its count is not a negative arrival; counting goes on.
    served = t.served
    t.on_state("a", _state("OPEN", vehicles=0, approach_ms=180_000), 370_000)
    t.on_state("a", _state("OPEN", vehicles=3, approach_ms=180_000), 380_000)
    assert t.served == served + 3


def test_decision_log_is_hash_chained(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "d.sqlite")
    log.append(1, "decision", "a", {"action": "open", "reason": "min_lanes"})
    log.append(2, "pin", "b", {"pin": "closed", "user": "op"})
    assert log.verify() == ""
    assert [r["kind"] for r in log.rows()] == ["decision", "pin"]
    log._conn.execute("UPDATE entries SET body = '{}' WHERE id = 1")
    assert log.verify() == "row 1: hash does not match"
    log.close()


SITE_TOML = """
[site]
name = "north"
[[users]]
name = "alice"
role = "supervisor"
password_file = "pw"
[[users]]
name = "store"
role = "store"
password_file = "pw"
[supervisor]
staff = 2
{extra}
"""


def _write(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "pw").write_text("secret-0123\n", encoding="utf-8")
    p = tmp_path / "site.toml"
    p.write_text(SITE_TOML.format(extra=extra), encoding="utf-8")
    return p


def test_config_reads_the_supervisor_tables(tmp_path: Path) -> None:
    cfg = load_supervisor(
        _write(
            tmp_path,
            "tick_s = 0.5\nhttp_port = 0\n[supervisor.policy]\nmin_lanes = 2\n"
            '[supervisor.pins]\nlane2 = "closed"\n',
        )
    )
    assert (cfg.username, cfg.password, cfg.staff, cfg.tick_s) == ("alice", "secret-0123", 2, 0.5)
    assert cfg.policy.min_lanes == 2 and cfg.pins == {"lane2": Pin.CLOSED}
    assert cfg.http_port == 0 and cfg.journal == tmp_path / "supervisor.sqlite"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("tick_s = -1", "supervisor.tick_s"),
        ('username = "store"', "supervisor.username"),
        ('http_host = "0.0.0.0"', "supervisor.http_host"),
        ("colour = 1", "supervisor.colour"),
        ('[supervisor.pins]\nlane2 = "ajar"', "supervisor.pins.lane2"),
        ("[supervisor.policy]\nclose_wait_ms = 999999999", "supervisor.policy.close_wait_ms"),
    ],
)
def test_config_errors_name_key_and_file(tmp_path: Path, extra: str, key: str) -> None:
    path = _write(tmp_path, extra)
    with pytest.raises(ConfigError) as err:
        load_supervisor(path)
    assert err.value.key == key and err.value.path == str(path)


def test_pins_set_over_http_outlive_a_restart(tmp_path: Path) -> None:
    cfg = load_supervisor(_write(tmp_path, '[supervisor.pins]\nlane1 = "open"\n'))
    first = Supervisor(cfg)
    first.set_pin("lane2", Pin.CLOSED, "op", "http")
    first.set_pin("lane3", Pin.OPEN, "op", "http")
    first.set_pin("lane3", None, "op", "http")
    first.journal.close()
    again = Supervisor(cfg)
    try:
        assert again.tracker.pins == {"lane1": Pin.OPEN, "lane2": Pin.CLOSED}
        assert again.restored == {"lane2": "closed", "lane3": None}
        assert again.journal.verify() == ""
    finally:
        again.journal.close()


def test_site_run_names_the_key_and_file_of_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'tick_s = "fast"')
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "site", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{path}: supervisor.tick_s: must be a number in 0.05..3600.0" in done.stderr


def test_closes_a_lane_once_open_long_enough_and_the_queues_fell() -> None:
    t = _site(("a", "OPEN"), ("b", "CLOSED"))
    t.on_state("b", _state("OPEN"), 10_000)  # b opens at 10 s: min_open_ms counts from there
    made_at = []
    for now in range(10_000, 200_000, 5_000):
        _, made = t.tick(now)
        made_at += [(now, d.action, d.lane, d.reason) for d in made]
        for d in made:  # the lane does as told
            t.on_state(d.lane, _state("CLOSED"), now + 500)
    # Empty queues: from 60 s (a open 60 s) the wait with one lane fewer stays under the
    # bound; after 30 s of that the most recently opened lane closes, and only one.
    assert made_at == [(90_000, Action.CLOSE, "b", "queues_fell")]
    assert [v.status.value for v in t.view(200_000).lanes] == ["open", "closed"]


def _lane_state(vehicles: int, *, bay: bool, approach: bool, mode: str = "OPEN") -> Any:
    return {
        "mode": mode,
        "bus_ok": True,
        "queue": {
            "in_bay": bay,
            "approach": approach,
            "waiting_min": int(bay) + int(approach),
            "approach_occupied_ms": 0,
        },
        "counts": {"vehicles": vehicles},
    }


def test_each_lane_measures_its_own_service_rate() -> None:
    """A lane's service time is the gap between crossings while the next vehicle waited; gaps
    after the lane stood empty are not service times. Each lane keeps its own estimate."""
    t = _site(("a", "OPEN"), ("b", "OPEN"))
    assert t.lane_service_vph("a") == 60.0  # the config's until measured
    now = 0
    count = 0
    # Lane a: a vehicle crosses every 30 s with the next one already on the approach.
    for _ in range(40):
        now += 30_000
        count += 1
        t.on_state("a", _lane_state(count, bay=False, approach=True), now)
        t.on_state("a", _lane_state(count, bay=True, approach=True), now + 5_000)
    assert t.lane_service_vph("a") == pytest.approx(120.0, rel=1e-3)
    assert t.lanes["a"].services == 39
    # Lane b: crossings 10 min apart with the lane empty between them: no service time.
    for k in range(1, 6):
        t.on_state("b", _lane_state(k, bay=False, approach=False), k * 600_000)
        t.on_state("b", _lane_state(k, bay=True, approach=False), k * 600_000 + 590_000)
    assert t.lanes["b"].services == 0
    assert t.lane_service_vph("b") == 60.0
    # The policy sees each lane's own rate.
    rates = {v.lane: v.service_vph for v in t.view(now).lanes}
    assert rates == {"a": pytest.approx(120.0, rel=1e-3), "b": 60.0}
    # A slower lane moves its estimate toward its own service time.
    for _ in range(30):
        now += 90_000
        count += 1
        t.on_state("a", _lane_state(count, bay=True, approach=True), now)
    assert t.lane_service_vph("a") == pytest.approx(40.0, rel=0.02)


BUDGET = """service_vph = 60.0
[supervisor.policy]
open_wait_ms = 60000
open_dwell_ms = 10000
close_wait_ms = 20000
close_dwell_ms = 30000
min_open_ms = 60000
"""


def test_budget_config_reads_named_keys(tmp_path: Path) -> None:
    """``[supervisor.budget]``: the plan per hour and the bounds' answer to a debt, in
    lane-hours, reach the policy as its budget_* settings."""
    plan = [1] * 6 + [2] * 12 + [1] * 6
    cfg = load_supervisor(
        _write(
            tmp_path,
            f"[supervisor.budget]\nlanes_by_hour = {plan}\nspan_lane_hours = 0.5\n"
            "reserve_lane_hours = 2\nmax_scale = 4.5\n",
        )
    )
    assert cfg.budget is not None and cfg.budget.lanes_by_hour == tuple(plan)
    p = cfg.policy
    assert (p.budget_span_ms, p.budget_reserve_ms, p.budget_max_scale) == (
        1_800_000,
        7_200_000,
        4.5,
    )
    defaults = load_supervisor(_write(tmp_path, f"[supervisor.budget]\nlanes_by_hour = {plan}\n"))
    p = defaults.policy
    assert (p.budget_span_ms, p.budget_reserve_ms, p.budget_max_scale) == (
        3_600_000,
        3_600_000,
        8.0,
    )
    none = load_supervisor(_write(tmp_path, ""))
    assert none.budget is None and none.policy.budget_span_ms == 0


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("[supervisor.budget]\nspan_lane_hours = 1", "lanes_by_hour", "missing"),
        ("[supervisor.budget]\nlanes_by_hour = [1, 1]", "lanes_by_hour", "24 integers"),
        ("[supervisor.budget]\nlanes_by_hour = 2", "lanes_by_hour", "got int"),
        (f"[supervisor.budget]\nlanes_by_hour = {[1] * 23 + [3]}", "lanes_by_hour", "hour 23"),
        (
            f"[supervisor.budget]\nlanes_by_hour = {[1] * 7 + [-1] + [1] * 16}",
            "lanes_by_hour",
            "hour 7",
        ),
        (f"[supervisor.budget]\nlanes_by_hour = {[1] * 23 + ['2']}", "lanes_by_hour", "'2'"),
        (
            f"[supervisor.budget]\nlanes_by_hour = {[1] * 24}\nspan_lane_hours = 0",
            "span_lane_hours",
            "0.001..1000",
        ),
        (
            f"[supervisor.budget]\nlanes_by_hour = {[1] * 24}\nreserve_lane_hours = -1",
            "reserve_lane_hours",
            "0.0..1000",
        ),
        (
            f"[supervisor.budget]\nlanes_by_hour = {[1] * 24}\nmax_scale = 0.5",
            "max_scale",
            "1.0..1000",
        ),
        (
            f'[supervisor.budget]\nlanes_by_hour = {[1] * 24}\nmax_scale = "x"',
            "max_scale",
            "number",
        ),
        (f"[supervisor.budget]\nlanes_by_hour = {[1] * 24}\nhours = 8", "hours", "unknown key"),
        (
            "[supervisor.policy]\nbudget_span_ms = 1000",
            "policy.budget_span_ms",
            "[supervisor.budget]",
        ),
    ],
)
def test_budget_config_errors_name_key_and_file(
    tmp_path: Path, extra: str, key: str, words: str
) -> None:
    """Each bad value of the budget is a ConfigError naming the file, the key and the rule."""
    path = _write(tmp_path, extra)
    with pytest.raises(ConfigError) as err:
        load_supervisor(path)
    full = key if key.startswith("policy.") else f"budget.{key}"
    assert err.value.key == f"supervisor.{full}" and err.value.path == str(path)
    assert words in err.value.message, err.value.message


def _budget_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: str
) -> tuple[Supervisor, list[int]]:
    """A supervisor over scripted lanes: ``a`` open with a long queue, ``b`` closed; its
    clock (``now_ms``) and local time (10:00) are the test's."""
    cfg = load_supervisor(_write(tmp_path, BUDGET + budget))
    sup = Supervisor(cfg)
    clock = [0]
    monkeypatch.setattr(sup, "now_ms", lambda: clock[0])
    sup.wall = lambda: dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    for name, mode in (("a", "OPEN"), ("b", "CLOSED")):
        sup.tracker.on_availability(name, {"status": "online", "boot": "b"})
        sup.tracker.on_state(name, _state(mode), 0)
    # 1 + 7.5 vehicles waiting at 60 vph: about 8 min, over any bound below.
    sup.tracker.on_state("a", _state("OPEN", approach_ms=900_000), 0)
    return sup, clock


def _decisions(sup: Supervisor, clock: list[int]) -> list[dict[str, Any]]:
    for now in range(0, 15_000, 5_000):
        clock[0] = now
        sup.tick()
    rows = [r["body"] for r in sup.journal.rows("decision")]
    sup.journal.close()
    return rows


def test_running_supervisor_decisions_carry_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a plan of no lanes at 10:00, lane ``a`` staffed 10 s is 10 s beyond it: the
    journaled decision to open ``b`` carries budget_ms -10000 and the bounds' scale for
    10 s over a 36 s span, its bound raised by that. With a plan of 2 lanes then, 1 staffed
    leaves 10 s in hand: the bounds stay put."""
    budget = "[supervisor.budget]\nlanes_by_hour = {}\nspan_lane_hours = 0.01\n"
    budget += "reserve_lane_hours = 0\n"
    sup, clock = _budget_supervisor(tmp_path, monkeypatch, budget.format([0] * 24))
    (row,) = _decisions(sup, clock)
    assert (row["action"], row["lane"], row["reason"]) == ("open", "b", "wait_above_bound")
    scale = 2 ** (10_000 / 36_000)
    assert row["budget_ms"] == -10_000 and row["bound_scale"] == round(scale, 3)
    assert row["bound_ms"] == round(60_000 * scale)
    later = tmp_path / "later"
    later.mkdir()
    sup, clock = _budget_supervisor(later, monkeypatch, budget.format([0] * 10 + [2] + [0] * 13))
    (row,) = _decisions(sup, clock)
    assert row["budget_ms"] == 10_000 and row["bound_scale"] == 1.0
    assert row["bound_ms"] == 60_000


def test_supervisor_without_budget_decides_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``[supervisor.budget]``: the same lanes give the same decision at the plain bound,
    with no budget figures."""
    sup, clock = _budget_supervisor(tmp_path, monkeypatch, "")
    (row,) = _decisions(sup, clock)
    assert (row["action"], row["lane"]) == ("open", "b")
    assert "budget_ms" not in row and "bound_scale" not in row
    assert row["bound_ms"] == 60_000
