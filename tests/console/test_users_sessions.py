"""Users (argon2id, roles, the file), sessions (expiry, logout) and the login limit."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from controller.cli import main
from controller.console.sessions import LoginLimiter, SessionStore
from controller.console.users import ROLE_COMMANDS, Role, UsersError, UsersFile, allowed
from controller.core.types import CommandKind


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_users_file_keeps_only_argon2id_hashes(tmp_path: Path) -> None:
    """A saved user is an argon2id hash (no password), owner-only, and verifies only its
    own password; an unknown user is refused like a wrong password."""
    users = UsersFile(tmp_path / "users.json")
    users.add("olga", Role.OPERATOR, "correct horse")
    users.save()
    text = (tmp_path / "users.json").read_text(encoding="utf-8")
    assert "correct horse" not in text
    assert json.loads(text)["users"][0]["hash"].startswith("$argon2id$")
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    again = UsersFile(tmp_path / "users.json")
    user = again.verify("olga", "correct horse")
    assert user is not None and user.role is Role.OPERATOR
    assert again.verify("olga", "correct horsE") is None
    assert again.verify("nobody", "correct horse") is None


@pytest.mark.parametrize(
    ("name", "password", "match"),
    [("bad name", "long enough", "user name"), ("ok", "short", "at least 8")],
)
def test_bad_users_are_refused_by_field(name: str, password: str, match: str) -> None:
    """A bad name or a short password is a UsersError naming what is wrong."""
    with pytest.raises(UsersError, match=match):
        UsersFile(Path("/nonexistent/u.json")).add(name, Role.VIEWER, password)


def test_a_broken_users_file_is_named(tmp_path: Path) -> None:
    """A users file with a plain-text password instead of a hash is refused, naming the entry."""
    path = tmp_path / "u.json"
    path.write_text('{"users": [{"name": "a", "role": "viewer", "hash": "pw"}]}', encoding="utf-8")
    with pytest.raises(UsersError, match=r"u\.json: users\[0\]\.hash"):
        UsersFile(path)


def test_roles_are_cumulative() -> None:
    """viewer: nothing; operator: the vehicle cycle and the lane; supervisor: everything."""
    assert ROLE_COMMANDS[Role.VIEWER] == frozenset()
    assert allowed(Role.OPERATOR, CommandKind.RELEASE)
    assert allowed(Role.OPERATOR, CommandKind.CLOSE_LANE)
    for kind in (CommandKind.EMERGENCY_OPEN_ON, CommandKind.RESET_FAULT, CommandKind.MANUAL_RAISE):
        assert not allowed(Role.OPERATOR, kind)
        assert allowed(Role.SUPERVISOR, kind)
    assert ROLE_COMMANDS[Role.OPERATOR] < ROLE_COMMANDS[Role.SUPERVISOR]


def test_cli_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`lanectl users add|list|remove` through the lane config's [console] users_file."""
    config = tmp_path / "lane.toml"
    config.write_text(
        '[io]\nhost = "127.0.0.1"\n[journal]\npath = "j.sqlite"\n'
        '[console]\nusers_file = "users.json"\n',
        encoding="utf-8",
    )
    pw = tmp_path / "pw"
    pw.write_text("s3cret-password\n", encoding="utf-8")
    base = ["users"]
    assert (
        main(
            [
                *base,
                "add",
                "sam",
                "--role",
                "supervisor",
                "--password-file",
                str(pw),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *base,
                "add",
                "vic",
                "--role",
                "viewer",
                "--password-file",
                str(pw),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main([*base, "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["sam\tsupervisor", "vic\tviewer"]
    assert main([*base, "remove", "vic", "--config", str(config)]) == 0
    assert main([*base, "remove", "vic", "--config", str(config)]) == 2
    assert "no such user" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "add",
                "x",
                "--role",
                "boss",
                "--password-file",
                str(pw),
                "--config",
                str(config),
            ]
        )
        == 2
    )
    assert "role 'boss'" in capsys.readouterr().err
    assert UsersFile(tmp_path / "users.json").verify("sam", "s3cret-password") is not None


def test_sessions_expire_after_idle_and_end_at_logout() -> None:
    """A session lives ``ttl`` after its last use; ending it makes its token worthless."""
    clock = Clock()
    store = SessionStore(60.0, clock=clock)
    s = store.create("olga", Role.OPERATOR)
    clock.t += 59
    assert store.get(s.token) is s
    clock.t += 59
    assert store.get(s.token) is s  # used at +59: alive until +119
    clock.t += 61
    assert not store.alive(s.token)
    assert store.get(s.token) is None
    s2 = store.create("olga", Role.OPERATOR)
    assert s2.csrf != s2.token and s2.csrf_ok(s2.csrf) and not s2.csrf_ok(None)
    clock.t += 59
    assert store.alive(s2.token)
    clock.t += 2
    assert not store.alive(s2.token)  # asking whether it lives is not a use
    s3 = store.create("olga", Role.OPERATOR)
    store.end(s3.token)
    assert store.get(s3.token) is None


def test_login_limit_is_per_user_and_address_for_a_minute() -> None:
    """Five failures block that user from that address for a minute, nobody else."""
    clock = Clock()
    limit = LoginLimiter(clock=clock)
    for _ in range(5):
        assert not limit.blocked("olga", "10.0.0.1")
        limit.failed("olga", "10.0.0.1")
    assert limit.blocked("olga", "10.0.0.1")
    assert not limit.blocked("olga", "10.0.0.2")
    assert not limit.blocked("sam", "10.0.0.1")
    clock.t += 60.5
    assert not limit.blocked("olga", "10.0.0.1")
