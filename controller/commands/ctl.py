"""``lanectl ctl``: the control API's command-line client, for operators and scripts.

``lanectl ctl status`` prints the lane's status as JSON; every other action
queues one operator command (the core may still refuse it: watch the
``command_rejected`` events). The URL and token default to $LANECTL_URL and
$LANECTL_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

__all__ = ["ACTIONS", "register", "request"]

ACTIONS: dict[tuple[str, ...], str] = {
    ("release",): "release",
    ("send-aside",): "send_aside",
    ("open",): "open_lane",
    ("close",): "close_lane",
    ("maintenance", "on"): "maintenance_on",
    ("maintenance", "off"): "maintenance_off",
    ("emergency", "on"): "emergency_open_on",
    ("emergency", "off"): "emergency_open_off",
    ("manual", "raise"): "manual_raise",
    ("manual", "lower"): "manual_lower",
    ("reset",): "reset_fault",
}
DEFAULT_URL = "http://127.0.0.1:8080"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("ctl", help="send a command to a running lane (control API client)")
    parser.add_argument("--url", default=os.environ.get("LANECTL_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("LANECTL_TOKEN"))
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="print the lane status as JSON").set_defaults(
        func=_run, words=("status",)
    )
    for words, command in ACTIONS.items():
        if len(words) == 1:
            p = actions.add_parser(words[0], help=f"queue {command}")
            p.set_defaults(func=_run, words=words)
    for group in ("maintenance", "emergency", "manual"):
        states = sorted(w[1] for w in ACTIONS if w[0] == group)
        p = actions.add_parser(group, help=f"{group} {'|'.join(states)}")
        p.add_argument("state", choices=states)
        p.set_defaults(func=_run, words=(group,))


async def request(
    url: str, method: str, path: str, *, token: str | None, timeout_s: float, body: Any = None
) -> tuple[int, Any]:
    """One API call; returns (HTTP status, decoded JSON body or text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, url.rstrip("/") + path, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except json.JSONDecodeError:
            return resp.status, text


def _run(args: argparse.Namespace) -> int:
    words: tuple[str, ...] = args.words
    if words[0] in ("maintenance", "emergency", "manual"):
        words = (words[0], args.state)
    if words == ("status",):
        method, path, body = "GET", "/status", None
    else:
        method, path, body = "POST", f"/commands/{ACTIONS[words]}", {"source": "ctl"}
    try:
        status, reply = asyncio.run(
            request(args.url, method, path, token=args.token, timeout_s=args.timeout, body=body)
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        print(f"ctl: cannot reach {args.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2 if words == ("status",) else None))
    if status >= 400:
        return 1
    return 0
