"""``lanectl users add|list|remove``: the console's users, in the file the lane config names.

``add`` asks for the password twice on a terminal, or reads the first line of
``--password-file``; it stores an argon2id hash, never the password. A running
controller picks the changed file up at the next request.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from controller.config import ConfigError, load_config

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("users", help="add, list or remove the console's users")
    actions = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user, or change one's role and password")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, help="viewer, operator or supervisor")
    add.add_argument("--password-file", metavar="F", help="read the password from F")
    add.set_defaults(func=_add)
    show = actions.add_parser("list", help="list users and roles")
    show.set_defaults(func=_list)
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=_remove)
    for p in (add, show, remove):
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", metavar="FILE", help="lane config with [console] users_file")
        where.add_argument("--users-file", metavar="FILE", help="the users file itself")


def _users_path(args: argparse.Namespace) -> Path:
    if args.users_file:
        return Path(args.users_file)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise SystemExit(f"lanectl users: config error: {exc}") from None
    if config.console is None:
        raise SystemExit(f"lanectl users: {args.config}: no [console] section (users_file)")
    return config.console.users_file


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(
                f"lanectl users: --password-file: cannot read {args.password_file}: {exc.strerror}"
            ) from None
        lines = text.splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise SystemExit("lanectl users: no terminal to ask on: give --password-file")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("lanectl users: the passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    from controller.console.users import UsersError, UsersFile, parse_role

    try:
        role = parse_role(args.role)
        users = UsersFile(_users_path(args))
        users.add(args.name, role, _password(args))
        users.save()
    except UsersError as exc:
        print(f"lanectl users add: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name}: {role.value} in {users.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from controller.console.users import UsersError, UsersFile

    try:
        users = UsersFile(_users_path(args))
    except UsersError as exc:
        print(f"lanectl users list: {exc}", file=sys.stderr)
        return 2
    for user in sorted(users.users.values(), key=lambda u: u.name):
        print(f"{user.name}\t{user.role.value}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from controller.console.users import UsersError, UsersFile

    try:
        users = UsersFile(_users_path(args))
        users.remove(args.name)
        users.save()
    except UsersError as exc:
        print(f"lanectl users remove: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name}: removed from {users.path}")
    return 0
