from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.web import create_app
from newsletter.web.context import Limits
from tests.transports.smtp_servers import Mailbox, smtp_server

CLIENT_IP = "203.0.113.7"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback that the app sends through."""
    handler = Mailbox()
    with smtp_server(handler) as port:
        monkeypatch.setenv("NEWSLETTER_TRANSPORT", "smtp")
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "1")
        get_settings.cache_clear()
        yield handler


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def client(db: str, mailbox: Mailbox, limits: Limits) -> Iterator[TestClient]:
    """The app through ASGI on each database, sending mail to `mailbox`. No cookies."""
    app = create_app(Settings(), limits=limits)
    with TestClient(app, client=(CLIENT_IP, 50000), follow_redirects=False) as test_client:
        yield test_client
