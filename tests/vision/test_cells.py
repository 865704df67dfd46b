"""The compiled cell grouping against its numpy reference: integer results, equal exactly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from controller.bench.detector import render_clip
from controller.vision.cells import CellGroups
from controller.vision.cells_reference import largest_group_reference
from controller.vision.detector import Detector

Mask = npt.NDArray[np.bool_]


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 17), (23, 1), (19, 31), (64, 45)])
@pytest.mark.parametrize("density", [0.0, 0.2, 0.45, 0.6, 1.0])
def test_random_masks_match_the_reference(rows: int, cols: int, density: float) -> None:
    rng = np.random.default_rng(rows * 1000 + cols + int(density * 100))
    groups = CellGroups()
    for _ in range(20):
        cells = rng.random((rows, cols)) < density
        may_bridge = rng.random((rows, cols)) < 0.5
        assert groups.largest(cells, may_bridge) == largest_group_reference(cells, may_bridge)


def test_bridges_join_without_counting_and_corners_do_not_touch() -> None:
    groups = CellGroups()
    cells = np.zeros((5, 7), dtype=bool)
    cells[2, 0:3] = True
    cells[2, 4:7] = True
    gap = np.zeros_like(cells)
    gap[2, 3] = True
    assert groups.largest(cells, np.zeros_like(cells)) == 3
    assert groups.largest(cells, gap) == 6  # joined through the gap, which does not count
    diagonal = np.eye(5, dtype=bool)
    assert groups.largest(diagonal, np.ones_like(diagonal)) == 1
    assert groups.largest(np.zeros((4, 4), bool), np.ones((4, 4), bool)) == 0


def test_every_grouping_of_a_rendered_clip_matches_the_reference() -> None:
    zones, clip = render_clip(320, 180, "shadows", 60)
    detector = Detector(zones, 180, 320)
    compiled = detector._groups.largest
    seen: list[int] = []

    def checked(cells: Mask, may_bridge: Mask) -> int:
        got = compiled(cells, may_bridge)
        assert got == largest_group_reference(cells, may_bridge)
        seen.append(got)
        return got

    detector._groups.largest = checked  # type: ignore[method-assign]
    for t, frame in clip:
        detector.process(frame, t)
    # Vehicles passed: groups of more than a few cells were compared.
    assert seen and max(seen) >= 10


def test_bad_arguments_are_named_errors() -> None:
    groups = CellGroups()
    mask = np.zeros((4, 4), dtype=bool)
    with pytest.raises(ValueError, match="cells"):
        groups.largest(mask.astype(np.uint8), mask)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="may_bridge"):
        groups.largest(mask, mask[:2])
