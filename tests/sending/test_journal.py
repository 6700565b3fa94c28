from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from newsletter.sending.journal import DeliveryJournal, DeliveryTakenError, Heartbeat
from newsletter.sending.lease import release_lease
from newsletter.store.campaigns import CampaignRunner, Delivery, DeliveryState
from tests.sending.helpers import leave_runner, new_campaign, populated_list
from tests.store.databases import current_engine, session_scope

MOMENT = datetime(2024, 5, 2, 12, 30, 15, 123456, tzinfo=UTC)


def committed(campaign_id: int) -> dict[int, datetime | None]:
    with session_scope() as session:
        return dict(
            session.execute(
                select(Delivery.id, Delivery.committed_at).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
        )


def campaign_with(active: int) -> tuple[int, list[int]]:
    """A campaign whose deliveries are all claimed by runner "me:1"."""
    campaign_id = new_campaign(populated_list(active=active))
    with session_scope(write=True) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id)
            .values(state=DeliveryState.SENDING, claimed_by="me:1")
        )
    return campaign_id, sorted(committed(campaign_id))


def handed_over(campaign_id: int) -> dict[int, datetime | None]:
    with session_scope() as session:
        return dict(
            session.execute(
                select(Delivery.id, Delivery.handed_over_at).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
        )


def test_a_delivery_no_longer_with_the_runner_is_refused_at_the_point_of_no_return(
    db: str,
) -> None:
    campaign_id, ids = campaign_with(4)
    with session_scope(write=True) as session:
        # Taken for dead: one row settled back to pending, one claimed by another runner.
        session.execute(
            update(Delivery).where(Delivery.id == ids[1]).values(state=DeliveryState.PENDING)
        )
        session.execute(update(Delivery).where(Delivery.id == ids[3]).values(claimed_by="you:2"))
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        journal.point_of_no_return(ids[0])
        with pytest.raises(DeliveryTakenError, match=f"delivery {ids[1]} is no longer with"):
            journal.point_of_no_return(ids[1])
        # A request for several: none may go, and what was recorded for the rest is
        # taken back.
        with pytest.raises(DeliveryTakenError):
            journal.point_of_no_return(ids[2], ids[3], final=True)
    finally:
        journal.close()
    marks = committed(campaign_id)
    assert marks[ids[0]] == MOMENT
    assert [marks[i] for i in ids[1:]] == [None, None, None]
    assert set(handed_over(campaign_id).values()) == {None}


def test_a_hand_over_is_recorded_and_a_refusal_takes_both_back(db: str) -> None:
    campaign_id, ids = campaign_with(2)
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        journal.point_of_no_return(ids[0])
        journal.handed_over(ids[0])
        journal.point_of_no_return(ids[1], final=True)
        assert handed_over(campaign_id) == {ids[0]: MOMENT, ids[1]: MOMENT}
        journal.not_accepted(ids[0], ids[1])
    finally:
        journal.close()
    assert set(committed(campaign_id).values()) == {None}
    assert set(handed_over(campaign_id).values()) == {None}


def test_the_point_of_no_return_is_committed_when_the_call_returns(db: str) -> None:
    campaign_id, ids = campaign_with(3)
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        journal.point_of_no_return(ids[1])
        # Seen at once by another connection: nothing waits for a later commit.
        assert committed(campaign_id) == {ids[0]: None, ids[1]: MOMENT, ids[2]: None}
        journal.not_accepted(ids[1])
        assert committed(campaign_id)[ids[1]] is None
    finally:
        journal.close()


def test_an_http_request_marks_all_its_keys_at_once(db: str) -> None:
    campaign_id, ids = campaign_with(620)
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        journal.point_of_no_return(*ids[:600])
        marks = committed(campaign_id)
        assert [marks[i] for i in ids[:600]] == [MOMENT] * 600
        assert {marks[i] for i in ids[600:]} == {None}
        journal.not_accepted(*ids[:600])
        assert set(committed(campaign_id).values()) == {None}
    finally:
        journal.close()


def test_the_journal_serves_many_threads(sqlite_db: str) -> None:
    campaign_id, ids = campaign_with(200)
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1")
    shares = [ids[i::8] for i in range(8)]
    threads = [
        threading.Thread(target=lambda share=share: [journal.point_of_no_return(k) for k in share])
        for share in shares
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    assert None not in committed(campaign_id).values()


def test_a_mark_survives_the_process_being_killed_right_after(sqlite_db: str) -> None:
    campaign_id, ids = campaign_with(2)
    child = (
        "import os, signal\n"
        "from newsletter.store import get_engine\n"
        "from newsletter.sending.journal import DeliveryJournal\n"
        f"j = DeliveryJournal(get_engine({sqlite_db!r}), {campaign_id}, 'me:1')\n"
        f"j.point_of_no_return({ids[0]})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    process = subprocess.run([sys.executable, "-c", child], env=dict(os.environ), check=False)
    assert process.returncode == -9
    marks = committed(campaign_id)
    assert marks[ids[0]] is not None and marks[ids[1]] is None


def test_the_heartbeat_refreshes_the_lease_until_it_is_taken_over(db: str) -> None:
    campaign_id, _ = campaign_with(1)
    leave_runner(campaign_id, "me:1", MOMENT - timedelta(hours=1))
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        assert journal.heartbeat()
        with session_scope() as session:
            assert session.get_one(CampaignRunner, (campaign_id, "me:1")).heartbeat == MOMENT
            session.rollback()
        with session_scope(write=True) as session:
            release_lease(session, campaign_id, "me:1")
        assert not journal.heartbeat()
        beat = Heartbeat(journal, 0.01)
        with beat:
            for _ in range(200):
                if beat.lost:
                    break
                threading.Event().wait(0.01)
        assert beat.lost
    finally:
        journal.close()


def test_a_closed_journal_refuses_to_mark(sqlite_db: str) -> None:
    campaign_id, ids = campaign_with(1)
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1")
    journal.close()
    journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        journal.point_of_no_return(ids[0])
