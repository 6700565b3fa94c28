"""Apply the packaged Alembic migrations programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any constant works; it only has to be the same for every process migrating this database.
_PG_LOCK_KEY = 0x6E6C5F6D6967  # "nl_mig"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _serialise(connection: Connection) -> None:
    """Make concurrent first uses migrate one after the other, not on top of each other."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    # SQLite: the engine begins this transaction with BEGIN IMMEDIATE (see engine.py).


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect() as connection:
        connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            _serialise(connection)
            command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.connect() as connection:
        connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            _serialise(connection)
            command.downgrade(_config(connection), revision)
