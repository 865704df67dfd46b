"""The detector suite in a small run: its shape, its conditions and the scene it times."""

from __future__ import annotations

import pytest

from controller.bench import SUITES, detector
from controller.commands.bench import _render
from hw_sim.camera import CameraSpec, Condition, LaneCamera


def test_conditions_are_the_renderers() -> None:
    """Every condition the renderer has is benchmarked, by its name."""
    assert detector.conditions() == tuple(c.value for c in Condition)
    assert "detector" in SUITES


def test_scene_drives_vehicles_through_every_zone_and_stops_one_in_the_bay() -> None:
    """The clip exercises the detector: every zone is occupied, the bay for seconds."""
    camera = LaneCamera(CameraSpec(width=640, height=360, fps=detector.FPS))
    seen = {name: 0 for name in ("approach", "bay", "barrier", "exit")}
    for k in range(300):
        truth = camera.truth(detector.scene(k * 40))
        for name, on in truth.items():
            seen[name] += on
    assert detector.scene(0) == []
    assert all(count > 0 for count in seen.values()), seen
    assert seen["bay"] * 40 >= 2000


def test_small_run_has_the_issue_shape_and_consistent_figures() -> None:
    """``{"detector": {"WxH": {condition: figures}}}`` with the core share from the two means,
    and the cost of every decode mode."""
    result = detector.run(quick=True, sizes=((320, 180),))
    table = result["detector"]["320x180"]
    assert tuple(table) == detector.conditions()
    for figures in table.values():
        assert set(figures) == {"cpu_ms_mean", "cpu_ms_p99", "decode_ms_mean", "core_share_25fps"}
        assert figures["cpu_ms_p99"] >= figures["cpu_ms_mean"] > 0
        assert figures["decode_ms_mean"] > 0
        share = (figures["cpu_ms_mean"] + figures["decode_ms_mean"]) * 25 / 1000
        assert figures["core_share_25fps"] == pytest.approx(share, abs=2e-4)
    decode = result["decode"]["320x180"]
    assert set(decode) == {"colour_ms", "grey_ms", "grey_half_ms", "grey_quarter_ms"}
    assert all(v > 0 for v in decode.values())
    text = _render({"detector": result["detector"]})
    assert "320x180 day" in text and "cpu_ms_mean" in text


def test_report_judges_the_detector_targets_from_the_figures() -> None:
    """The report's detector targets follow the figures: met under, missed over, per size."""
    from controller.bench.report import summarize

    def table(mean: float, p99: float, share: float) -> dict[str, dict[str, float]]:
        row = {"cpu_ms_mean": mean, "cpu_ms_p99": p99, "decode_ms_mean": 1.0}
        return {
            "day": {**row, "core_share_25fps": share},
            "rain": {**row, "core_share_25fps": 0.01},
        }

    fast = {"detector": {"1280x720": table(0.3, 1.0, 0.04), "640x360": table(0.1, 0.5, 0.01)}}
    slow = {"detector": {"1280x720": table(0.5, 2.0, 0.06), "640x360": table(0.2, 0.5, 0.01)}}
    met = summarize({"detector": fast}, quick=True)["targets"]
    missed = summarize({"detector": slow}, quick=True)["targets"]
    names = [k for k in met if k.startswith(("detector_", "decode_detect"))]
    assert len(names) == 4
    assert all(met[k] for k in names)
    assert not any(missed[k] for k in names)
