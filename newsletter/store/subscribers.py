"""Looking subscribers up, everything known about one of them, and staff edits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.store.addresses import lookup_key, normalise
from newsletter.store.errors import (
    AddressTakenError,
    StoreError,
    SuppressedError,
    UnknownSubscriberError,
)
from newsletter.store.models import (
    Event,
    EventKind,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
)
from newsletter.store.subscriptions import record_event
from newsletter.store.suppressions import suppression_for
from newsletter.store.types import utcnow

MAX_NAME_LENGTH = 200
MAX_ATTRIBUTE_NAME = 100


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


@dataclass(frozen=True)
class Found:
    """A subscriber in search results, with the lists they are on and how."""

    id: int
    email: str
    name: str
    lists: list[tuple[str, MembershipStatus]]


def search_subscribers(
    session: Session, text: str, *, list_id: int | None = None, limit: int = 50
) -> list[Found]:
    """Subscribers whose address or name contains `text` (any case), by address; the
    newest ones when `text` is empty. Only members of `list_id` when given. At most `limit`."""
    query = select(Subscriber)
    if list_id is not None:
        query = query.join(Membership, Membership.subscriber_id == Subscriber.id).where(
            Membership.list_id == list_id
        )
    needle = text.strip().lower()
    if needle:
        query = query.where(
            or_(
                Subscriber.email_key.contains(needle, autoescape=True),
                func.lower(Subscriber.name).contains(needle, autoescape=True),
            )
        ).order_by(Subscriber.email_key)
    else:
        query = query.order_by(Subscriber.id.desc())
    found = list(session.scalars(query.limit(limit)))
    lists: dict[int, list[tuple[str, MembershipStatus]]] = {}
    if found:
        for subscriber_id, list_name, status in session.execute(
            select(Membership.subscriber_id, MailingList.name, Membership.status)
            .join(MailingList, MailingList.id == Membership.list_id)
            .where(Membership.subscriber_id.in_([item.id for item in found]))
            .order_by(MailingList.name)
        ):
            lists.setdefault(subscriber_id, []).append((list_name, status))
    return [Found(item.id, item.email, item.name, lists.get(item.id, [])) for item in found]


def subscriber_details(session: Session, email: str, *, events: int = 50) -> SubscriberDetails:
    return details_of(session, get_subscriber(session, email), events=events)


def details_of(session: Session, subscriber: Subscriber, *, events: int = 50) -> SubscriberDetails:
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


def update_subscriber(
    session: Session,
    subscriber_id: int,
    *,
    name: str,
    attributes: dict[str, Any],
    source: str,
    detail: str | None = None,
) -> bool:
    """Set the name and attributes (as staff edit them); returns whether anything changed.

    A change writes one "edited" event naming the fields changed, not their values.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise StoreError(f"names are at most {MAX_NAME_LENGTH} characters")
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        key = key.strip()
        if not key:
            raise StoreError("an attribute needs a name")
        if len(key) > MAX_ATTRIBUTE_NAME:
            raise StoreError(f"attribute names are at most {MAX_ATTRIBUTE_NAME} characters")
        cleaned[key] = value
    changed = ["name"] if name != subscriber.name else []
    old = subscriber.attributes or {}
    changed += sorted(
        key for key in old.keys() | cleaned.keys() if old.get(key) != cleaned.get(key)
    )
    if not changed:
        return False
    subscriber.name = name
    subscriber.attributes = cleaned
    subscriber.updated_at = utcnow()
    _record_edit(session, subscriber_id, "changed " + ", ".join(changed), source, detail)
    return True


def change_email(
    session: Session,
    subscriber_id: int,
    email: str,
    *,
    source: str,
    detail: str | None = None,
) -> bool:
    """Give the subscriber a new address (a typo fixed, a new job); returns whether it
    changed. Their lists, fields and history stay theirs.

    Checked as every address is (InvalidAddress), and refused when it is another
    subscriber's (AddressTakenError) or suppressed (SuppressedError: mail to it bounced,
    it complained, unsubscribed from everything or was erased; a change must not bring it
    back). The "edited" event names both addresses, so the history tells who was mailed
    where; erasing the subscriber deletes it with the rest.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    address = normalise(email)
    if address.email == subscriber.email:
        return False
    old = subscriber.email
    if address.key != subscriber.email_key:  # not only a change of case
        _refuse_if_taken(session, address.key)
        suppression = suppression_for(session, address.key)
        if suppression is not None:
            raise SuppressedError(address.email, suppression.reason)
    try:
        # A savepoint: losing a race for the address to another change or a sign-up
        # leaves the caller's transaction usable, and says so as the check above would.
        with session.begin_nested():
            subscriber.email = address.email
            subscriber.email_key = address.key
            subscriber.updated_at = utcnow()
            session.flush()
    except IntegrityError:
        _refuse_if_taken(session, address.key)
        raise  # taken and given up again since: a conflict of another kind
    _record_edit(
        session, subscriber_id, f"changed email from {old} to {address.email}", source, detail
    )
    return True


def _record_edit(
    session: Session, subscriber_id: int, what: str, source: str, detail: str | None
) -> None:
    """The subscriber's "edited" event: `what` changed, and why (`detail`)."""
    record_event(
        session,
        EventKind.EDITED,
        subscriber_id=subscriber_id,
        list_id=None,
        source=source,
        detail=f"{what} ({detail})" if detail else what,
    )
    session.flush()


def _refuse_if_taken(session: Session, key: str) -> None:
    other = session.execute(
        select(Subscriber.id, Subscriber.email).where(Subscriber.email_key == key)
    ).first()
    if other is not None:
        raise AddressTakenError(other.email, other.id)
