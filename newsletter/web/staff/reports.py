"""Campaign figures for the staff: deliveries per state, and what happened since.

"Since" counts the campaign's recipients (deliveries not skipped) with an unsubscribe,
bounce or complaint event at or after the campaign was created: one query grouped by
campaign and event kind, each recipient once per kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from newsletter.core.durations import finish_time, took
from newsletter.store.campaigns import (
    Campaign,
    CampaignSummary,
    Delivery,
    DeliveryState,
    campaign_summaries,
)
from newsletter.store.models import Event, EventKind

SINCE_KINDS = (EventKind.UNSUBSCRIBED, EventKind.BOUNCED, EventKind.COMPLAINED)


@dataclass(frozen=True)
class CampaignReport:
    summary: CampaignSummary
    unsubscribed: int
    bounced: int
    complained: int

    @property
    def sent(self) -> int:
        return self.summary.counts[DeliveryState.SENT]

    @property
    def failed(self) -> int:
        return self.summary.counts[DeliveryState.FAILED]

    @property
    def finished_at(self) -> str:
        return finish_time(self.summary.finished_at)

    @property
    def took(self) -> str:
        return took(self.summary.created_at, self.summary.finished_at)


def since_counts(session: Session) -> dict[int, dict[EventKind, int]]:
    rows = session.execute(
        select(Delivery.campaign_id, Event.kind, func.count(distinct(Event.subscriber_id)))
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .join(
            Event,
            (Event.subscriber_id == Delivery.subscriber_id) & (Event.at >= Campaign.created_at),
        )
        .where(Delivery.state != DeliveryState.SKIPPED, Event.kind.in_(SINCE_KINDS))
        .group_by(Delivery.campaign_id, Event.kind)
    )
    counts: dict[int, dict[EventKind, int]] = {}
    for campaign_id, kind, count in rows:
        counts.setdefault(campaign_id, {})[EventKind(kind)] = count
    return counts


def campaign_reports(session: Session) -> list[CampaignReport]:
    since = since_counts(session)
    return [
        CampaignReport(
            summary=summary,
            unsubscribed=since.get(summary.id, {}).get(EventKind.UNSUBSCRIBED, 0),
            bounced=since.get(summary.id, {}).get(EventKind.BOUNCED, 0),
            complained=since.get(summary.id, {}).get(EventKind.COMPLAINED, 0),
        )
        for summary in campaign_summaries(session)
    ]
