"""Database engines and sessions.

The caller names the database: the CLI and the web side make the engine from their own
settings (`Settings.resolved_database_url()`: SQLite in the data folder unless
NEWSLETTER_DATABASE_URL names another database) and hand it down, so nothing here reads
the environment, and a runner started by an app works on that app's database. The first
use of a URL in a process creates the database (and its folder) and brings its schema up
to date.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session

from newsletter.core.errors import ConfigError
from newsletter.store import migrate

SQLITE_BUSY_TIMEOUT_MS = 10_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """The engine for `url`, one per process, migrated to the latest schema."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = build_engine(url)
            migrate.upgrade(engine)
            _engines[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def session_scope(
    engine: Engine, *, write: bool = False, snapshot: bool = False
) -> Iterator[Session]:
    """One transaction on `engine`: committed when the block ends, rolled back on any
    exception.

    `write=True` takes SQLite's write lock at the start (BEGIN IMMEDIATE) instead of at
    the first write, where a busy database would fail at once rather than wait.
    `snapshot=True` makes every query see the same state (PostgreSQL REPEATABLE READ;
    a SQLite transaction always reads one snapshot).
    """
    with engine.connect() as connection:
        if write:
            connection.execution_options(sqlite_begin="IMMEDIATE")
        if snapshot and engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                # BaseException too: Ctrl-C in the middle of an import must not commit.
                session.rollback()
                raise


def build_engine(url_text: str) -> Engine:
    """A new engine for `url_text`, with the SQLite settings below; no migrations run."""
    try:
        url = make_url(url_text)
    except Exception as exc:
        raise ConfigError(f"invalid database URL {url_text!r}: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy: the sqlite3 module would otherwise
    # commit silently before DDL and begin lazily, which breaks all-or-nothing imports.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Safe with WAL (a crash can lose the last commits, never corrupt) and much faster.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Temporary tables (the importer's) spill to disk, so memory stays flat.
        cursor.execute("PRAGMA temp_store=FILE")
        # A big import grows the WAL to the size of everything it wrote; give the disk
        # back after the checkpoint rather than keeping that file around.
        cursor.execute("PRAGMA journal_size_limit=67108864")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())
