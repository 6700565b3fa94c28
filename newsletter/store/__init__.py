"""The subscriber store: lists, subscribers, memberships, suppressions and their events.

SQLAlchemy 2 models with Alembic migrations packaged alongside (`migrations/`). Use
`session_scope(engine)` for a transaction, on the engine the caller was given (made from
the CLI's or the web app's settings with `get_engine(url)`); the query modules take that
session as their first argument and never commit themselves, so callers compose them into
one transaction.
"""

from newsletter.store.engine import get_engine, session_scope

__all__ = ["get_engine", "session_scope"]
