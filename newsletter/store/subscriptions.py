"""Changing subscription state: subscribe, unsubscribe, resubscribe, suppress.

These are what the CLI and, later, the web side and the bounce webhooks call. Each one
takes the caller's session and never commits; each real change writes one event, and
repeating a call that changes nothing writes nothing (so retried requests are harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Purpose, Token
from newsletter.store.addresses import lookup_key, normalise
from newsletter.store.errors import StoreError, SuppressedError
from newsletter.store.models import (
    Event,
    EventKind,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.store.suppressions import suppression_for, suppression_of
from newsletter.store.types import utcnow

# A harder reason replaces a softer one; never the other way round. Only an unsubscribe
# (the person's own choice) can be reversed by the person resubscribing.
_STRENGTH = {
    SuppressionReason.UNSUBSCRIBED: 0,
    SuppressionReason.BOUNCED: 1,
    SuppressionReason.COMPLAINED: 2,
    SuppressionReason.ERASED: 3,
}
_SUPPRESSION_EVENT = {
    SuppressionReason.UNSUBSCRIBED: EventKind.SUPPRESSED,
    SuppressionReason.BOUNCED: EventKind.BOUNCED,
    SuppressionReason.COMPLAINED: EventKind.COMPLAINED,
}


@dataclass(frozen=True)
class TokenTarget:
    subscriber: Subscriber
    membership: Membership | None  # None for tokens not tied to a list (list_id 0)


def record_event(
    session: Session,
    kind: EventKind,
    *,
    subscriber_id: int | None,
    list_id: int | None,
    source: str,
    detail: str | None = None,
) -> None:
    session.add(
        Event(
            subscriber_id=subscriber_id,
            list_id=list_id,
            kind=kind,
            at=utcnow(),
            source=source,
            detail=detail,
        )
    )


def subscribe(
    session: Session,
    list_id: int,
    email: str,
    *,
    name: str = "",
    attributes: dict[str, Any] | None = None,
    source: str,
    detail: str | None = None,
    status: MembershipStatus = MembershipStatus.ACTIVE,
) -> Membership:
    """Put `email` on a list. An existing membership is returned unchanged.

    Coming back after leaving takes `resubscribe()`, which is an explicit act of consent.
    """
    address = normalise(email)
    suppression = suppression_for(session, address.key)
    if suppression is not None:
        raise SuppressedError(address.email, suppression.reason)
    now = utcnow()
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == address.key))
    if subscriber is None:
        subscriber = Subscriber(
            email=address.email,
            email_key=address.key,
            name=name,
            attributes=dict(attributes or {}),
            created_at=now,
            updated_at=now,
        )
        session.add(subscriber)
        session.flush()
    membership = _membership(session, subscriber.id, list_id)
    if membership is not None:
        return membership
    membership = Membership(
        subscriber_id=subscriber.id,
        list_id=list_id,
        status=status,
        source=source,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(membership)
    record_event(
        session,
        EventKind.SUBSCRIBED,
        subscriber_id=subscriber.id,
        list_id=list_id,
        source=source,
        detail=detail,
    )
    session.flush()
    return membership


def unsubscribe(
    session: Session,
    subscriber_id: int,
    list_id: int | None,
    *,
    source: str,
    detail: str | None = None,
) -> bool:
    """Leave one list, or (list_id None) everything: then the address is suppressed too.

    Returns whether anything changed. The membership version is left alone, so the link
    that unsubscribed keeps working (it can show "you are unsubscribed").
    """
    now = utcnow()
    if list_id is not None:
        membership = _locked_membership(session, subscriber_id, list_id)
        if membership is None or membership.status == MembershipStatus.UNSUBSCRIBED:
            return False
        membership.status = MembershipStatus.UNSUBSCRIBED
        membership.updated_at = now
        record_event(
            session,
            EventKind.UNSUBSCRIBED,
            subscriber_id=subscriber_id,
            list_id=list_id,
            source=source,
            detail=detail,
        )
        session.flush()
        return True

    subscriber = _subscriber(session, subscriber_id)
    left = session.scalars(
        select(Membership)
        .where(
            Membership.subscriber_id == subscriber_id,
            Membership.status != MembershipStatus.UNSUBSCRIBED,
        )
        .with_for_update()
    ).all()
    for membership in left:
        membership.status = MembershipStatus.UNSUBSCRIBED
        membership.updated_at = now
    suppressed = _add_suppression(
        session, subscriber.email_key, SuppressionReason.UNSUBSCRIBED, detail
    )
    if not (left or suppressed):
        return False
    record_event(
        session,
        EventKind.UNSUBSCRIBED,
        subscriber_id=subscriber_id,
        list_id=None,
        source=source,
        detail=detail,
    )
    session.flush()
    return True


def resubscribe(
    session: Session,
    subscriber_id: int,
    list_id: int,
    *,
    source: str,
    detail: str | None = None,
) -> Membership:
    """Come back to a list: active again, with a new version so older links stop working.

    Lifts a global unsubscribe (the person's own choice, now reversed by them) but refuses
    an address suppressed for bouncing or complaining. Already active: nothing changes.
    """
    subscriber = _subscriber(session, subscriber_id)
    suppression = suppression_for(session, subscriber.email_key)
    if suppression is not None and suppression.reason != SuppressionReason.UNSUBSCRIBED:
        raise SuppressedError(subscriber.email, suppression.reason)
    if suppression is not None:
        session.delete(suppression)
    now = utcnow()
    membership = _locked_membership(session, subscriber_id, list_id)
    if membership is None:
        membership = Membership(
            subscriber_id=subscriber_id,
            list_id=list_id,
            status=MembershipStatus.ACTIVE,
            source=source,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(membership)
        kind = EventKind.SUBSCRIBED
    elif membership.status == MembershipStatus.ACTIVE and suppression is None:
        return membership
    else:
        membership.status = MembershipStatus.ACTIVE
        membership.version += 1
        membership.updated_at = now
        kind = EventKind.RESUBSCRIBED
    record_event(
        session, kind, subscriber_id=subscriber_id, list_id=list_id, source=source, detail=detail
    )
    session.flush()
    return membership


def suppress(
    session: Session,
    email: str,
    reason: SuppressionReason,
    *,
    source: str,
    detail: str | None = None,
) -> bool:
    """Never mail `email` again, on any list (bounces, complaints). Returns whether it changed.

    Works for addresses that are not (or no longer) subscribers too.
    """
    key = lookup_key(email)
    if not _add_suppression(session, key, reason, detail):
        return False
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))
    record_event(
        session,
        _SUPPRESSION_EVENT[reason],
        subscriber_id=subscriber_id,
        list_id=None,
        source=source,
        detail=detail if subscriber_id is not None else f"{email}: {detail or ''}".rstrip(": "),
    )
    session.flush()
    return True


def is_suppressed(session: Session, email: str) -> bool:
    return suppression_for(session, lookup_key(email)) is not None


def token_for(membership: Membership, purpose: Purpose, campaign_id: int = 0) -> Token:
    """A token for this membership as it is now (sign it with newsletter.core.tokens.sign)."""
    return Token(
        purpose, membership.subscriber_id, membership.list_id, membership.version, campaign_id
    )


def check_token(session: Session, token: Token) -> TokenTarget:
    """What a verified token refers to, if it is still current; TokenError otherwise.

    `newsletter.core.tokens.verify` proves the token was issued by us; this proves it still
    matches the store: the subscriber exists and, for a list token, the membership's
    version is the one the token was issued for (it changes on resubscribe).
    """
    subscriber = session.get(Subscriber, token.subscriber_id)
    if subscriber is None:
        raise TokenError("token is no longer valid")
    if token.list_id == 0:
        return TokenTarget(subscriber, None)
    membership = _membership(session, token.subscriber_id, token.list_id)
    if membership is None or membership.version != token.version:
        raise TokenError("token is no longer valid")
    return TokenTarget(subscriber, membership)


def _subscriber(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    return subscriber


def _membership(session: Session, subscriber_id: int, list_id: int) -> Membership | None:
    return session.scalar(
        select(Membership).where(
            Membership.subscriber_id == subscriber_id, Membership.list_id == list_id
        )
    )


def _locked_membership(session: Session, subscriber_id: int, list_id: int) -> Membership | None:
    # FOR UPDATE on PostgreSQL, so two concurrent clicks cannot both bump the version.
    return session.scalar(
        select(Membership)
        .where(Membership.subscriber_id == subscriber_id, Membership.list_id == list_id)
        .with_for_update()
    )


def _add_suppression(
    session: Session, key: str, reason: SuppressionReason, detail: str | None
) -> bool:
    existing = session.scalar(select(Suppression).where(suppression_of(key)).with_for_update())
    if existing is None:
        try:
            # A savepoint, so losing a race to a concurrent insert does not doom the
            # caller's transaction; the winner's row is then treated as existing.
            with session.begin_nested():
                session.add(
                    Suppression(email_key=key, reason=reason, detail=detail, created_at=utcnow())
                )
            return True
        except IntegrityError:
            existing = suppression_for(session, key)
            if existing is None:
                raise
    if _STRENGTH[reason] <= _STRENGTH[existing.reason]:
        return False
    existing.reason = reason
    existing.detail = detail
    return True
