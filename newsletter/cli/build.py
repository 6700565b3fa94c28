"""`newsletter build`: a record becomes the email, web page, PDF and a sample message on disk."""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from newsletter.cli import context
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError, RecordError

if TYPE_CHECKING:
    from newsletter.issue.model import Issue


@app.command()
def build(
    record: Annotated[Path, typer.Argument(help="The seminar record (.yaml, .yml or .json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files into.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat the composer's warnings as errors.")
    ] = False,
    images: Annotated[
        Literal["hosted", "inline"] | None,
        typer.Option(help="Photos hosted under the public URL or attached inline."),
    ] = None,
) -> None:
    """Build the newsletter for RECORD: email.html, email.txt, web.html, newsletter.pdf and
    message.eml (the message a sample recipient would get, DKIM-signed as a send signs it
    when NEWSLETTER_DKIM_DOMAIN is set)."""
    try:
        issue, warnings = _compose(record, images=images)
        for warning in warnings:
            typer.echo(f"{'error' if strict else 'warning'}: {warning}", err=True)
        if strict and warnings:
            typer.echo("error: --strict: nothing written", err=True)
            raise typer.Exit(1)
        files = _render(issue)
        try:
            _write_all(out, files)
        except OSError as exc:
            # Only writing says "cannot write": a template or a file that cannot be read
            # used to be reported here under the output folder's name.
            raise NewsletterError(f"cannot write {out}: {exc.strerror or exc}") from None
    except RecordError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except NewsletterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _report(out, files)


def _compose(
    record_path: Path, *, images: Literal["hosted", "inline"] | None
) -> tuple[Issue, list[str]]:
    from newsletter.compose.from_file import compose_file

    issue, problems = compose_file(context.settings(), record_path, images=images)
    return issue, [str(problem) for problem in problems]


def _render(issue: Issue) -> dict[str, bytes]:
    """Every file of the build, in memory: nothing is written until all of it exists."""
    from newsletter.compose.pdf import render_pdf
    from newsletter.mail.dkim import DkimSigner
    from newsletter.mail.sample import sample_copy

    settings = context.settings()
    # Read first, as a send reads it: a bad key stops the build before the slow PDF.
    signer = DkimSigner.from_settings(settings)
    sample = sample_copy(settings, issue)
    files = {
        "email.html": sample.html.encode(),
        "email.txt": sample.text.encode(),
        "web.html": issue.web_html.encode(),
        "newsletter.pdf": render_pdf(issue),
        # Signed as the real send signs, so a SpamAssassin or DKIM check of the file
        # judges what recipients get.
        "message.eml": signer.sign(sample.message) if signer else sample.message,
    }
    # The web version refers to these under the public URL; they are what to publish there.
    for asset in issue.assets:
        files[f"assets/{asset.filename}"] = asset.data
    return files


def _write_all(out: Path, files: dict[str, bytes]) -> None:
    """Write every file or none: into a temporary folder beside `out`, then move into place."""
    if out.exists() and not out.is_dir():
        raise NewsletterError(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 mode would become the published folder's.
    staging = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    staging.mkdir()
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            # The common case, a new folder: one atomic rename publishes everything.
            staging.rename(out)
            return
        except OSError:
            if not out.is_dir():
                raise
        # `out` exists: replace each file atomically, leaving unrelated files alone.
        for name in files:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / name).replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _report(out: Path, files: dict[str, bytes]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Wrote {out}", title_justify="left", box=None, pad_edge=False)
    table.add_column("file")
    table.add_column("size", justify="right")
    for name, data in files.items():
        table.add_row(str(out / name), _size(len(data)))
    Console(file=sys.stdout, soft_wrap=True).print(table)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"
