"""The sign-up form answers without waiting for the mail server.

Sending the confirmation mail inline made a new address answer in 50 ms and an active
one in 7 ms: a stranger could tell who is subscribed. These tests hold the mail server
at DATA and show that the page has answered while it is held (the same page for both
addresses), and that the mail still arrives once the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from newsletter.core.settings import Settings, get_settings
from newsletter.web import create_app
from tests.browser import wait_for
from tests.transports.smtp_servers import Mailbox, smtp_server
from tests.web.helpers import body, mail_settled, new_list, new_member, parse

# How long a test waits for what must happen before it fails: a deadline, not a delay.
DEADLINE = 10.0


class HeldMailbox(Mailbox):
    """Takes each message's data only once `release` is set; `holding` is set as soon
    as a message waits for it."""

    def __init__(self, rules: dict[str, list[tuple[str, str]]] | None = None) -> None:
        super().__init__(rules)
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.holding.set()
        await asyncio.to_thread(self.release.wait)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldMailbox]:
    handler = HeldMailbox()
    with smtp_server(handler) as port:
        monkeypatch.setenv("NEWSLETTER_TRANSPORT", "smtp")
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "1")
        get_settings.cache_clear()
        try:
            yield handler
        finally:
            handler.release.set()


@pytest.fixture
def client(db: str, mailbox: HeldMailbox) -> Iterator[TestClient]:
    with TestClient(create_app(Settings()), client=("203.0.113.9", 1)) as test_client:
        yield test_client


def sign_up(client: TestClient, mailbox: HeldMailbox, email: str) -> Response:
    """The form's answer, which must come while the mail server may be holding mail."""
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(client.post, "/subscribe/members", data={"email": email})
        try:
            return answer.result(timeout=DEADLINE)
        except TimeoutError:
            pytest.fail(f"the sign-up of {email} waited for the held mail server")
        finally:
            # Whatever happened, let a blocked request finish before the pool is shut.
            if not answer.done():
                mailbox.release.set()


def test_the_page_answers_while_the_mail_server_holds_the_confirmation(
    client: TestClient, mailbox: HeldMailbox
) -> None:
    new_list("members")

    answer = sign_up(client, mailbox, "new@example.org")

    assert answer.status_code == 200
    assert "check your inbox" in answer.text.lower()
    # The mail is on its way, held at DATA: the page did not wait for it.
    assert mailbox.holding.wait(DEADLINE)
    assert not mailbox.release.is_set()
    assert mailbox.accepted == []

    mailbox.release.set()
    wait_for(lambda: mailbox.accepted, timeout=DEADLINE, what="the confirmation mail")
    assert mailbox.accepted[0].rcpt_tos == ("new@example.org",)
    assert "/c/" in body(parse(mailbox.accepted[0].data), "plain")


def test_an_active_address_gets_the_same_page_the_same_way(
    client: TestClient, mailbox: HeldMailbox
) -> None:
    list_id = new_list("members")
    new_member("known@example.org", list_id)

    new = sign_up(client, mailbox, "new@example.org")
    assert mailbox.holding.wait(DEADLINE)
    # The server still holds the new address's mail; the known one answers all the same.
    known = sign_up(client, mailbox, "known@example.org")

    assert (known.status_code, new.status_code) == (200, 200)
    assert known.text.replace("known@example.org", "ADDRESS") == new.text.replace(
        "new@example.org", "ADDRESS"
    )
    assert known.headers["content-type"] == new.headers["content-type"]
    mailbox.release.set()
    mail_settled(client)
    # Only the new address got mail: an active member is not pestered.
    assert [message.rcpt_tos for message in mailbox.accepted] == [("new@example.org",)]


def test_a_mail_the_server_refuses_is_logged_and_can_be_asked_again(
    client: TestClient, mailbox: HeldMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    new_list("members")
    mailbox.release.set()
    mailbox.rules["new@example.org"] = [("rcpt", "550 5.1.1 no such user")]

    with caplog.at_level(logging.ERROR):
        assert client.post("/subscribe/members", data={"email": "new@example.org"}).is_success
        mail_settled(client)

    assert mailbox.accepted == []
    assert any("new@example.org" in record.getMessage() for record in caplog.records)
    # The failure was recorded after the answer: the next request mails at once.
    client.post("/subscribe/members", data={"email": "new@example.org"})
    mail_settled(client)
    assert [message.rcpt_tos for message in mailbox.accepted] == [("new@example.org",)]


def test_stopping_the_app_delivers_the_mail_still_queued(db: str, mailbox: HeldMailbox) -> None:
    new_list("members")
    with TestClient(create_app(Settings())) as client:
        assert sign_up(client, mailbox, "new@example.org").status_code == 200
        assert mailbox.holding.wait(DEADLINE)
        mailbox.release.set()
    # The lifespan's shutdown waited for the queue: nothing is left to wait for.
    assert [message.rcpt_tos for message in mailbox.accepted] == [("new@example.org",)]
