"""Which language a public page speaks: its list's (`lists.language`, set by the staff).

A link for one membership speaks that list's language. A link for a subscriber's every
list (preferences) speaks the one language all their lists share ("ur" and "ur-PK" being
one), and English when they differ or the subscriber is on none. A list without a
language speaks English.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.i18n import Language, language
from newsletter.store.models import MailingList, Membership
from newsletter.store.subscriptions import TokenTarget


def of_list(mailing_list: MailingList | None) -> Language:
    return language(mailing_list.language if mailing_list is not None else None)


def of_target(session: Session, target: TokenTarget) -> Language:
    if target.membership is not None:
        return of_list(session.get(MailingList, target.membership.list_id))
    tags = set(
        session.scalars(
            select(MailingList.language)
            .join(Membership, Membership.list_id == MailingList.id)
            .where(Membership.subscriber_id == target.subscriber.id)
        )
    )
    if len(tags) == 1:
        return language(tags.pop())
    # "ur" and "ur-PK" are one language to a reader.
    primaries = {tag.split("-")[0].lower() if tag else None for tag in tags}
    return language(primaries.pop() if len(primaries) == 1 else None)
