"""Isolated databases for tests: a fresh SQLite file, or a fresh PostgreSQL schema.

Shared by the store, CLI and token tests; each module wraps `isolated_database` in a
fixture named `db`, parametrised over BACKENDS.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from newsletter.core.settings import get_settings
from newsletter.store.engine import dispose_engine

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
