"""Pausing, resuming and cancelling a campaign, from the CLI or by the runner itself.

These only change rows; a runner working on the campaign reads the status in the same
transaction as each batch it claims, so a pause or cancel from another process takes
effect before its next batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.sending.lease import any_live, release_lease, runners
from newsletter.sending.marks import previous_marks
from newsletter.sending.queue import CANCELLED, settle_in_flight, skip_pending
from newsletter.store.campaigns import (
    Campaign,
    CampaignStateError,
    CampaignStatus,
    UnknownCampaignError,
)

PAUSED_BY_STAFF = "paused with `newsletter campaigns pause`"


def _locked(session: Session, campaign_id: int) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise UnknownCampaignError(campaign_id)
    return campaign


def pause_campaign(session: Session, campaign_id: int, reason: str, *, now: datetime) -> bool:
    """Pause a campaign being sent; False if it was paused already."""
    campaign = _locked(session, campaign_id)
    if campaign.status is CampaignStatus.PAUSED:
        return False
    if campaign.status is not CampaignStatus.SENDING:
        raise CampaignStateError(
            f"campaign {campaign_id} is {campaign.status.value}; only a campaign being sent "
            "can be paused"
        )
    campaign.status = CampaignStatus.PAUSED
    campaign.pause_reason = reason
    campaign.updated_at = now
    return True


def reopen_campaign(session: Session, campaign_id: int, *, now: datetime) -> Campaign:
    """A paused campaign is being sent again; one being sent stays so (after a crash)."""
    campaign = _locked(session, campaign_id)
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise CampaignStateError(
            f"campaign {campaign_id} is {campaign.status.value}; there is nothing to resume"
        )
    if campaign.status is CampaignStatus.PAUSED:
        campaign.status = CampaignStatus.SENDING
        campaign.pause_reason = None
        # The storm that paused it, if one did, starts counting afresh.
        campaign.failures_in_row = 0
        campaign.last_failure = None
        campaign.updated_at = now
    return campaign


@dataclass(frozen=True)
class Cancelled:
    skipped: int
    # Deliveries a dead runner left in flight, settled as sent (end of data written).
    settled_sent: int
    # Whether a live runner is still finishing its current batch.
    runner_live: bool


def cancel_campaign(
    session: Session,
    campaign_id: int,
    *,
    now: datetime,
    lease_timeout: float,
    marks_folder: Path | None = None,
) -> Cancelled:
    """No more messages: pending deliveries are skipped and the campaign is cancelled.

    A live runner records its current batch and stops; without one, deliveries left in
    flight by a crash are settled here, like a resume would.
    """
    campaign = _locked(session, campaign_id)
    if campaign.status is CampaignStatus.DONE:
        raise CampaignStateError(f"campaign {campaign_id} is done; there is nothing to cancel")
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = campaign.finished_at or now
    campaign.updated_at = now
    found = runners(session, campaign_id)
    live = any_live(found, now, lease_timeout)
    settled = 0
    if not live:
        # Every runner is dead: settle by each one's marks where they can be read here,
        # then the rest by the database. What was handed over counts as sent: nothing
        # more goes out of a cancelled campaign.
        for state in found:
            if marks_folder is not None and state.owner is not None:
                marked = previous_marks(marks_folder, campaign_id, state.owner)
                one, _ = settle_in_flight(
                    session,
                    campaign_id,
                    now,
                    marked,
                    claimed_by=state.owner,
                    unanswered_as_sent=True,
                )
                settled += one
            if state.owner is not None:
                release_lease(session, campaign_id, state.owner)
        one, _ = settle_in_flight(session, campaign_id, now, None, unanswered_as_sent=True)
        settled += one
    skipped = skip_pending(session, campaign_id, CANCELLED, now)
    return Cancelled(skipped=skipped, settled_sent=settled, runner_live=live)
