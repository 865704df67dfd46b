"""``lanectl site run``: the supervisor that opens and closes lanes by their queues.

Follows every lane's retained ``state`` and ``availability`` on the site broker
(``controller.site.tracker`` turns them into the policy's views), applies
``controller.site.policy.decide`` every ``tick_s``, publishes each decision as
``lanectl/<site>/<lane>/cmd/open_lane|close_lane`` (QoS 1, ``{"user", "id"}``, as
the supervisor user: the broker's ACL lets no one else), and journals it with
its reason and figures in its own hash-chained SQLite file
(``controller.site.decisionlog``). Operator pins come from the config and from
a small HTTP endpoint on loopback: ``GET /lanes``, ``GET /decisions``,
``GET /metrics`` (Prometheus), ``POST /pins/<lane>`` with
``{"pin": "open"|"closed"|null, "user": ...}``; pins set over HTTP are journaled
and restored from the journal at the next start. With ``[web]``, it also serves the
site page (``controller.site.page``), which is told of every change through
``listeners``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from controller.logs import get_logger
from controller.site.budget import LaneBudget
from controller.site.decisionlog import DecisionLog
from controller.site.mqtt import LinkDown, Message, MqttLink
from controller.site.policy import Decision, LaneStatus, Pin
from controller.site.supconf import SupervisorConfig
from controller.site.supmetrics import SupervisorMetrics
from controller.site.tracker import Tracker

__all__ = ["Supervisor"]

_COMMANDS = {"open": "open_lane", "close": "close_lane"}
SETTLE_S = 1.0
"""After a (re)connect, the retained states arrive before the first decision."""


class Supervisor:
    """One site's supervisor; ``run(stop)`` until ``stop`` is set."""

    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.site = config.site.site
        self.tracker = Tracker(
            config.policy,
            config.staff,
            service_vph=config.service_vph,
            command_timeout_ms=round(config.command_timeout_s * 1000),
            pins=dict(config.pins),
        )
        self.log = get_logger(part="supervisor", site=self.site)
        self.journal = DecisionLog(config.journal)
        self.http_url = ""
        self.connected = False
        self._connected_at = 0.0
        self.decision_counts: dict[tuple[str, str], int] = {}
        self.metrics = SupervisorMetrics(
            lambda: self.tracker.view(self.now_ms()),
            self.decision_counts,
            lambda: self.connected,
            config.policy.service_cv2,
        )
        self.restored = self._restore_pins()
        self._t0 = time.monotonic()
        self._link: MqttLink | None = None
        self.listeners: list[Callable[[], None]] = []
        """Called after anything the site page shows may have changed."""
        self.page_url = ""
        self.budget = None if config.budget is None else LaneBudget(config.budget.lanes_by_hour)
        """``[supervisor.budget]``'s account, advanced at each tick."""
        self.wall: Callable[[], dt.datetime] = _local_now
        """The local time whose hour picks the plan's lanes."""

    def _restore_pins(self) -> dict[str, str | None]:
        """Pins set over HTTP outlive a restart: the journal's last word per lane, over the
        config's."""
        last: dict[str, str | None] = {}
        for row in self.journal.rows("pin"):
            if row["body"].get("source") in ("http", "web"):
                last[row["lane"]] = row["body"].get("pin")
        for lane, value in last.items():
            self.tracker.set_pin(lane, None if value is None else Pin(value))
        return last

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    # ---- MQTT ----

    def _on_connect(self, _n: int, ok: bool, reason: str) -> None:
        if not ok:
            self.log.warning("supervisor_connect_refused", reason=reason)
            return
        assert self._link is not None
        with contextlib.suppress(LinkDown):
            for leaf in ("state", "availability"):
                self._link.subscribe(f"lanectl/{self.site}/+/{leaf}", qos=1)
            self.connected = True
            self._connected_at = time.monotonic()
            self.log.info("supervisor_connected", broker=self._link.address.describe())
        self._changed()

    def _on_disconnect(self, _n: int, reason: str) -> None:
        self.connected = False
        self.log.warning("supervisor_disconnected", reason=reason)
        self._changed()

    def _on_message(self, message: Message) -> None:
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[1] != self.site:
            return
        lane, leaf = parts[2], parts[3]
        try:
            payload = json.loads(message.payload)
        except ValueError:
            self.log.error("supervisor_bad_message", topic=message.topic)
            return
        if not isinstance(payload, dict):
            return
        if leaf == "availability":
            self.tracker.on_availability(lane, payload)
        elif leaf == "state":
            self.tracker.on_state(lane, payload, self.now_ms())
        self._changed()

    # ---- the tick ----

    def tick(self) -> tuple[Decision, ...]:
        """One policy step: decide, publish, journal."""
        now = self.now_ms()
        if self.budget is not None:
            wall = self.wall()
            lanes = self.tracker.view(now).lanes
            staffed = sum(1 for v in lanes if v.status is LaneStatus.OPEN)
            self.budget.advance(now, wall.toordinal(), wall.hour, staffed)
            self.tracker.budget_ms = self.budget.budget_ms
        site, decisions = self.tracker.tick(now)
        for d in decisions:
            key = (d.action.value, d.reason)
            self.decision_counts[key] = self.decision_counts.get(key, 0) + 1
            command = _COMMANDS[d.action.value]
            command_id = uuid.uuid4().hex
            sent, error = False, ""
            if self._link is not None:
                payload = {"user": self.config.username, "id": command_id}
                try:
                    self._link.publish(
                        f"lanectl/{self.site}/{d.lane}/cmd/{command}",
                        json.dumps(payload).encode(),
                        qos=1,
                    )
                    sent = True
                except LinkDown as exc:
                    error = str(exc)
            body: dict[str, Any] = {
                **d.as_dict(),
                "command": command,
                "command_id": command_id,
                "sent": sent,
                "lanes": {v.lane: _lane_dict(v) for v in site.lanes},
            }
            if error:
                body["error"] = error
            self.journal.append(now, "decision", d.lane, body)
            self.log.info("supervisor_decision", **{k: v for k, v in body.items() if k != "lanes"})
        if decisions:
            self._changed()
        return decisions

    def set_pin(
        self, lane: str, pin: Pin | None, user: str, source: str, *, remote: str = ""
    ) -> None:
        self.tracker.set_pin(lane, pin)
        body = {"pin": None if pin is None else pin.value, "user": user, "source": source}
        if remote:
            body["remote"] = remote
        self.journal.append(self.now_ms(), "pin", lane, body)
        self.log.info("supervisor_pin", lane=lane, **body)
        self._changed()

    # ---- HTTP ----

    def _app(self) -> web.Application:
        app = web.Application()

        async def lanes(_r: web.Request) -> web.Response:
            site = self.tracker.view(self.now_ms())
            return web.json_response(
                {
                    "site": self.site,
                    "connected": self.connected,
                    "staff": site.staff,
                    "arrival_vph": round(site.arrival_vph, 1),
                    "lanes": {v.lane: _lane_dict(v) for v in site.lanes},
                }
            )

        async def decisions(request: web.Request) -> web.Response:
            try:
                after = int(request.query.get("after", "0"))
            except ValueError:
                return web.json_response({"error": "after: must be an integer"}, status=400)
            rows = self.journal.rows(None, after)
            return web.json_response({"entries": rows})

        async def pin(request: web.Request) -> web.Response:
            lane = request.match_info["lane"]
            if not lane.replace("-", "").replace("_", "").isalnum():
                return web.json_response(
                    {"error": "lane: letters, digits, '-' and '_' (an MQTT topic level)"},
                    status=400,
                )
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "the body must be JSON"}, status=400)
            if not isinstance(body, dict) or "pin" not in body:
                return web.json_response({"error": "pin: missing"}, status=400)
            raw, user = body["pin"], body.get("user", "operator")
            if raw not in ("open", "closed", None):
                return web.json_response({"error": 'pin: use "open", "closed" or null'}, status=400)
            if not isinstance(user, str) or not 0 < len(user) <= 64:
                return web.json_response({"error": "user: 1..64 characters"}, status=400)
            self.set_pin(lane, None if raw is None else Pin(raw), user, "http")
            return web.json_response({"lane": lane, "pin": raw, "user": user})

        async def metrics(_r: web.Request) -> web.Response:
            body, content_type = self.metrics.render()
            return web.Response(body=body, headers={"Content-Type": content_type})

        app.router.add_get("/metrics", metrics)
        app.router.add_get("/lanes", lanes)
        app.router.add_get("/decisions", decisions)
        app.router.add_post("/pins/{lane}", pin)
        return app

    # ---- the task ----

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        site = self.config.site

        def threadsafe(fn: Any) -> Any:
            return lambda *a: loop.call_soon_threadsafe(fn, *a)

        self._link = MqttLink(
            site.address(),
            client_id=f"lanectl-supervisor-{self.site}",
            username=self.config.username,
            password=self.config.password,
            on_connect=threadsafe(self._on_connect),
            on_disconnect=threadsafe(self._on_disconnect),
            on_message=threadsafe(self._on_message),
        )
        runner: web.AppRunner | None = None
        if self.config.http_port is not None:
            runner = web.AppRunner(self._app(), access_log=None)
            await runner.setup()
            tcp = web.TCPSite(runner, self.config.http_host, self.config.http_port)
            await tcp.start()
            port = int(runner.addresses[0][1])
            self.http_url = f"http://{self.config.http_host}:{port}"
        page = None
        if self.config.page is not None:
            from controller.site.page import start_site_page

            try:
                page = await start_site_page(self, self.config.page)
            except BaseException:
                if runner is not None:
                    await runner.cleanup()
                self.journal.close()
                raise
            self.page_url = page.url
        self.journal.append(
            self.now_ms(),
            "start",
            "",
            {
                "site": self.site,
                "user": self.config.username,
                "staff": self.config.staff,
                "pins": {k: v.value for k, v in self.tracker.pins.items()},
                "restored_pins": self.restored,
            },
        )
        self._link.start()
        if ready is not None:
            ready.set()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.tick_s)
                if stop.is_set():
                    break
                if self.connected and time.monotonic() - self._connected_at >= SETTLE_S:
                    self.tick()
        finally:
            await asyncio.to_thread(self._link.stop)
            if page is not None:
                await page.close()
            if runner is not None:
                await runner.cleanup()
            self.journal.close()


def _lane_dict(v: Any) -> dict[str, Any]:
    return {
        "status": v.status.value,
        "queue": v.queue,
        "open_since_ms": v.open_since_ms,
        "unavailable": v.unavailable,
        "pin": None if v.pin is None else v.pin.value,
    }


def _local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()
