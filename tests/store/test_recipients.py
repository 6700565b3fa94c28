from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from newsletter.store.models import MembershipStatus, SuppressionReason
from newsletter.store.recipients import Recipient, eligible_batch
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
from tests.store.databases import session_scope
from tests.store.helpers import eligible_count, new_list


def _batches(session: Session, list_id: int, size: int) -> list[list[Recipient]]:
    """The whole list in batches, each asked for after the last id of the one before."""
    batches: list[list[Recipient]] = []
    after_id = 0
    while batch := eligible_batch(session, list_id, after_id=after_id, limit=size):
        batches.append(batch)
        after_id = batch[-1].subscriber_id
    return batches


@pytest.fixture
def lists(db: str) -> tuple[int, int, set[int]]:
    """Two lists; returns them with the subscriber ids eligible on the first."""
    members, press = new_list("members"), new_list("press")
    eligible: set[int] = set()
    with session_scope(write=True) as session:
        for i in range(40):
            email = f"person{i}@example.org"
            # Interleave the lists, so the first one's ids have gaps.
            target = press if i % 5 == 0 else members
            member = subscribe(session, target, email, name=f"P{i}", source="test")
            if target == members:
                eligible.add(member.subscriber_id)
            if i % 7 == 1:
                unsubscribe(session, member.subscriber_id, target, source="test")
                eligible.discard(member.subscriber_id)
            elif i % 11 == 2:
                suppress(session, email, SuppressionReason.BOUNCED, source="test")
                eligible.discard(member.subscriber_id)
        subscribe(
            session,
            members,
            "pending@example.org",
            source="web",
            status=MembershipStatus.UNCONFIRMED,
        )
    return members, press, eligible


def test_batches_are_id_ordered_complete_and_bounded(lists: tuple[int, int, set[int]]) -> None:
    members, _, eligible = lists
    with session_scope() as session:
        batches = _batches(session, members, 4)
        assert eligible_count(session, members) == len(eligible)
    ids = [recipient.subscriber_id for batch in batches for recipient in batch]
    assert ids == sorted(eligible)
    assert all(1 <= len(batch) <= 4 for batch in batches)
    assert len(batches) == -(-len(eligible) // 4)


def test_recipients_carry_what_the_sender_needs(lists: tuple[int, int, set[int]]) -> None:
    members, _, eligible = lists
    with session_scope() as session:
        first = eligible_batch(session, members, limit=1)[0]
    assert first.subscriber_id == min(eligible)
    assert first.list_id == members
    assert first.email == f"person{first.name[1:]}@example.org"
    assert first.version == 1
    assert first.attributes == {}


def test_a_batch_resumes_after_the_last_id(lists: tuple[int, int, set[int]]) -> None:
    members, _, eligible = lists
    middle = sorted(eligible)[len(eligible) // 2]
    with session_scope() as session:
        rest = eligible_batch(session, members, after_id=middle, limit=1000)
    assert [r.subscriber_id for r in rest] == [i for i in sorted(eligible) if i > middle]


def test_an_unknown_list_has_no_recipients(lists: tuple[int, int, set[int]]) -> None:
    with session_scope() as session:
        assert eligible_batch(session, 999) == []
        with pytest.raises(ValueError):
            eligible_batch(session, 1, limit=0)
