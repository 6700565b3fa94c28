from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Token
from newsletter.store.errors import SuppressedError
from newsletter.store.models import (
    Event,
    EventKind,
    Membership,
    MembershipStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.store.subscriptions import (
    check_token,
    is_suppressed,
    resubscribe,
    subscribe,
    suppress,
    token_for,
    unsubscribe,
)
from tests.store.databases import session_scope
from tests.store.helpers import eligible_count, new_list


def add(list_id: int, email: str) -> int:
    with session_scope(write=True) as session:
        return subscribe(session, list_id, email, source="test").subscriber_id


def membership(subscriber_id: int, list_id: int) -> Membership:
    with session_scope() as session:
        found = session.scalar(
            select(Membership).where(
                Membership.subscriber_id == subscriber_id, Membership.list_id == list_id
            )
        )
        assert found is not None
        return found


def events(subscriber_id: int) -> list[tuple[EventKind, int | None, str, str | None]]:
    with session_scope() as session:
        return [
            (event.kind, event.list_id, event.source, event.detail)
            for event in session.scalars(
                select(Event).where(Event.subscriber_id == subscriber_id).order_by(Event.id)
            )
        ]


def test_subscribe_creates_an_active_membership_and_an_event(db: str) -> None:
    members = new_list("members")
    anna = add(members, "Anna@Example.org")
    assert membership(anna, members).status == MembershipStatus.ACTIVE
    assert membership(anna, members).version == 1
    assert events(anna) == [(EventKind.SUBSCRIBED, members, "test", None)]
    assert add(members, "anna@example.org") == anna  # the same person, whatever the case
    assert len(events(anna)) == 1


def test_unsubscribe_from_one_list_is_idempotent(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    anna = add(members, "anna@example.org")
    add(press, "anna@example.org")
    with session_scope(write=True) as session:
        assert unsubscribe(session, anna, members, source="web", detail="192.0.2.7")
    with session_scope(write=True) as session:
        assert not unsubscribe(session, anna, members, source="web", detail="192.0.2.7")
    assert membership(anna, members).status == MembershipStatus.UNSUBSCRIBED
    assert membership(anna, press).status == MembershipStatus.ACTIVE
    assert events(anna)[-1] == (EventKind.UNSUBSCRIBED, members, "web", "192.0.2.7")
    assert len(events(anna)) == 3
    with session_scope() as session:
        assert not is_suppressed(session, "anna@example.org")
        assert eligible_count(session, members) == 0
        assert eligible_count(session, press) == 1


def test_unsubscribe_from_everything_suppresses_the_address_on_every_list(db: str) -> None:
    members, press, partners = new_list("members"), new_list("press"), new_list("partners")
    anna = add(members, "anna@example.org")
    add(press, "anna@example.org")
    with session_scope(write=True) as session:
        assert unsubscribe(session, anna, None, source="one-click")
    with session_scope(write=True) as session:
        assert not unsubscribe(session, anna, None, source="one-click")
    assert membership(anna, members).status == membership(anna, press).status == "unsubscribed"
    with session_scope() as session:
        assert is_suppressed(session, "ANNA@example.org")
        assert [eligible_count(session, i) for i in (members, press, partners)] == [0, 0, 0]
        with pytest.raises(SuppressedError, match="suppressed \\(unsubscribed\\)"):
            subscribe(session, partners, "anna@example.org", source="web")
    assert events(anna)[-1] == (EventKind.UNSUBSCRIBED, None, "one-click", None)


def test_resubscribe_bumps_the_version_and_old_tokens_stop_matching(db: str) -> None:
    members = new_list("members")
    anna = add(members, "anna@example.org")
    old = token_for(membership(anna, members), "u")
    with session_scope(write=True) as session:
        assert check_token(session, old).membership is not None
        unsubscribe(session, anna, members, source="web")
    with session_scope() as session:
        # Still valid after the unsubscribe: the page can say "you are unsubscribed".
        assert check_token(session, old).subscriber.id == anna
    with session_scope(write=True) as session:
        assert resubscribe(session, anna, members, source="web").version == 2
    current = token_for(membership(anna, members), "u")
    with session_scope() as session:
        with pytest.raises(TokenError):
            check_token(session, old)
        target = check_token(session, current)
    assert target.membership is not None and target.membership.status == "active"
    assert events(anna)[-1][0] == EventKind.RESUBSCRIBED


def test_resubscribing_an_active_member_changes_nothing(db: str) -> None:
    members = new_list("members")
    anna = add(members, "anna@example.org")
    with session_scope(write=True) as session:
        assert resubscribe(session, anna, members, source="web").version == 1
    assert len(events(anna)) == 1


def test_resubscribe_lifts_a_global_unsubscribe_but_not_a_bounce(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    anna = add(members, "anna@example.org")
    add(press, "anna@example.org")
    bob = add(members, "bob@example.org")
    with session_scope(write=True) as session:
        unsubscribe(session, anna, None, source="web")
        suppress(session, "bob@example.org", SuppressionReason.BOUNCED, source="webhook")
    with session_scope(write=True) as session:
        resubscribe(session, anna, members, source="web")
        with pytest.raises(SuppressedError, match="bounced"):
            resubscribe(session, bob, members, source="web")
    with session_scope() as session:
        assert not is_suppressed(session, "anna@example.org")
        assert eligible_count(session, members) == 1  # anna; bob bounced
        assert eligible_count(session, press) == 0  # anna came back to members only


def test_suppress_is_idempotent_and_only_hardens(db: str) -> None:
    members = new_list("members")
    anna = add(members, "anna@example.org")
    with session_scope(write=True) as session:
        assert suppress(session, "anna@example.org", SuppressionReason.UNSUBSCRIBED, source="x")
        assert not suppress(session, "anna@example.org", SuppressionReason.UNSUBSCRIBED, source="x")
        assert suppress(session, "Anna@example.org", SuppressionReason.COMPLAINED, source="fbl")
        assert not suppress(session, "anna@example.org", SuppressionReason.BOUNCED, source="x")
    with session_scope() as session:
        row = session.scalars(select(Suppression)).one()
    assert (row.email_key, row.reason) == ("anna@example.org", SuppressionReason.COMPLAINED)
    assert [kind for kind, *_ in events(anna)] == [
        EventKind.SUBSCRIBED,
        EventKind.SUPPRESSED,
        EventKind.COMPLAINED,
    ]


def test_an_address_that_is_not_a_subscriber_can_be_suppressed(db: str) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        assert suppress(session, "ghost@example.org", SuppressionReason.BOUNCED, source="webhook")
        event = session.scalars(select(Event)).one()
        assert event.subscriber_id is None
        assert event.detail is not None and "ghost@example.org" in event.detail
        with pytest.raises(SuppressedError):
            subscribe(session, members, "ghost@example.org", source="web")


def test_tokens_for_unknown_subscribers_or_memberships_are_rejected(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    anna = add(members, "anna@example.org")
    with session_scope() as session:
        assert check_token(session, Token("p", anna)).membership is None  # not list-bound
        with pytest.raises(TokenError):
            check_token(session, Token("u", anna + 1000, members, 1))
        with pytest.raises(TokenError):
            check_token(session, Token("u", anna, press, 1))
