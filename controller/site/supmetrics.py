"""Prometheus metrics of the supervisor, served as ``/metrics`` on its loopback endpoint.

Computed when Prometheus scrapes, from the same views the policy sees: each
lane's queue estimate, the wait it gives at that lane, whether it serves and is
usable; the site's predicted wait (the policy's ``predicted_wait_ms``), open
lanes, arrival rate; decisions by action and reason. Base units (seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.site.policy import LaneStatus, SiteView, predicted_wait_ms

__all__ = ["SupervisorMetrics"]

_MS_PER_HOUR = 3_600_000


class SupervisorMetrics(Collector):
    """``view()`` gives the site now; ``decisions`` counts (action, reason) pairs."""

    def __init__(
        self,
        view: Callable[[], SiteView],
        decisions: dict[tuple[str, str], int],
        connected: Callable[[], bool],
        service_cv2: float,
    ) -> None:
        self.view = view
        self.decisions = decisions
        self.connected = connected
        self.service_cv2 = service_cv2
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def collect(self) -> Iterable[Any]:
        site = self.view()
        queue = GaugeMetricFamily(
            "lanectl_supervisor_lane_queue_vehicles",
            "Vehicles waiting at the lane, as the supervisor estimates them",
            labels=["lane"],
        )
        wait = GaugeMetricFamily(
            "lanectl_supervisor_lane_wait_seconds",
            "The lane's queue over its service rate",
            labels=["lane"],
        )
        serving = GaugeMetricFamily(
            "lanectl_supervisor_lane_open", "1 while the lane serves", labels=["lane"]
        )
        usable = GaugeMetricFamily(
            "lanectl_supervisor_lane_available",
            "1 unless offline, in fault or maintenance",
            labels=["lane"],
        )
        for v in site.lanes:
            queue.add_metric([v.lane], v.queue)
            wait.add_metric([v.lane], v.queue / v.service_vph * 3600.0)
            serving.add_metric([v.lane], float(v.status is LaneStatus.OPEN))
            usable.add_metric([v.lane], float(not v.unavailable))
        yield from (queue, wait, serving, usable)
        open_lanes = [v for v in site.lanes if v.status is LaneStatus.OPEN and not v.unavailable]
        yield GaugeMetricFamily(
            "lanectl_supervisor_open_lanes", "Lanes serving now", value=len(open_lanes)
        )
        predicted = predicted_wait_ms(
            sum(v.queue for v in open_lanes),
            sum(v.service_vph for v in open_lanes),
            len(open_lanes),
            site.arrival_vph,
            self.service_cv2,
        )
        yield GaugeMetricFamily(
            "lanectl_supervisor_predicted_wait_seconds",
            "The wait the policy predicts for a driver arriving now",
            value=predicted / 1000.0,
        )
        yield GaugeMetricFamily(
            "lanectl_supervisor_arrival_rate_per_second",
            "Recent arrivals at the site (served plus queue growth)",
            value=site.arrival_vph / 3600.0,
        )
        yield GaugeMetricFamily(
            "lanectl_supervisor_connected",
            "1 while connected to the broker",
            value=float(self.connected()),
        )
        made = CounterMetricFamily(
            "lanectl_supervisor_decisions",
            "Open and close decisions by reason",
            labels=["action", "reason"],
        )
        for (action, reason), n in sorted(self.decisions.items()):
            made.add_metric([action, reason], n)
        yield made
