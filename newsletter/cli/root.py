"""The root `newsletter` command, which each module of newsletter.cli adds its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="newsletter",
    help="Compose seminar newsletters and send them to mailing lists.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's lines into paragraphs that fit the terminal; "rich" (the
    # default) would keep the source's line breaks. The mode reaches every sub-command.
    rich_markup_mode="markdown",
)


@app.callback()
def _commands() -> None:
    # A callback keeps `newsletter build ...` a sub-command even while it is the only one.
    pass
