"""Earlier sends of an issue, on SQLite and PostgreSQL: campaigns made by the store, their
deliveries moved to `sent` as the runner would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select, update

from newsletter.mail.sender import Sender
from newsletter.store.campaigns import Delivery, DeliveryState, create_campaign
from newsletter.store.earlier_sends import earlier_sends
from newsletter.store.subscriptions import subscribe
from tests.sending.helpers import small_issue
from tests.store.databases import current_engine, session_scope
from tests.store.helpers import new_list

SENDER = Sender("News <news@example.org>", None, "bounces@example.org", None, "https://x.org")
SLUG = small_issue().slug


def _send(list_id: int, *, sent: int | None = None) -> int:
    """A campaign of the small issue to the list, its first `sent` deliveries (all by
    default) sent."""
    with session_scope(write=True) as session:
        campaign = create_campaign(
            session,
            list_id=list_id,
            list_name="l",
            issue=small_issue(),
            transport="smtp",
            sender=SENDER,
        )
        ids = sorted(
            session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id))
        )
        chosen = ids if sent is None else ids[:sent]
        session.execute(
            update(Delivery).where(Delivery.id.in_(chosen)).values(state=DeliveryState.SENT)
        )
        return campaign.id


def _members(list_id: int, *addresses: str) -> None:
    with session_scope(write=True) as session:
        for address in addresses:
            subscribe(session, list_id, address, source="test")


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    engine = current_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_nothing_sent_before(db: str) -> None:
    members = new_list("members")
    _members(members, "a@example.net")
    with session_scope() as session:
        found = earlier_sends(session, SLUG, members)
    assert (found.sent_before, found.campaigns, found.last_at, found.recipients) == (
        False,
        0,
        None,
        0,
    )


def test_sent_to_the_list_and_elsewhere_in_one_query(db: str) -> None:
    members, guests = new_list("members"), new_list("guests")
    _members(members, "a@example.net", "b@example.net", "c@example.net")
    _members(guests, "a@example.net", "g@example.net")
    _send(members, sent=2)
    # A campaign that sent nothing yet does not count.
    _send(guests, sent=0)
    _members(members, "late@example.net")

    with _statements() as seen, session_scope() as session:
        to_members = earlier_sends(session, SLUG, members)
    with session_scope() as session:
        to_guests = earlier_sends(session, SLUG, guests)
        other_issue = earlier_sends(session, "2024-06-01-another", members)

    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert (to_members.campaigns, to_members.recipients) == (1, 2)
    assert to_members.last_at is not None
    assert (to_guests.sent_before, to_guests.recipients) == (False, 1)
    assert (other_issue.campaigns, other_issue.recipients) == (0, 0)
