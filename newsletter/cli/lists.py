"""`newsletter lists`: show the mailing lists with their counts, create one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from newsletter.cli import context
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError
from newsletter.store.lists import create_list, list_summaries
from newsletter.store.models import MembershipStatus

lists_app = typer.Typer(
    help="Mailing lists: without a command, show each list with its counts per status."
)
app.add_typer(lists_app, name="lists")


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn the store's refusals into one `error: …` line and exit status 1.

    Shared by the list and subscriber commands: nobody at the CLI should see a traceback
    for a typo in a list name or a database that is down.
    """
    try:
        yield
    except NewsletterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"error: database: {reason}", err=True)
        raise typer.Exit(1) from None


@lists_app.callback(invoke_without_command=True)
def overview(ctx: typer.Context) -> None:
    """Show each list with its subscriber counts per status."""
    if ctx.invoked_subcommand is not None:
        return
    with store_errors(), context.transaction() as session:
        summaries = list_summaries(session)
    console = Console()
    if not summaries:
        console.print("No lists yet. Create one with: newsletter lists create NAME")
        return
    table = Table("list", *(status.value for status in MembershipStatus), "eligible", "description")
    for column in table.columns[1:-1]:
        column.justify = "right"
    for summary in summaries:
        table.add_row(
            summary.name,
            *(str(summary.counts[status]) for status in MembershipStatus),
            str(summary.eligible),
            summary.description,
        )
    console.print(table)
    console.print("eligible: active and not suppressed, i.e. who a campaign would reach.")


@lists_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The list's name, e.g. members.")],
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the list is for.")
    ] = "",
    language: Annotated[
        str,
        typer.Option(
            "--language",
            help="What its public pages and mails speak (BCP 47: ur, ar, ...); English if none.",
        ),
    ] = "",
) -> None:
    """Create a mailing list."""
    with store_errors(), context.transaction(write=True) as session:
        created = create_list(session, name, description, language)
    typer.echo(f"created list {created.name!r}")
