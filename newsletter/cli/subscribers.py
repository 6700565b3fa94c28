"""`newsletter subscribers`: import, export, show and unsubscribe."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from newsletter.cli import context
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app
from newsletter.store.errors import StoreError
from newsletter.store.exporter import export_csv
from newsletter.store.importer import RejectLog, import_file
from newsletter.store.lists import get_list
from newsletter.store.subscribers import get_subscriber, subscriber_details
from newsletter.store.subscriptions import unsubscribe as unsubscribe_in_store

subscribers_app = typer.Typer(
    help="Subscribers: import, export, look up, unsubscribe.", no_args_is_help=True
)
app.add_typer(subscribers_app, name="subscribers")

ListName = Annotated[str, typer.Argument(metavar="LIST", help="The list's name.")]


@subscribers_app.command("import")
def import_(
    list_name: ListName,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="CSV with an email column.")],
) -> None:
    """Import a CSV file into a list, in one transaction.

    The header row needs an `email` column; `name` is optional and every other column
    becomes an attribute. Prints `added N, updated M, skipped K`, then each skipped row
    with its line number and the reason.
    """
    with store_errors(), RejectLog() as rejections:
        try:
            summary = import_file(list_name, file, rejections, engine=context.engine())
        except KeyboardInterrupt:
            typer.echo("error: interrupted; nothing was imported", err=True)
            raise typer.Exit(130) from None
        typer.echo(str(summary))
        for rejection in rejections:
            typer.echo(str(rejection))


@subscribers_app.command("export")
def export(
    list_name: ListName,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export a list as CSV (email, name, status, attributes), safe to open in a spreadsheet."""
    with store_errors(), context.transaction(snapshot=True) as session:
        mailing_list = get_list(session, list_name)
        if output is None:
            export_csv(session, mailing_list, sys.stdout)
            return
        count = _export_to_file(output, lambda stream: export_csv(session, mailing_list, stream))
    typer.echo(f"exported {count} subscribers of {list_name!r} to {output}")


def _export_to_file(output: Path, write: Callable[[TextIO], int]) -> int:
    # Written beside the target and renamed into place: never a half-written file.
    # UTF-8 with a BOM, so spreadsheets show non-ASCII names correctly.
    directory = output.parent
    if not directory.is_dir():
        raise StoreError(f"{directory}: no such folder")
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as stream:
            count = write(stream)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


@subscribers_app.command("show")
def show(email: Annotated[str, typer.Argument(help="The subscriber's address.")]) -> None:
    """Show a subscriber: details, lists, suppression and recent events."""
    with store_errors(), context.transaction() as session:
        details = subscriber_details(session, email)
    subscriber = details.subscriber
    lines = [
        f"email:      {subscriber.email}",
        f"name:       {subscriber.name or '-'}",
        f"since:      {subscriber.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    for key, value in subscriber.attributes.items():
        lines.append(f"  {key}: {value}")
    suppression = details.suppression
    lines.append(
        "suppressed: no"
        if suppression is None
        else f"suppressed: yes, {suppression.reason} since {suppression.created_at:%Y-%m-%d %H:%M}"
        + (f" ({suppression.detail})" if suppression.detail else "")
    )
    lines.append(f"soft bounces: {details.soft_bounces}")
    lines.append("lists:" if details.memberships else "lists:      none")
    for mailing_list, membership in details.memberships:
        lines.append(
            f"  {mailing_list.name}: {membership.status} (via {membership.source}, "
            f"since {membership.created_at:%Y-%m-%d}, changed {membership.updated_at:%Y-%m-%d})"
        )
    lines.append("events, latest first:" if details.events else "events:     none")
    for event, list_name in details.events:
        where = f" {list_name}" if list_name else ""
        how = f" via {event.source}" + (f" ({event.detail})" if event.detail else "")
        lines.append(f"  {event.at:%Y-%m-%d %H:%M} {event.kind}{where}{how}")
    typer.echo("\n".join(lines))


@subscribers_app.command("unsubscribe")
def unsubscribe(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    list_name: Annotated[
        str | None,
        typer.Option("--list", metavar="LIST", help="Only this list (default: everything)."),
    ] = None,
) -> None:
    """Unsubscribe from one list, or from everything: then the address is never mailed again."""
    with store_errors(), context.transaction(write=True) as session:
        subscriber = get_subscriber(session, email)
        detail = f"by {_operator()}"
        if list_name is None:
            changed = unsubscribe_in_store(
                session, subscriber.id, None, source="cli", detail=detail
            )
            message = (
                f"unsubscribed {subscriber.email} from every list; the address is suppressed"
                if changed
                else f"{subscriber.email} was already unsubscribed from everything"
            )
        else:
            mailing_list = get_list(session, list_name)
            if mailing_list.id not in {m.list_id for m in subscriber.memberships}:
                raise StoreError(f"{subscriber.email} is not on the list {list_name!r}")
            changed = unsubscribe_in_store(
                session, subscriber.id, mailing_list.id, source="cli", detail=detail
            )
            message = (
                f"unsubscribed {subscriber.email} from {list_name!r}"
                if changed
                else f"{subscriber.email} was already unsubscribed from {list_name!r}"
            )
    typer.echo(message)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "an unknown user"
