"""The web side's own mail (newsletter.web.mail) to internationalised addresses."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.web import create_app
from tests.browser import wait_for
from tests.transports.smtp_servers import Mailbox, smtp_server
from tests.web.helpers import new_list


@pytest.fixture
def plain_mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server that does not offer SMTPUTF8 (aiosmtpd's Controller would)."""
    handler = Mailbox()
    with smtp_server(handler, enable_SMTPUTF8=False) as port:
        monkeypatch.setenv("NEWSLETTER_TRANSPORT", "smtp")
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "1")
        get_settings.cache_clear()
        yield handler


def test_an_idn_address_gets_its_confirmation_with_the_punycode_domain(
    sqlite_db: str, plain_mailbox: Mailbox
) -> None:
    new_list("members")
    with TestClient(create_app(Settings()), follow_redirects=False) as client:
        response = client.post(
            "/subscribe/members", data={"email": "user@bücher.example", "name": "Jörg"}
        )
        assert response.status_code == 200
        # The page answers before its mail goes (newsletter.web.outbox).
        wait_for(lambda: plain_mailbox.accepted, timeout=10, what="the confirmation mail")
    [accepted] = plain_mailbox.accepted
    assert accepted.rcpt_tos == ("user@xn--bcher-kva.example",)
    message = email.message_from_bytes(accepted.data, policy=email.policy.default)
    assert not message.defects
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Jörg", "user@xn--bcher-kva.example")
