"""Erasing a subscriber for good, at their request (GDPR article 17).

Everything that names them goes: the subscriber row with its name and attributes, their
memberships, their event trail, the forwards they made and those made to them, and their
sign-up requests. The deliveries addressed to them stay, with neither address, name, nor
the server's words (which may quote the address), and no link to anyone: a campaign's
sent, failed and skipped figures do not change when a reader asks to be forgotten. One of
them not sent yet is skipped when its turn comes, as for anyone who left the list. What
also stays is the address's hash on the suppression list (see
`newsletter.store.suppressions`), so an import or a sign-up of the address is refused
rather than bringing them back.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.store.campaigns import Delivery
from newsletter.store.errors import StoreError
from newsletter.store.forwards import Forward
from newsletter.store.models import (
    Event,
    ImportRow,
    Membership,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.store.optin import SignupRequest
from newsletter.store.suppressions import address_hash, suppression_of
from newsletter.store.types import utcnow


class ErasureBusyError(StoreError):
    """A running import holds the subscriber's row; erasing now would break its bookkeeping."""


def erase_subscriber(session: Session, subscriber_id: int, *, detail: str | None = None) -> None:
    """Erase the subscriber; `detail` says who asked and why (it must not name them).

    Never commits. Raises StoreError when there is no such subscriber.
    """
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
    )
    if subscriber is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    staged = select(ImportRow.subscriber_id).where(ImportRow.subscriber_id == subscriber_id)
    if session.scalar(staged.limit(1)) is not None:
        raise ErasureBusyError("an import that includes this subscriber is running; try again")
    key = subscriber.email_key
    for statement in (
        delete(Forward).where(
            (Forward.subscriber_id == subscriber_id) | (Forward.friend_key == key)
        ),
        delete(SignupRequest).where(SignupRequest.email_key == key),
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id)
        .values(subscriber_id=None, email="", name="", detail=None, provider_id=None),
        delete(Event).where(Event.subscriber_id == subscriber_id),
        # A suppression recorded before the address was a subscriber names it in the detail.
        update(Event)
        .where(
            Event.subscriber_id.is_(None),
            func.lower(Event.detail).contains(key, autoescape=True),
        )
        .values(detail=None),
        delete(Membership).where(Membership.subscriber_id == subscriber_id),
    ):
        session.execute(statement, execution_options={"synchronize_session": False})
    _keep_hash(session, key, detail)
    session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
    session.expunge(subscriber)
    session.flush()


def _keep_hash(session: Session, key: str, detail: str | None) -> None:
    existing = session.scalar(select(Suppression).where(suppression_of(key)).with_for_update())
    if existing is None:
        existing = Suppression()
        session.add(existing)
    # Dated now: when they unsubscribed or bounced is part of what is erased.
    existing.created_at = utcnow()
    existing.email_key = None
    existing.email_hash = address_hash(key)
    existing.reason = SuppressionReason.ERASED
    existing.detail = detail
