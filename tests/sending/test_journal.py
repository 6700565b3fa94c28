from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from newsletter.sending.journal import DeliveryJournal, Heartbeat
from newsletter.store.campaigns import Campaign, Delivery
from tests.sending.helpers import new_campaign, populated_list
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
    campaign_id = new_campaign(populated_list(active=active))
    return campaign_id, sorted(committed(campaign_id))


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
    with session_scope(write=True) as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(lease_owner="me:1")
        )
    journal = DeliveryJournal(current_engine(), campaign_id, "me:1", clock=lambda: MOMENT)
    try:
        assert journal.heartbeat()
        with session_scope() as session:
            assert session.get_one(Campaign, campaign_id).lease_heartbeat == MOMENT
            session.rollback()
        with session_scope(write=True) as session:
            session.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(lease_owner="other:2")
            )
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
