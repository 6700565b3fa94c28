"""The one-click unsubscribe survives a database that another process keeps locked.

RFC 8058 receivers post once and do not retry, so a "database is locked" must never be
answered with a 500 (issue 9, item 4).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import make_url

from newsletter.core.settings import Settings
from newsletter.web import create_app
from newsletter.web.context import Limits
from tests.web.helpers import membership, new_list, new_member

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class _Retries(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "database is locked, retry" in record.getMessage():
            self.seen.set()


@pytest.fixture
def retries() -> Iterator[_Retries]:
    handler = _Retries()
    logger = logging.getLogger("newsletter.web.db")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_one_click_waits_out_a_writer_that_holds_the_lock(
    sqlite_db: str, retries: _Retries
) -> None:
    member = new_member("ana@example.org", new_list("members"))
    path = make_url(sqlite_db).database
    assert path is not None
    app = create_app(Settings(), limits=Limits())
    with TestClient(app, follow_redirects=False) as client:
        client.get("/issues/")  # the engine exists and is migrated before the lock is taken
        # Another process's import, say: it holds SQLite's write lock.
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        answers: list[Response] = []
        request = threading.Thread(
            target=lambda: answers.append(client.post(f"/u/{member.token('u')}", data=ONE_CLICK))
        )
        request.start()
        try:
            # Released only once the request has met the lock and is retrying.
            assert retries.seen.wait(timeout=10), "the one-click never retried"
            assert membership(member)[0] == "active"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        request.join(timeout=30)
    assert not request.is_alive()
    assert [answer.status_code for answer in answers] == [200]
    assert membership(member)[0] == "unsubscribed"
