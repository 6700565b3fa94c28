"""Alembic environment. Run through newsletter.store.migrate, which passes the connection.

There is deliberately no alembic.ini: the database URL comes from the settings, and the
caller holds the connection (and any lock) the migration runs in.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

# Every module defining tables is imported, so that target_metadata is complete.
import newsletter.store.bounces
import newsletter.store.campaigns
import newsletter.store.forwards
import newsletter.store.issues
import newsletter.store.optin
import newsletter.store.staff  # noqa: F401
from newsletter.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations through newsletter.store.migrate (or `newsletter db upgrade`), "
        "which supplies the database connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
