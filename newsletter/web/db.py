"""Transactions for request handlers.

On SQLite only one transaction writes at a time. Threads of one process that all ask at
once would each wait in SQLite's busy handler, which sleeps in steps of up to 100 ms: a
burst of one-click unsubscribes then queued for hundreds of milliseconds. So writers of
this process take turns on a lock first and reach SQLite one by one; other processes (a
second server worker, a sending campaign) are still waited for by the busy timeout.

`retry_when_locked` is for the RFC 8058 one-click path, whose senders never retry: a
"database is locked" (another process held the write lock past the wait) must not come
back as a 500. Each attempt waits only briefly in SQLite's busy handler (whose sleeps grow
to 100 ms) and the whole short transaction is tried again after a short backoff, until a
bounded total time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from newsletter.store import session_scope
from newsletter.store.engine import SQLITE_BUSY_TIMEOUT_MS
from newsletter.web.context import WebContext

_writers = threading.Lock()
logger = logging.getLogger(__name__)

T = TypeVar("T")

# Bounded well below the 30 s or so a mail provider's HTTP client waits for an answer.
LOCKED_RETRY_SECONDS = 10.0
# SQLite's own wait per attempt: short, so that the backoff below polls the lock often.
ATTEMPT_BUSY_MS = 20
_BACKOFF_FIRST, _BACKOFF_MAX = 0.002, 0.02


@contextmanager
def reading(ctx: WebContext) -> Iterator[Session]:
    with session_scope(ctx.engine) as session:
        yield session


@contextmanager
def writing(ctx: WebContext) -> Iterator[Session]:
    """A write transaction (BEGIN IMMEDIATE on SQLite). Never nest two."""
    with _turn(ctx), session_scope(ctx.engine, write=True) as session:
        yield session


@contextmanager
def writing_core(ctx: WebContext, *, busy_ms: int | None = None) -> Iterator[Connection]:
    """`writing` for Core statements: a connection in a write transaction.

    `busy_ms` shortens SQLite's wait for the write lock for this transaction only.
    """
    with _turn(ctx), ctx.engine.connect() as connection:
        connection.execution_options(sqlite_begin="IMMEDIATE")
        with _busy_timeout(connection, busy_ms if ctx.sqlite else None), connection.begin():
            yield connection


def retry_when_locked(
    work: Callable[[], T], *, budget: float = LOCKED_RETRY_SECONDS, what: str = "write"
) -> T:
    """`work()` (one whole transaction), again after a backoff while SQLite is locked."""
    deadline = time.monotonic() + budget
    delay = _BACKOFF_FIRST
    attempt = 0
    while True:
        try:
            return work()
        except OperationalError as exc:
            if not is_locked(exc) or time.monotonic() + delay > deadline:
                if attempt:
                    logger.warning("%s: database still locked after %d retries", what, attempt)
                raise
        attempt += 1
        # Debug only: a busy minute would log hundreds of these per request.
        logger.debug("%s: database is locked, retry %d in %.0f ms", what, attempt, delay * 1000)
        time.sleep(delay)
        delay = min(delay * 2, _BACKOFF_MAX)


def is_locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock; worth a retry."""
    if not isinstance(exc.orig, sqlite3.OperationalError):
        return False
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


@contextmanager
def _busy_timeout(connection: Connection, busy_ms: int | None) -> Iterator[None]:
    if busy_ms is None:
        yield
        return
    # On the driver's connection: through SQLAlchemy the PRAGMA would begin a transaction.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        yield
    finally:
        # The connection goes back to the pool, where every other user expects the default.
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def write_turn(ctx: WebContext) -> AbstractContextManager[None]:
    """This process's turn to write, for work that runs its own write transactions."""
    return _turn(ctx)


@contextmanager
def _turn(ctx: WebContext) -> Iterator[None]:
    if ctx.sqlite:
        with _writers:
            yield
    else:
        yield
