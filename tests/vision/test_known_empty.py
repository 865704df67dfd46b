"""Which zones the loops and photocell prove empty: never one a vehicle may stand in."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from controller.core.types import Inputs
from controller.vision.known_empty import known_empty_zones
from hw_sim.camera import zone_truth
from hw_sim.geometry import LaneGeometry


@dataclass
class _Body:
    front_x_m: float
    length_m: float
    lateral_y_m: float = 0.0


def test_all_clear_proves_every_zone_empty() -> None:
    assert known_empty_zones(Inputs()) == dict.fromkeys(
        ("approach", "bay", "barrier", "exit"), True
    )


def test_a_car_with_its_bumper_past_the_stop_line_keeps_the_barrier_zone_unproved() -> None:
    """Photocell clear, but the car is on the bay loop: its bumper may be in the barrier zone."""
    zones = known_empty_zones(Inputs(loop_bay=True))
    assert not zones["barrier"] and not zones["bay"]
    assert zones["approach"] and zones["exit"]


def test_safety_edge_counts_like_the_photocell() -> None:
    zones = known_empty_zones(Inputs(safety_edge=True))
    assert not zones["barrier"] and not zones["bay"] and not zones["exit"]


def test_no_vehicle_of_any_length_anywhere_is_in_a_zone_proved_empty() -> None:
    """Slide cars, vans and trucks along the lane in 10 cm steps: whenever the sensors
    they cover prove a zone empty, the zone's geometric truth agrees.

    Three places cover no sensor at all and are left out: upstream of the approach loop
    (the approach zone is not checked), between the approach loop and the bay loop, and
    beyond the exit loop; a car drives through the bay or exit zone there in a few
    seconds, far under the detector's ``absorb_ms``."""
    g = LaneGeometry()
    spans = {
        "loop_approach": g.approach_loop,
        "loop_bay": g.bay_loop,
        "photocell": g.photocell,
        "loop_exit": g.exit_loop,
    }
    checked = 0
    for length, front10 in itertools.product((4.5, 6.0, 12.0, 18.0), range(-280, 200)):
        front = front10 / 10.0
        v = _Body(front, length)
        if g.approach_loop.end < front - length and front < g.bay_loop.start:
            continue
        if front - length > g.exit_loop.end:
            continue
        covered = {k: s.overlaps(front - length, front) for k, s in spans.items()}
        proved = known_empty_zones(Inputs(**covered))
        truth = zone_truth([v], g)
        for zone in ("bay", "barrier", "exit"):
            if proved[zone]:
                assert not truth[zone], (zone, length, front)
                checked += 1
    assert checked > 1000
