"""What every request handler needs, built once per app: settings, signing key, database,
paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.engine import Engine

from newsletter.core.links import Links
from newsletter.core.settings import Settings
from newsletter.store.engine import get_engine
from newsletter.store.types import utcnow
from newsletter.web.login_refusals import LoginRefusals
from newsletter.web.outbox import Outbox


@dataclass(frozen=True)
class Limits:
    """Abuse limits of the public forms, counted in the database (so they hold across
    processes and restarts) over a sliding hour."""

    forwards_per_subscriber: int = 5
    forwards_per_ip: int = 20
    # Sign-up requests (each may send a confirmation mail) from one client address.
    signups_per_ip: int = 20
    # The least time between two confirmation mails to one address.
    confirmation_interval_seconds: int = 600
    window_seconds: int = 3600

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @property
    def confirmation_interval(self) -> timedelta:
        return timedelta(seconds=self.confirmation_interval_seconds)


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    key: bytes
    database_url: str
    # The app's database, from its settings: every request and every campaign the app
    # runs works on this one, whatever the environment names.
    engine: Engine = field(compare=False, repr=False)
    # Absolute URLs, as mailed (from NEWSLETTER_PUBLIC_URL).
    links: Links
    # The same URLs without scheme and host, for forms and links on our own pages: they
    # then work whatever host name the page was reached by.
    paths: Links
    limits: Limits = field(default_factory=Limits)
    # Now, for the staff login limits: tests move it on instead of sleeping.
    clock: Callable[[], datetime] = utcnow
    # Mail sent after the page is answered (started and stopped with the app).
    outbox: Outbox = field(default_factory=Outbox, compare=False)
    # Refused staff logins, answered without the database until they run out.
    login_refusals: LoginRefusals = field(default_factory=LoginRefusals, compare=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> WebContext:
        prefix = urlsplit(settings.public_url).path.rstrip("/")
        database_url = settings.resolved_database_url()
        return cls(
            settings=settings,
            key=settings.signing_key(),
            database_url=database_url,
            # Migrated (and a fresh SQLite database created) now, not on the first
            # visitor's request.
            engine=get_engine(database_url),
            links=Links(settings.public_url),
            paths=Links(prefix),
            limits=limits or Limits(),
            clock=clock,
        )

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def prefix(self) -> str:
        return self.paths.base


def get_context(request: Request) -> WebContext:
    return cast(WebContext, request.app.state.context)


def client_ip(request: Request) -> str:
    # uvicorn already applies X-Forwarded-For from trusted proxies (--forwarded-allow-ips).
    return request.client.host if request.client is not None else "unknown"
