"""`newsletter users`: the staff accounts that may log in to the staff area (/staff)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli import app
from newsletter.cli.lists import store_errors

users_app = typer.Typer(help="Staff accounts for the staff area: add one, list them.")
app.add_typer(users_app, name="users")


@users_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The staff member's email address (the login).")],
) -> None:
    """Create a staff account; the password is asked for twice and never echoed."""
    from newsletter.store import session_scope
    from newsletter.store.staff import add_user

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    with store_errors(), session_scope(write=True) as session:
        user = add_user(session, email, password)
        typer.echo(f"created staff account {user.email}")


@users_app.command("list")
def list_() -> None:
    """Show every staff account."""
    from newsletter.store import session_scope
    from newsletter.store.staff import list_users

    with store_errors(), session_scope() as session:
        users = list_users(session)
    if not users:
        typer.echo("No staff accounts yet. Add one with: newsletter users add EMAIL")
        return
    for user in users:
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
        state = "" if user.active else " (disabled)"
        typer.echo(f"{user.email}{state}  last login: {last}")
