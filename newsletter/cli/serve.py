"""`newsletter serve`: the public web side (web version, PDF, unsubscribe, forward, sign-up)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.root import app

APP_FACTORY = "newsletter.web.app:create_app"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (one per CPU core at most).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve the pages every link in a newsletter leads to, under NEWSLETTER_PUBLIC_URL.

    Uses the database of NEWSLETTER_DATABASE_URL (default: SQLite in the data folder),
    which is created and migrated if needed. Stop with Ctrl-C.
    """
    # Imported here so `newsletter --help` and other commands stay quick to start.
    import uvicorn
    from pydantic import ValidationError

    from newsletter.core.errors import NewsletterError
    from newsletter.core.settings import get_settings
    from newsletter.store.engine import get_engine

    try:
        settings = get_settings()
        settings.signing_key()
        # Migrate once here, so that a bad database URL is one clear line, not a traceback
        # in every worker.
        get_engine(settings.resolved_database_url())
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSLETTER_{'__'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        typer.echo(f"error: invalid setting: {problems}", err=True)
        raise typer.Exit(1) from None
    except NewsletterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # SQLAlchemy and the database driver raise many kinds
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"error: database: {reason}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Serving {settings.public_url} on http://{host}:{port}  (Ctrl-C to stop)")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        # X-Forwarded-For is believed from a proxy on this machine only (uvicorn's default).
        proxy_headers=True,
    )
