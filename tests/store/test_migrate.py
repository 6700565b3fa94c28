from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
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


def test_campaigns_kept_from_before_are_dated_by_their_slug(db: str) -> None:
    engine = build_engine(db)
    try:
        migrate.upgrade(engine, "0012")
        with engine.begin() as connection:
            for token, slug in (("a" * 16, "2022-02-24-khojaly"), ("b" * 16, "own-slug")):
                connection.execute(
                    text(
                        "INSERT INTO campaigns (list_name, status, transport, token, created_at,"
                        " updated_at, slug, subject, preheader, language, direction, images,"
                        " html, text, web_html, print_html, from_address, return_path,"
                        " public_url) VALUES ('members', 'done', 'smtp', :token,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :slug, 's', 'p', 'en', 'ltr',"
                        " 'hosted', '', '', '', '', 'a@example.org', 'a@example.org',"
                        " 'http://127.0.0.1:8000')"
                    ),
                    {"token": token, "slug": slug},
                )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            dated = connection.execute(
                text("SELECT slug, issue_date FROM campaigns ORDER BY slug")
            ).all()
        days = {
            slug: day if day is None or isinstance(day, dt.date) else dt.date.fromisoformat(day)
            for slug, day in dated
        }
        assert days == {"2022-02-24-khojaly": dt.date(2022, 2, 24), "own-slug": None}
    finally:
        engine.dispose()
