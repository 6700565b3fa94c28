"""Campaigns (one issue sent to one list) and their deliveries (one per recipient).

A campaign keeps a snapshot of everything its messages are made of: the composed issue
(subject, HTML, text, web and print versions, photos), the sender addresses and the public
URL. Resuming after a crash or a pause therefore sends exactly the issue that was
confirmed, whatever changed in the record or the settings meanwhile, and the web side can
serve the web version and PDF of every issue that went out.

A delivery row is the single source of truth for whether a recipient got a campaign:
pending → sending → sent | failed | skipped, never backwards (a retry goes from sending
back to pending, which is still before anything was accepted). How the runner moves rows
is in newsletter.sending.queue; this module creates them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

import sqlalchemy
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.issue.model import Asset, Issue
from newsletter.mail.sender import Sender
from newsletter.store.errors import StoreError
from newsletter.store.models import EMAIL_LENGTH, Base, Subscriber, _allowed, _enum
from newsletter.store.recipients import eligible_query
from newsletter.store.types import utcnow


class CampaignStatus(StrEnum):
    # Waiting for campaigns.scheduled_at, when a worker moves it to sending
    # (newsletter.sending.schedule).
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Not sent on purpose: unsubscribed or suppressed before its turn, or cancelled.
    SKIPPED = "skipped"


# Pending or in flight: what is left of a campaign, what a resume would still send.
UNSETTLED = (DeliveryState.PENDING, DeliveryState.SENDING)


def left_of(counts: dict[DeliveryState, int]) -> int:
    """What is left of a campaign whose deliveries are counted per state."""
    return sum(counts[state] for state in UNSETTLED)


class UnknownCampaignError(StoreError):
    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"no campaign with id {campaign_id}")


class CampaignStateError(StoreError):
    """The campaign is not in a state that allows what was asked (resume a finished one)."""


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        _allowed("status", CampaignStatus),
        # The due scheduled campaigns, which every worker looks for every few seconds.
        Index(
            "ix_campaigns_scheduled",
            "scheduled_at",
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SET NULL: a campaign stays on record when its list is deleted; list_name says which.
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    list_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(String(32))
    # Random, in every Message-ID of the campaign: ids stay unique across databases.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # When a scheduled campaign is due (newsletter.sending.schedule); kept once it starts.
    scheduled_at: Mapped[datetime | None]

    # The issue as composed when the campaign was created.
    slug: Mapped[str] = mapped_column(String(200))
    # The day of the event it reports on (the record's date), by which the archive dates it.
    issue_date: Mapped[date | None]
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35))
    direction: Mapped[str] = mapped_column(String(3))
    images: Mapped[str] = mapped_column(String(16))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    web_html: Mapped[str] = mapped_column(Text)
    print_html: Mapped[str] = mapped_column(Text)

    # Who it comes from and where its links point, as configured when it was created.
    from_address: Mapped[str] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(Text)
    return_path: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    unsubscribe_mailto: Mapped[str | None] = mapped_column(Text)
    public_url: Mapped[str] = mapped_column(Text)

    # The error storm, counted across all the campaign's runners: messages not accepted
    # since the last one that was, and the server's words for the last of them.
    # (sqlalchemy.text by its full name: this class's `text` column hides it here.)
    failures_in_row: Mapped[int] = mapped_column(default=0, server_default=sqlalchemy.text("0"))
    last_failure: Mapped[str | None] = mapped_column(Text)

    # The saved issue version it was composed from (newsletter.store.issues); None when it
    # was sent from a record file, or the issue was deleted since.
    issue_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("issue_versions.id", ondelete="SET NULL")
    )


class CampaignRunner(Base):
    """A runner working on the campaign ("host:pid") and when it last said it is alive
    (newsletter.sending.lease). `shared`: a worker, which others may join."""

    __tablename__ = "campaign_runners"
    __table_args__ = (PrimaryKeyConstraint("campaign_id", "owner"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(255))
    heartbeat: Mapped[datetime]
    shared: Mapped[bool] = mapped_column(Boolean)


class CampaignAsset(Base):
    """A file the issue refers to (speaker photos, logo), kept for the web version."""

    __tablename__ = "campaign_assets"
    __table_args__ = (PrimaryKeyConstraint("campaign_id", "filename"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # Each subscriber once per campaign; subscribers.email_key is unique, so each
        # address once too.
        UniqueConstraint("campaign_id", "subscriber_id"),
        # The runner's claim (pending rows of one campaign in id order) and the counts
        # per state both read this index alone.
        Index(None, "campaign_id", "state", "id"),
        # Hard bounces per subscriber over all campaigns; partial, so it costs nothing
        # for the rows that did not bounce.
        Index(
            "ix_deliveries_hard_bounces",
            "subscriber_id",
            sqlite_where=text("hard_bounce = 1"),
            postgresql_where=text("hard_bounce"),
        ),
        # The campaigns' "may be duplicated" figure; partial, as above.
        Index(
            "ix_deliveries_unanswered",
            "campaign_id",
            sqlite_where=text("unanswered > 0"),
            postgresql_where=text("unanswered > 0"),
        ),
        _allowed("state", DeliveryState),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # None once the subscriber is erased (newsletter.store.erasure): the row stays, blanked,
    # so that the campaign's figures do not change.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    # As they were when the campaign was created: the record of who was sent what.
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    name: Mapped[str] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(default=0)
    # A retry waits until then.
    not_before: Mapped[datetime | None]
    # Set (durably) right before the message was handed over for good: the end-of-data
    # dot, the API request. A row still `sending` after a crash was delivered iff set.
    committed_at: Mapped[datetime | None]
    # Set right after the hand-over (the end-of-data dot written; with committed_at, for an
    # API request, which counts as sent once made). `sending`, committed and not handed
    # over after a crash: sent again, same Message-ID (newsletter.sending.journal).
    handed_over_at: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(Text)
    # The server's words, or why the row was skipped.
    detail: Mapped[str | None] = mapped_column(Text)
    hard_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    # End-of-data dots that got no reply (the connection dropped): the delivery was sent
    # again and may have arrived twice (newsletter.sending.policy.UNANSWERED).
    unanswered: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # The runner a `sending` row is with ("host:pid"); kept afterwards, of no meaning then.
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime]


@dataclass(frozen=True)
class CampaignSummary:
    id: int
    status: CampaignStatus
    pause_reason: str | None
    list_name: str
    subject: str
    transport: str
    created_at: datetime
    finished_at: datetime | None
    # Its runners' names and last heartbeats, live or not (newsletter.sending.lease).
    runners: tuple[tuple[str, datetime], ...]
    counts: dict[DeliveryState, int]
    # Deliveries whose end of data got no reply at least once: sent again, may be duplicated.
    may_be_duplicated: int = 0
    # When it is (or was) scheduled to start; None when it was sent at once.
    scheduled_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def left(self) -> int:
        return left_of(self.counts)


def create_campaign(
    session: Session,
    *,
    list_id: int,
    list_name: str,
    issue: Issue,
    transport: str,
    sender: Sender,
    issue_version_id: int | None = None,
) -> Campaign:
    """A campaign with one pending delivery per eligible recipient of the list.

    In the caller's transaction, so the campaign never exists without its deliveries.
    The deliveries are written by one INSERT … SELECT from the eligible-recipients query.
    """
    now = utcnow()
    campaign = Campaign(
        list_id=list_id,
        list_name=list_name,
        status=CampaignStatus.SENDING,
        transport=transport,
        token=secrets.token_hex(8),
        created_at=now,
        started_at=now,
        updated_at=now,
        slug=issue.slug,
        subject=issue.subject,
        preheader=issue.preheader,
        language=issue.language,
        direction=issue.direction,
        images=issue.images,
        issue_date=issue.date,
        html=issue.html,
        text=issue.text,
        web_html=issue.web_html,
        print_html=issue.print_html,
        from_address=sender.from_address,
        reply_to=sender.reply_to,
        return_path=sender.return_path,
        unsubscribe_mailto=sender.unsubscribe_mailto,
        public_url=sender.public_url,
        issue_version_id=issue_version_id,
    )
    session.add(campaign)
    session.flush()
    for asset in issue.assets:
        session.add(
            CampaignAsset(
                campaign_id=campaign.id,
                filename=asset.filename,
                content_type=asset.content_type,
                data=asset.data,
            )
        )
    recipients = (
        eligible_query(list_id)
        .with_only_columns(
            literal(campaign.id),
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            literal(DeliveryState.PENDING.value),
            literal(0),
            literal(False),
            literal(now, Delivery.updated_at.type),
        )
        .order_by(Subscriber.id)
    )
    session.execute(
        insert(Delivery).from_select(
            [
                "campaign_id",
                "subscriber_id",
                "email",
                "name",
                "state",
                "attempts",
                "hard_bounce",
                "updated_at",
            ],
            recipients,
        )
    )
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise UnknownCampaignError(campaign_id)
    return campaign


def campaign_status(session: Session, campaign_id: int) -> CampaignStatus:
    """The status alone (a Campaign object would load the whole issue)."""
    status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    if status is None:
        raise UnknownCampaignError(campaign_id)
    return CampaignStatus(status)


def campaign_issue(session: Session, campaign: Campaign) -> Issue:
    """The issue as it was composed for `campaign`, photos included."""
    assets = session.scalars(
        select(CampaignAsset)
        .where(CampaignAsset.campaign_id == campaign.id)
        .order_by(CampaignAsset.filename)
    )
    direction: Literal["ltr", "rtl"] = "rtl" if campaign.direction == "rtl" else "ltr"
    images: Literal["hosted", "inline"] = "inline" if campaign.images == "inline" else "hosted"
    return Issue(
        slug=campaign.slug,
        subject=campaign.subject,
        preheader=campaign.preheader,
        language=campaign.language,
        direction=direction,
        html=campaign.html,
        text=campaign.text,
        web_html=campaign.web_html,
        print_html=campaign.print_html,
        images=images,
        assets=tuple(Asset(a.filename, a.content_type, a.data) for a in assets),
        date=campaign.issue_date,
    )


def delivery_counts(session: Session, campaign_id: int) -> dict[DeliveryState, int]:
    counts = dict.fromkeys(DeliveryState, 0)
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.state)
    )
    for state, count in rows:
        counts[DeliveryState(state)] = count
    return counts


def may_be_duplicated(session: Session, campaign_id: int | None = None) -> dict[int, int]:
    """Per campaign (or for one): deliveries sent again after an end of data got no reply."""
    query = select(Delivery.campaign_id, func.count()).where(Delivery.unanswered > 0)
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    rows = session.execute(query.group_by(Delivery.campaign_id))
    return {campaign: count for campaign, count in rows}


def campaign_runners(
    session: Session, campaign_id: int | None = None
) -> dict[int, tuple[tuple[str, datetime], ...]]:
    """Per campaign (or for one): its runners' names and last heartbeats."""
    query = select(CampaignRunner.campaign_id, CampaignRunner.owner, CampaignRunner.heartbeat)
    if campaign_id is not None:
        query = query.where(CampaignRunner.campaign_id == campaign_id)
    found: dict[int, list[tuple[str, datetime]]] = {}
    for campaign, owner, heartbeat in session.execute(query.order_by(CampaignRunner.owner)):
        found.setdefault(campaign, []).append((owner, heartbeat))
    return {campaign: tuple(rows) for campaign, rows in found.items()}


def campaign_summaries(session: Session, limit: int | None = None) -> list[CampaignSummary]:
    """Every campaign (or the `limit` newest), newest first, with its deliveries counted
    per state."""
    counts: dict[int, dict[DeliveryState, int]] = {}
    counted = select(Delivery.campaign_id, Delivery.state, func.count())
    if limit is not None:
        newest = select(Campaign.id).order_by(Campaign.id.desc()).limit(limit)
        counted = counted.where(Delivery.campaign_id.in_(newest.scalar_subquery()))
    per_state = session.execute(counted.group_by(Delivery.campaign_id, Delivery.state))
    for campaign_id, state, count in per_state:
        counts.setdefault(campaign_id, dict.fromkeys(DeliveryState, 0))[DeliveryState(state)] = (
            count
        )
    columns = (
        Campaign.id,
        Campaign.status,
        Campaign.pause_reason,
        Campaign.list_name,
        Campaign.subject,
        Campaign.transport,
        Campaign.created_at,
        Campaign.finished_at,
        Campaign.scheduled_at,
    )
    # Columns, not Campaign objects: those would load every issue's HTML.
    rows = session.execute(select(*columns).order_by(Campaign.id.desc()).limit(limit)).mappings()
    empty = dict.fromkeys(DeliveryState, 0)
    unanswered = may_be_duplicated(session)
    runners = campaign_runners(session)
    return [
        CampaignSummary(
            **dict(row),
            runners=runners.get(row["id"], ()),
            counts=counts.get(row["id"], empty.copy()),
            may_be_duplicated=unanswered.get(row["id"], 0),
        )
        for row in rows
    ]
