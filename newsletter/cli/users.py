"""`newsletter users`: the staff accounts that may log in to the staff area (/staff)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli import context
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app

users_app = typer.Typer(
    help="Staff accounts for the staff area: add, list, change a password, disable, enable."
)
_EMAIL_HELP = "The staff member's email address (the login)."
app.add_typer(users_app, name="users")


@users_app.command("add")
def add(email: Annotated[str, typer.Argument(help=_EMAIL_HELP)]) -> None:
    """Create a staff account; the password is asked for twice and never echoed."""
    from newsletter.store.staff import add_user

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    with store_errors(), context.transaction(write=True) as session:
        user = add_user(session, email, password)
        typer.echo(f"created staff account {user.email}")


@users_app.command("passwd")
def passwd(email: Annotated[str, typer.Argument(help=_EMAIL_HELP)]) -> None:
    """Give an account a new password (asked for twice, never echoed); this ends every
    session the account has."""
    from newsletter.store.staff import find_user, hash_password, set_password

    with store_errors(), context.transaction() as session:
        find_user(session, email)  # an unknown address fails before the password is asked
    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
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
