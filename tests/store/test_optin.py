from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.store.addresses import InvalidAddress
from newsletter.store.models import Membership, MembershipStatus, SuppressionReason
from newsletter.store.optin import (
    Confirmation,
    SignupLimits,
    TooManySignups,
    confirm,
    mail_failed,
    prepare_confirmation,
    record_signup,
)
from newsletter.store.subscriptions import suppress, unsubscribe
from tests.store.databases import session_scope
from tests.web.helpers import new_list, new_member, rows, snapshot

LIMITS = SignupLimits(per_ip=3, interval=timedelta(minutes=10), window=timedelta(hours=1))


def _request(list_id: int, email: str, ip: str = "192.0.2.1") -> Confirmation | None:
    """Both halves of a sign-up in one transaction."""
    with session_scope(write=True) as session:
        signup = record_signup(session, list_id, email, name="N", ip=ip, limits=LIMITS)
        return prepare_confirmation(session, signup, limits=LIMITS)


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


def test_recording_a_sign_up_writes_the_same_for_every_address(db: str) -> None:
    list_id = new_list("members")
    new_member("active@example.org", list_id)
    with session_scope(write=True) as session:
        suppress(session, "bounced@example.org", SuppressionReason.BOUNCED, source="test")

    for email in ("new@example.org", "active@example.org", "bounced@example.org"):
        before = snapshot()
        with session_scope(write=True) as session:
            signup = record_signup(session, list_id, email, name="N", ip="192.0.2.1", limits=LIMITS)
        after = snapshot()
        # One more sign-up request, not yet mailed; nothing else is looked at or written.
        assert {table for table in after if after[table] != before[table]} == {"signup_requests"}
        assert len(after["signup_requests"]) == len(before["signup_requests"]) + 1
        assert rows("SELECT mailed FROM signup_requests WHERE id = :i", i=signup.request_id) == [
            (False,)
        ]

    # Deciding afterwards: only the new address gets a confirmation.
    with session_scope(write=True) as session:
        signups = [
            record_signup(session, list_id, email, name="N", ip="192.0.2.2", limits=LIMITS)
            for email in ("other@example.org", "active@example.org")
        ]
    with session_scope(write=True) as session:
        decided = [prepare_confirmation(session, signup, limits=LIMITS) for signup in signups]
    assert decided[0] is not None and decided[0].email == "other@example.org"
    assert decided[1] is None
