"""The lane's metrics, rendered and parsed back with prometheus_client's parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from controller.events import Hub
from controller.metrics import LaneMetrics, histogram_buckets
from controller.runtime import ScanTimes


@dataclass
class _Rt:
    hub: Hub = field(default_factory=Hub)
    times: ScanTimes = field(default_factory=ScanTimes)
    edge_times: ScanTimes = field(default_factory=ScanTimes)
    scans: int = 0
    overruns: int = 0
    bus_failures: int = 0
    journal: Any = None


def test_scan_times_become_a_prometheus_histogram() -> None:
    """Bucket counts are cumulative at the bounds, the sum is exact, +Inf is the count."""
    times = ScanTimes()
    for us in (400, 999, 1000, 1500, 9000, 250_000):
        times.add(us)
    got = dict(histogram_buckets(times))
    assert got["0.0005"] == 1  # 400 us
    assert got["0.001"] == 2  # 999 us is in [990, 1000) us; 1000 us is not below 1 ms
    assert got["0.002"] == 4
    assert got["0.01"] == 5
    assert got["0.2"] == 5 and got["+Inf"] == 6
    rt = _Rt(times=times, scans=6)
    m = LaneMetrics(rt)
    m.count("vehicle_passed", "{}")
    m.count("tailgate", "{}")
    m.count("fault_latched", '{"kind":"fault_latched","data":{"fault":"barrier_jam"}}')
    body, ctype = m.render()
    assert ctype.startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    scan = fams["lanectl_scan_duration_seconds"]
    sums = [s.value for s in scan.samples if s.name.endswith("_sum")]
    assert sums == [sum((400, 999, 1000, 1500, 9000, 250_000)) / 1e6]
    vehicles = {s.labels["outcome"]: s.value for s in fams["lanectl_vehicles"].samples}
    assert vehicles["passed"] == 1 and vehicles["tailgate"] == 1 and vehicles["sent_aside"] == 0
    faults = {s.labels["kind"]: s.value for s in fams["lanectl_faults"].samples}
    assert faults == {"barrier_jam": 1.0}
    assert "lanectl_mqtt_backlog_events" not in fams
