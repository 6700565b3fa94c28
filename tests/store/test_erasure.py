from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from newsletter.store.campaigns import Delivery, DeliveryState
from newsletter.store.erasure import ErasureBusyError, erase_subscriber
from newsletter.store.errors import StoreError, SuppressedError
from newsletter.store.forwards import ForwardLimits, claim_forward
from newsletter.store.models import ImportRow, Suppression, SuppressionReason
from newsletter.store.optin import SignupLimits, record_signup
from newsletter.store.subscriptions import is_suppressed, subscribe, suppress, unsubscribe
from newsletter.store.suppressions import address_hash
from tests.store.databases import session_scope
from tests.store.helpers import run_import, write_csv
from tests.web.helpers import new_campaign, new_list, new_member, rows, snapshot

FORWARDS = ForwardLimits(per_subscriber=5, per_ip=20, window=timedelta(hours=1))
SIGNUPS = SignupLimits(per_ip=10, interval=timedelta(minutes=5), window=timedelta(hours=1))
# Spelled with capitals, so a copy kept in its original case would be found too.
ADDRESS = "Zainab.Qureshi@Example.org"
NAME = "Zainab Qureshi"


def _in_clear(*needles: str) -> list[str]:
    """Where any of `needles` (any case) appears in any column of any row of any table."""
    found = []
    for table, table_rows in snapshot().items():
        for row in table_rows:
            text = " ".join(str(cell) for cell in row).lower()
            found += [f"{table}: {row}" for needle in needles if needle.lower() in text]
    return found


def _person_with_a_history() -> tuple[int, int]:
    """A subscriber on two lists, with events, deliveries, forwards both ways, sign-ups."""
    members, press = new_list("members"), new_list("press")
    zainab = new_member(ADDRESS, members, name=NAME)
    friend = new_member("friend@example.org", members)
    with session_scope(write=True) as session:
        subscribe(session, press, ADDRESS, source="web", detail="198.51.100.7")
    campaign = new_campaign(members)
    with session_scope(write=True) as session:
        claim_forward(
            session,
            campaign_id=campaign.id,
            subscriber_id=zainab.subscriber_id,
            friend="someone@example.org",
            ip="198.51.100.7",
            limits=FORWARDS,
        )
        claim_forward(
            session,
            campaign_id=campaign.id,
            subscriber_id=friend.subscriber_id,
            friend=ADDRESS,
            ip="192.0.2.1",
            limits=FORWARDS,
        )
        record_signup(session, members, ADDRESS, name=NAME, ip="198.51.100.7", limits=SIGNUPS)
    with session_scope(write=True) as session:
        unsubscribe(session, zainab.subscriber_id, press, source="one-click")
    return zainab.subscriber_id, members


def test_erasure_leaves_neither_address_nor_name_in_any_table(db: str) -> None:
    subscriber_id, _ = _person_with_a_history()
    assert _in_clear(ADDRESS, NAME, "198.51.100.7")  # the test sees them before

    with session_scope(write=True) as session:
        erase_subscriber(session, subscriber_id, detail="at their request, by staff")

    assert _in_clear(ADDRESS, NAME, "198.51.100.7") == []
    assert rows("SELECT email_key, email_hash, reason FROM suppressions") == [
        (None, address_hash(ADDRESS.lower()), "erased")
    ]
    # The friend and their own trail are untouched.
    assert rows("SELECT email FROM subscribers") == [("friend@example.org",)]
    assert rows("SELECT email FROM deliveries WHERE subscriber_id IS NOT NULL") == [
        ("friend@example.org",)
    ]


def test_an_erased_readers_deliveries_stay_blank_and_the_figures_do_not_change(db: str) -> None:
    subscriber_id, _ = _person_with_a_history()
    with session_scope(write=True) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == subscriber_id)
            .values(
                state=DeliveryState.FAILED,
                detail=f"550 5.1.1 <{ADDRESS}>: no such user",
                provider_id=f"bounce for {ADDRESS}",
            )
        )
    before = rows("SELECT campaign_id, state FROM deliveries ORDER BY id")

    with session_scope(write=True) as session:
        erase_subscriber(session, subscriber_id)

    # Who was sent what is gone; that something was sent, and how it went, stays.
    assert rows("SELECT campaign_id, state FROM deliveries ORDER BY id") == before
    assert rows(
        "SELECT email, name, detail, provider_id FROM deliveries WHERE subscriber_id IS NULL"
    ) == [("", "", None, None)]


def test_an_erased_address_cannot_be_subscribed_again(db: str) -> None:
    subscriber_id, members = _person_with_a_history()
    with session_scope(write=True) as session:
        erase_subscriber(session, subscriber_id)
    with session_scope(write=True) as session:
        with pytest.raises(SuppressedError, match="erased"):
            subscribe(session, members, ADDRESS.upper(), source="staff")
        assert is_suppressed(session, ADDRESS)
        # Later bounces or unsubscribes of the address add nothing in clear.
        assert not suppress(session, ADDRESS, SuppressionReason.COMPLAINED, source="test")
    assert _in_clear(ADDRESS) == []


def test_an_import_skips_an_erased_address(db: str, tmp_path: Path) -> None:
    subscriber_id, _ = _person_with_a_history()
    with session_scope(write=True) as session:
        erase_subscriber(session, subscriber_id)
    path = write_csv(
        tmp_path / "people.csv",
        f"email,name\n{ADDRESS.lower()},{NAME}\nnew@example.org,New\n",
    )
    summary, rejections = run_import("members", path)
    assert (summary.added, summary.skipped) == (1, 1)
    assert rejections == [f"line 2: {ADDRESS.lower()!r} is suppressed (erased)"]
    assert _in_clear(ADDRESS, NAME) == []


def test_erasing_turns_an_existing_suppression_into_a_hash(db: str) -> None:
    members = new_list("members")
    member = new_member(ADDRESS, members)
    with session_scope(write=True) as session:
        suppress(session, ADDRESS, SuppressionReason.BOUNCED, source="test")
    with session_scope(write=True) as session:
        erase_subscriber(session, member.subscriber_id)
    with session_scope() as session:
        kept = session.scalars(select(Suppression)).all()
    assert [(s.email_key, s.reason) for s in kept] == [(None, SuppressionReason.ERASED)]


def test_an_event_that_named_the_address_before_it_subscribed_loses_its_detail(
    db: str,
) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        # Suppressing an address that is no subscriber names it in the event's detail.
        suppress(session, ADDRESS, SuppressionReason.BOUNCED, source="test", detail="550")
        session.execute(delete(Suppression))  # lifted since, by hand
    member = new_member(ADDRESS, members)
    assert _in_clear(ADDRESS)
    with session_scope(write=True) as session:
        erase_subscriber(session, member.subscriber_id)
    assert _in_clear(ADDRESS) == []
    assert rows("SELECT kind, detail FROM events") == [("bounced", None)]


def test_erasure_waits_for_a_running_import_and_needs_a_subscriber(db: str) -> None:
    members = new_list("members")
    member = new_member(ADDRESS, members)
    with session_scope(write=True) as session:
        session.add(ImportRow(import_id=1, subscriber_id=member.subscriber_id, line=2, kind=2))
    with session_scope(write=True) as session:
        with pytest.raises(ErasureBusyError):
            erase_subscriber(session, member.subscriber_id)
        with pytest.raises(StoreError, match="no subscriber"):
            erase_subscriber(session, member.subscriber_id + 100)
