from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

import newsletter
from newsletter.store import migrate
from newsletter.store.engine import build_engine, get_engine
from newsletter.store.models import Base

TABLES = {"subscribers", "lists", "memberships", "suppressions", "events"}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def test_upgrade_of_an_empty_database_creates_the_schema_and_downgrade_removes_it(
    db: str,
) -> None:
    engine = build_engine(db)
    try:
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())

        migrate.upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES

        migrate.downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())

        migrate.upgrade(engine)  # and back up again: nothing was left behind
        assert is_current(engine)
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(db: str) -> None:
    engine = get_engine(db)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_first_use_migrates_automatically(db: str) -> None:
    assert is_current(get_engine(db))


def test_upgrading_twice_is_harmless(db: str) -> None:
    engine = get_engine(db)
    migrate.upgrade(engine)
    assert is_current(engine)


def test_migrations_ship_inside_the_package() -> None:
    package = Path(newsletter.__file__).parent
    assert migrate.MIGRATIONS.is_relative_to(package)
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert (migrate.MIGRATIONS / "script.py.mako").is_file()
    assert list((migrate.MIGRATIONS / "versions").glob("v*.py"))
