"""The `newsletter` command: the root command (newsletter.cli.root) with the commands each
sub-module adds to it."""

from __future__ import annotations

# Imported for their side effect of registering commands on `app`.
from newsletter.cli import (  # noqa: F401
    build,
    campaigns,
    check,
    demo,
    devsmtp,
    lists,
    send,
    serve,
    subscribers,
    users,
    worker,
)
from newsletter.cli.root import app

__all__ = ["app", "main"]


def main() -> None:
    app()
