"""Scheduled sends: a campaign that waits, as `scheduled`, until campaigns.scheduled_at.

The schedule lives in the database, not in the broker (whose delayed tasks a broker
restart or a purge would lose, and which cannot be moved or cancelled): a scheduled
campaign is an ordinary campaign, deliveries and all, whose status says it has not
started. Every `newsletter worker` process runs a `Poller` (newsletter.sending.worker)
that looks for due ones every few seconds, and at once when the worker starts, so a
campaign due while no worker ran goes out as soon as one does.

Each due campaign is moved to `sending` by one conditional UPDATE (still scheduled, still
due), in a transaction of its own: whichever poller's UPDATE changes the row has won it
and hands it to the queue; the others' change nothing. Until then it can be cancelled
(newsletter.sending.control, as any campaign) or moved to another time; after that,
moving is refused, as the campaign has started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from newsletter.core.errors import ConfigError, NewsletterError
from newsletter.core.settings import Settings
from newsletter.store.campaigns import (
    Campaign,
    CampaignRunner,
    CampaignStateError,
    CampaignStatus,
    UnknownCampaignError,
)

# How often each worker looks for due campaigns: the latest a scheduled send starts.
POLL_INTERVAL = 2.0
EXAMPLE = "2026-12-05T09:00+05:00"

log = logging.getLogger(__name__)


class ScheduleError(NewsletterError):
    """A send time that cannot be used: not a time, without a zone offset, or past."""


def require_workers(settings: Settings) -> None:
    """ConfigError without a broker: only the sending workers start scheduled campaigns.
    (Said here, not through newsletter.sending.worker, which imports the service.)"""
    if not settings.broker_url:
        raise ConfigError(
            "a scheduled send is started by the sending workers, which need a broker: set "
            "NEWSLETTER_BROKER_URL, e.g. redis://127.0.0.1:6379/0, and start `newsletter worker`"
        )


def zone_of(settings: Settings) -> ZoneInfo:
    """The staff's time zone (NEWSLETTER_TIME_ZONE)."""
    return ZoneInfo(settings.time_zone)


def parse_time(text: str, zone: tzinfo | None = None) -> datetime:
    """An ISO 8601 date and time, in UTC. One without a zone offset is taken in `zone`,
    or refused when there is none: the same words name different moments in different
    places, and a send an hour early cannot be taken back."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not a date and time; write it as {EXAMPLE} (ISO 8601, with the "
            "zone offset)"
        ) from None
    if moment.utcoffset() is None:
        if zone is None:
            raise ScheduleError(
                f"{text!r} has no zone offset, so which moment it means depends on where "
                f"it is read; add the offset, as in {EXAMPLE}, or Z for UTC"
            )
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def shown(moment: datetime, zone: tzinfo) -> str:
    """A moment as people read it, in `zone`, with the zone's abbreviation or offset."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M %Z").rstrip()


def require_future(at: datetime, now: datetime, zone: tzinfo) -> None:
    if at <= now:
        raise ScheduleError(
            f"{shown(at, zone)} is in the past (it is {shown(now, zone)} now); "
            "choose a later time, or send it now"
        )


def schedule_new(session: Session, campaign: Campaign, at: datetime, *, now: datetime) -> None:
    """A campaign just created (newsletter.store.campaigns.create_campaign, in the same
    transaction) waits until `at` instead of being sent now."""
    campaign.status = CampaignStatus.SCHEDULED
    campaign.scheduled_at = at
    # It starts when a worker moves it to sending; its "took" counts from then.
    campaign.started_at = None
    campaign.updated_at = now


def move(session: Session, campaign_id: int, at: datetime, *, now: datetime) -> None:
    """A scheduled campaign is due at `at` instead; CampaignStateError once it started."""
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise UnknownCampaignError(campaign_id)
    if campaign.status is not CampaignStatus.SCHEDULED:
        raise CampaignStateError(
            f"campaign {campaign_id} is {campaign.status.value}; only a scheduled campaign "
            "that has not started can be given another time"
        )
    campaign.scheduled_at = at
    campaign.updated_at = now


def scheduled_time(session: Session, campaign_id: int) -> datetime | None:
    """When the campaign is (or was) scheduled; None when it was sent at once."""
    found = session.execute(
        select(Campaign.scheduled_at).where(Campaign.id == campaign_id)
    ).one_or_none()
    if found is None:
        raise UnknownCampaignError(campaign_id)
    return found[0]


def due(session: Session, now: datetime) -> list[int]:
    """The scheduled campaigns whose time has come, the earliest first."""
    return list(
        session.scalars(
            select(Campaign.id)
            .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now)
            .order_by(Campaign.scheduled_at, Campaign.id)
        )
    )


def start_due(session: Session, campaign_id: int, *, now: datetime) -> bool:
    """Move a due scheduled campaign to sending; True if this call did, False if another
    poller did first, or it was cancelled or moved meanwhile."""
    moved = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SCHEDULED,
            Campaign.scheduled_at <= now,
        )
        .values(status=CampaignStatus.SENDING, started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


def unstart(session: Session, campaign_id: int, *, now: datetime) -> bool:
    """Back to scheduled, still due, a campaign that `start_due` moved but could not hand
    to the queue (the broker down), so that the next round tries again rather than leave
    it sending with nobody on it; False if a runner has joined it meanwhile."""
    moved = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SENDING,
            ~exists().where(CampaignRunner.campaign_id == campaign_id),
        )
        .values(status=CampaignStatus.SCHEDULED, started_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


class Poller:
    """In a worker's main process: every `interval` seconds, and at once when started,
    each due scheduled campaign that this poller wins goes to `hand_over` (the queue).

    `round` does one, through `starter` (the campaign service's, which holds the
    database); a round that fails (the database is down) is logged and the next one tries
    again. A campaign won but not handed over goes back through `unstarter`, to be tried
    again at the next round."""

    def __init__(
        self,
        starter: Callable[[], list[int]],
        hand_over: Callable[[int], None],
        unstarter: Callable[[int], bool],
        *,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self._starter = starter
        self._hand_over = hand_over
        self._unstarter = unstarter
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="newsletter-schedule", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def round(self) -> list[int]:
        """One look for due campaigns; the ids this poller started and handed over."""
        handed: list[int] = []
        for campaign_id in self._starter():
            try:
                self._hand_over(campaign_id)
            except NewsletterError as exc:
                self._take_back(campaign_id, exc)
            else:
                handed.append(campaign_id)
                log.info("scheduled campaign %s is due: handed to the workers", campaign_id)
        return handed

    def _take_back(self, campaign_id: int, error: NewsletterError) -> None:
        try:
            back = self._unstarter(campaign_id)
        except Exception as exc:
            # Sending with nobody on it: the next worker to start hands it over
            # (worker.adopt_interrupted), or `campaigns resume` sends it.
            log.error(
                "scheduled campaign %s started but not handed over (%s), nor put back: %s",
                campaign_id,
                error,
                exc,
            )
            return
        log.warning(
            "scheduled campaign %s could not be handed to the workers (%s); %s",
            campaign_id,
            error,
            "trying again at the next look" if back else "a runner has it meanwhile",
        )

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self.round()
            except Exception:
                log.exception("looking for due scheduled campaigns failed; trying again")
            self._stopped.wait(self.interval)
