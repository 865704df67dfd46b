"""``lanectl eval-vision`` and ``lanectl sim render``: the offline path, and the real clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.commands.eval_vision import TruthError, episodes, load_truth, score

DATA = Path(__file__).resolve().parents[1] / "data"


def test_episodes_and_score() -> None:
    """Episodes are inclusive runs; F1 counts frames; the guard skips frames at truth changes."""
    pred = [False, True, True, False, True]
    assert episodes(pred) == [(1, 2), (4, 4)]
    truth = [False, False, True, True, True]
    strict = score(pred, truth)
    assert (strict.tp, strict.fp, strict.fn) == (2, 1, 1)
    assert strict.f1 == pytest.approx(2 / 3)
    guarded = score(pred, truth, guard=1)
    assert guarded.fp == 0 and guarded.fn == 1
    assert score([False], [False]).f1 == 1.0


def test_truth_errors_name_file_and_line(tmp_path: Path) -> None:
    """A truth CSV with a bad header, frame number or value is rejected with its line."""
    bad = tmp_path / "t.csv"
    bad.write_text("frame,bay\n0,1\n2,0\n")
    with pytest.raises(TruthError, match="line 3"):
        load_truth(bad)
    bad.write_text("frame,bay\n0,2\n")
    with pytest.raises(TruthError, match="expected 0 or 1"):
        load_truth(bad)
    bad.write_text("time,bay\n")
    with pytest.raises(TruthError, match="header"):
        load_truth(bad)


def _render(out: Path, condition: str) -> tuple[Path, Path, Path]:
    clip, truth, zones = out / "clip.mp4", out / "truth.csv", out / "zones.toml"
    code = main(
        [
            "sim",
            "render",
            "--scenario",
            "rush",
            "--seed",
            "1",
            "--seconds",
            "40",
            "--condition",
            condition,
            "--out",
            str(clip),
            "--truth",
            str(truth),
            "--zones-out",
            str(zones),
        ]
    )
    assert code == 0
    return clip, truth, zones


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return _render(tmp_path_factory.mktemp("render"), "day")


def test_sim_render_writes_clip_truth_and_zones(rendered: tuple[Path, Path, Path]) -> None:
    """The clip has one truth row per frame (15 fps) and the zones file names the four zones."""
    clip, truth, zones = rendered
    rows = load_truth(truth)
    assert list(rows) == ["approach", "bay", "barrier", "exit"]
    assert len(rows["bay"]) == 600
    assert all(any(rows[z]) for z in rows), "the rush scenario reaches every zone in 40 s"
    assert 'name = "barrier"' in zones.read_text()
    assert clip.stat().st_size > 10_000


def test_eval_vision_json_on_a_rendered_clip(
    rendered: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON has the issue's exact shape and the rendered traffic scores F1 >= 0.95 per zone."""
    clip, truth, zones = rendered
    assert (
        main(["eval-vision", str(clip), "--zones", str(zones), "--truth", str(truth), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"frames", "zones", "camera_faults"}
    assert report["frames"] == 600
    assert report["camera_faults"] == []
    for name, zone in report["zones"].items():
        assert set(zone) == {"episodes", "count", "precision", "recall", "f1"}, name
        assert zone["count"] == len(zone["episodes"])
        assert zone["f1"] >= 0.95, (name, zone)


@pytest.mark.xfail(
    strict=True,
    reason="the detector takes moving shadows for bodies: F1 approach 0.843, bay 0.652, "
    "barrier 0.150, exit 0.234 on this clip (issue 15)",
)
def test_eval_vision_on_a_rendered_clip_with_moving_shadows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the low sun (trees, fence, the through lane's shadows) every zone scores
    F1 >= 0.95 too; the truth is the bay lane's vehicles only."""
    clip, truth, zones = _render(tmp_path, "shadows")
    rows = load_truth(truth)
    assert all(any(rows[z]) for z in rows)
    capsys.readouterr()
    assert (
        main(["eval-vision", str(clip), "--zones", str(zones), "--truth", str(truth), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["camera_faults"] == []
    low = {name: zone["f1"] for name, zone in report["zones"].items() if zone["f1"] < 0.95}
    assert low == {}


def test_eval_vision_errors_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing video, a bad zones file or a bad --set exits 2 with the reason on stderr."""
    zones = tmp_path / "z.toml"
    zones.write_text('[[zone]]\nname = "a"\npolygon = [[0, 0], [9, 0], [9, 9]]\n')
    assert main(["eval-vision", str(tmp_path / "none.mp4"), "--zones", str(zones)]) == 2
    assert "none.mp4" in capsys.readouterr().err
    assert main(["eval-vision", "x.mp4", "--zones", str(tmp_path / "nozones.toml")]) == 2
    assert "nozones.toml" in capsys.readouterr().err
    clip = DATA / "parking_lot_overhead.mp4"
    assert main(["eval-vision", str(clip), "--zones", str(zones), "--set", "cell=big"]) == 2
    assert "cell" in capsys.readouterr().err


@pytest.mark.slow
def test_real_clip_one_episode_per_car_and_quiet_zone_stays_empty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On real footage each car crossing a zone is one episode and the untouched zone stays empty.

    The exposure follows the white cars (mean grey 114 -> ~60) and the view
    drifts by up to ~12 px; neither may make presence or a fault.
    """
    clip = DATA / "parking_lot_overhead.mp4"
    zones = DATA / "parking_lot_zones.toml"
    assert main(["eval-vision", str(clip), "--zones", str(zones), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 377
    assert report["camera_faults"] == []
    left, centre, quiet = (report["zones"][n] for n in ("left", "centre", "quiet"))
    assert quiet["count"] == 0
    # README (+-4 frames): car 2 in view 184-228 and car 4 316-346 cross "left";
    # car 1 58-104 and car 3 190-236 cross "centre".
    assert left["count"] == 2 and centre["count"] == 2
    (a1, b1), (a2, b2) = left["episodes"]
    assert 184 <= a1 <= b1 <= 228 and 316 <= a2 <= b2 <= 350
    (c1, d1), (c2, d2) = centre["episodes"]
    assert 58 <= c1 <= d1 <= 104 and 190 <= c2 <= d2 <= 236


def test_camera_report_matches_frames_by_monotonic_time() -> None:
    """Each captured frame is scored against the last frame published before its capture."""
    from controller.commands.eval_vision import camera_report

    sim = {
        "zones": ["approach", "bay", "barrier", "exit"],
        "frames": [[1000, "0000"], [1067, "0100"], [1134, "0100"], [1201, "0000"]],
    }
    ctrl = {
        "zones": ["approach", "bay", "barrier", "exit"],
        "frames": [
            [0, 1005, "0000", True, 1012, 1014],
            [1, 1070, "0000", True, 1080, 1083],  # missed: truth says bay
            [2, 1140, "0100", True, 1150, None],  # its scan could not write
            [3, 1210, "0000", True, None, None],
        ],
    }
    report = camera_report(sim, ctrl, warmup=0)
    assert report["camera_frames"] == 4
    assert report["camera_f1_bay"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["camera_f1_exit"] == 1.0
    assert report["camera_latency_p50_ms"] == 10.0
    # Capture -> coils written: 9 and 13 ms; render -> coils written: 14 and 16 ms.
    assert report["camera_to_coil_p50_ms"] == pytest.approx(11.0, abs=2.1)
    assert report["camera_to_coil_p99_ms"] == pytest.approx(13.0, abs=0.1)
    assert report["camera_end_to_end_p99_ms"] == pytest.approx(16.0, abs=0.1)
