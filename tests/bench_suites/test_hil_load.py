"""``lanectl bench hil --load``: the JSON shape and that every load part really ran.

Timing is never asserted (a shared machine): only that both scan periods were
measured and that the detector processed frames, every console page received
events and the broker delivered the lane's state messages during the run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.bench.hil import SCAN_PRIORITY
from controller.bench.hil_load import LOAD_PARTS, parse_parts
from controller.cli import main
from controller.config import CameraConfig


def _check_latency(stats: dict[str, Any]) -> None:
    assert stats["max"] >= stats["p99"] >= stats["p50"] > 0
    assert stats["n"] > 0


@pytest.mark.hil
def test_bench_hil_load_runs_every_load_part(capsys: pytest.CaptureFixture[str]) -> None:
    """A quick ``bench hil --load --json``: both periods measured, each load part ran."""
    code = main(["bench", "hil", "--load", "--quick", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert set(result["edge_to_coil_ms"]) == {"5", "2"}
    for key in ("5", "2"):
        _check_latency(result["edge_to_coil_ms"][key])
        assert 0.0 <= result["overrun_share"][key] <= 1.0
        assert result["runs"][key]["scans"] > 0
        # The scan thread says what it asked of the OS and what it got.
        thread = result["runs"][key]["scan_thread"]
        assert thread["priority_asked"] == SCAN_PRIORITY
        assert (thread["policy"], thread["priority"]) in (("fifo", SCAN_PRIORITY), ("other", 0))
        assert (thread["policy"] == "fifo") == (thread["priority_error"] is None)
        assert result["runs"][key]["read_p99_ms"] > 0
        # Failed requests are counted (a reconnect explains an outlier), never negative.
        assert isinstance(result["runs"][key]["bus_failures"], int)
        assert result["runs"][key]["bus_failures"] >= 0
    parts = {(p["scan_ms"], p["name"]): p for p in result["load"]}
    assert set(parts) == {(ms, n) for ms in (5, 2) for n in ("detector", "sse", "mqtt")}
    for ms in (5, 2):
        detector, sse, mqtt = (parts[(ms, n)] for n in ("detector", "sse", "mqtt"))
        assert detector["ran"] and detector["frames"] > 0, detector
        assert detector["camera"] == "1280x720@25"
        assert detector["process"] is CameraConfig(url="").process
        assert sse["ran"] and sse["clients"] == 20 and sse["events_min"] > 0, sse
        assert sse["by_kind"].get("state", 0) >= 20, sse
        assert mqtt["ran"] and mqtt["state_messages"] > 0, mqtt


def test_load_goes_with_the_hil_suite_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """``--load`` with another suite is refused with a message naming the hil suite."""
    assert main(["bench", "kernel", "--load"]) == 2
    assert "hil suite alone" in capsys.readouterr().err


@pytest.mark.hil
def test_bench_hil_load_one_part_with_the_detector_in_a_child(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--load-parts detector --camera-process true``: only the detector runs, in its
    child process, and it processed frames (its frame log comes through the child)."""
    code = main(
        [
            "bench",
            "hil",
            "--load",
            "--quick",
            "--json",
            "--load-parts",
            "detector",
            "--camera-process",
            "true",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert [(p["scan_ms"], p["name"]) for p in result["load"]] == [(5, "detector"), (2, "detector")]
    for part in result["load"]:
        assert part["ran"] and part["frames"] > 0 and part["process"] is True, part


def test_load_parts_are_checked() -> None:
    """Unknown or empty part lists are named errors; order and duplicates are kept tidy."""
    assert parse_parts("sse, detector,sse") == ("sse", "detector")
    assert set(LOAD_PARTS) == {"detector", "sse", "mqtt", "sim_camera"}
    with pytest.raises(ValueError, match="camera: use one or more of detector"):
        parse_parts("detector,camera")
    with pytest.raises(ValueError, match="none given"):
        parse_parts(" , ")


def test_load_options_need_load(capsys: pytest.CaptureFixture[str]) -> None:
    """``--load-parts``/``--camera-process`` without ``--load`` and a bad part are refused."""
    assert main(["bench", "hil", "--load-parts", "sse"]) == 2
    assert "go with --load" in capsys.readouterr().err
    assert main(["bench", "hil", "--load", "--load-parts", "gpu"]) == 2
    assert "--load-parts: load parts: gpu" in capsys.readouterr().err


@pytest.mark.hil
def test_bench_gil_measures_each_mode() -> None:
    """``lanectl bench gil`` (quick): the probe ran in every mode, and the detector, in this
    process and in its child, processed frames of the simulator's camera meanwhile."""
    from controller.bench import SUITES
    from controller.bench.gil import MODES

    result = SUITES["gil"](True)
    assert set(result["lateness_ms"]) == set(MODES)
    for mode, rounds in result["lateness_ms"].items():
        assert len(rounds) == 1
        figures = rounds[0]
        assert figures["n"] == int(result["seconds"] * 1000)
        assert figures["max"] >= figures["p999"] >= figures["p99"] >= figures["p50"] >= 0
        if mode != "none":
            assert figures["frames"] > 0, (mode, figures)
