"""The published issues, read from the campaigns' snapshots (newsletter.store.campaigns).

The only module of the web side that knows the campaign model, so a change there touches
one place. An issue is published once a campaign for it has started: every campaign is
created sending, and its readers may follow "View online" from the first message on.
A cancelled campaign counts only if at least one message of it went out. Several
campaigns can carry one slug (the same issue to two lists, or sent again); its pages
show the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from newsletter.issue.model import Asset, Issue
from newsletter.mail.placeholders import personalize_text
from newsletter.store.campaigns import (
    Campaign,
    CampaignAsset,
    CampaignStatus,
    Delivery,
    DeliveryState,
    campaign_issue,
)


@dataclass(frozen=True)
class Published:
    campaign_id: int
    # Unique per campaign and random: names the cached PDF, so a database that is
    # recreated (ids starting over) never meets an older PDF of another issue.
    token: str
    slug: str
    title: str
    published_at: datetime
    list_name: str
    # The day of the event the issue reports on; the day it was sent for a campaign
    # created before that was recorded (newsletter.store.campaigns.Campaign.issue_date).
    date: date


_COLUMNS = (
    Campaign.id,
    Campaign.token,
    Campaign.slug,
    Campaign.subject,
    Campaign.started_at,
    Campaign.created_at,
    Campaign.list_name,
    Campaign.issue_date,
)
# Shown where the subject has a recipient field (a name): a page has no recipient.
_NO_RECIPIENT = {
    "email": "",
    "name": "",
    "unsubscribe_url": "",
    "preferences_url": "",
    "forward_url": "",
}


def _is_published() -> Any:
    went_out = exists().where(
        Delivery.campaign_id == Campaign.id, Delivery.state == DeliveryState.SENT
    )
    return or_(Campaign.status != CampaignStatus.CANCELLED, went_out)


def _published(row: Any) -> Published:
    title = " ".join(personalize_text(row.subject, _NO_RECIPIENT).split())
    published_at = row.started_at or row.created_at
    return Published(
        campaign_id=row.id,
        token=row.token,
        slug=row.slug,
        title=title,
        published_at=published_at,
        list_name=row.list_name,
        date=row.issue_date or published_at.date(),
    )


def _newest_with_slug(slug: str) -> Any:
    return (
        select(*_COLUMNS)
        .where(Campaign.slug == slug, _is_published())
        .order_by(Campaign.id.desc())
        .limit(1)
    )


def by_slug(session: Session, slug: str) -> Published | None:
    row = session.execute(_newest_with_slug(slug)).first()
    return _published(row) if row is not None else None


def by_campaign(session: Session, campaign_id: int) -> Published | None:
    row = session.execute(
        select(*_COLUMNS).where(Campaign.id == campaign_id, _is_published())
    ).first()
    return _published(row) if row is not None else None


def archive(session: Session) -> list[Published]:
    """Every published issue once (its newest campaign), newest first."""
    newest = select(func.max(Campaign.id)).where(_is_published()).group_by(Campaign.slug).subquery()
    rows = session.execute(
        select(*_COLUMNS).where(Campaign.id.in_(select(newest))).order_by(Campaign.id.desc())
    )
    return [_published(row) for row in rows]


def web_html(session: Session, issue: Published) -> str:
    return session.scalar(select(Campaign.web_html).where(Campaign.id == issue.campaign_id)) or ""


def print_html(session: Session, issue: Published) -> str:
    return session.scalar(select(Campaign.print_html).where(Campaign.id == issue.campaign_id)) or ""


def asset(session: Session, issue: Published, filename: str) -> Asset | None:
    found = session.get(CampaignAsset, (issue.campaign_id, filename))
    if found is None:
        return None
    return Asset(found.filename, found.content_type, found.data)


def full_issue(session: Session, issue: Published) -> Issue:
    """The issue as composed for the campaign: email HTML and text, photos included."""
    campaign = session.get(Campaign, issue.campaign_id)
    assert campaign is not None
    return campaign_issue(session, campaign)
