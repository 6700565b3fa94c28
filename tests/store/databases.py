"""Isolated databases for tests: a fresh SQLite file, or a fresh PostgreSQL schema.

Shared by the store, CLI and token tests; each module wraps `isolated_database` in a
fixture named `db`, parametrised over BACKENDS. `current_engine()` and `session_scope()`
reach the test's database the way the CLI does, from the settings of the environment
the fixtures set up (the package itself never reads the environment for it).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsletter.core.settings import get_settings
from newsletter.store import engine as store_engine
from newsletter.store.engine import dispose_engine, get_engine

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@functools.cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can. Asked once per test run."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {reason}"
    finally:
        engine.dispose()


@contextmanager
def isolated_database(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database for one test, set as NEWSLETTER_DATABASE_URL; dropped afterwards."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'newsletter.db'}"
    else:
        reason = postgres_unreachable()
        if reason is not None:
            pytest.skip(reason)
        schema = f"test_{uuid.uuid4().hex[:20]}"
        _admin(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        dispose_engine(url)
        if schema is not None:
            _admin(f'DROP SCHEMA "{schema}" CASCADE')


def _admin(statement: str) -> None:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def current_engine() -> Engine:
    """The engine of the test's database: the `db` fixture's, or by default SQLite in the
    test's data folder."""
    return get_engine(get_settings().resolved_database_url())


@contextmanager
def session_scope(*, write: bool = False, snapshot: bool = False) -> Iterator[Session]:
    """One transaction on the test's database (newsletter.store.engine.session_scope)."""
    with store_engine.session_scope(current_engine(), write=write, snapshot=snapshot) as session:
        yield session
