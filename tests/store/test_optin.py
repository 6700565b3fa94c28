from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.store import session_scope
from newsletter.store.addresses import InvalidAddress
from newsletter.store.models import Membership, MembershipStatus, SuppressionReason
from newsletter.store.optin import (
    Confirmation,
    SignupLimits,
    TooManySignups,
    confirm,
    mail_failed,
    request_signup,
)
from newsletter.store.subscriptions import suppress, unsubscribe
from tests.web.helpers import new_list, new_member, rows

LIMITS = SignupLimits(per_ip=3, interval=timedelta(minutes=10), window=timedelta(hours=1))


def _request(list_id: int, email: str, ip: str = "192.0.2.1") -> Confirmation | None:
    with session_scope(write=True) as session:
        return request_signup(session, list_id, email, name="N", ip=ip, limits=LIMITS)


def _confirm(confirmation: Confirmation) -> bool:
    with session_scope(write=True) as session:
        membership = session.get(Membership, (confirmation.list_id, confirmation.subscriber_id))
        assert membership is not None
        return confirm(session, membership, ip="192.0.2.1")


def test_a_new_address_waits_unconfirmed_until_confirmed(db: str) -> None:
    list_id = new_list("members")
    confirmation = _request(list_id, "New@Example.org")

    assert confirmation is not None
    assert (confirmation.email, confirmation.version) == ("New@example.org", 1)
    assert rows("SELECT status FROM memberships") == [("unconfirmed",)]
    assert rows("SELECT kind FROM events") == []
    assert _confirm(confirmation) is True
    assert rows("SELECT status, version FROM memberships") == [("active", 1)]
    assert rows("SELECT kind, source FROM events") == [("subscribed", "web")]
    assert _confirm(confirmation) is False


def test_who_gets_a_confirmation_mail(db: str) -> None:
    list_id = new_list("members")
    new_member("active@example.org", list_id)
    left = new_member("left@example.org", list_id)
    with session_scope(write=True) as session:
        unsubscribe(session, left.subscriber_id, list_id, source="test")
        suppress(session, "bounced@example.org", SuppressionReason.BOUNCED, source="test")

    assert _request(list_id, "active@example.org") is None
    assert _request(list_id, "bounced@example.org") is None
    comeback = _request(list_id, "left@example.org", ip="192.0.2.2")
    assert comeback is not None
    assert _request(list_id, "left@example.org", ip="192.0.2.2") is None  # within 10 minutes
    with session_scope(write=True) as session:
        mail_failed(session, comeback.request_id)
    assert _request(list_id, "left@example.org", ip="192.0.2.2") is not None
    # Coming back bumps the version, as every resubscription does.
    assert _confirm(comeback) is True
    with session_scope() as session:
        membership = session.get(Membership, (list_id, left.subscriber_id))
        assert membership is not None
        assert (membership.status, membership.version) == (MembershipStatus.ACTIVE, 2)


def test_each_client_address_has_a_limit_and_bad_addresses_are_refused(db: str) -> None:
    list_id = new_list("members")
    for number in range(3):
        _request(list_id, f"p{number}@example.org")
    with pytest.raises(TooManySignups):
        _request(list_id, "p9@example.org")
    assert _request(list_id, "p9@example.org", ip="192.0.2.9") is not None
    with pytest.raises(InvalidAddress):
        _request(list_id, "not an address", ip="192.0.2.10")
