"""Mailing lists and their per-status counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from newsletter.i18n.languages import is_language_tag
from newsletter.store.errors import DuplicateListError, StoreError, UnknownListError
from newsletter.store.models import (
    LANGUAGE_TAG_LENGTH,
    PUBLIC_NAME_LENGTH,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
)
from newsletter.store.types import utcnow

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class ListSummary:
    id: int
    name: str
    description: str
    counts: dict[MembershipStatus, int]
    # Active and not suppressed: who a campaign to this list would reach.
    eligible: int
    public_name: str | None = None
    language: str | None = None


def create_list(
    session: Session,
    name: str,
    description: str = "",
    language: str | None = None,
    *,
    public_name: str | None = None,
) -> MailingList:
    """`language`: BCP 47, what the list's public pages speak; None for English.

    `public_name` is what subscribers see (None or "": `name`, the key the CLI uses).
    """
    name = _name(name)
    language = _language(language)
    # Checked first for a clear message; the unique constraint still guards the race.
    if session.scalar(select(MailingList.id).where(MailingList.name == name)) is not None:
        raise DuplicateListError(name)
    mailing_list = MailingList(
        name=name,
        public_name=_public_name(public_name),
        description=description,
        language=language,
        created_at=utcnow(),
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def update_list(
    session: Session,
    list_id: int,
    *,
    name: str,
    public_name: str | None,
    description: str,
    language: str | None,
) -> MailingList:
    """Rename or describe a list. Renaming changes its key: CLI commands and sign-up
    addresses (/subscribe/NAME) use the new name from then on; campaigns already created
    keep the name they were sent under."""
    mailing_list = session.get(MailingList, list_id)
    if mailing_list is None:
        raise StoreError(f"no list with id {list_id}")
    name = _name(name)
    taken = session.scalar(
        select(MailingList.id).where(MailingList.name == name, MailingList.id != list_id)
    )
    if taken is not None:
        raise DuplicateListError(name)
    mailing_list.name = name
    mailing_list.public_name = _public_name(public_name)
    mailing_list.description = description.strip()
    mailing_list.language = _language(language)
    session.flush()
    return mailing_list


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise StoreError("a list needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise StoreError(f"list names are at most {MAX_NAME_LENGTH} characters")
    return name


def _public_name(name: str | None) -> str | None:
    name = (name or "").strip()
    if len(name) > PUBLIC_NAME_LENGTH:
        raise StoreError(f"public names are at most {PUBLIC_NAME_LENGTH} characters")
    return name or None


def set_list_language(session: Session, name: str, language: str | None) -> MailingList:
    """Sets what the list's pages speak (BCP 47; None or "" for English)."""
    mailing_list = get_list(session, name)
    mailing_list.language = _language(language)
    session.flush()
    return mailing_list


def _language(tag: str | None) -> str | None:
    tag = (tag or "").strip()
    if not tag:
        return None
    if len(tag) > LANGUAGE_TAG_LENGTH or not is_language_tag(tag):
        raise StoreError(f"{tag!r} is not a language tag such as 'en' or 'ur-PK'")
    return tag


def get_list(session: Session, name: str) -> MailingList:
    found = session.scalar(select(MailingList).where(MailingList.name == name))
    if found is None:
        raise UnknownListError(name)
    return found


def list_summary(session: Session, list_id: int) -> ListSummary | None:
    """One list's summary, counting only its own members; None if there is no such list."""
    found = _summaries(session, list_id)
    return found[0] if found else None


def list_summaries(session: Session) -> list[ListSummary]:
    return _summaries(session, None)


def _summaries(session: Session, only: int | None) -> list[ListSummary]:
    counts: dict[int, dict[MembershipStatus, int]] = {}
    by_status = select(Membership.list_id, Membership.status, func.count()).group_by(
        Membership.list_id, Membership.status
    )
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    active = (
        select(Membership.list_id, func.count())
        .join(Subscriber, Subscriber.id == Membership.subscriber_id)
        .where(Membership.status == MembershipStatus.ACTIVE, ~suppressed)
        .group_by(Membership.list_id)
    )
    lists = select(MailingList).order_by(MailingList.name)
    if only is not None:
        by_status = by_status.where(Membership.list_id == only)
        active = active.where(Membership.list_id == only)
        lists = lists.where(MailingList.id == only)
    for list_id, status, count in session.execute(by_status):
        counts.setdefault(list_id, {})[status] = count
    eligible = dict(session.execute(active).all())
    return [
        ListSummary(
            id=item.id,
            name=item.name,
            description=item.description,
            counts={status: counts.get(item.id, {}).get(status, 0) for status in MembershipStatus},
            eligible=eligible.get(item.id, 0),
            public_name=item.public_name,
            language=item.language,
        )
        for item in session.scalars(lists)
    ]
