"""docs/agent.md documents every command and option of ``lessonwatch-agent``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agent.cli import _parser

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "agent.md").read_text(encoding="utf-8")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_has_a_heading(command: str) -> None:
    """Each subcommand has its own '### `command ...`' heading."""
    assert f"### `{command}" in DOCS


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (name, opt)
        for name, sub in sorted(_commands().items())
        for action in sub._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_every_option_is_documented(command: str, option: str) -> None:
    """Each option of each subcommand appears in docs/agent.md."""
    assert f"`{option}" in DOCS or f"{option} " in DOCS, f"{command} {option}"
