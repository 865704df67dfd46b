"""Record a journal of the core against the simulated lane (model in the loop, simulated clock).

Writes what the runtime writes (a start snapshot, every scan with its inputs when they
changed and its coils, every event, a periodic snapshot each simulated minute) into a
journal that ``lanectl replay`` re-runs. Used to keep a journal recorded by an earlier
core in ``tests/data/`` (see its README)::

    python -m tests.data.record_journal OUT.sqlite --minutes 15 --scenario mixed --seed 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from controller.core import codec
from controller.core.scan import ScanState, initial_state, scan
from controller.core.types import Event, Inputs, LaneConfig, Outputs
from controller.iomap import coils_from_outputs
from controller.journal import Journal
from controller.runtime import lane_config_json
from hw_sim.mil import run_mil
from hw_sim.scenario import load_scenario


class JournalingCore:
    """``controller.core.scan`` as a mil controller that journals each scan as the runtime."""

    def __init__(self, journal: Journal, config: LaneConfig) -> None:
        self.journal = journal
        self.state: ScanState = initial_state(config)
        self.seq = journal.first_seq
        self.last_json = ""
        self.next_snapshot = 0

    def step(self, inputs: Inputs, now_ms: int) -> tuple[Outputs, tuple[Event, ...]]:
        if self.seq == self.journal.first_seq:
            self.journal.record_snapshot(self.seq, now_ms, "start", codec.encode_state(self.state))
            self.next_snapshot = now_ms + 60_000
        elif now_ms >= self.next_snapshot:
            self.journal.record_snapshot(
                self.seq, now_ms, "periodic", codec.encode_state(self.state)
            )
            self.next_snapshot = now_ms + 60_000
        result = scan(self.state, inputs, now_ms)
        self.state = result.state
        encoded = codec.encode_inputs(inputs)
        changed = encoded != self.last_json
        self.last_json = encoded
        coils = 0
        for i, bit in enumerate(coils_from_outputs(result.outputs)):
            coils |= int(bit) << i
        self.journal.record_scan(self.seq, now_ms, encoded if changed else None, coils)
        for event in result.events:
            self.journal.record_event(self.seq, event.at_ms, event.kind, codec.encode_event(event))
        self.seq += 1
        return result.outputs, result.events


def main() -> None:
    parser = argparse.ArgumentParser(description="Record a journal of the core against the plant.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    config = LaneConfig()
    journal = Journal(args.out, lane="recorded", config_json=lane_config_json(config))
    core = JournalingCore(journal, config)
    report = run_mil(
        load_scenario(args.scenario),
        hours=args.minutes / 60,
        seed=args.seed,
        controller=core,
        config=config,
        camera=True,
    )
    journal.close()
    print(json.dumps(report.to_dict(), sort_keys=True))


if __name__ == "__main__":
    main()
