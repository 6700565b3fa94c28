"""Double opt-in: a sign-up request creates an unconfirmed membership; the confirmation
link makes it active.

Nothing here tells the caller whether the address was already known: a sign-up answers
only whether to send a confirmation mail, and the web page says the same thing either
way. An address that is already active gets no mail (it is subscribed; a mail would only
let strangers pester it). One that is suppressed for bouncing or complaining gets none
either: it is never mailed. Everyone else gets at most one confirmation mail per
`interval`, and each client address may ask `per_ip` times per `window`; every request
is recorded in `signup_requests` so these limits hold across processes.

A sign-up is two steps, which the web side runs apart: `record_signup` checks the
address and the limit and records the request, the same work for every address, and the
page answers after it; `prepare_confirmation` then decides on the mail, after the answer.

Confirming an unconfirmed membership keeps its version (the confirmation link stays
harmless to click again); coming back to a list one had left goes through
`subscriptions.resubscribe`, which bumps the version like any resubscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.addresses import normalise
from newsletter.store.errors import StoreError
from newsletter.store.models import (
    EMAIL_LENGTH,
    Base,
    EventKind,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.store.subscriptions import record_event, resubscribe
from newsletter.store.suppressions import suppression_of
from newsletter.store.types import utcnow

IP_LENGTH = 64


class SignupRequest(Base):
    """One sign-up form submission: the trail the sign-up limits are counted from."""

    __tablename__ = "signup_requests"
    __table_args__ = (Index(None, "ip", "created_at"), Index(None, "email_key", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    ip: Mapped[str] = mapped_column(String(IP_LENGTH))
    # Whether a confirmation mail was (to be) sent for this request.
    mailed: Mapped[bool]
    created_at: Mapped[datetime]


class TooManySignups(StoreError):
    """This client address made too many sign-up requests in the window."""


@dataclass(frozen=True)
class SignupLimits:
    per_ip: int
    interval: timedelta
    window: timedelta


@dataclass(frozen=True)
class Confirmation:
    """A confirmation mail to send: to whom, and for which membership (token fields)."""

    request_id: int
    email: str
    name: str
    subscriber_id: int
    list_id: int
    version: int


@dataclass(frozen=True)
class Signup:
    """A recorded sign-up request, whose confirmation (if any) is still to be decided."""

    request_id: int
    list_id: int
    email: str
    name: str


def record_signup(
    session: Session,
    list_id: int,
    email: str,
    *,
    name: str,
    ip: str,
    limits: SignupLimits,
) -> Signup:
    """The first half of a sign-up: check the address and the client's limit, and record
    the request. It does the same work whatever the store knows about the address, so a
    caller that answers after it (and runs `prepare_confirmation` later) answers as soon
    for every address.

    Raises InvalidAddress for an address email-validator refuses, TooManySignups when the
    client address is over its limit. Takes the caller's (write) transaction.
    """
    address = normalise(email)
    now = utcnow()
    ip = ip[:IP_LENGTH]
    recent = session.scalar(
        select(func.count())
        .select_from(SignupRequest)
        .where(SignupRequest.ip == ip, SignupRequest.created_at > now - limits.window)
    )
    if (recent or 0) >= limits.per_ip:
        raise TooManySignups(ip)
    request = SignupRequest(
        list_id=list_id, email_key=address.key, ip=ip, mailed=False, created_at=now
    )
    session.add(request)
    session.flush()
    return Signup(request.id, list_id, address.email, name)


def prepare_confirmation(
    session: Session, signup: Signup, *, limits: SignupLimits
) -> Confirmation | None:
    """The second half of a sign-up: the unconfirmed membership and the confirmation
    mail to send, if the address gets one."""
    request = session.get(SignupRequest, signup.request_id)
    if request is None:
        # Its list was deleted since (the requests went with it): nothing to confirm.
        return None
    address = normalise(signup.email)
    now = utcnow()
    list_id = signup.list_id
    suppression = _suppression_reason(session, address.key)
    if suppression == SuppressionReason.ERASED:
        # Erased at its owner's request: not even the request's trail keeps the address.
        session.delete(request)
        return None
    if suppression is not None and suppression != SuppressionReason.UNSUBSCRIBED:
        return None
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == address.key))
    if subscriber is None:
        subscriber = Subscriber(
            email=address.email,
            email_key=address.key,
            name=signup.name,
            attributes={},
            created_at=now,
            updated_at=now,
        )
        session.add(subscriber)
        session.flush()
    membership = session.scalar(
        select(Membership)
        .where(Membership.subscriber_id == subscriber.id, Membership.list_id == list_id)
        .with_for_update()
    )
    if membership is None:
        # No event yet: the subscription begins when it is confirmed.
        membership = Membership(
            subscriber_id=subscriber.id,
            list_id=list_id,
            status=MembershipStatus.UNCONFIRMED,
            source="web",
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(membership)
    elif membership.status == MembershipStatus.ACTIVE and suppression is None:
        return None
    if _mailed_recently(session, address.key, now - limits.interval):
        return None
    request.mailed = True
    session.flush()
    return Confirmation(
        request_id=request.id,
        email=subscriber.email,
        name=subscriber.name,
        subscriber_id=subscriber.id,
        list_id=list_id,
        version=membership.version,
    )


def mail_failed(session: Session, request_id: int) -> None:
    """The confirmation mail could not be sent: let the next request try again."""
    session.execute(delete(SignupRequest).where(SignupRequest.id == request_id))


def confirm(session: Session, membership: Membership, *, ip: str) -> bool:
    """Make the membership active; whether anything changed.

    Raises SuppressedError for an address suppressed for bouncing or complaining.
    """
    subscriber = membership.subscriber
    suppression = _suppression_reason(session, subscriber.email_key)
    if membership.status == MembershipStatus.UNCONFIRMED and suppression is None:
        membership.status = MembershipStatus.ACTIVE
        membership.updated_at = utcnow()
        record_event(
            session,
            EventKind.SUBSCRIBED,
            subscriber_id=membership.subscriber_id,
            list_id=membership.list_id,
            source="web",
            detail=ip,
        )
        session.flush()
        return True
    if membership.status == MembershipStatus.ACTIVE and suppression is None:
        return False
    resubscribe(session, membership.subscriber_id, membership.list_id, source="web", detail=ip)
    return True


def _mailed_recently(session: Session, email_key: str, since: datetime) -> bool:
    found = session.scalar(
        select(SignupRequest.id)
        .where(
            SignupRequest.email_key == email_key,
            SignupRequest.mailed.is_(True),
            SignupRequest.created_at > since,
        )
        .limit(1)
    )
    return found is not None


def _suppression_reason(session: Session, email_key: str) -> SuppressionReason | None:
    return session.scalar(select(Suppression.reason).where(suppression_of(email_key)))
