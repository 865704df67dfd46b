"""``lanectl replay JOURNAL [--from MS --to MS]``: re-run the core over a lane's recording.

This is how an incident is investigated: the recorded (inputs, now_ms) of every
scan go through ``core.scan`` again, and the outputs and events must come out
bit for bit as they did on the lane. Prints "identical" or the first divergent
scan; exit 0 when identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from controller.journal import JournalError, replay

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("replay", help="re-run the core over a journal's recording")
    parser.add_argument("journal", metavar="JOURNAL")
    parser.add_argument("--from", dest="from_ms", type=int, metavar="MS", help="first now_ms")
    parser.add_argument("--to", dest="to_ms", type=int, metavar="MS", help="last now_ms")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.from_ms is not None and args.to_ms is not None and args.to_ms < args.from_ms:
        print("replay: --to must not be before --from", file=sys.stderr)
        return 2
    try:
        result = replay(args.journal, from_ms=args.from_ms, to_ms=args.to_ms)
    except (JournalError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    if result.identical:
        print(f"identical: {result.scans} scans replayed, outputs and events match")
        return 0
    print(f"divergent after {result.scans} scans: {result.divergence}")
    return 1
