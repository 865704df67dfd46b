"""``lanectl states``: the diagram is generated from the transition table itself."""

from __future__ import annotations

import pytest

from controller.cli import main
from controller.commands.states import dot, mermaid
from controller.core.lane import TRANSITIONS


def test_mermaid_has_every_row() -> None:
    """Every (phase, trigger, target) row of the table is an edge of the Mermaid diagram."""
    text = mermaid()
    assert text.startswith("stateDiagram-v2\n")
    rows = [(p, r) for p, rs in TRANSITIONS.items() for r in rs]
    edges = [line for line in text.splitlines() if "-->" in line and "[*]" not in line]
    assert len(edges) == len(rows)
    for phase, row in rows:
        assert any(
            e.strip().startswith(f"{phase.name} --> {row.target.name}: {row.trigger.value}")
            for e in edges
        )


def test_dot_is_a_digraph_with_every_row() -> None:
    """The Graphviz form has one edge per row and one node per phase."""
    text = dot()
    assert text.startswith("digraph lane {") and text.rstrip().endswith("}")
    assert text.count(" -> ") == sum(len(rs) for rs in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("argv", "first"), [([], "stateDiagram-v2"), (["--format", "dot"], "digraph")]
)
def test_cli_prints_the_diagram(
    capsys: pytest.CaptureFixture[str], argv: list[str], first: str
) -> None:
    """``lanectl states`` prints the diagram in the chosen language and exits 0."""
    assert main(["states", *argv]) == 0
    assert capsys.readouterr().out.startswith(first)
