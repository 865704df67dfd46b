"""Control API security: no token off loopback refuses before binding; wrong tokens get 401;
the token never reaches a log or the journal.

``tests/runtime/test_api.py`` covers the app's 401 and named 4xx answers in process; this
file adds what it does not: that the refusal happens before any socket is bound (checked
without ever binding a non-loopback address), and a real ``lanectl run`` process with a
token whose logs and journal are searched for it afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from controller.api import ApiError, start_api
from controller.config import ApiConfig, ConfigError, load_config
from tests.hil.harness import Proc, start_proc, stop_proc, wait_for
from tests.runtime.api_sink import MemorySink

TOKEN = "s3cr3t-LANE-token-7f3a9c"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "lane-pc.example"])
def test_non_loopback_without_token_refused_before_binding(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_api raises ApiError naming api.token and never creates a listening site."""
    attempts: list[str] = []

    async def no_bind(self: web.TCPSite) -> None:
        attempts.append(str(self.name))
        raise AssertionError("start_api tried to bind")

    monkeypatch.setattr(web.TCPSite, "start", no_bind)

    async def go() -> None:
        with pytest.raises(ApiError, match=r"api\.token"):
            await start_api(MemorySink(), ApiConfig(host=host, port=8080, token=None))

    asyncio.run(go())
    assert attempts == []


def test_loopback_without_token_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is about the address: 127.0.0.1, ::1 and localhost need no token."""
    bound: list[str] = []

    async def fake_start(self: web.TCPSite) -> None:
        bound.append(str(self.name))

    monkeypatch.setattr(web.TCPSite, "start", fake_start)

    async def go() -> None:
        for host in ("127.0.0.1", "::1", "localhost"):
            server = await start_api(MemorySink(), ApiConfig(host=host, port=8080, token=None))
            await server.close()

    asyncio.run(go())
    assert len(bound) == 3


def test_config_refuses_non_loopback_without_token(tmp_path: Path) -> None:
    """The lane config already names api.token for a non-loopback host; a short token too."""
    config = tmp_path / "lane.toml"
    config.write_text('[api]\nhost = "0.0.0.0"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"api\.token: required"):
        load_config(config)
    config.write_text('[api]\nhost = "0.0.0.0"\ntoken = "short"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"api\.token: must be at least 16") as info:
        load_config(config)
    assert "short" not in str(info.value)


def test_run_refuses_to_start_without_token(tmp_path: Path) -> None:
    """`lanectl run` with a non-loopback API and no token exits 2 before opening anything."""
    journal = tmp_path / "journal.sqlite"
    config = tmp_path / "lane.toml"
    config.write_text(
        f'[io]\nport = 1502\n[journal]\npath = "{journal}"\n[api]\nhost = "0.0.0.0"\nport = 0\n',
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "api.token" in out.stderr
    assert not journal.exists()  # refused before the journal, the bus or the API


def _request(url: str, path: str, *, token: str | None, data: bytes | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(
        f"{url}{path}", data=data, headers=headers, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=5.0) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_token_in_a_running_controller_never_logged(tmp_path: Path) -> None:
    """Against `lanectl run` with a token file: wrong or missing token 401, right token an
    answer (202, or 409 for a command the core refuses); afterwards neither the process's
    log nor the journal holds the token."""
    token_file = tmp_path / "api.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    journal = tmp_path / "journal.sqlite"
    config = tmp_path / "lane.toml"
    # No I/O answers on this port: the controller keeps retrying, the API serves anyway.
    config.write_text(
        f"""[lane]
name = "sec"
[io]
port = 1
connect_timeout_ms = 100
[journal]
path = "{journal}"
[api]
host = "127.0.0.1"
port = 0
token_file = "{token_file}"
""",
        encoding="utf-8",
    )
    run: Proc | None = None
    try:
        run, url = start_proc("run", ["run", "--config", str(config)], tmp_path, "api listening on")
        assert _request(url, "/status", token=None) == 401
        assert _request(url, "/status", token="wrong-token-wrong-token") == 401
        assert _request(url, "/status", token=TOKEN[:-1]) == 401
        assert _request(url, "/status", token=TOKEN + "x") == 401
        assert _request(url, "/commands/close", token="nope", data=b"") == 401
        assert _request(url, "/status", token=TOKEN) == 200
        # The right token gets an answer: 409 for close, which the closed lane's core refuses.
        assert _request(url, "/commands/close", token=TOKEN, data=b"") == 409
        body = json.dumps({"command": "open", "source": "kiosk"}).encode()
        assert _request(url, "/command", token=TOKEN, data=body) == 202
        # The operator's client sends it too (from $LANECTL_TOKEN / --token).
        ctl = subprocess.run(
            [sys.executable, "-m", "controller.cli", "ctl", "--url", url, "status"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"LANECTL_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )
        assert ctl.returncode == 0, ctl.stderr
        assert json.loads(ctl.stdout)["lane"] == "sec"
        assert TOKEN not in ctl.stdout + ctl.stderr
        wait_for(lambda: journal.exists(), 10.0, "the journal")
    finally:
        if run is not None:
            assert stop_proc(run) == 0
    log = run.log_path.read_text(encoding="utf-8", errors="replace") if run else ""
    assert "api_listening" in log  # the log was captured
    assert TOKEN not in log
    assert TOKEN not in "\n".join(run.lines if run else [])
    for path in tmp_path.iterdir():
        if path.name.startswith("journal.sqlite"):
            assert TOKEN.encode() not in path.read_bytes(), path.name
