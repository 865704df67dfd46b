"""``[console]`` in the lane config: values reach ConsoleConfig, mistakes name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lane.toml"
BASE = """[io]
host = "127.0.0.1"
[journal]
path = "j.sqlite"
"""


def _write(tmp_path: Path, console: str) -> Path:
    path = tmp_path / "lane.toml"
    path.write_text(BASE + "[console]\n" + console, encoding="utf-8")
    return path


def test_example_console_section() -> None:
    """The example config's console: users file next to it, loopback, port 8443, no TLS."""
    c = load_config(EXAMPLE).console
    assert c is not None
    assert c.users_file == EXAMPLE.parent / "lane1-users.json"
    assert (c.host, c.port, c.session_minutes, c.tls_cert) == ("127.0.0.1", 8443, 480, None)


def test_no_console_section_means_no_console(tmp_path: Path) -> None:
    """Without [console] the controller serves no console."""
    path = tmp_path / "lane.toml"
    path.write_text(BASE, encoding="utf-8")
    assert load_config(path).console is None


def test_tls_files_and_insecure_http(tmp_path: Path) -> None:
    """Off loopback: TLS files are read as paths; insecure_http allows plain HTTP on purpose."""
    (tmp_path / "c.pem").write_text("x", encoding="utf-8")
    (tmp_path / "k.pem").write_text("x", encoding="utf-8")
    c = load_config(
        _write(
            tmp_path,
            'users_file = "u.json"\nhost = "0.0.0.0"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n',
        )
    ).console
    assert c is not None and c.tls_cert == tmp_path / "c.pem" and c.tls_key == tmp_path / "k.pem"
    c = load_config(
        _write(tmp_path, 'users_file = "u.json"\nhost = "10.1.2.3"\ninsecure_http = true\n')
    ).console
    assert c is not None and c.insecure_http and c.tls_cert is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('host = "127.0.0.1"\n', "console.users_file"),
        ('users_file = "u.json"\nhost = "0.0.0.0"\n', "console.tls_cert"),
        ('users_file = "u.json"\ntls_cert = "nope.pem"\n', "console.tls_cert"),
        ('users_file = "u.json"\nport = 70000\n', "console.port"),
        ('users_file = "u.json"\nsession_minutes = 0\n', "console.session_minutes"),
        ('users_file = "u.json"\ninsecure_http = "yes"\n', "console.insecure_http"),
        ('users_file = "u.json"\ncolour = "red"\n', "console.colour"),
    ],
)
def test_errors_name_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    """Each mistake in [console] raises ConfigError naming the dotted key and the file."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(path) in str(info.value)


def test_one_tls_file_alone_names_the_other(tmp_path: Path) -> None:
    """A certificate without its key is refused naming tls_key."""
    (tmp_path / "c.pem").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, 'users_file = "u.json"\ntls_cert = "c.pem"\n'))
    assert info.value.key == "console.tls_key"
