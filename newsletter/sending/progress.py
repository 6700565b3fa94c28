"""A campaign's progress as the staff page polls it: counts, rate and time left.

Read from the database, not from a runner's memory, so the figures are the same whichever
process sends (this server, another worker, `newsletter campaigns resume`). The rate counts
the deliveries settled in the last few seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.core.durations import duration, finish_time, took
from newsletter.sending.lease import any_live, runners
from newsletter.store.campaigns import (
    CampaignStatus,
    Delivery,
    DeliveryState,
    delivery_counts,
    get_campaign,
    left_of,
    may_be_duplicated,
)

RATE_WINDOW = 10.0
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class CampaignProgress:
    id: int
    # A campaign status, or "interrupted": sending, but nobody is.
    status: str
    running: bool
    reason: str
    error: str
    total: int
    sent: int
    failed: int
    skipped: int
    left: int
    # Sent again after an end of data got no reply: a receiver may show two copies.
    may_be_duplicated: int
    # Sent, failed or skipped: settled one way or another.
    done: int
    # Messages per second, over the last few seconds.
    rate: float
    # Seconds, at that rate; None when it cannot be told.
    seconds_left: int | None
    time_left: str
    # When a finished (done or cancelled) campaign finished, and how long it took from
    # its start; both "" before then.
    finished_at: str = ""
    took: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def campaign_progress(
    session: Session,
    campaign_id: int,
    *,
    now: datetime,
    lease_timeout: float,
    runs_here: bool,
    error: str | None,
) -> CampaignProgress:
    """UnknownCampaignError if there is no such campaign."""
    campaign = get_campaign(session, campaign_id)
    counts = delivery_counts(session, campaign_id)
    running = runs_here or any_live(runners(session, campaign_id), now, lease_timeout)
    left = left_of(counts)
    status = campaign.status.value
    if campaign.status is CampaignStatus.SENDING and not running:
        status = INTERRUPTED
    rate = _rate(session, campaign_id, now) if running else 0.0
    seconds_left = round(left / rate) if rate > 0 and left else (0 if not left else None)
    return CampaignProgress(
        id=campaign_id,
        status=status,
        running=running,
        reason=campaign.pause_reason or "",
        error=error or "",
        total=sum(counts.values()),
        sent=counts[DeliveryState.SENT],
        failed=counts[DeliveryState.FAILED],
        skipped=counts[DeliveryState.SKIPPED],
        left=left,
        may_be_duplicated=may_be_duplicated(session, campaign_id).get(campaign_id, 0),
        done=sum(counts.values()) - left,
        rate=round(rate, 1),
        seconds_left=seconds_left,
        time_left=duration(seconds_left),
        finished_at=finish_time(campaign.finished_at),
        took=took(campaign.started_at or campaign.created_at, campaign.finished_at),
    )


def _rate(session: Session, campaign_id: int, now: datetime) -> float:
    since = now - timedelta(seconds=RATE_WINDOW)
    settled, first = session.execute(
        select(func.count(), func.min(Delivery.updated_at)).where(
            Delivery.campaign_id == campaign_id,
            Delivery.state.in_((DeliveryState.SENT, DeliveryState.FAILED)),
            Delivery.updated_at >= since,
        )
    ).one()
    if not settled or first is None:
        return 0.0
    # Over the time since the first of them, not the whole window: a run that began a
    # second ago has sent for a second. At least a second, so one batch is no spike.
    span = min(RATE_WINDOW, max(1.0, (now - first).total_seconds()))
    return float(settled) / span
