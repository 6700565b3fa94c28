"""Looking subscribers up, and everything known about one of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.store.addresses import lookup_key
from newsletter.store.errors import UnknownSubscriberError
from newsletter.store.models import (
    Event,
    EventKind,
    MailingList,
    Membership,
    Subscriber,
    Suppression,
)


@dataclass(frozen=True)
class SubscriberDetails:
    subscriber: Subscriber
    memberships: list[tuple[MailingList, Membership]]
    suppression: Suppression | None
    events: list[tuple[Event, str | None]]  # with the list's name, when there is one
    # Temporary delivery failures providers reported (they never suppress).
    soft_bounces: int = 0


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == lookup_key(email)))


def get_subscriber(session: Session, email: str) -> Subscriber:
    found = find_subscriber(session, email)
    if found is None:
        raise UnknownSubscriberError(email)
    return found


def subscriber_details(session: Session, email: str, *, events: int = 50) -> SubscriberDetails:
    subscriber = get_subscriber(session, email)
    memberships = session.execute(
        select(MailingList, Membership)
        .join(Membership, Membership.list_id == MailingList.id)
        .where(Membership.subscriber_id == subscriber.id)
        .order_by(MailingList.name)
    )
    recent = session.execute(
        select(Event, MailingList.name)
        .outerjoin(MailingList, MailingList.id == Event.list_id)
        .where(Event.subscriber_id == subscriber.id)
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(events)
    )
    return SubscriberDetails(
        subscriber=subscriber,
        memberships=list(memberships),
        suppression=session.scalar(
            select(Suppression).where(Suppression.email_key == subscriber.email_key)
        ),
        events=list(recent),
        soft_bounces=soft_bounce_count(session, subscriber.id),
    )


def soft_bounce_count(session: Session, subscriber_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.subscriber_id == subscriber_id, Event.kind == EventKind.SOFT_BOUNCED)
        )
        or 0
    )
