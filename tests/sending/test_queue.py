"""The runners' transactions on deliveries (newsletter.sending.queue), as several runners
on one campaign meet them: claims that never overlap, the storm counted on the campaign,
and what a dead runner left in flight settled by what the database recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.sending.policy import Decision
from newsletter.sending.queue import (
    SETTLED_AGAIN,
    SETTLED_SENT,
    SETTLED_UNANSWERED,
    claim_batch,
    feed_storm,
    record_results,
    settle_in_flight,
)
from newsletter.store.campaigns import Campaign, Delivery, DeliveryState
from newsletter.store.erasure import erase_subscriber
from newsletter.store.types import utcnow
from newsletter.transports.base import Outcome, Status
from tests.sending.helpers import new_campaign, populated_list
from tests.store.databases import isolated_database, session_scope
from tests.store.helpers import subscriber_id

SENT = Outcome(Status.SENT)
REFUSED = Outcome(Status.REJECTED, detail="554 5.7.1 blocked")
DEFERRED = Outcome(Status.RETRY, detail="421 4.7.0 too many connections")


@pytest.fixture
def postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with isolated_database("postgresql", tmp_path, monkeypatch) as url:
        yield url


def storm(campaign_id: int, outcomes: list[Outcome], limit: int = 3) -> str | None:
    with session_scope(write=True) as session:
        return feed_storm(session, campaign_id, outcomes, limit=limit)


def test_a_delivery_whose_reader_was_erased_is_skipped_not_sent(db: str) -> None:
    audience = populated_list(active=3)
    campaign_id = new_campaign(audience)
    address = audience.eligible[0]
    erased = subscriber_id(address)
    with session_scope(write=True) as session:
        erase_subscriber(session, erased)

    with session_scope(write=True) as session:
        claim = claim_batch(session, campaign_id, limit=10, now=utcnow(), owner="runner-a")

    assert claim.skipped == 1
    claimed = [c.addressee.email for c in claim.deliveries]
    assert len(claimed) == 2 and address not in claimed and "" not in claimed
    with session_scope() as session:
        states = session.scalars(
            select(Delivery.state).where(Delivery.subscriber_id.is_(None))
        ).all()
    assert states == [DeliveryState.SKIPPED]


def test_a_reader_erased_while_in_flight_keeps_a_blank_row(db: str) -> None:
    audience = populated_list(active=2)
    campaign_id = new_campaign(audience)
    with session_scope(write=True) as session:
        claim = claim_batch(session, campaign_id, limit=10, now=utcnow(), owner="runner-a")
    first = claim.deliveries[0]
    with session_scope(write=True) as session:
        erase_subscriber(session, first.addressee.subscriber_id)
    refused = f"550 5.1.1 <{first.addressee.email}>: no such user"

    with session_scope(write=True) as session:
        record_results(
            session,
            campaign_id,
            [
                (claimed, Decision(DeliveryState.FAILED, 1, None, refused, provider_id=refused))
                for claimed in claim.deliveries
            ],
            now=utcnow(),
            hard_bounce_limit=2,
        )

    with session_scope() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.state, Delivery.detail, Delivery.provider_id)
            .where(Delivery.campaign_id == campaign_id)
            .order_by(Delivery.id)
        ).all()
    erased_row, other_row = rows
    assert tuple(erased_row) == (None, DeliveryState.FAILED, None, None)
    assert other_row.detail == refused


def test_the_storm_is_counted_on_the_campaign_across_runners(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    # Two runners' batches, one after the other: the run goes on from one to the next.
    assert storm(campaign_id, [REFUSED, DEFERRED]) is None
    assert storm(campaign_id, [SENT, REFUSED]) is None
    assert storm(campaign_id, [REFUSED]) is None
    assert (
        storm(campaign_id, [DEFERRED])
        == "3 messages in a row were not accepted; the last: 421 4.7.0 too many connections"
    )
    # Any accepted message ends the run, for every runner.
    assert storm(campaign_id, [SENT]) is None
    with session_scope() as session:
        row = session.get_one(Campaign, campaign_id)
        assert (row.failures_in_row, row.last_failure) == (0, None)
    assert storm(campaign_id, []) is None
    assert storm(campaign_id, [REFUSED, REFUSED]) is None


def test_an_unconfirmed_hand_over_counts_towards_the_storm(sqlite_db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    unconfirmed = Outcome(Status.UNCONFIRMED, detail="postmark: no answer within 60s")
    assert storm(campaign_id, [unconfirmed, unconfirmed]) is None
    assert storm(campaign_id, [unconfirmed]) is not None


@pytest.mark.postgres
def test_runners_claiming_at_once_each_get_other_deliveries(postgres: str) -> None:
    audience = populated_list(active=30)
    campaign_id = new_campaign(audience)
    now = utcnow()
    first_claimed = threading.Event()
    second_done = threading.Event()
    claims: dict[str, list[int]] = {}

    def first() -> None:
        with session_scope(write=True) as session:
            claim = claim_batch(session, campaign_id, limit=10, now=now, owner="mail-1:1")
            claims["mail-1:1"] = [c.addressee.key for c in claim.deliveries]
            first_claimed.set()
            # Its transaction stays open, its rows locked, while the other one claims.
            assert second_done.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_claimed.wait(30)
        with session_scope(write=True) as session:
            claim = claim_batch(session, campaign_id, limit=10, now=now, owner="mail-2:2")
            claims["mail-2:2"] = [c.addressee.key for c in claim.deliveries]
    finally:
        second_done.set()
        thread.join(30)
    assert len(claims["mail-1:1"]) == len(claims["mail-2:2"]) == 10
    assert not set(claims["mail-1:1"]) & set(claims["mail-2:2"])
    with session_scope() as session:
        owners = dict(
            session.execute(
                select(Delivery.id, Delivery.claimed_by).where(
                    Delivery.state == DeliveryState.SENDING
                )
            ).all()
        )
    assert sorted(owners) == sorted(claims["mail-1:1"] + claims["mail-2:2"])
    assert {owners[key] for key in claims["mail-2:2"]} == {"mail-2:2"}


def test_a_dead_runners_rows_are_settled_by_what_the_database_recorded(db: str) -> None:
    audience = populated_list(active=6)
    campaign_id = new_campaign(audience)
    now = utcnow()
    with session_scope(write=True) as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        # Three of the dead runner's, one of a live one's.
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:3]))
            .values(state=DeliveryState.SENDING, claimed_by="dead:1")
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[3])
            .values(state=DeliveryState.SENDING, claimed_by="live:2", committed_at=now)
        )
        # The first was handed over, the second only reached the point of no return.
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[0])
            .values(committed_at=now, handed_over_at=now)
        )
        session.execute(update(Delivery).where(Delivery.id == ids[1]).values(committed_at=now))
    with session_scope(write=True) as session:
        assert settle_in_flight(
            session, campaign_id, now + timedelta(seconds=1), None, claimed_by="dead:1"
        ) == (1, 2)
    with session_scope() as session:
        rows = {
            row.id: row
            for row in session.scalars(
                select(Delivery).where(Delivery.campaign_id == campaign_id)
            ).all()
        }
    assert (rows[ids[0]].state, rows[ids[0]].detail) == (DeliveryState.SENT, SETTLED_SENT)
    # Its dot may or may not have left: sent again, same Message-ID, counted.
    assert (rows[ids[1]].state, rows[ids[1]].detail) == (
        DeliveryState.PENDING,
        SETTLED_UNANSWERED,
    )
    assert (rows[ids[1]].unanswered, rows[ids[1]].committed_at) == (1, None)
    assert (rows[ids[2]].state, rows[ids[2]].detail) == (DeliveryState.PENDING, SETTLED_AGAIN)
    assert rows[ids[2]].unanswered == 0
    # The live runner's row is its own business.
    assert rows[ids[3]].state is DeliveryState.SENDING


def test_a_cancel_counts_what_was_handed_over_as_sent(sqlite_db: str) -> None:
    audience = populated_list(active=2)
    campaign_id = new_campaign(audience)
    now = utcnow()
    with session_scope(write=True) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id)
            .values(state=DeliveryState.SENDING, claimed_by="dead:1", committed_at=now)
        )
        assert settle_in_flight(session, campaign_id, now, None, unanswered_as_sent=True) == (
            2,
            0,
        )
