"""Who a campaign to a list reaches: active members whose address is not suppressed.

Fetched in batches by keyset pagination on the subscriber id (WHERE id > last ORDER BY id
LIMIT n), which costs the same for the last batch as for the first, never skips or repeats
a row while others are added, and lets the sender resume from the last id it handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from newsletter.store.models import Membership, MembershipStatus, Subscriber, Suppression

DEFAULT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Recipient:
    subscriber_id: int
    list_id: int
    email: str
    name: str
    attributes: dict[str, Any]
    version: int  # the membership version, for signed links


def eligible_query(list_id: int) -> Select[Any]:
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    return (
        select(
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            Subscriber.attributes,
            Membership.version,
        )
        .join(Subscriber, Subscriber.id == Membership.subscriber_id)
        .where(
            Membership.list_id == list_id,
            Membership.status == MembershipStatus.ACTIVE,
            ~suppressed,
        )
    )


def eligible_batch(
    session: Session, list_id: int, *, after_id: int = 0, limit: int = DEFAULT_BATCH
) -> list[Recipient]:
    """The next `limit` eligible recipients with a subscriber id above `after_id`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rows = session.execute(
        eligible_query(list_id)
        .where(Membership.subscriber_id > after_id)
        .order_by(Membership.subscriber_id)
        .limit(limit)
    )
    return [
        Recipient(subscriber_id, list_id, email, name, attributes, version)
        for subscriber_id, email, name, attributes, version in rows
    ]
