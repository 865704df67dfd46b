"""The README stays true to the code it documents."""

from __future__ import annotations

from pathlib import Path

from controller.cli import build_parser
from controller.iomap import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_register_map_is_the_generated_one() -> None:
    """The register map in the README is exactly what `lanectl iomap` prints."""
    text = README.read_text(encoding="utf-8")
    begin, end = "<!-- iomap:begin -->\n", "<!-- iomap:end -->"
    section = text.split(begin, 1)[1].split(end, 1)[0]
    assert section == markdown_table()


def test_readme_names_every_cli_command() -> None:
    """Every lanectl sub-command appears in the README's CLI table."""
    text = README.read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"`lanectl {name}" in text, name


def test_readme_shows_the_two_fresh_machine_commands() -> None:
    """The README gives `make demo` and `make test` as the two commands for a fresh machine."""
    text = README.read_text(encoding="utf-8")
    assert "    make demo\n" in text
    assert "    make test\n" in text
