"""[mqtt] in a lane config and the MQTT tables of a site config: errors name key and file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller.config import ConfigError, load_config
from controller.site.siteconf import load_site_mqtt

LANE = """[lane]
name = "lane1"
[io]
port = 1502
[journal]
path = "j.sqlite"
"""


def _lane(tmp_path: Path, mqtt: str) -> Path:
    (tmp_path / "pw").write_text("secret-lane1\n", encoding="utf-8")
    path = tmp_path / "lane.toml"
    path.write_text(LANE + "[mqtt]\n" + mqtt, encoding="utf-8")
    return path


def test_mqtt_section_is_read_with_defaults(tmp_path: Path) -> None:
    """lane and username default to [lane].name; the password comes from its file."""
    cfg = load_config(
        _lane(tmp_path, 'url = "mqtt://127.0.0.1:1883"\nsite = "north"\npassword_file = "pw"\n')
    )
    assert cfg.mqtt is not None
    assert (cfg.mqtt.url, cfg.mqtt.site, cfg.mqtt.lane) == (
        "mqtt://127.0.0.1:1883",
        "north",
        "lane1",
    )
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("lane1", "secret-lane1")


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('url = "http://x:1"\nsite = "n"\npassword_file = "pw"\n', "mqtt.url", "mqtt://"),
        ('url = "mqtt://u:p@x:1"\nsite = "n"\npassword_file = "pw"\n', "mqtt.url", "credentials"),
        ('url = "mqtt://x:1"\nsite = "a/b"\npassword_file = "pw"\n', "mqtt.site", "topic level"),
        ('url = "mqtt://x:1"\nsite = "n"\n', "mqtt.password_file", "missing"),
        ('url = "mqtt://x:1"\nsite = "n"\npassword_file = "nope"\n', "mqtt.password_file", "nope"),
        (
            'url = "mqtt://x:1"\nsite = "n"\npassword_file = "pw"\ncafile = "pw"\n',
            "mqtt.cafile",
            "mqtts://",
        ),
        ('url = "mqtt://x:1"\nsite = "n"\npassword_file = "pw"\nqos = 2\n', "mqtt.qos", "unknown"),
    ],
)
def test_mqtt_errors_name_the_key_and_file(tmp_path: Path, body: str, key: str, words: str) -> None:
    path = _lane(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key and err.value.path == str(path)
    assert words in str(err.value)


SITE = """[site]
name = "north"
[broker]
port = 0
[[users]]
name = "lane1"
role = "lane"
password_file = "pw"
[[users]]
name = "store"
role = "store"
password_file = "pw"
[bridge]
url = "mqtt://127.0.0.1:18830"
username = "bridge-north"
password_file = "pw"
[supervisor]
anything = "the supervisor's own table is not checked here"
"""


def test_site_config_and_bridge_config_command(tmp_path: Path) -> None:
    """The site's users and store are read; bridge-config prints the bridge section."""
    (tmp_path / "pw").write_text("pw-0123\n", encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text(SITE, encoding="utf-8")
    site = load_site_mqtt(path)
    assert [(u.name, u.role, u.lane) for u in site.users] == [
        ("lane1", "lane", "lane1"),
        ("store", "store", None),
    ]
    assert site.store_user == "store" and site.data_dir == tmp_path / "broker"
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "site", "bridge-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "address 127.0.0.1:18830\n" in out
    assert "topic lanectl/north/+/event out 1\n" in out
    assert "topic lanectl/north/+/cmd/# in 1\n" in out
    assert "cleansession false\n" in out


def test_site_config_errors_name_the_key(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw-0123\n", encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text(SITE.replace('role = "store"', 'role = "boss"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"users\[1\]\.role: 'boss'"):
        load_site_mqtt(path)
    path.write_text(SITE.replace('url = "mqtt://127.0.0.1:18830"', 'url = "x"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bridge\.url"):
        load_site_mqtt(path)


def test_site_and_supervisor_files_that_cannot_be_read_name_the_file(tmp_path: Path) -> None:
    from controller.site.supconf import load_supervisor

    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'site = "caf\xe9"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("site = \n", encoding="utf-8")
    missing = tmp_path / "missing.toml"
    for load in (load_site_mqtt, load_supervisor):
        with pytest.raises(ConfigError, match="not UTF-8") as info:
            load(latin1)
        assert str(latin1) in str(info.value)
        with pytest.raises(ConfigError, match="bad TOML"):
            load(broken)
        with pytest.raises(ConfigError, match="no such file"):
            load(missing)
