"""The subscriber store: lists, subscribers, memberships, suppressions and their events.

SQLAlchemy 2 models with Alembic migrations packaged alongside (`migrations/`). Use
`session_scope()` for a transaction; the query modules take that session as their first
argument and never commit themselves, so callers compose them into one transaction.
"""

from newsletter.store.engine import get_engine, session_scope

__all__ = ["get_engine", "session_scope"]
