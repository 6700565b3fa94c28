"""Transactions for request handlers.

On SQLite only one transaction writes at a time. Threads of one process that all ask at
once would each wait in SQLite's busy handler, which sleeps in steps of up to 100 ms: a
burst of one-click unsubscribes then queued for hundreds of milliseconds. So writers of
this process take turns on a lock first and reach SQLite one by one; other processes (a
second server worker, a sending campaign) are still waited for by the busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from newsletter.store import get_engine, session_scope
from newsletter.web.context import WebContext

_writers = threading.Lock()


@contextmanager
def reading(ctx: WebContext) -> Iterator[Session]:
    with session_scope(url=ctx.database_url) as session:
        yield session


@contextmanager
def writing(ctx: WebContext) -> Iterator[Session]:
    """A write transaction (BEGIN IMMEDIATE on SQLite). Never nest two."""
    with _turn(ctx), session_scope(write=True, url=ctx.database_url) as session:
        yield session


@contextmanager
def writing_core(ctx: WebContext) -> Iterator[Connection]:
    """`writing` for Core statements: a connection in a write transaction."""
    with _turn(ctx), get_engine(ctx.database_url).connect() as connection:
        connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            yield connection


@contextmanager
def _turn(ctx: WebContext) -> Iterator[None]:
    if ctx.sqlite:
        with _writers:
            yield
    else:
        yield
