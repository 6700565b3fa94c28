"""Forward to a friend: one row per issue sent to a friend, which makes it happen once.

The unique key (campaign, forwarder, friend) is what turns a repeated request (a double
click, a reload, two tabs) into "already sent" rather than a second message. The rows are
also what the rate limits count, per forwarder and per client address over a sliding
window, so the limits hold across processes and restarts.

A row is claimed (`sending`) and committed before the message goes, and becomes `sent`
after; if sending fails, `release` deletes it so the forwarder can try again. A process
killed in between leaves a `sending` row: that forward is then reported as already sent
rather than risking a second message (at most once, as for campaigns). A friend whose
address is suppressed gets nothing, but the row (`withheld`) and the answer are the same
as for a real send, so the form cannot be used to learn which addresses are suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.addresses import normalise
from newsletter.store.models import EMAIL_LENGTH, Base, Subscriber, Suppression, _allowed, _enum
from newsletter.store.suppressions import suppression_of
from newsletter.store.types import utcnow

IP_LENGTH = 64


class ForwardState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    WITHHELD = "withheld"


class Forward(Base):
    __tablename__ = "forwards"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", "friend_key"),
        Index(None, "subscriber_id", "created_at"),
        Index(None, "ip", "created_at"),
        _allowed("state", ForwardState),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # The forwarder.
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    friend_email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    friend_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    ip: Mapped[str] = mapped_column(String(IP_LENGTH))
    state: Mapped[ForwardState] = mapped_column(_enum(ForwardState))
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class ForwardLimits:
    per_subscriber: int
    per_ip: int
    window: timedelta


class ForwardOutcome(StrEnum):
    SEND = "send"  # claimed: send it now, then `mark_sent` or `release`
    WITHHELD = "withheld"  # recorded, but the friend is suppressed: send nothing
    ALREADY = "already"  # this forwarder sent this issue to this friend before
    LIMITED = "limited"  # over a rate limit: nothing recorded


@dataclass(frozen=True)
class Claim:
    outcome: ForwardOutcome
    forward_id: int | None = None
    friend_email: str = ""


def claim_forward(
    session: Session,
    *,
    campaign_id: int,
    subscriber_id: int,
    friend: str,
    ip: str,
    limits: ForwardLimits,
) -> Claim:
    """Decide and record one forward request in the caller's (write) transaction.

    Raises InvalidAddress when email-validator refuses the friend's address.
    """
    address = normalise(friend)
    ip = ip[:IP_LENGTH]
    # Serialises one forwarder's requests on PostgreSQL (SQLite's write lock already does).
    session.execute(select(Subscriber.id).where(Subscriber.id == subscriber_id).with_for_update())
    if _existing(session, campaign_id, subscriber_id, address.key) is not None:
        return Claim(ForwardOutcome.ALREADY, friend_email=address.email)
    now = utcnow()
    since = now - limits.window
    by_subscriber = session.scalar(
        select(func.count())
        .select_from(Forward)
        .where(Forward.subscriber_id == subscriber_id, Forward.created_at > since)
    )
    by_ip = session.scalar(
        select(func.count())
        .select_from(Forward)
        .where(Forward.ip == ip, Forward.created_at > since)
    )
    if (by_subscriber or 0) >= limits.per_subscriber or (by_ip or 0) >= limits.per_ip:
        return Claim(ForwardOutcome.LIMITED, friend_email=address.email)
    suppressed = session.scalar(select(Suppression.id).where(suppression_of(address.key)))
    state = ForwardState.SENDING if suppressed is None else ForwardState.WITHHELD
    row = Forward(
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        friend_email=address.email,
        friend_key=address.key,
        ip=ip,
        state=state,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent request for the same friend won the race.
        return Claim(ForwardOutcome.ALREADY, friend_email=address.email)
    outcome = ForwardOutcome.SEND if state == ForwardState.SENDING else ForwardOutcome.WITHHELD
    return Claim(outcome, forward_id=row.id, friend_email=address.email)


def mark_sent(session: Session, forward_id: int) -> None:
    row = session.get(Forward, forward_id)
    if row is not None:
        row.state = ForwardState.SENT


def release(session: Session, forward_id: int) -> None:
    """The message could not be sent: forget the claim, so a retry may send it."""
    session.execute(delete(Forward).where(Forward.id == forward_id))


def _existing(
    session: Session, campaign_id: int, subscriber_id: int, friend_key: str
) -> int | None:
    return session.scalar(
        select(Forward.id).where(
            Forward.campaign_id == campaign_id,
            Forward.subscriber_id == subscriber_id,
            Forward.friend_key == friend_key,
        )
    )
