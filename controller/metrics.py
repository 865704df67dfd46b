"""Prometheus metrics of the lane, served as ``/metrics`` by the control API.

Nothing here runs in the scan: the scan-time histograms are the runtime's own
10 us histograms, converted when Prometheus scrapes; vehicles by outcome and
faults by kind are counted by a subscriber of the event hub, which catches up
from the journal when it lagged; the MQTT figures are the publisher's. Names
follow prometheus-client's conventions (base units, ``_total`` counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from controller.events import Hub
from controller.journal import read_events_after
from controller.site.cursor import journal_max_event_id

__all__ = ["BUCKETS_S", "LaneMetrics", "histogram_buckets"]

BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.008, 0.01, 0.02, 0.05, 0.1, 0.2)
OUTCOMES = {
    "vehicle_passed": "passed",
    "vehicle_sent_aside": "sent_aside",
    "vehicle_backed_out": "backed_out",
    "tailgate": "tailgate",
    "run_through": "run_through",
}


class _Times(Protocol):
    @property
    def BUCKET_US(self) -> int: ...

    @property
    def counts(self) -> list[int]: ...

    @property
    def n(self) -> int: ...

    @property
    def total_us(self) -> int: ...


class _Runtime(Protocol):
    hub: Hub
    scans: int
    overruns: int
    bus_failures: int

    @property
    def times(self) -> _Times: ...

    @property
    def edge_times(self) -> _Times: ...

    @property
    def journal(self) -> Any: ...


class _Publisher(Protocol):
    @property
    def backlog(self) -> int: ...

    @property
    def stats(self) -> Any: ...


def histogram_buckets(times: _Times) -> list[tuple[str, float]]:
    """Cumulative counts at ``BUCKETS_S`` from a 10 us histogram (bucket i holds
    durations in [i, i+1) x 10 us, so a bound of b s takes the buckets below b)."""
    out: list[tuple[str, float]] = []
    seen = 0
    i = 0
    counts = times.counts
    for bound in BUCKETS_S:
        limit = min(round(bound * 1e6) // times.BUCKET_US, len(counts))
        while i < limit:
            seen += counts[i]
            i += 1
        out.append((repr(bound), float(seen)))
    out.append(("+Inf", float(times.n)))
    return out


class _Collector(Collector):
    def __init__(self, metrics: LaneMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterable[Any]:
        rt = self.m.runtime
        yield from self._histograms(rt)
        scans = CounterMetricFamily("lanectl_scans", "Scans run since the process started")
        scans.add_metric([], float(rt.scans))
        yield scans
        over = CounterMetricFamily("lanectl_scan_overruns", "Scans that ran past the next deadline")
        over.add_metric([], float(rt.overruns))
        yield over
        bus = CounterMetricFamily("lanectl_bus_failures", "Failed Modbus requests")
        bus.add_metric([], float(rt.bus_failures))
        yield bus
        vehicles = CounterMetricFamily(
            "lanectl_vehicles", "Vehicles by outcome (journal events)", labels=["outcome"]
        )
        for outcome in sorted(set(OUTCOMES.values())):
            vehicles.add_metric([outcome], float(self.m.outcomes.get(outcome, 0)))
        yield vehicles
        faults = CounterMetricFamily("lanectl_faults", "Faults latched, by kind", labels=["kind"])
        for kind, n in sorted(self.m.faults.items()):
            faults.add_metric([kind], float(n))
        yield faults
        pub = self.m.publisher
        if pub is not None:
            backlog = GaugeMetricFamily(
                "lanectl_mqtt_backlog_events", "Journaled events the broker has not acknowledged"
            )
            backlog.add_metric([], float(pub.backlog))
            yield backlog
            up = GaugeMetricFamily("lanectl_mqtt_connected", "1 while connected to the broker")
            up.add_metric([], 1.0 if pub.stats.connected else 0.0)
            yield up
            sent = CounterMetricFamily(
                "lanectl_mqtt_events_published", "Events published (resends included)"
            )
            sent.add_metric([], float(pub.stats.published))
            yield sent
            if pub.stats.last_drain_s is not None:
                drain = GaugeMetricFamily(
                    "lanectl_mqtt_last_drain_seconds",
                    "From the last (re)connect with a backlog to the backlog acknowledged",
                )
                drain.add_metric([], float(pub.stats.last_drain_s))
                yield drain

    def _histograms(self, rt: _Runtime) -> Iterator[HistogramMetricFamily]:
        for name, doc, times in (
            (
                "lanectl_scan_duration_seconds",
                "Scan duration: read, decide, write, journal",
                rt.times,
            ),
            (
                "lanectl_edge_to_coil_seconds",
                "Scans that read a discrete input change: that read's start to the coils "
                "written (the controller's share of sensor edge to coil)",
                rt.edge_times,
            ),
        ):
            h = HistogramMetricFamily(name, doc)
            h.add_metric([], histogram_buckets(times), times.total_us / 1e6)
            yield h


class LaneMetrics:
    """The lane's registry; ``run`` counts events from the hub while the lane runs."""

    def __init__(self, runtime: _Runtime, publisher: _Publisher | None = None) -> None:
        self.runtime = runtime
        self.publisher = publisher
        self.outcomes: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.last_id = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def count(self, kind: str, body: str | dict[str, Any]) -> None:
        if kind in OUTCOMES:
            name = OUTCOMES[kind]
            self.outcomes[name] = self.outcomes.get(name, 0) + 1
        elif kind == "fault_latched":
            data = json.loads(body) if isinstance(body, str) else body
            fault = str(data.get("data", {}).get("fault", "unknown"))
            self.faults[fault] = self.faults.get(fault, 0) + 1

    async def run(self, stop: asyncio.Event) -> None:
        """Count events journaled from now on (a lagging queue is filled from the journal)."""
        path = Path(self.runtime.journal.path)
        self.last_id = await asyncio.to_thread(journal_max_event_id, path)
        with self.runtime.hub.subscribe("metrics") as sub:
            while not stop.is_set():
                msg = None
                with contextlib.suppress(TimeoutError):
                    msg = await asyncio.wait_for(sub.get(), 0.5)
                if msg is None or msg.kind != "event" or msg.id is None:
                    continue
                if msg.id <= self.last_id:
                    continue
                if msg.id > self.last_id + 1:
                    rows = await asyncio.to_thread(
                        read_events_after, path, self.last_id, limit=msg.id - self.last_id - 1
                    )
                    for row in rows:
                        self.count(str(row["kind"]), str(row["body"]))
                self.count(str(msg.data.get("kind", "")), str(msg.data.get("body", "{}")))
                self.last_id = msg.id
