from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from newsletter.store.models import MailingList
from tests.store.databases import session_scope


def test_timestamps_come_back_aware_in_utc(db: str) -> None:
    karachi = timezone(timedelta(hours=5))
    with session_scope(write=True) as session:
        session.add(
            MailingList(
                name="members", description="", created_at=datetime(2024, 5, 2, 17, tzinfo=karachi)
            )
        )
    with session_scope() as session:
        created = session.scalar(select(MailingList.created_at))
    assert created == datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert created is not None and created.tzinfo == UTC


def test_naive_timestamps_are_refused(db: str) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(write=True) as session:
        session.add(MailingList(name="members", description="", created_at=datetime(2024, 5, 2)))
        session.flush()
