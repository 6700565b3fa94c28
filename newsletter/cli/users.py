"""`newsletter users`: the staff accounts that may log in to the staff area (/staff)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from newsletter.cli import context
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError
from newsletter.store.staff import MIN_PASSWORD_LENGTH

users_app = typer.Typer(
    help="Staff accounts for the staff area: add, list, change a password, disable, enable."
)
_EMAIL_HELP = "The staff member's email address (the login)."
_LENGTH_RULE = f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
_STDIN_HELP = (
    "Read the password from the first line of standard input instead of asking for it "
    "twice (for scripts: printf '%s\\n' \"$PASSWORD\" | newsletter users ...)."
)
app.add_typer(users_app, name="users")


class PasswordInputError(NewsletterError):
    """No password could be read from standard input."""


def read_password(prompt: str, *, from_stdin: bool) -> str:
    """The password: the first line of stdin with --password-stdin; else asked for twice,
    hidden on a terminal.

    On a pipe it is read line by line rather than through getpass, which would look for
    a terminal, warn "Can not control echo" when there is none, and otherwise ask on the
    terminal instead of reading what was piped in.
    """
    if from_stdin:
        return _stdin_line()
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True))
    while True:
        typer.echo(f"{prompt}: ", err=True, nl=False)
        first = _stdin_line()
        typer.echo("Repeat for confirmation: ", err=True, nl=False)
        if first == _stdin_line():
            return first
        typer.echo("Error: The two entered values do not match.", err=True)


def _stdin_line() -> str:
    # sys.stdin itself: click's get_text_stream may wrap it anew on each call, and a new
    # wrapper would lose what the previous one had buffered (the confirmation line).
    line = sys.stdin.readline()
    if not line:
        raise PasswordInputError("no password on standard input")
    return line.removesuffix("\n").removesuffix("\r")


# The help is an f-string, so that it states the length rule the store enforces.
@users_app.command(
    "add",
    help="Create a staff account; the password is asked for twice and never echoed, or "
    f"read from standard input with --password-stdin. {_LENGTH_RULE}",
)
def add(
    email: Annotated[str, typer.Argument(help=_EMAIL_HELP)],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_STDIN_HELP)] = False,
) -> None:
    from newsletter.store.staff import add_user

    with store_errors():
        password = read_password("Password", from_stdin=password_stdin)
    with store_errors(), context.transaction(write=True) as session:
        user = add_user(session, email, password)
        typer.echo(f"created staff account {user.email}")


@users_app.command(
    "passwd",
    help="Give an account a new password (asked for twice, never echoed, or read from "
    "standard input with --password-stdin); this ends every session the account has. "
    f"{_LENGTH_RULE}",
)
def passwd(
    email: Annotated[str, typer.Argument(help=_EMAIL_HELP)],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_STDIN_HELP)] = False,
) -> None:
    from newsletter.store.staff import find_user, hash_password, set_password

    with store_errors(), context.transaction() as session:
        find_user(session, email)  # an unknown address fails before the password is asked
    with store_errors():
        password = read_password("New password", from_stdin=password_stdin)
    with store_errors():
        # argon2 before the write transaction, not inside it.
        hashed = hash_password(password)
        with context.transaction(write=True) as session:
            user = set_password(session, email, hashed)
            typer.echo(f"changed the password of {user.email}; its sessions have ended")


@users_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help=_EMAIL_HELP)]) -> None:
    """Stop an account from logging in, and end every session it has."""
    from newsletter.store.staff import set_active

    with store_errors(), context.transaction(write=True) as session:
        user = set_active(session, email, False)
        typer.echo(f"disabled staff account {user.email}; its sessions have ended")


@users_app.command("enable")
def enable(email: Annotated[str, typer.Argument(help=_EMAIL_HELP)]) -> None:
    """Let a disabled account log in again (with its old password)."""
    from newsletter.store.staff import set_active

    with store_errors(), context.transaction(write=True) as session:
        user = set_active(session, email, True)
        typer.echo(f"enabled staff account {user.email}")


@users_app.command("list")
def list_() -> None:
    """Show every staff account."""
    from newsletter.store.staff import list_users

    with store_errors(), context.transaction() as session:
        users = list_users(session)
    if not users:
        typer.echo("No staff accounts yet. Add one with: newsletter users add EMAIL")
        return
    for user in users:
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
        state = "" if user.active else " (disabled)"
        typer.echo(f"{user.email}{state}  last login: {last}")
