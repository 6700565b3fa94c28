from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from newsletter.store.campaigns import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
    UnknownCampaignError,
    campaign_issue,
    campaign_summaries,
    delivery_counts,
    get_campaign,
)
from newsletter.store.models import MailingList
from tests.sending.helpers import PHOTO, new_campaign, populated_list, small_issue
from tests.store.databases import session_scope


def test_a_campaign_gets_one_pending_delivery_per_eligible_recipient(db: str) -> None:
    audience = populated_list(active=5)
    campaign_id = new_campaign(audience)
    with session_scope() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        assert [d.email for d in deliveries] == audience.eligible
        assert {(d.state, d.attempts, d.committed_at) for d in deliveries} == {
            (DeliveryState.PENDING, 0, None)
        }
        # In subscriber order, so the sender goes through the list as it was imported.
        assert [d.subscriber_id for d in deliveries] == sorted(d.subscriber_id for d in deliveries)
        assert deliveries[1].name == "Reader 2"
        campaign = get_campaign(session, campaign_id)
        assert campaign.status is CampaignStatus.SENDING
        assert campaign.started_at is not None and campaign.finished_at is None
        assert len(campaign.token) == 16
    assert set(audience.excluded).isdisjoint(d.email for d in deliveries)


def test_the_campaign_keeps_the_issue_as_composed(db: str) -> None:
    issue = small_issue(images="inline", direction="rtl", language="ur")
    campaign_id = new_campaign(populated_list(active=1), issue=issue)
    with session_scope() as session:
        assert campaign_issue(session, get_campaign(session, campaign_id)) == issue
        campaign = get_campaign(session, campaign_id)
        assert (campaign.return_path, campaign.public_url) == (
            "bounces@example.org",
            "https://news.example.org",
        )
    assert issue.assets == (PHOTO,)


def test_two_campaigns_to_one_list_have_their_own_deliveries_and_tokens(db: str) -> None:
    audience = populated_list(active=3)
    first, second = new_campaign(audience), new_campaign(audience)
    with session_scope() as session:
        assert delivery_counts(session, first)[DeliveryState.PENDING] == 3
        assert delivery_counts(session, second)[DeliveryState.PENDING] == 3
        assert get_campaign(session, first).token != get_campaign(session, second).token


def test_summaries_count_each_campaigns_deliveries_per_state(db: str) -> None:
    audience = populated_list(active=4)
    older, newer = new_campaign(audience), new_campaign(audience)
    with session_scope(write=True) as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == newer).order_by(Delivery.id)
        ).all()
        for delivery_id, state in zip(
            ids, [DeliveryState.SENT, DeliveryState.SENT, DeliveryState.FAILED], strict=False
        ):
            session.get_one(Delivery, delivery_id).state = state
    with session_scope() as session:
        summaries = campaign_summaries(session)
    assert [s.id for s in summaries] == [newer, older]
    latest = summaries[0]
    assert (latest.total, latest.left) == (4, 1)
    assert latest.counts[DeliveryState.SENT] == 2
    assert latest.counts[DeliveryState.FAILED] == 1
    assert (latest.list_name, latest.subject, latest.transport) == (
        "members",
        "A Small Seminar",
        "smtp",
    )


def test_a_campaign_outlives_its_list(db: str) -> None:
    audience = populated_list(active=2)
    campaign_id = new_campaign(audience)
    with session_scope(write=True) as session:
        session.execute(delete(MailingList).where(MailingList.id == audience.id))
    with session_scope() as session:
        campaign = session.get_one(Campaign, campaign_id)
        assert (campaign.list_id, campaign.list_name) == (None, "members")
        assert delivery_counts(session, campaign_id)[DeliveryState.PENDING] == 2


def test_an_unknown_campaign_is_named(db: str) -> None:
    with pytest.raises(UnknownCampaignError, match="no campaign with id 99"), session_scope() as s:
        get_campaign(s, 99)
