"""Celery workers: campaigns sent by `newsletter worker` processes instead of the process
that starts them.

One task, `send_campaign(id)`, runs one campaign through the campaign service, as
`newsletter campaigns resume` would, but as a shared runner (newsletter.sending.lease):
workers on any number of machines work on the same campaign at once, each claiming its
own batches. A campaign spreads over the idle workers by itself: a task that joins a
campaign with more than a few batches left puts one more copy of itself on the queue, so
that the next idle worker joins too, and that one does the same. At most one such copy
waits at a time; one that starts when the campaign is over ends at once.

A runner that sends alone (`newsletter send` without --queue, `campaigns resume`) is not
joined: the worker leaves the campaign to it and says so in the task's result (the
worker's log). The task is acknowledged only once it ends (acks_late), so a worker
killed mid-campaign gets it redelivered; the others settle what it left in flight once
its heartbeat is older than the lease timeout (at once on the same host). A worker
starting up also hands every interrupted campaign (sending, but nobody sends it) to the
queue, so that one killed where the broker keeps unacknowledged tasks a long while
(Redis: an hour) is taken up again at once. Each worker also polls the database for
scheduled campaigns whose time has come (newsletter.sending.schedule).

Pause and cancel reach every worker at its next batch (each claim reads the campaign's
status); the rate limit is shared through Redis (newsletter.sending.shared_rate) and the
error storm is counted on the campaign, across workers.

The database says how a campaign goes (`newsletter campaigns wait`), so no result backend
is needed. The app is built from the caller's settings (`make_app`), never at import.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Protocol

from newsletter.core.errors import ConfigError, NewsletterError
from newsletter.core.settings import Settings
from newsletter.core.urls import without_password

if TYPE_CHECKING:
    from newsletter.sending.runner import Progress

TASK = "newsletter.send_campaign"

BROKER_EXAMPLES = "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"

# A task that joins a campaign with more than this many messages left calls in one more
# worker; below it, one more runner would spend longer joining than sending.
SPREAD_AT = 50
# How often a worker taken for dead joins its campaign again before it gives up.
_REJOINS = 3


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
    """The Celery app on the broker of `settings`, with the sending task registered: the
    worker's. Handing tasks over takes `_client` instead, which registers nothing, so a
    worker that hands campaigns over in its main process (interrupted ones, at start) or
    in its pool's processes (the spreading copies) never registers the task twice, nor
    shares a broker connection across a fork."""
    app = _new_app(settings)

    @app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def send_campaign(campaign_id: int) -> str:
        return run_campaign(settings, campaign_id)

    return app  # type: ignore[no-any-return]


def _client(settings: Settings) -> _Celery:
    return _new_app(settings)  # type: ignore[no-any-return]


def _new_app(settings: Settings) -> Any:  # celery.Celery, which is untyped
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
        # Pause, resume and cancel reach the workers through the database; remote
        # control would only add a queue per worker.
        worker_enable_remote_control=False,
    )
    return app


def run_campaign(settings: Settings, campaign_id: int) -> str:
    """The task's work: send the campaign here; what became of it, in one line."""
    from newsletter.sending.lease import LeaseHeldError, LeaseLostError
    from newsletter.sending.service import CampaignService
    from newsletter.store.engine import get_engine

    service = CampaignService(settings, get_engine(settings.resolved_database_url()))
    spread = _Spread(settings, campaign_id)
    for attempt in range(1, _REJOINS + 2):
        try:
            result = service.run(campaign_id, shared=True, on_progress=spread)
            break
        except LeaseHeldError as exc:
            return f"campaign {campaign_id} left to its runner: {exc}"
        except LeaseLostError:
            # Taken for dead (a heartbeat too late, a database too slow): the others have
            # settled what it had in hand, so it may join again as a new runner.
            if attempt > _REJOINS:
                raise
    tally = result.tally
    return (
        f"campaign {campaign_id} {result.status.value}: sent {tally.sent}, failed "
        f"{tally.failed}, skipped {tally.skipped}, left {tally.left}"
    )


class _Spread:
    """On the run's first report, once it has joined: one more task for the campaign when
    there is enough left to share."""

    def __init__(self, settings: Settings, campaign_id: int) -> None:
        self.settings = settings
        self.campaign_id = campaign_id
        self.done = False

    def __call__(self, progress: Progress) -> None:
        if self.done:
            return
        self.done = True
        if self.settings.broker_url and progress.tally.left > SPREAD_AT:
            # On BrokerError this worker sends it all the same; more would only be faster.
            with contextlib.suppress(BrokerError):
                enqueue(self.settings, self.campaign_id)


def enqueue(settings: Settings, campaign_id: int) -> None:
    """Hand the campaign to the sending workers; BrokerError if the broker cannot be
    reached (the campaign stays recorded, and `newsletter campaigns resume` sends it)."""
    app = _client(settings)
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
            f"broker at {without_password(settings.broker_url)} cannot be reached ({exc})"
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


def check_rate_limit(settings: Settings) -> None:
    """ConfigError when there is a rate limit and no Redis for the workers to share it."""
    from newsletter.sending.launch import limiter_for

    limiter = limiter_for(settings, shared=True)
    close = getattr(limiter, "close", None)
    if close is not None:
        close()


def start_worker(settings: Settings, *, concurrency: int) -> None:
    """Run a worker for the sending queue in this process until it is stopped."""
    check_rate_limit(settings)
    app = make_app(settings)
    _poll_schedule(settings)
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
            # A node name of its own: on RabbitMQ two workers of one host under the
            # default name ("celery@host") fight over one exclusive control queue, and
            # the second dies at start.
            "--hostname",
            f"newsletter-{os.getpid()}@%h",
        ]
    )


def _poll_schedule(settings: Settings) -> None:
    """Once the worker is up, a thread of its main process starts the scheduled campaigns
    whose time has come (newsletter.sending.schedule) and hands them to the queue: at
    once, so that one due while no worker ran goes now, then every few seconds."""
    from celery import signals

    from newsletter.sending.schedule import Poller
    from newsletter.sending.service import CampaignService
    from newsletter.store.engine import build_engine

    # An engine of its own, not the process's shared one, emptied after each round: the
    # pool's processes are forked from this one (again when one dies) and must not
    # inherit a connection of the poller's.
    engine = build_engine(settings.resolved_database_url())
    service = CampaignService(settings, engine)

    def start_due() -> list[int]:
        try:
            return service.start_due()
        finally:
            engine.dispose()

    def unstart(campaign_id: int) -> bool:
        try:
            return service.unstart(campaign_id)
        finally:
            engine.dispose()

    poller = Poller(start_due, lambda campaign_id: enqueue(settings, campaign_id), unstart)
    # Ready: the pool has been forked, so the thread exists in this process alone.
    signals.worker_ready.connect(lambda **_: poller.start(), weak=False)
    signals.worker_shutdown.connect(lambda **_: poller.stop(), weak=False)
