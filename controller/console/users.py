"""The console's users: names, roles and argon2id password hashes in one JSON file.

Roles are cumulative: a ``viewer`` sees, an ``operator`` also works the vehicle
cycle and acknowledges alarms, a ``supervisor`` also has maintenance, manual
motion, emergency open and fault reset. The file is rewritten atomically and
kept readable by its owner only (it holds password hashes).
"""

from __future__ import annotations

import enum
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from controller.core.types import CommandKind

__all__ = [
    "ROLE_COMMANDS",
    "Role",
    "User",
    "UsersError",
    "UsersFile",
    "allowed",
    "can_acknowledge",
    "parse_role",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MIN_PASSWORD = 8
_HASHER = PasswordHasher()  # argon2id with the library's current parameters


class UsersError(Exception):
    """A users file or a user cannot be used as given (names the file or the field)."""


class Role(enum.Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"


_OPERATOR = frozenset(
    {
        CommandKind.RELEASE,
        CommandKind.SEND_ASIDE,
        CommandKind.OPEN_LANE,
        CommandKind.CLOSE_LANE,
    }
)
ROLE_COMMANDS: dict[Role, frozenset[CommandKind]] = {
    Role.VIEWER: frozenset(),
    Role.OPERATOR: _OPERATOR,
    Role.SUPERVISOR: frozenset(CommandKind),
}
"""The commands each role may send (the core still decides whether one is allowed now)."""


def allowed(role: Role, kind: CommandKind) -> bool:
    return kind in ROLE_COMMANDS[role]


def can_acknowledge(role: Role) -> bool:
    return role is not Role.VIEWER


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsersError(
            f"user name {name!r}: 1-32 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise UsersError(f"role {text!r}: use one of {names}") from None


class UsersFile:
    """Load, change and save the users file; ``verify`` checks a password in constant work."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.users: dict[str, User] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        where = str(self.path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsersError(f"{where}: cannot read: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise UsersError(f"{where}: not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("users"), list):
            raise UsersError(f"{where}: expected an object with a 'users' array")
        for i, item in enumerate(data["users"]):
            key = f"{where}: users[{i}]"
            if not isinstance(item, dict):
                raise UsersError(f"{key}: must be an object")
            name, role, hashed = item.get("name"), item.get("role"), item.get("hash")
            if not isinstance(name, str):
                raise UsersError(f"{key}.name: missing or not a string")
            if not isinstance(role, str):
                raise UsersError(f"{key}.role: missing or not a string")
            if not isinstance(hashed, str) or not hashed.startswith("$argon2id$"):
                raise UsersError(f"{key}.hash: not an argon2id hash")
            try:
                user = User(_check_name(name), parse_role(role), hashed)
            except UsersError as exc:
                raise UsersError(f"{key}: {exc}") from None
            self.users[name] = user

    def save(self) -> None:
        data = {
            "users": [
                {"name": u.name, "role": u.role.value, "hash": u.password_hash}
                for u in sorted(self.users.values(), key=lambda u: u.name)
            ]
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        tmp.replace(self.path)

    def add(self, name: str, role: Role, password: str) -> User:
        """Add or replace ``name`` (replacing changes its role and password)."""
        _check_name(name)
        if len(password) < MIN_PASSWORD:
            raise UsersError(f"password: at least {MIN_PASSWORD} characters")
        user = User(name, role, _HASHER.hash(password))
        self.users[name] = user
        return user

    def remove(self, name: str) -> None:
        if name not in self.users:
            raise UsersError(f"user {name!r}: no such user in {self.path}")
        del self.users[name]

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is right; None otherwise (unknown users cost the same)."""
        user = self.users.get(name)
        hashed = user.password_hash if user is not None else _dummy_hash()
        try:
            _HASHER.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("no such user: this hash only spends the same time")
