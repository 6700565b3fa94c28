"""`newsletter worker`: a Celery worker that sends the campaigns handed to the sending
queue (newsletter.sending.worker), on the broker NEWSLETTER_BROKER_URL names."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli import context
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app


@app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Sending processes. Each works on one campaign at a time; a large campaign "
            "is shared by every idle process of every worker.",
        ),
    ] = 1,
) -> None:
    """Send the campaigns `newsletter send --queue` and the staff area hand to the workers,
    until stopped (Ctrl-C lets the campaigns in hand finish their batch).

    Interrupted campaigns (sending, but nobody sends them) are handed to the queue first.
    Run one on each machine, against the same database, broker and settings (the same
    NEWSLETTER_SECRET_KEY), each with its own NEWSLETTER_DATA_DIR.
    """
    from newsletter.sending import worker as sending_worker

    with store_errors():
        settings = context.settings()
        sending_worker.require_broker(settings, "newsletter worker")
        # A rate limit that cannot be shared is refused now, not at the first campaign.
        sending_worker.check_rate_limit(settings)
        adopted = sending_worker.adopt_interrupted(settings)
    for campaign_id in adopted:
        typer.echo(f"interrupted campaign {campaign_id} handed to the workers", err=True)
    sending_worker.start_worker(settings, concurrency=concurrency)
