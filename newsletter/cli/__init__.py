"""The `newsletter` command. Each sub-module adds its commands to `app`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="newsletter",
    help="Compose seminar newsletters and send them to mailing lists.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _commands() -> None:
    # A callback keeps `newsletter build ...` a sub-command even while it is the only one.
    pass


# Imported for their side effect of registering commands on `app`.
from newsletter.cli import (  # noqa: E402, F401
    build,
    campaigns,
    demo,
    devsmtp,
    lists,
    send,
    serve,
    subscribers,
    users,
)


def main() -> None:
    app()
