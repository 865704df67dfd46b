"""``lanectl journal tail|export|verify``: read a lane's journal without stopping the lane."""

from __future__ import annotations

import argparse
import json
import sys

from controller.journal import JournalError, export_csv, read_events, verify

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("journal", help="read, export or verify a lane journal")
    actions = parser.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    tail = actions.add_parser("tail", help="print the last events")
    tail.add_argument("file", metavar="FILE")
    tail.add_argument("-n", type=int, default=20, help="how many events (default 20)")
    tail.add_argument("--kind", action="append", help="only these event kinds (repeatable)")
    tail.add_argument(
        "--who",
        action="store_true",
        help="only what people did at the console: one line each, who, role, from where",
    )
    tail.set_defaults(func=_tail)
    export = actions.add_parser("export", help="write events or passages as CSV to stdout")
    export.add_argument("file", metavar="FILE")
    export.add_argument("--csv", action="store_true", required=True, help="CSV output")
    export.add_argument("--table", choices=("events", "passages"), default="events")
    export.set_defaults(func=_export)
    check = actions.add_parser("verify", help="integrity check and hash chains (exit 1 if bad)")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=_verify)


def _tail(args: argparse.Namespace) -> int:
    if args.n < 1:
        print("journal tail: -n must be at least 1", file=sys.stderr)
        return 2
    kinds = args.kind
    if args.who:
        from controller.console.audit import AUDIT_KINDS

        kinds = [k for k in AUDIT_KINDS if not kinds or k in kinds]
    try:
        rows = read_events(args.file, limit=args.n, kinds=kinds)
    except JournalError as exc:
        print(f"journal tail: {exc}", file=sys.stderr)
        return 1
    if args.who:
        for row in rows:
            print(_who_line(row))
        return 0
    for row in rows:
        body = json.loads(row["body"])
        fields = body if isinstance(body, dict) else {"event": body}
        print(json.dumps({"id": row["id"], "wall": row["wall"], "seq": row["seq"], **fields}))
    return 0


def _who_line(row: dict[str, object]) -> str:
    """``WALL #ID USER (ROLE) from ADDRESS: KIND key=value ...`` for one console action."""
    body = json.loads(str(row["body"]))
    data = dict(body.get("data", {})) if isinstance(body, dict) else {}
    user = data.pop("user", "") or "-"
    role = data.pop("role", "") or "-"
    remote = data.pop("remote", "") or "-"
    rest = " ".join(f"{k}={v}" for k, v in data.items())
    return (
        f"{row['wall']} #{row['id']} {user} ({role}) from {remote}: {row['kind']} {rest}".rstrip()
    )


def _export(args: argparse.Namespace) -> int:
    try:
        export_csv(args.file, sys.stdout, table=args.table)
    except JournalError as exc:
        print(f"journal export: {exc}", file=sys.stderr)
        return 1
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        result = verify(args.file)
    except JournalError as exc:
        print(f"journal verify: {exc}", file=sys.stderr)
        return 1
    if not result.ok:
        print(f"{args.file}: BAD after {result.rows} good rows: {result.problem}")
        return 1
    print(f"{args.file}: ok, {result.rows} rows, integrity and hash chains verified")
    return 0
