"""The root command's help: every command's text reflowed to the terminal, none of it lost."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from newsletter.cli import app

_BOX = re.compile(r"[│╭╮╰╯─]+")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    # Typer's groups are its own (vendored) click's: known by their commands.
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _command(path: tuple[str, ...]) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def _help(path: tuple[str, ...], columns: int) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def _flat(text: str) -> str:
    # Markdown shows `code` without its backticks.
    return " ".join(_BOX.sub(" ", text).replace("`", "").split())


ALL = list(_commands(typer.main.get_command(app)))


def test_a_commands_help_is_reflowed_not_broken_where_the_source_broke_it() -> None:
    # The source breaks `send`'s second paragraph after "record,"; 100 columns do not.
    output = _help(("send",), 100)
    assert "2 an invalid record, 3 paused (an" in output
    # The list of commands shows each one's first paragraph joined up too.
    listing = _help((), 400)
    assert "web.html, newsletter.pdf and message.eml (the message" in listing


@pytest.mark.parametrize("path", ALL, ids=lambda path: " ".join(path) or "newsletter")
def test_no_word_of_any_help_text_is_lost(path: tuple[str, ...]) -> None:
    """Markdown takes `<name>` for HTML and drops it: what help says must all be shown."""
    command = _command(path)
    # Wide enough that no option's help wraps into its neighbours' columns.
    shown = _flat(_help(path, 400))
    texts = [inspect.cleandoc(command.help or "").partition("\f")[0]]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    for text in texts:
        for paragraph in text.split("\n\n"):
            assert _flat(paragraph) in shown, paragraph
