"""Celery workers: campaigns sent by `newsletter worker` processes instead of the process
that starts them.

One task, `send_campaign(id)`, runs one campaign through the campaign service, as
`newsletter campaigns resume` would. One campaign is one runner at a time: a worker that
receives a campaign another runner holds the lease of leaves it, and says so in the task's
result (the worker's log). The task is acknowledged only once it ends (acks_late), so a
worker killed mid-campaign gets it redelivered; the lease and the journal make that rerun
safe. A worker starting up also hands every interrupted campaign (sending, but nobody
sends it) to the queue, so that one killed where the broker keeps unacknowledged tasks a
long while (Redis: an hour) is taken up again at once.

The database says how a campaign goes (`newsletter campaigns wait`), so no result backend
is needed. The app is built from the caller's settings (`make_app`), never at import.
"""

from __future__ import annotations

from typing import Any, Protocol

from newsletter.core.errors import ConfigError, NewsletterError
from newsletter.core.settings import Settings

TASK = "newsletter.send_campaign"

BROKER_EXAMPLES = "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"


class BrokerError(NewsletterError):
    """The broker could not be reached, so the campaign was not handed to a worker."""


class _Celery(Protocol):
    def send_task(self, name: str, args: list[Any], **options: Any) -> Any: ...

    def worker_main(self, argv: list[str]) -> None: ...


def require_broker(settings: Settings, what: str) -> str:
    """The broker's URL; ConfigError saying what to configure when there is none."""
    if not settings.broker_url:
        raise ConfigError(
            f"{what} needs a broker for the sending workers: set NEWSLETTER_BROKER_URL, "
            f"e.g. {BROKER_EXAMPLES}, and start `newsletter worker`"
        )
    return settings.broker_url


def make_app(settings: Settings) -> _Celery:
    """The Celery app on the broker of `settings`, with the sending task registered."""
    from celery import Celery

    app = Celery("newsletter", broker=require_broker(settings, "sending by workers"))
    app.conf.update(
        task_default_queue=settings.broker_queue,
        task_ignore_result=True,
        # Acknowledged once it ends: a worker that dies mid-campaign has it redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A campaign runs long; a worker holding several unstarted ones would keep them
        # from the idle workers.
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
    )

    @app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def send_campaign(campaign_id: int) -> str:
        return run_campaign(settings, campaign_id)

    return app  # type: ignore[no-any-return]


def run_campaign(settings: Settings, campaign_id: int) -> str:
    """The task's work: send the campaign here; what became of it, in one line."""
    from newsletter.sending.lease import LeaseHeldError
    from newsletter.sending.service import CampaignService
    from newsletter.store.engine import get_engine

    service = CampaignService(settings, get_engine(settings.resolved_database_url()))
    try:
        result = service.run(campaign_id)
    except LeaseHeldError as exc:
        return f"campaign {campaign_id} left to its runner: {exc}"
    tally = result.tally
    return (
        f"campaign {campaign_id} {result.status.value}: sent {tally.sent}, failed "
        f"{tally.failed}, skipped {tally.skipped}, left {tally.left}"
    )


def enqueue(settings: Settings, campaign_id: int) -> None:
    """Hand the campaign to the sending workers; BrokerError if the broker cannot be
    reached (the campaign stays recorded, and `newsletter campaigns resume` sends it)."""
    app = make_app(settings)
    try:
        app.send_task(
            TASK,
            args=[campaign_id],
            queue=settings.broker_queue,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:  # kombu raises the transport's own errors
        raise BrokerError(
            f"campaign {campaign_id} is recorded but was not handed to the workers: the "
            f"broker at {_without_password(settings.broker_url)} cannot be reached ({exc})"
        ) from exc


def adopt_interrupted(settings: Settings) -> list[int]:
    """Hand every interrupted campaign (sending, but no live runner) to the queue; their
    ids."""
    from newsletter.sending.service import CampaignService
    from newsletter.store.campaigns import CampaignStatus
    from newsletter.store.engine import dispose_engine, get_engine

    url = settings.resolved_database_url()
    try:
        listed = CampaignService(settings, get_engine(url)).campaigns()
    finally:
        # The pool's processes are forked from this one: they must not share its
        # database connections.
        dispose_engine(url)
    adopted = [
        campaign.summary.id
        for campaign in listed
        if campaign.summary.status is CampaignStatus.SENDING and not campaign.running
    ]
    for campaign_id in adopted:
        enqueue(settings, campaign_id)
    return adopted


def start_worker(settings: Settings, *, concurrency: int) -> None:
    """Run a worker for the sending queue in this process until it is stopped."""
    app = make_app(settings)
    app.worker_main(
        [
            "worker",
            "--queues",
            settings.broker_queue,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))
