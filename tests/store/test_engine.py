from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from newsletter.core.settings import get_settings
from newsletter.store.engine import SQLITE_BUSY_TIMEOUT_MS, dispose_engines
from newsletter.store.models import MailingList
from newsletter.store.types import utcnow
from tests.store.databases import current_engine, session_scope


@pytest.fixture(autouse=True)
def _fresh_engines() -> None:
    dispose_engines()


def test_default_database_is_sqlite_in_the_data_folder_created_on_first_use(
    tmp_path: Path,
) -> None:
    data = Path(get_settings().data_dir)
    assert not data.exists()
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MailingList)) == 0
    assert (data / "newsletter.db").is_file()
    dispose_engines()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout() -> None:
    with current_engine().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    dispose_engines()


def test_session_scope_commits_on_success_and_rolls_back_on_any_exception(db: str) -> None:
    with session_scope(write=True) as session:
        session.add(MailingList(name="kept", description="", created_at=utcnow()))
    with pytest.raises(KeyboardInterrupt), session_scope(write=True) as session:
        session.add(MailingList(name="lost", description="", created_at=utcnow()))
        session.flush()
        raise KeyboardInterrupt
    with session_scope() as session:
        assert list(session.scalars(select(MailingList.name))) == ["kept"]


def test_sqlite_ddl_is_transactional() -> None:
    """The sqlite3 module would commit before DDL on its own; the engine must not let it."""
    with pytest.raises(RuntimeError), session_scope(write=True) as session:
        session.execute(text("CREATE TABLE scratch (x INTEGER)"))
        raise RuntimeError
    with session_scope() as session:
        names = session.execute(text("SELECT name FROM sqlite_master")).scalars().all()
    assert "scratch" not in names
    dispose_engines()
