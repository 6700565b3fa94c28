"""The settings and the database the commands of one `newsletter` run work on.

Every command takes them from here and hands them down: nothing below the CLI reads the
environment. They are the environment's and `.env`'s (`load_settings`), unless a caller
runs commands on settings of its own: `newsletter demo` runs its steps inside
`running_on(demo settings)`, so its database and mail server never depend on what the
environment says, and it changes nothing in the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from newsletter.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from newsletter.sending.service import CampaignService

_chosen: ContextVar[Settings | None] = ContextVar("newsletter_cli_settings", default=None)


def settings() -> Settings:
    """The settings of this run; ConfigError naming each invalid variable."""
    return _chosen.get() or load_settings()


def engine() -> Engine:
    """The engine of this run's database, migrated to the latest schema."""
    from newsletter.store.engine import get_engine

    return get_engine(settings().resolved_database_url())


def transaction(*, write: bool = False, snapshot: bool = False) -> AbstractContextManager[Session]:
    """One transaction on this run's database (newsletter.store.engine.session_scope)."""
    from newsletter.store.engine import session_scope

    return session_scope(engine(), write=write, snapshot=snapshot)


def campaigns() -> CampaignService:
    """The campaign service on this run's settings and database."""
    from newsletter.sending.service import CampaignService

    return CampaignService(settings(), engine())


@contextmanager
def running_on(chosen: Settings) -> Iterator[None]:
    """Commands called inside the block work on `chosen` instead of the environment's."""
    token = _chosen.set(chosen)
    try:
        yield
    finally:
        _chosen.reset(token)
