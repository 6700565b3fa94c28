"""Whether an issue went out before, for the staff's confirmation of a send: how often it
went to the list, and how many of the list's recipients already received it (from that
list or another). An issue is known by its slug, as the published pages know it
(newsletter.web.issues); a campaign counts once one of its messages was sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from newsletter.store.campaigns import Campaign, Delivery, DeliveryState
from newsletter.store.models import Subscriber
from newsletter.store.recipients import eligible_query


@dataclass(frozen=True)
class EarlierSends:
    # Campaigns of the issue to this list that sent at least one message.
    campaigns: int
    # When the newest of them started; None when there is none.
    last_at: datetime | None
    # The list's eligible recipients who were sent the issue already, by any campaign.
    recipients: int

    @property
    def sent_before(self) -> bool:
        return self.campaigns > 0


def earlier_sends(session: Session, slug: str, list_id: int) -> EarlierSends:
    """One query over the issue's sent deliveries."""
    to_list = Campaign.list_id == list_id
    eligible = eligible_query(list_id).with_only_columns(Subscriber.id)
    row = session.execute(
        select(
            func.count(func.distinct(case((to_list, Campaign.id)))),
            func.max(case((to_list, Campaign.started_at))),
            func.count(
                func.distinct(case((Delivery.subscriber_id.in_(eligible), Delivery.subscriber_id)))
            ),
        )
        .select_from(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Campaign.slug == slug, Delivery.state == DeliveryState.SENT)
    ).one()
    campaigns, last_at, recipients = row
    return EarlierSends(int(campaigns), last_at, int(recipients))
