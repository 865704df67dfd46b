"""`lanectl demo` starts the console with one operator user and says how to reach it."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.hil, pytest.mark.slow]

LINE = re.compile(r"^console: (http://127\.0\.0\.1:(\d+)/) user operator password (\S+)$")


def _login(url: str, user: str, password: str) -> int:
    body = json.dumps({"user": user, "password": password}).encode()
    req = urllib.request.Request(
        f"{url}api/login", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5.0) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_demo_prints_the_console_line_and_its_password_logs_in(tmp_path: Path) -> None:
    """The demo prints `console: URL user operator password P` before the run; P from
    --console-password-file logs in as operator there, a wrong one does not."""
    password_file = tmp_path / "pw"
    password_file.write_text("demo-operator-pw\n", encoding="utf-8")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "controller.cli", "demo", "--minutes", "0.15"),
            *("--no-camera", "--console-password-file", str(password_file)),
            *("--keep", str(tmp_path / "demo")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        match = LINE.match(first)
        assert match, first
        url, password = match.group(1), match.group(3)
        assert password == "demo-operator-pw"
        assert _login(url, "operator", "not-the-password") == 401
        assert _login(url, "operator", password) == 200
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0
    assert "boom_contacts" in rest


def test_demo_without_a_password_file_makes_a_random_one(tmp_path: Path) -> None:
    """Without --console-password-file each demo's operator gets a fresh random password,
    stored only as an argon2id hash that verifies it."""
    from controller.commands.demo import _console_user
    from controller.console.users import UsersFile

    args = argparse.Namespace(console_password_file=None, console_port=0)
    seen = []
    for i in range(2):
        workdir = tmp_path / str(i)
        workdir.mkdir()
        toml, password = _console_user(args, workdir)
        users = UsersFile(workdir / "users.json")
        assert users.users["operator"].password_hash.startswith("$argon2id$")
        assert password not in (workdir / "users.json").read_text(encoding="utf-8")
        assert users.verify("operator", password) is not None
        assert "port = 0" in toml
        seen.append(password)
    assert seen[0] != seen[1] and all(len(p) >= 12 for p in seen)
