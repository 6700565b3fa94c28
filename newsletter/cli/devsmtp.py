"""`newsletter dev-smtp`: capture every message sent to a local SMTP port and read them in a
web inbox, so a trial send delivers nothing to anyone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.root import app


@app.command("dev-smtp")
def dev_smtp(
    host: Annotated[str, typer.Option(help="Address to listen on, for SMTP and HTTP.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="SMTP port to capture mail on.")] = 1025,
    http_port: Annotated[int, typer.Option(help="HTTP port of the web inbox.")] = 8025,
    limit: Annotated[
        int, typer.Option(help="Messages kept in memory; the oldest are dropped beyond it.")
    ] = 5000,
    save: Annotated[
        Path | None,
        typer.Option(help="Also write every message as an .eml file into this folder."),
    ] = None,
) -> None:
    """Run a local SMTP server that captures every message, and a web inbox to read them.

    Send with NEWSLETTER_SMTP_URL=smtp://127.0.0.1:1025 (the default). Stop with Ctrl-C.
    """
    # Imported here so `newsletter --help` and other commands stay quick to start.
    from newsletter.devsmtp.capture import DevSmtpError
    from newsletter.devsmtp.server import DevSmtpServer

    try:
        server = DevSmtpServer(host, port, http_port, limit=limit, save_dir=save)

        def announce() -> None:
            typer.echo(f"SMTP   {server.smtp_url}   (set NEWSLETTER_SMTP_URL to this)")
            typer.echo(f"Inbox  {server.inbox_url}")
            if save is not None:
                typer.echo(f"Saving every message as .eml under {save}")
            typer.echo("Press Ctrl-C to stop.")

        server.serve(on_ready=announce)
    except DevSmtpError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Stopped.")
