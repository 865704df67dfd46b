"""Lane config: every error names the key and the file; a good file becomes typed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import main
from controller.config import ConfigError, load_config
from controller.core.types import FailMode

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lane.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lane.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads() -> None:
    """The commented example in the repository is a valid config."""
    config = load_config(EXAMPLE)
    assert config.lane.name == "lane1"
    assert config.io.port == 502
    assert config.io.scan_ms == 10
    assert config.core.amber_ms == 3000
    assert config.core.fail_mode is FailMode.SECURE
    assert config.core.auto_release_ms is None
    assert config.journal.path == EXAMPLE.parent / "lane1-journal.sqlite"
    assert config.camera is None


def test_values_reach_dataclasses(tmp_path: Path) -> None:
    """Timings, policy, offsets and the camera section are converted to typed values."""
    path = _write(
        tmp_path,
        """
[io]
port = 1502
watchdog_ms = 800
scan_priority = 20
scan_cpu = 1
[io.offsets]
coils = 100
[timing]
amber_ms = 4000
[policy]
fail_mode = "safe"
auto_release_ms = 2500
[camera]
url = "http://127.0.0.1:1/x.mjpg"
[[camera.zone]]
name = "bay"
polygon = [[0, 0], [10, 0], [10, 10]]
[camera.detector]
cell = 8
""",
    )
    config = load_config(path)
    assert config.io.port == 1502
    assert config.io.offsets.coil_base == 100
    assert config.io.scan_priority == 20 and config.io.scan_cpu == 1
    assert config.core.watchdog_ms == 800
    assert config.core.amber_ms == 4000
    assert config.core.fail_mode is FailMode.SAFE
    assert config.core.auto_release_ms == 2500
    assert config.camera is not None
    assert config.camera.zones[0].name == "bay"
    assert config.camera.zones[0].polygon[1] == (10.0, 0.0)
    assert dict(config.camera.detector) == {"cell": 8}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[lane]\nnmae = 'x'\n", "lane.nmae"),
        ("[io]\nport = 'five'\n", "io.port"),
        ("[io]\nport = 70000\n", "io.port"),
        ("[io]\ntransport = 'udp'\n", "io.transport"),
        ("[io.offsets]\ncoils = -1\n", "io.offsets.coils"),
        ("[timing]\namber_ms = 1000\n", "timing.amber_ms"),
        ("[policy]\nfail_mode = 'open'\n", "policy.fail_mode"),
        ("[policy]\nearly_entry = 1\n", "policy.early_entry"),
        ("[api]\nhost = '0.0.0.0'\n", "api.token"),
        ("[api]\ntoken = 'short'\n", "api.token"),
        (
            "[camera]\nurl = 'x'\n[[camera.zone]]\nname = 'roof'\npolygon = [[0,0],[1,0],[1,1]]\n",
            "camera.zone[0].name",
        ),
        ("[bogus]\n", "bogus"),
        ("[journal]\nreplay_hours = 0\n", "journal.replay_hours"),
        ("[io]\nscan_ms = 100\nwatchdog_ms = 200\n", "io.watchdog_ms"),
        ("[io]\nscan_priority = 100\n", "io.scan_priority"),
        ("[io]\nscan_cpu = -2\n", "io.scan_cpu"),
        ("lane = [\n", "<toml>"),
    ],
)
def test_errors_name_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    """Each kind of mistake raises ConfigError carrying the dotted key and the file path."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert info.value.path == str(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_token_file_is_read(tmp_path: Path) -> None:
    """token_file is read relative to the config and allows a non-loopback bind."""
    (tmp_path / "tok").write_text("0123456789abcdef0123\n", encoding="utf-8")
    path = _write(tmp_path, "[api]\nhost = '0.0.0.0'\ntoken_file = 'tok'\n")
    assert load_config(path).api.token == "0123456789abcdef0123"


def test_cli_check_exits_2_naming_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lanectl config check` exits 2 and prints the key and file of the error."""
    path = _write(tmp_path, "[io]\nscan_ms = 1\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "io.scan_ms" in err and str(path) in err
    assert main(["config", "check", str(EXAMPLE)]) == 0
