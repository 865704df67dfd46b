"""Plant invariants under arbitrary controller outputs: no overlap, a sane boom and limits."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.iomap import COILS
from hw_sim.plant import Plant
from hw_sim.scenario import load_scenario

_VIOLATORS = load_scenario("violators")
BUSY = replace(_VIOLATORS, traffic=replace(_VIOLATORS.traffic, rate_per_hour=1200.0))
"""Violators arriving every few seconds, so the lane is never empty."""

coil_images = st.lists(st.booleans(), min_size=len(COILS), max_size=len(COILS))
programs = st.lists(st.tuples(coil_images, st.integers(100, 5000)), min_size=5, max_size=40)


@settings(max_examples=25, deadline=None)
@given(program=programs, seed=st.integers(0, 10_000))
def test_any_coil_program_keeps_the_plant_physical(
    program: list[tuple[list[bool], int]], seed: int
) -> None:
    """Whatever the coils do: boom in 0..1000, never both limits, vehicles in lane never overlap."""
    plant = Plant(BUSY, seed, watchdog_ms=0)
    g = plant.geometry
    for coils, hold_ms in program:
        plant.io.write_coils(coils)
        end = plant.now_ms + hold_ms
        while plant.now_ms < end:
            plant.step()
            assert 0 <= plant.boom_position <= 1000
            di = plant.io.read_discrete_inputs()
            assert not (di[4] and di[5])
            assert di[4] == (plant.boom_position == 1000)
            in_lane = sorted(
                (v for v in plant.vehicles if g.in_lane(v.lateral_y_m, v.width_m)),
                key=lambda v: -v.front_x_m,
            )
            for ahead, behind in itertools.pairwise(in_lane):
                assert behind.front_x_m <= ahead.rear_x_m + 1e-6, (ahead, behind)
    crossed = [r for r in plant.truth.vehicles.values() if r.crossing is not None]
    for rec in crossed:
        assert rec.crossing in ("passed", "tailgate", "run_through")
        assert rec.crossing != "passed" or rec.release_seen_ms is not None
