"""A campaign's progress as the staff page polls it: when it finished, and how long it took."""

from __future__ import annotations

from datetime import timedelta

from newsletter.sending.progress import campaign_progress
from newsletter.store.campaigns import Campaign, CampaignStatus
from newsletter.store.types import utcnow
from tests.sending.helpers import new_campaign, populated_list
from tests.store.databases import session_scope


def _progress(campaign_id: int) -> dict[str, object]:
    with session_scope() as session:
        return campaign_progress(
            session, campaign_id, now=utcnow(), lease_timeout=30.0, runs_here=False, error=None
        ).as_json()


def test_finish_time_and_duration_only_once_finished(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=2))
    sending = _progress(campaign_id)
    assert (sending["finished_at"], sending["took"]) == ("", "")
    with session_scope(write=True) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        started = campaign.started_at or campaign.created_at
        campaign.status = CampaignStatus.DONE
        campaign.finished_at = started + timedelta(hours=1, minutes=4, seconds=50)
        expected = f"{campaign.finished_at:%Y-%m-%d %H:%M} UTC"
    done = _progress(campaign_id)
    assert done["status"] == "done"
    assert (done["finished_at"], done["took"]) == (expected, "1 h 04 min")
