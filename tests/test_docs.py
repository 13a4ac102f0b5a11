"""Documentation that must not drift: command help, README set-up, presets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from nninit_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_summary_and_an_example(name):
    help_text = COMMANDS[name].help or ""
    summary = help_text.strip().splitlines()[0]
    assert summary.endswith(".") and len(summary) <= 80, summary
    assert "Example:" in help_text and f"nninit {name}" in help_text


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Install and run", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    first, second = _readme_commands()
    assert "constraints.txt" in first and first.endswith("nninit std-trace")
    assert second.endswith("&& pytest")
    install = second.split("&& ")[-2].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert install in ci, f"CI must install as the README says: {install}"
    assert "\npytest\n" in ci and "ruff check ." in ci
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_readme_figures_exist_and_every_command_has_a_section():
    text = (ROOT / "README.md").read_text()
    for figure in re.findall(r"\]\((docs/figures/[^)]+)\)", text):
        assert (ROOT / figure).is_file(), figure
    assert (ROOT / "docs" / "make_figures.sh").is_file()
    for name in COMMANDS:
        assert f"`nninit {name}" in text, f"README has no section for {name}"


def test_top_level_help_shows_every_summary_whole(cli):
    out = cli("--help").out
    for name, command in COMMANDS.items():
        summary = command.help.strip().splitlines()[0]
        assert f"{name}" in out and summary in out, summary
