from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Token
from newsletter.store.models import Event, Membership, MembershipStatus
from newsletter.store.oneclick import unsubscribe_list_token
from newsletter.store.subscriptions import check_token, subscribe, token_for, unsubscribe
from tests.store.databases import current_engine, session_scope
from tests.store.helpers import new_list


def _member(list_id: int, email: str) -> Token:
    with session_scope(write=True) as session:
        membership = subscribe(session, list_id, email, source="test")
        return token_for(membership, "u")


def _one_click(token: Token) -> bool:
    with current_engine().connect() as connection, connection.begin():
        return unsubscribe_list_token(connection, token, source="one-click", detail="192.0.2.1")


def _state(token: Token) -> tuple[object, ...]:
    with session_scope() as session:
        membership = session.get(Membership, (token.list_id, token.subscriber_id))
        assert membership is not None
        events = session.execute(
            select(Event.kind, Event.list_id, Event.source, Event.detail, Event.at)
            .where(Event.subscriber_id == token.subscriber_id, Event.source != "test")
            .order_by(Event.id)
        ).all()
        assert membership.updated_at.tzinfo is not None
        assert all(at.tzinfo is not None for *_, at in events)
        return (
            membership.status,
            membership.version,
            [
                (kind, list_id == token.list_id, source, detail)
                for kind, list_id, source, detail, _ in events
            ],
        )


def test_does_what_check_token_and_unsubscribe_do(db: str) -> None:
    list_id = new_list("members")
    fast = _member(list_id, "fast@example.org")
    slow = _member(list_id, "slow@example.org")

    assert _one_click(fast) is True
    with session_scope(write=True) as session:
        target = check_token(session, slow)
        assert unsubscribe(
            session, target.subscriber.id, slow.list_id, source="one-click", detail="192.0.2.1"
        )

    assert _state(fast) == _state(slow)
    assert _state(fast)[0] == MembershipStatus.UNSUBSCRIBED


def test_a_repeat_changes_nothing(db: str) -> None:
    token = _member(new_list("members"), "ana@example.org")
    _one_click(token)
    before = _state(token)

    assert _one_click(token) is False
    assert _state(token) == before


def test_tokens_that_do_not_match_the_store_are_refused(db: str) -> None:
    list_id = new_list("members")
    token = _member(list_id, "ana@example.org")
    other_list = new_list("other")
    for stale in (
        Token("u", token.subscriber_id, list_id, token.version + 1),
        Token("u", token.subscriber_id, list_id, token.version - 1),
        Token("u", token.subscriber_id, other_list, token.version),
        Token("u", 999_999, list_id, token.version),
    ):
        with pytest.raises(TokenError):
            _one_click(stale)
    assert _state(token)[0] == MembershipStatus.ACTIVE
    with pytest.raises(ValueError):
        _one_click(Token("u", token.subscriber_id))
