"""`newsletter lists`: show the mailing lists with their counts, create one, change one's
names, description and language (as the staff area's list settings do, by the same store
function)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from newsletter.cli import context
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError
from newsletter.store.lists import create_list, get_list, list_summaries, update_list
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
            # The public name, when it has one, under the name: what subscribers see.
            summary.name
            + (f"\n[dim]{escape(summary.public_name)}[/]" if summary.public_name else ""),
            *(str(summary.counts[status]) for status in MembershipStatus),
            str(summary.eligible),
            summary.description,
        )
    console.print(table)
    console.print("eligible: active and not suppressed, i.e. who a campaign would reach.")


_PUBLIC_NAME_HELP = "What subscribers see on the public pages; NAME if none."
_LANGUAGE_HELP = "What its public pages and mails speak (BCP 47: ur, ar, ...); English if none."


@lists_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The list's name, e.g. members.")],
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the list is for.")
    ] = "",
    language: Annotated[str, typer.Option("--language", help=_LANGUAGE_HELP)] = "",
    public_name: Annotated[str, typer.Option("--public-name", help=_PUBLIC_NAME_HELP)] = "",
) -> None:
    """Create a mailing list."""
    with store_errors(), context.transaction(write=True) as session:
        created = create_list(session, name, description, language, public_name=public_name)
    typer.echo(f"created list {created.name!r}")


@lists_app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="The list's name now.")],
    new_name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="A new name. Sign-up addresses (/subscribe/NAME) and commands use it from "
            "then on; campaigns already created keep the old one.",
        ),
    ] = None,
    public_name: Annotated[
        str | None,
        typer.Option("--public-name", help=f'{_PUBLIC_NAME_HELP} "" removes it.'),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help='What the list is for; "" for none.')
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help=f'{_LANGUAGE_HELP} "" for English.')
    ] = None,
) -> None:
    """Change a list's name, public name, description or language; what is not given
    stays as it is."""
    renamed = _update(name, new_name, public_name, description, language)
    typer.echo(f"updated list {name!r}" + (f", now named {renamed!r}" if renamed != name else ""))


@lists_app.command("rename")
def rename(
    name: Annotated[str, typer.Argument(help="The list's name now.")],
    new_name: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename a list (its key: sign-up addresses and commands use the new name from then
    on). Its public name, if it has one, stays; change that with `lists update`."""
    renamed = _update(name, new_name, None, None, None)
    typer.echo(f"renamed list {name!r} to {renamed!r}")


def _update(
    name: str,
    new_name: str | None,
    public_name: str | None,
    description: str | None,
    language: str | None,
) -> str:
    """The list's name after the change; None leaves a field as it is."""
    with store_errors(), context.transaction(write=True) as session:
        found = get_list(session, name)
        return update_list(
            session,
            found.id,
            name=found.name if new_name is None else new_name,
            public_name=found.public_name if public_name is None else public_name,
            description=found.description if description is None else description,
            language=found.language if language is None else language,
        ).name
